"""INT8 in Blender (issue 30): the precision menu offers it, the operators pass it to the engine, and Auto on the CPU
says why it runs what it runs. Timings are injected; int8 results are compared within the accuracy rule, never bit
for bit (int8 kernels differ between CPUs)."""

from __future__ import annotations

import sys

import numpy as np

from tests import models
from tests.blender.test_operators import pixels

H, W = 192, 256  # at least 2^15 pixels: auto does not consider int8 for smaller images


def _image(bpy, name: str) -> np.ndarray:
    """A float image of the synthetic test picture (opaque); returns the picture, top-down HxWx3."""
    from engine.precision.validation_feeds import synthetic_image

    picture = synthetic_image(H, W)
    rgba = np.concatenate([picture, np.ones((H, W, 1), np.float32)], axis=2)
    img = bpy.data.images.new(name, W, H, alpha=True, float_buffer=True)
    img.colorspace_settings.name = "Linear Rec.709"
    img.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).reshape(-1))
    return picture


def _fp32(model: str, picture: np.ndarray) -> np.ndarray:
    from onnx_image_runtime.engine import SessionSettings, prepare_model, run_image

    return run_image(prepare_model(model, "fp32", settings=SessionSettings(provider="cpu")), picture).image


def _within_the_rule(reference: np.ndarray, result: np.ndarray) -> list[str]:
    from onnx_image_runtime.engine.precision.accuracy import AccuracyRule, compare, picture_view

    return AccuracyRule().failures(compare(reference, result, picture_view(3)))


def test_the_precision_menu_offers_int8_and_auto_says_the_cpu_may_run_it(bpy_data):
    props = bpy_data.context.scene.onnx_image_runtime.bl_rna.properties
    items = {item.identifier: item for item in props["precision"].enum_items}
    assert "INT8" in items and "calibrated on the image" in items["INT8"].description
    assert "INT8 where it is measured faster" in items["AUTO"].description


def test_run_image_at_int8_runs_the_model_calibrated_on_that_image(bpy_data, tmp_path):
    bpy = bpy_data
    model = str(models.save(models.tone_curve(), tmp_path / "tone.onnx"))
    picture = _image(bpy, "Int8 Source")
    assert bpy.ops.onnx.run_image(image="Int8 Source", model=model, precision="INT8", provider="CPU") == {"FINISHED"}
    settings = bpy.context.scene.onnx_image_runtime
    assert settings.last_precision == "int8"
    assert settings.last_report.startswith("int8 ok: PSNR") and "99.9th percentile" in settings.last_report
    result = pixels(bpy.data.images["Int8 Source ONNX"])[:, :, :3]
    assert _within_the_rule(_fp32(model, picture)[:, :, :3], result) == []


def test_auto_on_the_cpu_runs_int8_where_it_was_measured_faster_and_says_so(bpy_data, tmp_path, monkeypatch):
    bpy = bpy_data
    choice = sys.modules["onnx_image_runtime.engine.runtime.int8_choice"]
    monkeypatch.setattr(choice, "interleaved_medians", lambda fp32_run, int8_run: (0.100, 0.050))
    model = str(models.save(models.tone_curve(seed=26), tmp_path / "tone_auto.onnx"))
    _image(bpy, "Auto Source")
    assert bpy.ops.onnx.run_image(image="Auto Source", model=model, precision="AUTO", provider="CPU") == {"FINISHED"}
    settings = bpy.context.scene.onnx_image_runtime
    assert settings.last_precision == "int8"
    assert "auto chose int8: int8 2.0x faster than fp32 on this CPU" in settings.last_report


def test_process_sequence_at_int8_calibrates_on_the_first_frames(bpy_data, tmp_path):
    """Issue 30: Blender's Process Sequence calibrates int8 on the sequence's first frames (the first and the next
    two), not the first alone."""
    from onnx_image_runtime.engine import write_image
    from onnx_image_runtime.operators.jobs import ModelJob

    from engine.precision.validation_feeds import synthetic_image

    bpy = bpy_data
    model = str(models.save(models.tone_curve(), tmp_path / "tone.onnx"))
    folder = tmp_path / "render"
    folder.mkdir()
    for frame, gain in enumerate((1.0, 0.8, 0.6, 0.4), start=1):
        write_image(folder / f"{frame:04d}.exr", synthetic_image(H, W) * np.float32(gain))
    seen = []
    real = ModelJob.prepare

    def prepare(self, precision=None, progress=None):
        seen.append(len(self.calibration_frames))
        return real(self, precision, progress)

    ModelJob.prepare = prepare
    try:
        done = bpy.ops.onnx.process_sequence(
            input_pattern=str(folder / "####.exr"), output_pattern=str(tmp_path / "post" / "####.exr"),
            frames="1-4", model=model, precision="INT8", provider="CPU",
        )  # fmt: skip
    finally:
        ModelJob.prepare = real
    assert done == {"FINISHED"} and seen and seen[0] == 2
    assert sorted(p.name for p in (tmp_path / "post").iterdir()) == [f"{f:04d}.exr" for f in range(1, 5)]
