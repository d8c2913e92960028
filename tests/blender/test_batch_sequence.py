"""Frame sequences on disk: onnx.process_sequence (blocking in background mode) and the engine batch under
it: resume after an interruption, failing frames reported while the rest finish, no partial files."""

from __future__ import annotations

import os

import numpy as np
import pytest

W, H = 32, 24


def write_frames(folder, frames=range(1, 5), nan_frame=None):
    from onnx_image_runtime.engine.image.files import write_image

    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        image = np.random.default_rng(f).random((H, W, 4), np.float32)
        if f == nan_frame:
            image[3, 5, 1] = np.nan
        write_image(folder / f"{f:04d}.exr", image)


def listing(folder) -> list[str]:
    """Every file, hidden ones included: a temporary file left behind would show here."""
    return sorted(os.listdir(folder)) if folder.exists() else []


def read(path):
    from onnx_image_runtime.engine.image.files import read_image

    return read_image(path)


@pytest.fixture
def scene_settings(bpy_data, models_dir):
    settings = bpy_data.context.scene.onnx_image_runtime
    settings.model_path = str(models_dir / "sr_x2.onnx")
    settings.precision, settings.provider = "FP32", "CPU"
    yield settings
    for key in ("precision", "provider", "postprocess_output", "postprocess_stop_on_error", "postprocess_summary"):
        settings.property_unset(key)


def prepared(models_dir):
    from onnx_image_runtime.engine.runtime.prepare import prepare_model
    from onnx_image_runtime.engine.runtime.sessions import SessionSettings

    return prepare_model(str(models_dir / "sr_x2.onnx"), "fp32", settings=SessionSettings(provider="cpu"))


def test_operator_processes_sequence_and_matches_engine(bpy_data, scene_settings, models_dir, tmp_path, capsys):
    bpy = bpy_data
    from onnx_image_runtime.engine.inference.pipeline import run_image

    write_frames(tmp_path / "render")
    result = bpy.ops.onnx.process_sequence(
        input_pattern=str(tmp_path / "render" / "####.exr"), frames="1-4", skip_existing=False
    )
    assert result == {"FINISHED"}
    # Default output: a sibling folder of the input's, same numbering.
    out = tmp_path / "render_onnx"
    assert listing(out) == ["0001.exr", "0002.exr", "0003.exr", "0004.exr"]
    model = prepared(models_dir)
    for f in range(1, 5):
        got = read(out / f"{f:04d}.exr")
        assert got.shape == (2 * H, 2 * W, 4)
        np.testing.assert_allclose(got, run_image(model, read(tmp_path / "render" / f"{f:04d}.exr")).image, atol=1e-5)
    assert scene_settings.postprocess_summary.startswith("done 4, skipped 0, failed 0")
    printed = capsys.readouterr().out
    assert (
        "ONNX sequence: frame 4 processed (4/4)" in printed and "ONNX sequence: done 4, skipped 0, failed 0" in printed
    )


def test_resume_after_interruption_gives_identical_pixels(bpy_data, scene_settings, models_dir, tmp_path):
    bpy = bpy_data
    from onnx_image_runtime.engine.batch.sequence import process_sequence
    from onnx_image_runtime.engine.progress import Progress

    write_frames(tmp_path / "in")
    inputs, frames = str(tmp_path / "in" / "####.exr"), [1, 2, 3, 4]
    model = prepared(models_dir)
    reference = process_sequence(model, inputs, output_pattern=str(tmp_path / "ref" / "####.exr"), frames=frames)
    assert reference.done == tuple(frames) and reference.ok

    # Interrupted after the first frame (Esc in the UI, a farm job killed between frames).
    def cancel_after_first(fraction, text):
        if text.startswith("frame 1 processed"):
            progress.cancel()

    progress = Progress(cancel_after_first)
    partial = process_sequence(
        model, inputs, output_pattern=str(tmp_path / "out" / "####.exr"), frames=frames, progress=progress
    )
    assert partial.cancelled and partial.done == (1,) and not partial.failed
    assert listing(tmp_path / "out") == ["0001.exr"]  # only complete files, no temporary ones
    first = os.stat(tmp_path / "out" / "0001.exr").st_mtime_ns

    # Resumed through the operator, skipping what exists.
    assert bpy.ops.onnx.process_sequence(
        input_pattern=inputs, output_pattern=str(tmp_path / "out" / "####.exr"), frames="1-4", skip_existing=True
    ) == {"FINISHED"}
    assert scene_settings.postprocess_summary.startswith("done 3, skipped 1, failed 0")
    assert os.stat(tmp_path / "out" / "0001.exr").st_mtime_ns == first
    assert listing(tmp_path / "out") == listing(tmp_path / "ref")
    for f in frames:
        np.testing.assert_array_equal(read(tmp_path / "out" / f"{f:04d}.exr"), read(tmp_path / "ref" / f"{f:04d}.exr"))


