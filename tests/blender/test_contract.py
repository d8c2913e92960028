"""The model contract in Blender: the scene's overrides change the run's pixels, "Save Next to Model" writes
a sidecar that a later run picks up, the panel shows the effective contract, precision Auto is the default."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from tests import models
from tests.blender.layout import draw
from tests.blender.test_operators import make_image, pixels

CONTRACT_KEYS = ("contract_range", "contract_order", "color_mode", "contract_fit", "model_output", "precision")


@pytest.fixture
def contract_scene(bpy_data, tmp_path):
    bpy = bpy_data
    settings = bpy.context.scene.onnx_image_runtime
    model = models.conv_chain()
    path = models.save(model, tmp_path / "chain.onnx")
    settings.model_path = str(path)
    yield bpy, settings, model, path
    for key in CONTRACT_KEYS:
        settings.property_unset(key)


def _raw(model, hwc):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(hwc.transpose(2, 0, 1)[None], np.float32)
    return session.run(None, {"x": x})[0][0].transpose(1, 2, 0)


def _run(bpy, src, name):
    result = bpy.ops.onnx.run_image(image=src.name, output_name=name, provider="CPU")
    assert result == {"FINISHED"}
    return pixels(bpy.data.images[name])


def _expected_0_255_bgr(model, rgb):
    raw = _raw(model, rgb[:, :, ::-1] * 255.0)
    return (raw / 255.0)[:, :, ::-1]


def test_edited_contract_changes_the_run_and_the_saved_sidecar_is_picked_up(contract_scene):
    bpy, settings, model, path = contract_scene
    src, top_down = make_image(bpy)
    rgb = top_down[:, :, :3]
    assert settings.precision == "AUTO"
    plain = _run(bpy, src, "plain")
    np.testing.assert_allclose(plain[:, :, :3], _raw(model, rgb), atol=1e-5)

    settings.contract_range, settings.contract_order = "0_255", "BGR"
    edited = _run(bpy, src, "edited")
    np.testing.assert_allclose(edited[:, :, :3], _expected_0_255_bgr(model, rgb), rtol=1e-4, atol=1e-4)
    assert not np.allclose(edited[:, :, :3], plain[:, :, :3], atol=1e-3)
    assert "fp32" in settings.last_report and "CPU" in settings.last_report  # auto says what ran and why

    assert bpy.ops.onnx.save_contract() == {"FINISHED"}
    sidecar = path.with_name("chain.onnx.contract.json")
    assert sidecar.is_file()
    settings.property_unset("contract_range")
    settings.property_unset("contract_order")
    later = _run(bpy, src, "later")
    np.testing.assert_allclose(later, edited, atol=1e-6)


def test_imagenet_preset_and_model_output_setting(bpy_data, tmp_path):
    bpy = bpy_data
    settings = bpy.context.scene.onnx_image_runtime
    model = models.three_outputs()
    settings.model_path = str(models.save(model, tmp_path / "three.onnx"))
    src, top_down = make_image(bpy)
    try:
        settings.contract_range, settings.model_output = "IMAGENET", "mask"
        out = _run(bpy, src, "mask out")
        mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        x = ((top_down[:, :, :3] - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
        mask = session.run(["mask"], {"x": x})[0][0, 0]
        # A one-channel mask is shown grey: the same values in R, G and B, with its range left as it is.
        np.testing.assert_allclose(out[:, :, 0], mask, atol=1e-5)
        np.testing.assert_allclose(out[:, :, 1], mask, atol=1e-5)
    finally:
        for key in CONTRACT_KEYS:
            settings.property_unset(key)


def test_panel_shows_the_effective_contract_with_its_sources_and_the_save_button(bpy_data, tmp_path):
    bpy = bpy_data
    from onnx_image_runtime import panels

    settings = bpy.context.scene.onnx_image_runtime
    path = models.save(models.bgr_255(), tmp_path / "bgr.onnx")
    settings.model_path = str(path)
    try:
        assert bpy.ops.onnx.inspect_model() == {"FINISHED"}
        drawn = draw(panels.ONNX_PT_model, bpy.context)
        assert {"contract_range", "contract_order", "color_mode", "contract_fit", "model_output"} <= set(drawn.props())
        assert "onnx.save_contract" in drawn.operators()
        assert "In: 0, 255 (metadata), BGR (metadata), linear (default)" in drawn.texts()
        settings.contract_order = "RGB"
        assert "In: 0, 255 (metadata), RGB (scene), linear (default)" in draw(panels.ONNX_PT_model, bpy.context).texts()
        path.with_name("bgr.onnx.contract.json").write_text('{"input": {"mean": [1, 2]}}')
        texts = draw(panels.ONNX_PT_model, bpy.context).texts()
        assert any("input.mean needs 1 value or one per channel" in t for t in texts)
    finally:
        for key in CONTRACT_KEYS:
            settings.property_unset(key)


def test_bad_sidecar_makes_the_run_fail_with_the_key_named(contract_scene):
    bpy, settings, model, path = contract_scene
    src, _ = make_image(bpy)
    path.with_name("chain.onnx.contract.json").write_text('{"input": {"std": 0}}')
    with pytest.raises(RuntimeError, match=r"input\.std has a 0"):
        bpy.ops.onnx.run_image(image=src.name, output_name="never", provider="CPU")
    assert "never" not in bpy.data.images
