"""Post-processing during animation renders (handlers.py): real Cycles renders of 3 tiny frames."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

FRAMES = (1, 2, 3)
W, H = 32, 24


def setup_scene(bpy, folder, model, multilayer=False):
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = W, H
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = FRAMES[0], FRAMES[-1]
    image = scene.render.image_settings
    if multilayer:
        image.media_type = "MULTI_LAYER_IMAGE"
        layer = scene.view_layers[0]
        layer.use_pass_diffuse_color = layer.use_pass_z = layer.use_pass_normal = True
    else:
        image.media_type = "IMAGE"
        image.file_format = "OPEN_EXR"
    image.color_depth, image.exr_codec = "32", "ZIP"
    scene.render.filepath = str(folder / "render" / "####")
    settings = scene.onnx_image_runtime
    settings.model_path = str(model)
    settings.precision = "FP32"
    settings.provider = "CPU"
    settings.postprocess = True
    return scene


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def expected(model, src):
    from onnx_image_runtime.engine.image.files import read_image
    from onnx_image_runtime.engine.inference.pipeline import run_image
    from onnx_image_runtime.engine.runtime.prepare import prepare_model
    from onnx_image_runtime.engine.runtime.sessions import SessionSettings

    prepared = prepare_model(str(model), "fp32", settings=SessionSettings(provider="cpu"))
    return run_image(prepared, read_image(src)).image


def check_outputs(folder, model):
    from onnx_image_runtime.engine.image.files import read_image

    for frame in FRAMES:
        src = folder / "render" / f"{frame:04d}.exr"
        out = folder / "render_onnx" / f"{frame:04d}.exr"
        assert out.is_file(), sorted(os.listdir(folder))
        got = read_image(out)
        assert got.shape[:2] == (2 * H, 2 * W)
        np.testing.assert_allclose(got, expected(model, src), atol=1e-5)
    assert sorted(os.listdir(folder / "render_onnx")) == [f"{f:04d}.exr" for f in FRAMES]  # no temporary files


def test_animation_render_post_processes_each_frame(clean_file, models_dir, tmp_path, capsys):
    bpy = clean_file
    from onnx_image_runtime import handlers

    model = models_dir / "sr_x2.onnx"
    scene = setup_scene(bpy, tmp_path, model)
    seen, seen_prepared, digests = [], [], {}

    def before_ours(scene, *_):  # the frame as Blender wrote it, before the add-on's handler runs
        path = scene.render.frame_path(frame=scene.frame_current)
        digests[scene.frame_current] = digest(path)

    def after_ours(scene, *_):
        render = handlers.active()
        seen.append((scene.frame_current, id(render.batch.prepared), id(render.batch.prepared.session)))
        seen_prepared.append(render.batch.prepared)

    write = bpy.app.handlers.render_write
    write.insert(0, before_ours)
    write.append(after_ours)
    try:
        assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    finally:
        write.remove(before_ours)
        write.remove(after_ours)

    check_outputs(tmp_path, model)
    # The render output is never modified.
    assert {f: digest(tmp_path / "render" / f"{f:04d}.exr") for f in FRAMES} == digests
    # One prepared model (session and buffers) for the whole animation, released at the end.
    assert [s[0] for s in seen] == list(FRAMES)
    assert len({s[1:] for s in seen}) == 1
    assert handlers.active() is None
    from onnx_image_runtime.engine import is_loaded

    assert seen_prepared and not is_loaded(seen_prepared[0])
    out = capsys.readouterr().out
    for frame in FRAMES:
        assert f"ONNX post-process: frame {frame} -> {tmp_path / 'render_onnx' / f'{frame:04d}.exr'} (" in out
    assert "ONNX post-process: done 3, skipped 0, failed 0" in out
    # The summary goes on with the flicker measure (a still scene: the difference method).
    assert scene.onnx_image_runtime.postprocess_summary.startswith("done 3, skipped 0, failed 0; flicker x")


def test_headless_blend_with_saved_setting(clean_file, models_dir, tmp_path, capsys):
    """What `blender -b shot.blend -a` does: the setting saved in the .blend drives the render."""
    bpy = clean_file
    model = models_dir / "sr_x2.onnx"
    setup_scene(bpy, tmp_path, model, multilayer=True)
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_homefile(use_empty=True)
    assert not bpy.context.scene.onnx_image_runtime.postprocess
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    assert scene.onnx_image_runtime.postprocess and scene.onnx_image_runtime.postprocess_output == ""
    assert bpy.ops.render.render(animation=True) == {"FINISHED"}

    from onnx_image_runtime.engine.image.files import read_layers

    layers = read_layers(tmp_path / "render" / "0001.exr")
    assert any(name.endswith("Diffuse Color") for name in layers)  # a real multilayer frame was the input
    check_outputs(tmp_path, model)
    out = capsys.readouterr().out
    assert out.count("ONNX post-process: frame ") == 3
    # The summary goes on with the flicker measure (a still scene: the difference method).
    assert scene.onnx_image_runtime.postprocess_summary.startswith("done 3, skipped 0, failed 0; flicker x")
    # Keep Passes (on by default): every pass of the render is in the output, same part and channel names,
    # same pixel types, resized nearest to the model's x2 output; Combined is the processed image.
    assert scene.onnx_image_runtime.postprocess_keep_passes
    for frame in FRAMES:
        source = exr_parts(tmp_path / "render" / f"{frame:04d}.exr")
        kept = exr_parts(tmp_path / "render_onnx" / f"{frame:04d}.exr")
        assert len(source) >= 4 and [p[:3] for p in kept] == [p[:3] for p in source]
        for (name, _, _, before), (_, _, _, after) in zip(source, kept, strict=True):
            if not name.endswith("Combined"):
                np.testing.assert_array_equal(after, before.repeat(2, axis=0).repeat(2, axis=1))
    # Set off, the same frames give the processed image alone (Process Sequence follows the setting too).
    scene.onnx_image_runtime.postprocess_keep_passes = False
    result = bpy.ops.onnx.process_sequence(
        input_pattern=str(tmp_path / "render" / "####.exr"),
        output_pattern=str(tmp_path / "plain" / "####.exr"),
        frames="1-3",
    )
    assert result == {"FINISHED"}
    plain = exr_parts(tmp_path / "plain" / "0001.exr")
    assert [p[1] for p in plain] == [("R", "G", "B", "A")]
    kept_combined = read_layers(tmp_path / "render_onnx" / "0001.exr")
    np.testing.assert_array_equal(plain[0][3], next(v for k, v in kept_combined.items() if k.endswith("Combined")))


def exr_parts(path):
    """[(part name, channel names, pixel type, HxWxC)] of every part of an EXR."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    found, part = [], 0
    while inp.seek_subimage(part, 0):
        spec = inp.spec()
        data = np.asarray(inp.read_image(part, 0, 0, spec.nchannels, "float")).reshape(spec.height, spec.width, -1)
        found.append((spec.getattribute("name") or "", tuple(spec.channelnames), str(spec.format), data))
        part += 1
    inp.close()
    return found