def test_failing_frame_reported_while_the_others_finish(bpy_data, scene_settings, tmp_path, capfd):
    bpy = bpy_data
    write_frames(tmp_path / "in", nan_frame=2)
    out = tmp_path / "out"
    out.mkdir()
    # An earlier run's output of frame 2 is kept: a failure removes only what this run started writing.
    (out / "0002.exr").write_bytes(b"an older result of frame 2")
    os.mkdir(out / "0003.exr")  # frame 3 cannot be written (as with a full disk: an OSError)
    # Failed frames make the operator fail (a script calling bpy.ops gets an exception naming them) ...
    with pytest.raises(RuntimeError, match=r"2 of 4 frames failed \(frame 2: .*NaN or Inf.*; frame 3: "):
        bpy.ops.onnx.process_sequence(
            input_pattern=str(tmp_path / "in" / "####.exr"), output_pattern=str(out / "####.exr"), frames="1-4"
        )
    # ... and each failure is printed once.
    printed = capfd.readouterr()
    both = printed.out + printed.err
    assert both.count("frame 2") == 1 and both.count("frame 3:") == 1, both
    summary = scene_settings.postprocess_summary
    assert summary.startswith("done 2, skipped 0, failed 2 (frame 2: ") and "NaN or Inf" in summary
    assert summary.endswith("; frames 2-3)")
    assert listing(out) == ["0001.exr", "0002.exr", "0003.exr", "0004.exr"] and (out / "0003.exr").is_dir()
    assert (out / "0002.exr").read_bytes() == b"an older result of frame 2"


def test_stop_on_error_and_engine_failures(scene_settings, models_dir, tmp_path):
    from onnx_image_runtime.engine.batch.sequence import process_sequence
    from onnx_image_runtime.engine.errors import EngineError

    write_frames(tmp_path / "in", frames=(1, 3, 4))  # frame 2 is missing
    model = prepared(models_dir)
    inputs, out = str(tmp_path / "in" / "####.exr"), tmp_path / "out"
    summary = process_sequence(
        model, inputs, output_pattern=str(out / "####.exr"), frames=[1, 2, 3, 4], stop_on_error=True
    )
    assert summary.done == (1,) and list(summary.failed) == [2] and "image not found" in summary.failed[2]
    assert listing(out) == ["0001.exr"]
    summary = process_sequence(
        model, inputs, output_pattern=str(out / "####.exr"), frames=[1, 2, 3, 4], skip_existing=True
    )
    assert summary.skipped == (1,) and summary.done == (3, 4) and list(summary.failed) == [2]
    with pytest.raises(EngineError, match="would overwrite its source frame"):
        process_sequence(model, inputs, output_pattern=inputs, frames=[1])


def test_operator_errors_and_menu(bpy_data, scene_settings, addon, tmp_path):
    bpy = bpy_data
    with pytest.raises(RuntimeError, match="bad frame range"):
        bpy.ops.onnx.process_sequence(input_pattern=str(tmp_path / "####.exr"), frames="5-1")
    scene_settings.model_path = str(tmp_path / "missing.onnx")
    with pytest.raises(RuntimeError, match="model file not found"):
        bpy.ops.onnx.process_sequence(input_pattern=str(tmp_path / "####.exr"), frames="1")
    assert bpy.ops.onnx.process_sequence.idname() == "ONNX_OT_process_sequence"
    assert addon.operators.draw_sequence_menu in bpy.types.TOPBAR_MT_render._dyn_ui_initialize()
    assert addon.operators.draw_sequence_menu in bpy.types.IMAGE_MT_image._dyn_ui_initialize()


def test_postprocess_panel_draws(bpy_data, scene_settings, tmp_path):
    bpy = bpy_data
    from types import SimpleNamespace

    from onnx_image_runtime.panels.postprocess import ONNX_PT_postprocess

    class Layout:
        def __init__(self, calls):
            self.calls = calls

        def __getattr__(self, name):
            return lambda *a, **kw: self.calls.append((name, a, kw)) or Layout(self.calls)

    context = bpy.context
    scene = context.scene
    assert ONNX_PT_postprocess.bl_space_type == "PROPERTIES" and ONNX_PT_postprocess.bl_context == "output"
    assert ONNX_PT_postprocess.poll(context) and ONNX_PT_postprocess.is_registered
    old = scene.render.filepath
    scene.render.filepath = str(tmp_path / "render" / "####")
    try:
        header, body = [], []
        ONNX_PT_postprocess.draw_header(SimpleNamespace(layout=Layout(header)), context)
        assert [c[1][1] for c in header if c[0] == "prop"] == ["postprocess"]
        scene_settings.postprocess_summary = "done 3, skipped 0, failed 0"
        ONNX_PT_postprocess.draw(SimpleNamespace(layout=Layout(body)), context)
    finally:
        scene.render.filepath = old
    props = [c[1][1] for c in body if c[0] == "prop"]
    assert props == [
        "model_path",
        "precision",
        "pass_mapping",
        "postprocess_output",
        "postprocess_stop_on_error",
        "postprocess_keep_passes",
        "postprocess_temporal_blend",
        "postprocess_require_gpu",
    ]
    labels = [c[2].get("text") for c in body if c[0] == "label"]
    assert "Frames go to .../render_onnx/####.exr" in labels  # issue 27: no wrapped absolute path
    assert "Last batch: done 3, skipped 0, failed 0" in labels
    assert [c[1][0] for c in body if c[0] == "operator"] == ["onnx.process_sequence"]


