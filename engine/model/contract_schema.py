"""The model contract as a JSON Schema (draft 2020-12), built from the parser's own key lists and enums, and the
small validator `info` checks each layer with (no jsonschema dependency: it covers the keywords this schema uses).

docs/contract.schema.json is `schema_text()` written out, for editors and pipeline tools
(tests/engine/model/test_contract_schema.py keeps the two equal and the schema and the parser in agreement).
What the schema cannot say, the parser still checks: a range's low below its high, mean/std counts against the
model's channels, finite numbers (Python's JSON reader takes NaN and Infinity). The parser also takes the words of
a closed set in any case ("SRGB"); the schema lists the canonical lowercase, and `info` reports the difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

from ..options import ChannelOrder, ColorMode, Fit
from .contract import (
    INPUT_KEYS,
    OUTPUT_KEYS,
    RESIZE_KEYS,
    TOP_KEYS,
    DeclaredSize,
    HdrMode,
    InputScale,
    Layer,
    OutputAs,
    OutputNormalize,
)

SCHEMA_ID = "urn:onnx-image-runtime:model-contract"
_NUMBER = {"type": "number"}


def _enum(kind: type[Enum], description: str) -> dict[str, Any]:
    return {"enum": [m.value for m in kind], "description": description}


def _per_channel(item: dict[str, Any], description: str) -> dict[str, Any]:
    two = {"minItems": 2, "maxItems": 2, "$comment": "one value, or one per channel (1, 3 or 4)"}
    values = {"type": "array", "items": item, "minItems": 1, "maxItems": 4, "not": two}
    return {"anyOf": [item, values], "description": description}


def _tensor(keys: tuple[str, ...], description: str) -> dict[str, Any]:
    nonzero = {"type": "number", "not": {"const": 0}}
    known: dict[str, Any] = {
        "range": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2, "description": "[low, high]"},
        "mean": _per_channel(_NUMBER, "subtracted after scaling to the range: one value or one per channel"),
        "std": _per_channel(nonzero, "divided by after the mean: one value or one per channel, never 0"),
        "order": _enum(ChannelOrder, "the tensor's channel order"),
        "colour": _enum(ColorMode, "linear: scene-linear Rec.709; srgb: display-encoded"),
        "scale": _enum(InputScale, "image-max: the picture divided by its own largest value first"),
        "hdr": _enum(HdrMode, "values above 1: clipped by the sRGB encoding, or compressed under 1 and restored"),
        "normalize": _enum(OutputNormalize, "minmax: (v - min) / (max - min) over the whole output, not the range"),
        "as": _enum(OutputAs, "alpha: the source's colour with this one-channel output as its alpha"),
    }
    properties = {k: known[k] for k in keys}
    return {"type": "object", "additionalProperties": False, "properties": properties, "description": description}


def _resize() -> dict[str, Any]:
    def side(high: int, description: str) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "maximum": high, "description": description}

    properties = {
        "short_side_min": side(65536, "scale up so the short side is at least this"),
        "long_side_max": side(65536, "scale down so the long side is at most this"),
        "multiple": side(4096, "each side rounded to the nearest multiple of this"),
        "letterbox": {"type": "boolean", "description": "fit a fixed-size input, aspect ratio kept, rest padded"},
        "pad": {"type": "number", "description": "the letterbox padding's value in the model's input tensor"},
    }
    assert tuple(properties) == RESIZE_KEYS
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "not": {
            "required": ["short_side_min", "long_side_max"],
            "$comment": "short_side_min or long_side_max, not both",
        },
        "if": {"properties": {"letterbox": {"const": True}}, "required": ["letterbox"]},
        "then": {
            "not": {
                "anyOf": [{"required": [k]} for k in ("short_side_min", "long_side_max", "multiple")],
                "$comment": "letterbox takes no short_side_min, long_side_max or multiple",
            }
        },
        "else": {"not": {"required": ["pad"], "$comment": "pad is the letterbox's padding: give letterbox true"}},
        "description": "how the resize fit sizes the image (the model package's rule); {} for none",
    }


def contract_schema() -> dict[str, Any]:
    """The whole contract's JSON Schema."""
    numbers = {"anyOf": [_NUMBER, {"type": "array", "items": _NUMBER, "minItems": 1}]}
    properties = {
        "input": _tensor(INPUT_KEYS, "how the picture becomes the model's input"),
        "output": _tensor(OUTPUT_KEYS, "how the model's output becomes the result"),
        "fit": _enum(Fit, "how an image meets the model"),
        "resize": _resize(),
        "constants": {"type": "object", "additionalProperties": numbers, "description": "non-image inputs' values"},
        "output_name": {"type": "string", "description": "the output to write; empty: the first image-like one"},
        "size": _enum(DeclaredSize, "model: the declared height and width; dynamic: any size"),
        "batch": {"type": "integer", "minimum": 0, "maximum": 4096, "description": "0: the graph's batch"},
    }
    assert tuple(properties) == TOP_KEYS
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "ONNX Image Runtime model contract",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }


