"""Operators on real datablocks: results match the engine run directly, errors leave nothing behind."""

from __future__ import annotations

import numpy as np
import pytest

W, H = 64, 48


def make_image(bpy, name="Source", colorspace="Linear Rec.709", nan=False):
    """A float RGBA image whose content is asymmetric top/bottom and left/right; returns (img, top-down array)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    alpha = np.where(y < H // 2, 1.0, 0.5) - np.where(x < W // 4, 0.25, 0.0)  # top opaque, bottom half
    top_down = np.stack([x / W, y / H, (x * y) / (W * H), alpha], axis=2).astype(np.float32)
    top_down[:8, :16, :3] = 0.9  # a bright block in the top-left corner
    if nan:
        top_down[5, 7, 0] = np.nan
    img = bpy.data.images.new(name, W, H, alpha=True, float_buffer=True)
    img.colorspace_settings.name = colorspace
    img.pixels.foreach_set(np.ascontiguousarray(top_down[::-1]).reshape(-1))
    return img, top_down


def pixels(img) -> np.ndarray:
    """Top-down HxWx4 copy of an image's pixels."""
    w, h = img.size
    buf = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(buf)
    return buf.reshape(h, w, 4)[::-1]


def engine_reference(model_path, image, precision="fp32"):
    from onnx_image_runtime.engine import SessionSettings, prepare_model, run_image

    prepared = prepare_model(model_path, precision, settings=SessionSettings(provider="cpu"))
    return run_image(prepared, image).image


