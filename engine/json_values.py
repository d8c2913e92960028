"""Plain JSON values of the engine's records and their strict reading back (each record's to_json/from_json).

JSON has no inf or NaN (Python's json writes `Infinity`, which other readers refuse): a non-finite float travels as
the string "inf", "-inf" or "nan" and reads back as that float. ConversionReport wrote its figures that way before
this module, so reports cached by older versions read the same. A value of the wrong type raises TypeError and a
wrong value ValueError, naming the key: a cache discards such an entry and rebuilds it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}

Json = dict[str, Any]


def float_to_json(value: float | None) -> float | str | None:
    """`value` as JSON holds it: a number, one of NONFINITE's strings, or null for None."""
    if value is None:
        return None
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def float_from_json(value: object, key: str) -> float | None:
    """What float_to_json wrote; an int reads as a float (JSON does not tell 1 from 1.0)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in NONFINITE:
            raise ValueError(f"{key} is {value!r}, not a number")
        return NONFINITE[value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} is a {type(value).__name__}, not a number")
    return float(value)


def number_from_json(value: object, key: str) -> float:
    """A float that must be there (null is refused)."""
    number = float_from_json(value, key)
    if number is None:
        raise TypeError(f"{key} is null, not a number")
    return number


def int_from_json(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is a {type(value).__name__}, not an integer")
    return value


def optional_int_from_json(value: object, key: str) -> int | None:
    return None if value is None else int_from_json(value, key)


def str_from_json(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{key} is a {type(value).__name__}, not a string")
    return value


def bool_from_json(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{key} is a {type(value).__name__}, not true or false")
    return value


def list_from_json(value: object, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{key} is a {type(value).__name__}, not a list")
    return value


def object_from_json(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{key} is a {type(value).__name__}, not an object")
    return value


def strs_from_json(value: object, key: str) -> tuple[str, ...]:
    return tuple(str_from_json(item, f"{key}[{i}]") for i, item in enumerate(list_from_json(value, key)))


def ints_from_json(value: object, key: str) -> tuple[int, ...]:
    return tuple(int_from_json(item, f"{key}[{i}]") for i, item in enumerate(list_from_json(value, key)))


def int_key_from_json(key: str, what: str) -> int:
    """An integer (a frame number) from a JSON object's key: JSON's keys are strings."""
    if not key.lstrip("-").isdigit():
        raise ValueError(f"{what} {key!r} is not an integer")
    return int(key)