def test_nan_output_frame_is_reported_and_removed(addon, tmp_path):
    """A finite input that the model turns into Inf/NaN (RuntimeFailure) fails only its own frame."""
    from onnx_image_runtime.engine.batch.sequence import FrameBatch, process_sequence
    from onnx_image_runtime.engine.image.files import write_image
    from onnx_image_runtime.engine.runtime.prepare import prepare_model
    from onnx_image_runtime.engine.runtime.sessions import SessionSettings

    from tests import models

    model = prepare_model(
        models.save(models.overflow(), tmp_path / "overflow.onnx"), "fp32", settings=SessionSettings(provider="cpu")
    )
    (tmp_path / "in").mkdir()
    for f in (1, 2, 3):
        write_image(tmp_path / "in" / f"{f:04d}.exr", np.full((8, 8, 3), 1e36 if f == 2 else 0.5, np.float32))
    inputs, outputs = str(tmp_path / "in" / "####.exr"), str(tmp_path / "out" / "####.exr")
    summary = process_sequence(model, inputs, output_pattern=outputs, frames=[1, 2, 3])
    assert summary.done == (1, 3) and "NaN/Inf values" in summary.failed[2]
    assert listing(tmp_path / "out") == ["0001.exr", "0003.exr"]

    # The same through the frame-at-a-time batch the render handlers use, stopping at the failure.
    batch = FrameBatch(model, str(tmp_path / "batch" / "####.exr"), stop_on_error=True)
    results = [batch.process(f, inputs.replace("####", f"{f:04d}")) for f in (1, 2, 3)]
    assert results[0].error == "" and "NaN/Inf" in results[1].error and results[2] is None
    assert batch.stopped and batch.summary.done == (1,) and list(batch.summary.failed) == [2]
    assert listing(tmp_path / "batch") == ["0001.exr"]


def test_output_pattern_without_extension_gets_the_format_extension(bpy_data, scene_settings, tmp_path):
    """Blender's convention: '//post/shot_####' means the render format's extension is added."""
    bpy = bpy_data
    from onnx_image_runtime.operators.common import postprocess_pattern

    write_frames(tmp_path / "in", frames=(1, 2))
    assert bpy.ops.onnx.process_sequence(
        input_pattern=str(tmp_path / "in" / "####.exr"),
        output_pattern=str(tmp_path / "post" / "shot_####"),
        frames="1-2",
    ) == {"FINISHED"}
    assert listing(tmp_path / "post") == ["shot_0001.exr", "shot_0002.exr"]
    assert read(tmp_path / "post" / "shot_0002.exr").shape == (2 * H, 2 * W, 4)
    scene = bpy.context.scene
    saved = scene.render.filepath, scene.render.image_settings.file_format
    try:
        scene.render.filepath = str(tmp_path / "render" / "frame_####")
        scene.render.image_settings.file_format = "PNG"
        scene_settings.postprocess_output = str(tmp_path / "post" / "shot_####")
        assert postprocess_pattern(scene) == str(tmp_path / "post" / "shot_####.png")
    finally:
        scene.render.filepath, scene.render.image_settings.file_format = saved


def test_the_panel_shows_frame_patterns_short(clean_file, tmp_path):
    """Issue 27: a wrapped absolute path in the panel. Inside the saved .blend's folder the pattern is shown relative
    to it ('//'), elsewhere as its last folder and file name."""
    bpy = clean_file
    from onnx_image_runtime.panels.postprocess import short_pattern

    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    assert short_pattern(str(tmp_path / "render_onnx" / "####.exr")) == "//render_onnx/####.exr"
    assert short_pattern("/elsewhere/farm/shot/render_onnx/####.exr") == ".../render_onnx/####.exr"


def test_blenders_default_output_post_processes_inside_it(clean_file):
    """Issue 27 (and a review finding: the helper got '/tmp/', the scene gives '/tmp/####.png'): a new scene's output
    '/tmp/' sends post-processed frames to '/tmp/onnx/', never to '/tmp_onnx/' at the disk root."""
    bpy = clean_file
    from onnx_image_runtime.operators.common import postprocess_pattern

    scene = bpy.context.scene
    scene.render.filepath = "/tmp/"
    scene.onnx_image_runtime.postprocess_output = ""
    assert postprocess_pattern(scene) == "/tmp/onnx/####.exr"
