"""What an artist sees: straight-alpha images, the Render Result through run_image, the sidebar's truth."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from tests.blender.layout import draw
from tests.engine.image.test_alpha import straight_png


@pytest.fixture(scope="module")
def blur_model(tmp_path_factory):
    from tests import models

    return str(models.save(models.blur_x2(), tmp_path_factory.mktemp("blur") / "blur_x2.onnx"))


def pixels(img) -> np.ndarray:
    w, h = img.size
    buf = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(buf)
    return buf.reshape(h, w, 4)[::-1]


def test_straight_png_gives_premultiplied_result_without_glow(bpy_data, blur_model, tmp_path):
    bpy = bpy_data
    img = bpy.data.images.load(str(straight_png(tmp_path / "paint.png")))
    assert not img.is_float and img.alpha_mode == "STRAIGHT"
    result = bpy.ops.onnx.run_image(image=img.name, model=blur_model, precision="FP32", provider="CPU")
    assert result == {"FINISHED"}
    out = bpy.data.images[f"{img.name} ONNX"]
    assert out.alpha_mode == "PREMUL"
    got = pixels(out)
    np.testing.assert_allclose(got[:10, :10], 0.0, atol=1e-6)  # (0,0,0,0) where alpha is 0: no magenta
    edge = got[16:20, 24:40]  # soft ring next to transparent pixels
    assert np.all(edge[:, :, :3] <= edge[:, :, 3:4] + 1e-5)  # not brighter than its alpha allows
    assert np.all(edge[:, :, 2] < 1e-6)  # no blue bled in from the hidden magenta
    assert abs(float(got[40, 40, 3]) - 128 / 255) < 1e-6


def test_run_panel_tells_what_ran(bpy_data, models_dir, tmp_path):
    bpy = bpy_data
    panels = importlib.import_module("onnx_image_runtime.panels")
    settings = bpy.context.scene.onnx_image_runtime
    settings.model_path = str(models_dir / "multi_input.onnx")
    assert "Not run yet" in draw(panels.ONNX_PT_run, bpy.context).texts()
    from onnx_image_runtime.engine.image.files import write_image

    rng = np.random.default_rng(0)
    layers = tmp_path / "passes.exr"
    write_image(layers, rng.random((24, 32, 4), np.float32))
    settings.pass_mapping = "albedo=Combined,normal=Combined"
    try:
        assert bpy.ops.onnx.run_render(filepath=str(layers), precision="FP32", provider="CPU") == {"FINISHED"}
    finally:
        settings.property_unset("pass_mapping")
    texts = draw(panels.ONNX_PT_run, bpy.context).texts()
    assert "Ran on CPU" in texts and "Precision: fp32" in texts
    assert any(t.startswith("Time ") and t.endswith(" 1 tile(s)") for t in texts), texts
    assert {"color <- Combined", "albedo <- Combined", "normal <- Combined"} <= set(texts), texts

    # A long fallback reason is wrapped, never cut: every word is shown, no line wider than the panel.
    reason = "CUDA not used: " + " ".join(f"word{i}" for i in range(40)) + ": running on CPU"
    settings.last_fallback = reason
    texts = draw(panels.ONNX_PT_run, bpy.context).texts()
    assert texts[0] == "Ran on CPU (CUDA not used)"  # the short label; the full reason below it
    assert " ".join(texts[1 : texts.index("Precision: fp32")]) == reason
    assert max(len(t) for t in texts) < 60

    # Another model: the previous model's report and run go; a missing file is said at once.
    settings.model_path = str(tmp_path / "gone.onnx")
    assert (settings.last_provider, settings.last_report, settings.last_inputs, settings.last_tiles) == ("", "", "", 0)
    assert "Not run yet" in draw(panels.ONNX_PT_run, bpy.context).texts()
    shown = " ".join(draw(panels.ONNX_PT_model, bpy.context).texts())
    assert shown.startswith("Model file not found:") and "gone.onnx" in shown


def test_benchmark_table_in_the_panel(bpy_data, models_dir):
    bpy = bpy_data
    panels = importlib.import_module("onnx_image_runtime.panels")
    settings = bpy.context.scene.onnx_image_runtime
    settings.model_path = str(models_dir / "sr_x2.onnx")
    img = bpy.data.images.new("Bench", 32, 32, alpha=True, float_buffer=True)
    assert bpy.ops.onnx.benchmark_model(image=img.name, provider="CPU", repeats=1) == {"FINISHED"}
    layout = draw(panels.ONNX_PT_precision, bpy.context)
    assert any(name == "grid_flow" for name, _, _ in layout.calls)
    texts = layout.texts()
    header = texts.index("precision")
    assert texts[header : header + 4] == ["precision", "provider", "run ms", "startup s"]
    for row, name in enumerate(("FP32", "FP16", "AMP"), start=1):
        cells = texts[header + 4 * row : header + 4 * row + 4]
        assert cells[0] == name and cells[1] == "cpu" and float(cells[2]) > 0, texts
    assert bpy.data.texts["ONNX Benchmark"].as_string().strip() == settings.last_benchmark.strip()


def test_unsaved_blend_with_relative_path_says_so(bpy_data):
    bpy = bpy_data
    assert not bpy.data.filepath
    settings = bpy.context.scene.onnx_image_runtime
    assert settings.bl_rna.properties["model_path"].is_path_supports_blend_relative
    with pytest.raises(RuntimeError, match="relative to the .blend file, which is not saved yet"):
        bpy.ops.onnx.run_image(image=bpy.data.images.new("Any", 8, 8).name, model="//models/x.onnx")
    settings.model_path = "//models/x.onnx"
    panels = importlib.import_module("onnx_image_runtime.panels")
    assert "not saved yet" in " ".join(draw(panels.ONNX_PT_model, bpy.context).texts())


def test_cuda_note_once_per_session(bpy_data, models_dir, capfd):
    bpy = bpy_data
    from onnx_image_runtime.engine import SessionSettings, prepare_model

    model = str(models_dir / "sr_x2.onnx")
    reason = prepare_model(model, "fp32", settings=SessionSettings(provider="auto")).fallback_reason
    if not reason:
        pytest.skip("CUDA runs here: there is no fallback note to repeat")
    for _ in range(3):
        assert bpy.ops.onnx.prepare_model(model=model, precision="FP32", provider="AUTO") == {"FINISHED"}
    out = capfd.readouterr()
    assert (out.out + out.err).count(reason) <= 1
    assert bpy.context.scene.onnx_image_runtime.last_fallback == reason  # the panel keeps showing it


def test_background_run_prints_progress_lines(bpy_data, models_dir, capfd):
    """`blender -b`: a long single-image run says how far it is (tiles), not silence until the end."""
    bpy = bpy_data
    settings = bpy.context.scene.onnx_image_runtime
    img = bpy.data.images.new("Big", 128, 128, alpha=True, float_buffer=True)
    settings.tile_size, settings.tile_overlap = 32, 8
    try:
        assert bpy.ops.onnx.run_image(image=img.name, model=str(models_dir / "sr_x2.onnx"), provider="CPU") == {
            "FINISHED"
        }
    finally:
        settings.property_unset("tile_size")
        settings.property_unset("tile_overlap")
    lines = [line for line in capfd.readouterr().out.splitlines() if line.startswith("Run ONNX Model on Image: ")]
    assert len(lines) >= 3, lines
    assert any("tile" in line for line in lines) and lines[-1].split(": ")[1].strip().startswith("100%"), lines