def test_failing_frames_stop_on_error_during_render(clean_file, models_dir, tmp_path, capsys):
    bpy = clean_file
    scene = setup_scene(bpy, tmp_path, models_dir / "multi_input.onnx")
    settings = scene.onnx_image_runtime
    settings.pass_mapping = "albedo=GlossCol"  # not rendered: every frame fails
    settings.postprocess_stop_on_error = True
    assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    # The render itself went on; post-processing stopped at frame 1 and left no file.
    assert sorted(os.listdir(tmp_path / "render")) == [f"{f:04d}.exr" for f in FRAMES]
    assert not (tmp_path / "render_onnx").exists() or not os.listdir(tmp_path / "render_onnx")
    out = capsys.readouterr().out
    assert "ONNX post-process: frame 1 FAILED: " in out and "needs 'GlossCol'" in out
    assert "frame 2" not in out
    assert settings.postprocess_summary.startswith("done 0, skipped 0, failed 1 (frame 1: ")


def test_cancel_stops_post_processing(clean_file, models_dir, tmp_path):
    """render_cancel mid-animation: the frames done stay, nothing partial, the session is released."""
    bpy = clean_file
    from onnx_image_runtime import handlers
    from onnx_image_runtime.engine.image.files import write_image

    scene = setup_scene(bpy, tmp_path, models_dir / "sr_x2.onnx")
    rng = np.random.default_rng(0)
    (tmp_path / "render").mkdir()
    handlers.on_render_init(scene)
    assert handlers.active() is not None
    for frame in FRAMES:  # as Blender writes them, one by one
        write_image(scene.render.frame_path(frame=frame), rng.random((H, W, 4), np.float32))
    scene.frame_current = 1
    handlers.on_render_write(scene)
    handlers.on_render_cancel(scene)
    assert handlers.active() is None
    scene.frame_current = 2
    handlers.on_render_write(scene)  # a late call after the cancel does nothing
    assert sorted(os.listdir(tmp_path / "render_onnx")) == ["0001.exr"]
    assert scene.onnx_image_runtime.postprocess_summary == "done 1, skipped 0, failed 0, cancelled"