def schema_text() -> str:
    """The schema as docs/contract.schema.json holds it."""
    return json.dumps(contract_schema(), indent=2) + "\n"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}.get(type(value), "unknown")


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return _kind(value) == "number" and float(value).is_integer()
    return _kind(value) == kind or (isinstance(value, Mapping) and kind == "object")


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1 (Python's True == 1), 1 is 1.0."""
    return _kind(a) == _kind(b) and a == b


def _checks(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    """The keywords about the value itself."""
    problems = []
    if "type" in schema and not _is(value, schema["type"]):
        problems.append(f"{path}: {value!r} is not of type {schema['type']}")
    elif "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        problems.append(f"{path}: {value!r} is not one of {', '.join(map(str, schema['enum']))}")
    elif "const" in schema and not _same(value, schema["const"]):
        problems.append(f"{path}: {value!r} is not {schema['const']!r}")
    if _kind(value) == "number":
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value!r} is less than the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value!r} is more than the maximum {schema['maximum']}")
    if _kind(value) == "array":
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            problems.append(f"{path}: {len(value)} items, not {schema.get('minItems', 0)}-{schema.get('maxItems')}")
        for i, item in enumerate(value if "items" in schema else ()):
            problems += _problems(item, schema["items"], f"{path}/{i}")
    return problems


def _members(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    """The keywords about an object's members."""
    if not isinstance(value, Mapping):
        return []
    problems = [f"{path}: {k!r} is required" for k in schema.get("required", ()) if k not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, member in value.items():
        if key in properties:
            problems += _problems(member, properties[key], f"{path}/{key}")
        elif extra is False:
            problems.append(f"{path}: {key!r} is not allowed (known: {', '.join(properties)})")
        elif isinstance(extra, Mapping):
            problems += _problems(member, extra, f"{path}/{key}")
    return problems


def _combined(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    """not, anyOf, allOf, if/then/else."""
    problems: list[str] = []
    if "not" in schema and not _problems(value, schema["not"], path):
        problems.append(f"{path}: {schema['not'].get('$comment') or f'{value!r} is not allowed here'}")
    if "anyOf" in schema:
        if all(_problems(value, s, path) for s in schema["anyOf"]):
            problems.append(f"{path}: {value!r} matches none of the allowed forms")
    for sub in schema.get("allOf", ()):
        problems += _problems(value, sub, path)
    if "if" in schema:
        branch = "then" if not _problems(value, schema["if"], path) else "else"
        problems += _problems(value, schema.get(branch, {}), path)
    return problems


def _problems(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    return _checks(value, schema, path) + _members(value, schema, path) + _combined(value, schema, path)


def schema_problems(document: Any, schema: Mapping[str, Any] | None = None) -> list[str]:
    """Where `document` breaks the contract schema ('/resize/multiple: 0 is less than the minimum 1'); empty when
    it validates."""
    return [p if not p.startswith(":") else "/" + p for p in _problems(document, schema or contract_schema(), "")]


def layer_problems(layers: list[Layer]) -> list[str]:
    """Every layer checked against the schema, each problem prefixed with the layer's name."""
    return [f"{name}: {problem}" for name, data in layers for problem in schema_problems(data)]
