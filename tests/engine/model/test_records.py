"""TensorInfo and ModelInfo are the contract (issue 23): frozen, keyword-only, checked when made, and read back from
JSON exactly as written; a description cached by an older version (without the keys added since) still reads."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.model.records import ModelInfo, TensorInfo
from engine.options import Layout


def _image(name="x", **changes) -> TensorInfo:
    values = {"name": name, "shape": (1, 3, "h", "w"), "dtype": "float32", "layout": Layout.NCHW, "channels": 3}
    return TensorInfo(**{**values, **changes})


def _info(**changes) -> ModelInfo:
    values = {
        "inputs": (_image(), TensorInfo(name="k", shape=(1,), dtype="float32")),
        "outputs": (_image("y", scale=2.0),),
        "scale": 2.0,
        "fixed_size": None,
        "size_multiple": 8,
    }
    return ModelInfo(**{**values, **changes})


def _strict_round_trip(record):
    return type(record).from_json(json.loads(json.dumps(record.to_json(), allow_nan=False)))


def test_the_records_are_frozen():
    info = _info()
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.scale = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.inputs[0].layout = None
    assert isinstance(info.inputs, tuple) and isinstance(info.warnings, tuple)


def test_the_records_are_keyword_only():
    with pytest.raises(TypeError):
        TensorInfo("x", (1, 3, 8, 8), "float32")
    with pytest.raises(TypeError):
        ModelInfo((_image(),), (_image("y"),), 1.0, None, 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"layout": None}, "an image has a layout and a channel count"),
        ({"channels": 5}, "1-4 channels"),
        ({"shape": (1, 3, 8)}, "4-D"),
        ({"shape": (1, -3, 8, 8)}, "no size or name"),
        ({"shape": (1, True, 8, 8)}, "no size or name"),
        ({"scale": 0.0}, "not a positive number"),
        ({"scale": float("inf")}, "not a positive number"),
        ({"scale": float("nan")}, "not a positive number"),
    ],
)
def test_a_tensor_that_breaks_an_invariant_is_never_made(changes, message):
    with pytest.raises(ValueError, match=message):
        _image(**changes)


def test_an_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="NCDHW"):
        _image(layout="NCDHW")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scale": 0.0}, "scale"),
        ({"scale": -2.0}, "scale"),
        ({"scale": float("inf")}, "scale"),
        ({"scale": float("nan")}, "scale"),
        ({"fixed_size": (0, 32)}, "fixed_size"),
        ({"fixed_size": (32,)}, "fixed_size"),
        ({"fixed_size": (32.0, 32)}, "fixed_size"),
        ({"size_multiple": 0}, "size_multiple"),
        ({"batch": 0}, "batch"),
        ({"bytes_per_pixel": -1.0}, "bytes_per_pixel"),
        ({"bytes_per_pixel": float("inf")}, "bytes_per_pixel"),
        ({"receptive_radius": -1}, "receptive_radius"),
        ({"receptive_radius": "local"}, "receptive_radius"),
        ({"inputs": (_image(), _image())}, "input names repeat"),
    ],
)
def test_a_description_that_breaks_an_invariant_is_never_made(changes, message):
    with pytest.raises(ValueError, match=message):
        _info(**changes)


@pytest.mark.parametrize("radius", [0, 17, "global", None])
@pytest.mark.parametrize("fixed", [None, (64, 96)])
def test_a_description_round_trips_through_strict_json(radius, fixed):
    info = _info(fixed_size=fixed, receptive_radius=radius, warnings=("IR lowered",), bytes_per_pixel=396.5, batch=2)
    again = _strict_round_trip(info)
    assert again == info and again.to_json() == info.to_json()
    assert again.inputs[1].scale is None and again.outputs[0].scale == 2.0 and again.fixed_size == fixed


def test_a_description_cached_by_an_older_version_reads_with_the_newer_keys_defaulted():
    """The first cached descriptions had no warnings, memory need, receptive radius or batch, and a non-image
    tensor without layout, channels or scale."""
    old = _info().to_json()
    for key in ("warnings", "bytes_per_pixel", "receptive_radius", "batch"):
        del old[key]
    for key in ("layout", "channels", "scale"):
        del old["inputs"][1][key]
    info = ModelInfo.from_json(old)
    assert (info.warnings, info.bytes_per_pixel, info.receptive_radius, info.batch) == ((), 0.0, None, 1)
    assert not info.inputs[1].is_image and info.image_inputs == [info.inputs[0]]


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        ({"scale": "two"}, ValueError),
        ({"scale": "inf"}, ValueError),  # the encoding reads, the invariant refuses it
        ({"scale": True}, TypeError),
        ({"fixed_size": [32, 32, 3]}, ValueError),
        ({"size_multiple": 1.5}, TypeError),
        ({"inputs": "x"}, TypeError),
        ({"warnings": "one"}, TypeError),
    ],
)
def test_a_description_read_from_json_is_checked(edit, error):
    with pytest.raises(error):
        ModelInfo.from_json({**_info().to_json(), **edit})


def test_a_missing_required_key_is_a_key_error():
    data = _info().to_json()
    del data["size_multiple"]
    with pytest.raises(KeyError):
        ModelInfo.from_json(data)