def test_default_output_and_missing_model(clean_file, tmp_path, capsys):
    bpy = clean_file
    from onnx_image_runtime import handlers
    from onnx_image_runtime.operators.common import postprocess_pattern, render_pattern

    scene = bpy.context.scene
    scene.render.image_settings.media_type = "IMAGE"
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(tmp_path / "shots" / "sh010_")
    assert render_pattern(scene) == str(tmp_path / "shots" / "sh010_####.png")
    assert postprocess_pattern(scene) == str(tmp_path / "shots_onnx" / "sh010_####.exr")
    scene.onnx_image_runtime.postprocess_output = str(tmp_path / "post" / "f_###.exr")
    assert postprocess_pattern(scene) == str(tmp_path / "post" / "f_###.exr")

    settings = scene.onnx_image_runtime
    settings.postprocess, settings.model_path = True, str(tmp_path / "missing.onnx")
    scene.onnx_image_runtime.postprocess_output = ""
    handlers.on_render_init(scene)
    assert capsys.readouterr().out == ""  # nothing is prepared or announced before a frame is written
    scene.frame_current = 1
    frame = Path(scene.render.frame_path(frame=1))
    frame.parent.mkdir(parents=True)
    frame.write_bytes(b"written by this render")
    handlers.on_render_write(scene)
    assert "ONNX post-process: not run: model file not found" in capsys.readouterr().out
    assert settings.postprocess_summary.startswith("not run: model file not found")
    handlers.on_render_complete(scene)
    assert handlers.active() is None  # nothing to run; the render went on


def test_still_render_loads_no_onnxruntime_and_announces_nothing(addon, models_dir, tmp_path):
    """F12 with post-process on: no frame is written as a sequence frame, so nothing is prepared or said."""
    import subprocess
    import sys

    code = f"""
import sys, bpy
sys.path.insert(0, sys.argv[1])
import onnx_image_runtime as a
a.register()
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.samples = 1
scene.render.resolution_x = scene.render.resolution_y = 16
scene.render.filepath = {str(tmp_path / "still")!r}
s = scene.onnx_image_runtime
s.postprocess, s.model_path, s.provider = True, {str(models_dir / "sr_x2.onnx")!r}, "CPU"
bpy.ops.render.render()
bpy.ops.render.render(write_still=True)
print("LOADED", "onnxruntime" in sys.modules)
a.unregister()
"""
    root = next(p for p in sys.path if (Path(p) / "onnx_image_runtime").exists())
    done = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "LOADED False" in done.stdout, done.stdout
    assert "ONNX post-process" not in done.stdout + done.stderr


def documented_exit_status_expr() -> str:
    """The `--python-expr` that docs/farm.md gives for `blender -b shot.blend -a --python-expr "..."`."""
    import re
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "farm.md").read_text()
    match = re.search(r'blender -b shot\.blend -s \S+ -e \S+ -a --python-expr "([^"]+)"', docs)
    assert match, "docs/farm.md lost the exit-status command"
    return match.group(1)


def exit_status(expr: str) -> int:
    try:
        exec(expr, {})
    except SystemExit as exc:
        return exc.code
    raise AssertionError("the expression did not exit")


def test_require_gpu_and_the_documented_exit_status(clean_file, models_dir, tmp_path, capsys):
    """`Require GPU` fails every frame with the reason on a machine without CUDA; the documented
    `--python-expr` run after `-a` exits 3 then, 0 after a clean render (the bpy module has no command line
    of its own: the expression is run here the way Blender runs it after the render)."""
    bpy = clean_file
    from onnx_image_runtime.engine import SessionSettings, resolve_provider

    expr = documented_exit_status_expr()
    scene = setup_scene(bpy, tmp_path, models_dir / "sr_x2.onnx")
    settings = scene.onnx_image_runtime
    settings.postprocess_summary = "done 0, skipped 0, failed 3 (from an older render, saved in the .blend)"
    assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    assert settings.postprocess_summary.startswith("done 3, skipped 0, failed 0")
    assert exit_status(expr) == 0

    settings.postprocess_require_gpu = True
    settings.provider = "AUTO"
    settings.postprocess_output = str(tmp_path / "gpu_only" / "####.exr")
    assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    choice = resolve_provider(SessionSettings())
    if choice.name == "cuda":  # a GPU machine: the frames are post-processed as usual
        assert settings.postprocess_summary.startswith("done 3, skipped 0, failed 0")
        return
    out = capsys.readouterr().out
    for frame in FRAMES:
        assert f"ONNX post-process: frame {frame} FAILED: GPU required" in out
    assert choice.fallback_reason in out
    assert not (tmp_path / "gpu_only").exists()
    assert settings.postprocess_summary.startswith("done 0, skipped 0, failed 3 (frame 1: GPU required")
    assert sorted(os.listdir(tmp_path / "render")) == [f"{f:04d}.exr" for f in FRAMES]  # the render went on
    assert exit_status(expr) == 3


