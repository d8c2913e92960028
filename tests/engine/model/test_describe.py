import pytest

from engine.errors import ModelError
from engine.model.describe import describe_model
from engine.model.onnx_io import clamp_ir_version, load_model, max_ir_version
from tests import models


def test_x2_upscaler_is_described_from_a_measured_run():
    info = describe_model(models.sr_x2())
    (x,) = info.inputs
    assert (x.name, x.layout, x.channels, x.dtype) == ("x", "NCHW", 3, "float32")
    assert x.shape == (1, 3, "height", "width")
    assert info.scale == 2.0 and info.fixed_size is None and info.size_multiple == 1


def test_unet_needs_even_sizes():
    assert describe_model(models.unet()).size_multiple == 2


def test_nhwc_layout_is_detected():
    info = describe_model(models.nhwc())
    assert info.inputs[0].layout == "NHWC" and info.inputs[0].channels == 3


def test_fixed_size_model():
    info = describe_model(models.fixed_size())
    assert info.fixed_size == (256, 256) and info.scale == 1.0


def test_multi_input_described_input_by_input():
    info = describe_model(models.multi_input())
    assert [t.name for t in info.image_inputs] == ["color", "albedo", "normal"]
    assert all(t.channels == 3 for t in info.inputs)


def test_fp16_only_model_reports_its_dtype():
    assert describe_model(models.fp16_only()).inputs[0].dtype == "float16"


def test_no_image_input_is_refused_with_the_inputs_named():
    with pytest.raises(ModelError, match=r"no image-like input.*x \[1, 10\]"):
        describe_model(models.no_image_input())


def test_truncated_and_non_onnx_files_give_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="truncated or not ONNX|not an ONNX model"):
        load_model(models.write_truncated(tmp_path / "t.onnx"))
    with pytest.raises(ModelError, match="not .*ONNX"):
        load_model(models.write_not_onnx(tmp_path / "n.onnx"))
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.onnx")


def test_ir14_model_is_lowered_to_what_onnxruntime_accepts():
    model = models.ir14()
    warnings = clamp_ir_version(model)
    assert model.ir_version == max_ir_version() < 14
    assert "IR version 14" in warnings[0]
    assert describe_model(model).scale == 2.0


@pytest.mark.parametrize("radius", [3, "global", None])
def test_model_info_round_trips_through_json(radius):
    """A cached description reads back as it was written (issue 23: records are the contract)."""
    import json

    from engine.model.records import ModelInfo, TensorInfo
    from engine.options import Layout

    info = ModelInfo(
        inputs=(
            TensorInfo(name="x", shape=(1, 3, "h", None), dtype="float32", layout=Layout.NCHW, channels=3),
            TensorInfo(name="k", shape=(1,), dtype="float32"),
        ),
        outputs=(
            TensorInfo(name="y", shape=(1, 3, "h2", "w2"), dtype="float32", layout=Layout.NCHW, channels=3, scale=2.0),
        ),
        scale=2.0,
        fixed_size=None if radius != 3 else (64, 96),
        size_multiple=8,
        warnings=("IR lowered",),
        bytes_per_pixel=396.0,
        receptive_radius=radius,
        batch=1,
    )
    again = ModelInfo.from_json(json.loads(json.dumps(info.to_json())))
    assert again == info and again.to_json() == info.to_json()
    assert again.inputs[0].layout == "NCHW" and again.image_inputs == [again.inputs[0]]
