"""The one JSON encoding of the records' floats (issue 23): inf, -inf and NaN travel as strings JSON can hold and
read back as the same floats; a value of the wrong type or an unknown string is refused, naming its key."""

from __future__ import annotations

import json
import math

import pytest

from engine.json_values import float_from_json, float_to_json, int_from_json, int_key_from_json, strs_from_json


@pytest.mark.parametrize("value", [0.0, -2.5, 1e-300, 3.0e38, math.inf, -math.inf, None])
def test_a_float_reads_back_as_it_was_through_strict_json(value):
    text = json.dumps({"x": float_to_json(value)}, allow_nan=False)  # strict JSON: no Infinity, no NaN
    assert float_from_json(json.loads(text)["x"], "x") == value


def test_nan_travels_as_a_string_and_reads_back_as_nan():
    assert float_to_json(math.nan) == "nan"
    assert math.isnan(float_from_json(json.loads(json.dumps(float_to_json(math.nan))), "x"))


def test_an_integer_reads_as_a_float_and_json_own_infinity_is_read_too():
    assert float_from_json(2, "x") == 2.0 and isinstance(float_from_json(2, "x"), float)
    assert float_from_json(json.loads("Infinity"), "x") == math.inf  # what json.dumps wrote before (allow_nan)


@pytest.mark.parametrize(("value", "error"), [("much", ValueError), (True, TypeError), ([1.0], TypeError)])
def test_a_float_that_is_not_one_is_refused_naming_the_key(value, error):
    with pytest.raises(error, match="psnr_db"):
        float_from_json(value, "psnr_db")


@pytest.mark.parametrize("value", [True, 1.0, "1", None])
def test_an_integer_is_an_integer(value):
    with pytest.raises(TypeError, match="batch"):
        int_from_json(value, "batch")


def test_frame_keys_and_string_lists():
    assert int_key_from_json("-3", "frame") == -3 and int_key_from_json("12", "frame") == 12
    with pytest.raises(ValueError, match="frame '1.5'"):
        int_key_from_json("1.5", "frame")
    assert strs_from_json(["a", "b"], "notes") == ("a", "b")
    with pytest.raises(TypeError, match=r"notes\[1\]"):
        strs_from_json(["a", 2], "notes")