def test_run_image_matches_engine(bpy_data, models_dir):
    bpy = bpy_data
    src, top_down = make_image(bpy)
    before = pixels(src).copy()
    model = str(models_dir / "sr_x2.onnx")
    result = bpy.ops.onnx.run_image(image=src.name, model=model, precision="FP32", provider="CPU")
    assert result == {"FINISHED"}
    out = bpy.data.images["Source ONNX"]
    assert tuple(out.size) == (2 * W, 2 * H)
    assert out.is_float and out["onnx_image_runtime_result"]
    assert out.colorspace_settings.name == "Linear Rec.709"
    got = pixels(out)
    expected = engine_reference(model, top_down)
    assert expected.shape == (2 * H, 2 * W, 4)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Orientation: alpha is carried through, so the opaque top half must still be on top (Blender's
    # buffer starts with the bottom row), and a run on an upside-down input would give other colours.
    assert np.allclose(got[: H - 1, 2 * (W // 4) :, 3], 1.0) and np.allclose(got[H + 1 :, 2 * (W // 4) :, 3], 0.5)
    raw = np.empty(4 * W * H * 4, np.float32)
    out.pixels.foreach_get(raw)
    assert raw[3] == pytest.approx(0.25) and raw[-1] == pytest.approx(1.0)
    flipped = engine_reference(model, np.ascontiguousarray(top_down[::-1]))[::-1]
    assert np.abs(got[:, :, :3] - flipped[:, :, :3]).max() > 0.1
    assert np.array_equal(pixels(src), before)  # the source is untouched
    settings = bpy.context.scene.onnx_image_runtime
    assert settings.last_provider == "CPU" and settings.last_report.startswith("fp32")


def test_run_image_reuses_and_replaces_output(bpy_data, models_dir):
    bpy = bpy_data
    src, _ = make_image(bpy, "Reuse")
    model = str(models_dir / "sr_x2.onnx")
    stale = bpy.data.images.new("Result", 10, 10, alpha=True, float_buffer=True)
    stale["onnx_image_runtime_result"] = True  # a previous result of another size (unrelated images: test_data_safety)
    stale_name = stale.name
    assert bpy.ops.onnx.run_image(image=src.name, model=model, precision="FP32", output_name="Result") == {"FINISHED"}
    out = bpy.data.images["Result"]
    assert stale_name == "Result" and tuple(out.size) == (2 * W, 2 * H)
    assert len([i for i in bpy.data.images if i.name.startswith("Result")]) == 1
    # Same size now: written in place.
    pointer = out.as_pointer()
    assert bpy.ops.onnx.run_image(image=src.name, model=model, precision="FP32", output_name="Result") == {"FINISHED"}
    assert bpy.data.images["Result"].as_pointer() == pointer
    # Asking to overwrite the source writes beside it instead.
    before = pixels(src).copy()
    assert bpy.ops.onnx.run_image(image=src.name, model=model, precision="FP32", output_name=src.name) == {"FINISHED"}
    assert tuple(src.size) == (W, H) and np.array_equal(pixels(src), before)
    assert tuple(bpy.data.images[f"{src.name} ONNX"].size) == (2 * W, 2 * H)


def test_run_image_uses_scene_settings_and_non_color(bpy_data, models_dir):
    bpy = bpy_data
    src, top_down = make_image(bpy, "Data", colorspace="Non-Color")
    settings = bpy.context.scene.onnx_image_runtime
    settings.model_path = str(models_dir / "sr_x2.onnx")
    settings.precision, settings.provider, settings.output_name = "FP32", "CPU", "From Scene"
    try:
        assert bpy.ops.onnx.run_image(image=src.name) == {"FINISHED"}
    finally:
        settings.property_unset("precision")
        settings.property_unset("provider")
    out = bpy.data.images["From Scene"]
    assert out.colorspace_settings.name == "Non-Color"
    np.testing.assert_allclose(pixels(out), engine_reference(settings.model_path, top_down), atol=1e-5)


def _no_new_images(bpy, call, match):
    names = set(bpy.data.images.keys())
    with pytest.raises(RuntimeError, match=match):  # an ERROR report: bpy.ops raises, the operator cancelled
        call()
    assert set(bpy.data.images.keys()) == names


def test_run_image_errors_leave_nothing(bpy_data, models_dir):
    bpy = bpy_data
    src, _ = make_image(bpy, "Errors")
    run = bpy.ops.onnx.run_image
    _no_new_images(bpy, lambda: run(image=src.name, model=str(models_dir / "missing.onnx")), "model file not found")
    _no_new_images(bpy, lambda: run(image=src.name, model=str(models_dir / "not_onnx.onnx")), "not a readable ONNX")
    two = str(models_dir / "two_channels.onnx")
    _no_new_images(bpy, lambda: run(image=src.name, model=two, precision="FP32"), "expects 2 channels")
    multi = str(models_dir / "multi_input.onnx")
    _no_new_images(bpy, lambda: run(image=src.name, model=multi, precision="FP32"), "model input 'albedo' needs")
    _no_new_images(bpy, lambda: run(image="No Such Image", model=two), "no image named")
    # Headless, there is no Image Editor: the operator says how to name the image.
    _no_new_images(bpy, lambda: run(model=two), "no image: open one in the Image Editor")
    nan_img, _ = make_image(bpy, "Has NaN", nan=True)
    sr = str(models_dir / "sr_x2.onnx")
    _no_new_images(bpy, lambda: run(image=nan_img.name, model=sr, precision="FP32"), "NaN or Inf")


def test_prepare_model_stores_report(bpy_data, models_dir):
    bpy = bpy_data
    settings = bpy.context.scene.onnx_image_runtime
    model = str(models_dir / "sr_x2.onnx")
    assert bpy.ops.onnx.prepare_model(model=model, precision="FP16", provider="CPU") == {"FINISHED"}
    assert settings.last_provider == "CPU"
    assert settings.last_report.startswith("fp16 ok: PSNR")
    assert "99.9th percentile error" in settings.last_report
    with pytest.raises(RuntimeError, match="model file not found"):
        bpy.ops.onnx.prepare_model(model=str(models_dir / "nope.onnx"))


def test_benchmark_writes_text(bpy_data, models_dir):
    bpy = bpy_data
    src, _ = make_image(bpy, "Bench")
    model = str(models_dir / "sr_x2.onnx")
    assert bpy.ops.onnx.benchmark_model(image=src.name, model=model, provider="CPU", repeats=1) == {"FINISHED"}
    lines = bpy.data.texts["ONNX Benchmark"].as_string().splitlines()
    assert lines[0].endswith(f"{W}x{H}  median of 1")
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"FP32", "FP16", "AMP", "INT8"}
    assert all(" cpu " in row for name, row in rows.items() if name != "INT8"), lines
    # int8 runs, or its row gives the accuracy rule's refusal (sr_x2's linear output is too coarse in 8 bits).
    assert " cpu " in rows["INT8"] or "outside the tolerance: " in rows["INT8"], lines


def test_results_survive_saving_and_reopening_the_blend(clean_file, models_dir, tmp_path):
    """Results are packed at save time (save_pre), not on every run: after a save and a reload, the
    result's pixels are still there."""
    bpy = clean_file
    src, top_down = make_image(bpy, "Saved")
    model = str(models_dir / "sr_x2.onnx")
    assert bpy.ops.onnx.run_image(image=src.name, model=model, precision="FP32", provider="CPU") == {"FINISHED"}
    src.pack()  # the source is a generated image too: keep it in the file for the comparison
    assert bpy.data.images["Saved ONNX"].packed_file is None, list(bpy.data.images.keys())  # not packed by the run
    expected = pixels(bpy.data.images["Saved ONNX"]).copy()
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    reopened = bpy.data.images["Saved ONNX"]
    assert reopened.packed_file is not None
    np.testing.assert_allclose(pixels(reopened), expected, atol=1e-6)


def test_scene_fit_and_automatic_overlap_reach_the_engine(bpy_data, models_dir):
    from onnx_image_runtime.engine import Fit
    from onnx_image_runtime.operators.settings import run_settings

    bpy = bpy_data
    settings = bpy.context.scene.onnx_image_runtime
    model_path = str(models_dir / "sr_x2.onnx")
    assert run_settings(settings, model_path=model_path).overlap is None
    assert run_settings(settings, model_path=model_path).effective_fit() == Fit.AUTO
    settings.contract_fit, settings.tile_overlap = "TILE", 8
    try:
        run = run_settings(settings, model_path=model_path)
        assert run.effective_fit() == Fit.TILE and run.overlap == 8
    finally:
        settings.property_unset("contract_fit")
        settings.property_unset("tile_overlap")
    # A fixed 32x32 global-context model on a 64x48 image: `auto` resizes, the result has the image's size.
    src, _ = make_image(bpy, "Global")
    model = str(models_dir / "fixed_global.onnx")
    assert bpy.ops.onnx.run_image(image=src.name, model=model, precision="FP32", provider="CPU") == {"FINISHED"}
    assert tuple(bpy.data.images["Global ONNX"].size) == (W, H)