def test_disabling_the_extension_mid_render_releases_the_session_and_says_so(clean_file, models_dir, tmp_path, capsys):
    """Issue 16, item 15: unregistering during an animation render stops the post-process, releases the
    session (its memory goes back to Cycles) and reports which frames were not processed."""
    bpy = clean_file
    from onnx_image_runtime import handlers
    from onnx_image_runtime.engine.image.files import write_image
    from onnx_image_runtime.engine.runtime.prepare import is_loaded

    scene = setup_scene(bpy, tmp_path, models_dir / "sr_x2.onnx")
    (tmp_path / "render").mkdir()
    handlers.on_render_init(scene)
    render = handlers.active()
    assert render is not None and render.batch is None  # the model is prepared at the first frame written
    write_image(scene.render.frame_path(frame=1), np.random.default_rng(0).random((H, W, 4), np.float32))
    scene.frame_current = 1
    handlers.on_render_write(scene)
    prepared = render.batch.prepared
    try:
        handlers.unregister()
        assert handlers.active() is None and not is_loaded(prepared)
        printed = capsys.readouterr().out
        assert "extension was disabled during the render" in printed and "done 1" in printed
        assert "disabled" in scene.onnx_image_runtime.postprocess_summary
    finally:
        handlers.register()


def test_render_post_process_judges_reduced_precision_on_its_frames(clean_file, tmp_path, capsys):
    """Issue 16, item 6: the post-process prepares its model at the first frame written, so a new fp16
    conversion is judged on that frame and refused with the measured error; a conversion cached earlier
    (judged on another image) passes, and then the first frame's output is compared with fp32 before anything
    is written: every frame fails with the measured error. Nothing is written either way."""
    bpy = clean_file
    from onnx_image_runtime import handlers
    from onnx_image_runtime.engine import SessionSettings, prepare_model, release_model
    from onnx_image_runtime.engine.image.files import write_image

    from tests import models
    from tests.engine.precision.test_accuracy_gate import text_page

    model = models.save(models.text_detector(), tmp_path / "text.onnx")
    scene = setup_scene(bpy, tmp_path, model)
    scene.onnx_image_runtime.precision = "FP16"

    def render() -> str:
        render_dir = tmp_path / "render"
        shutil.rmtree(render_dir, ignore_errors=True)
        render_dir.mkdir()
        handlers.on_render_init(scene)
        for frame in FRAMES:  # as Blender writes them, one by one
            page = text_page(seed=frame)  # the file's size, not the scene's, is what is processed
            write_image(scene.render.frame_path(frame=frame), np.dstack([page, np.ones(page.shape[:2], np.float32)]))
            scene.frame_current = frame
            handlers.on_render_write(scene)
        handlers.on_render_complete(scene)
        assert not (tmp_path / "render_onnx").exists() or os.listdir(tmp_path / "render_onnx") == []
        return capsys.readouterr().out

    printed = render()
    assert "not run: fp16 conversion failed: outside the tolerance: PSNR" in printed, printed

    # Cached by an earlier prepare that judged the conversion on a synthetic image, where it passes.
    earlier = prepare_model(
        model, "fp16", settings=SessionSettings(provider="cpu"), cache_dir=os.environ["ONNX_IMAGE_RUNTIME_CACHE"]
    )
    release_model(earlier)
    printed = render()
    failed = [line for line in printed.splitlines() if " FAILED: " in line and "differs from fp32 by up to" in line]
    assert len(failed) == len(FRAMES), printed
    assert scene.onnx_image_runtime.postprocess_summary.startswith(f"done 0, skipped 0, failed {len(FRAMES)}")
