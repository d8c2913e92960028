"""The Flamenco job type farm/flamenco/onnx-postprocess.js: its Node test against the stand-in of Flamenco's
job compiler runtime, the render task's Blender arguments run with Blender's own code (the bpy module), and the
post-process task's exec command run for real, as a Worker would run it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import read_image
from tests.farm.conftest import FARM, MODEL, ROOT, expected_output, node, run, write_frames

HERE = Path(__file__).parent
JOB_TYPE = FARM / "flamenco" / "onnx-postprocess.js"


def test_node_test_of_the_job_type():
    test_file = HERE / "flamenco.test.js"
    result = run([node(), "--test", "--test-reporter=tap", str(test_file)], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
    # Every top-level test( ... ) of the file ran and passed: none was lost to a syntax slip or a skip.
    count = len(re.findall(r"^test\(", test_file.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert count >= 10
    assert f"# pass {count}" in result.stdout
    assert "# skipped 0" in result.stdout


def compiled(settings: dict) -> dict:
    result = run([node(), str(HERE / "flamenco_standin.js"), str(JOB_TYPE), json.dumps(settings)])
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def worker_command(command: dict) -> list[str]:
    """The exec command as the Manager hands it to a Worker: its variables replaced."""
    variables = {"{onnx_python}": sys.executable, "{onnx_engine_dir}": str(ROOT)}
    params = command["parameters"]
    return [variables.get(params["exe"], params["exe"])] + [variables.get(a, a) for a in params["args"]]


def test_the_post_process_task_runs_the_engine(tmp_path):
    render = tmp_path / "render"
    write_frames(render, frames=(1, 2, 3))
    job = compiled(
        {
            "frames": "1-3",
            "chunk_size": 3,
            "render_output_root": str(tmp_path),
            "render_output_path": str(render / "####"),
            "output_pattern": str(tmp_path / "post" / "####.exr"),
            "model": str(MODEL),
            "precision": "fp32",
            "require_gpu": False,
            "blendfile": str(tmp_path / "shot.blend"),
            "format": "OPEN_EXR",
            "scene": "Scene",
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    post = [t for t in job["tasks"] if t["type"] == "onnx-gpu"]
    assert [t["dependencies"] for t in post] == [["render-1-3"]]
    command = worker_command(post[0]["commands"][0])
    result = run(command, cwd=tmp_path)  # a Worker's working directory is not the engine's folder
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["done"] == [1, 2, 3]
    for frame in (1, 2, 3):
        name = f"{frame:04d}.exr"
        want = expected_output(render / name, tmp_path / "direct" / name)
        np.testing.assert_allclose(read_image(tmp_path / "post" / name), want, rtol=0, atol=1e-6)

    # A frame that fails makes the exec command fail, so Flamenco fails (and can retry) the task.
    (tmp_path / "post" / "0002.exr").unlink()
    (render / "0002.exr").write_bytes(b"not an image")
    again = run(command, cwd=tmp_path)
    assert again.returncode == 3, again.stdout + again.stderr
    assert json.loads(again.stdout)["skipped"] == [1, 3]
    assert sorted(p.name for p in (tmp_path / "post").iterdir()) == ["0001.exr", "0003.exr"]


# ---- The render task, run with Blender's own code -------------------------------------------------------------
# These two functions run in a subprocess of their own (bpy_run), never in the test process, which stays
# Blender-free; they import bpy as tests/farm/bpy_blender.py does, hence the TID251 exceptions.


def make_scene(blend: str) -> None:
    """A .blend whose own output settings are the ones that broke the 3.8 job type on a Flamenco 3.9 farm: File
    Extensions off, PNG, placeholders on. The render task must override all three."""
    import bpy  # noqa: TID251

    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 32, 24
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.use_file_extension = False
    scene.render.use_placeholder = True
    scene.render.filepath = "//blend_says/####"
    bpy.ops.wm.save_as_mainfile(filepath=blend)


def blender_command_line(argv: list[str]) -> None:
    """`blender -b BLENDFILE ARGS...` for the arguments a blender-render task passes, with the bpy module (this
    machine has no blender binary). Follows Blender's source/creator/creator_args.cc: the arguments run in order;
    --render-format is BKE_image_format_set (the media type follows the format); --render-frame renders each frame
    of each range with RE_RenderAnim(frame, frame), which `render(animation=True)` on a one-frame range does."""
    import bpy  # noqa: TID251

    blendfile, *args = argv
    bpy.ops.wm.open_mainfile(filepath=blendfile)
    scene = bpy.context.scene
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag == "--scene":
            # bpy has no window whose scene --scene could switch: the test's .blend has only this one.
            assert value == scene.name, value
        elif flag == "--python-expr":
            exec(compile(value, "<string>", "exec"), {"__name__": "__main__"})
        elif flag == "--render-output":
            scene.render.filepath = value
        elif flag == "--render-format":
            image = scene.render.image_settings
            if value == "OPEN_EXR_MULTILAYER":
                image.media_type = "MULTI_LAYER_IMAGE"
            else:
                image.media_type = "IMAGE"
                image.file_format = value
        elif flag == "--render-frame":
            for part in value.split(","):
                first, _, last = part.partition("..")
                for frame in range(int(first), int(last or first) + 1):
                    scene.frame_end = max(scene.frame_end, frame)
                    scene.frame_start = frame
                    scene.frame_end = frame
                    bpy.ops.render.render(animation=True)
        else:
            raise SystemExit(f"not modelled: {flag}")


def bpy_run(call: str, *args: str) -> None:
    """Run `call` (an expression of sys.argv) from this module in a fresh Python with the bpy module."""
    code = f"import sys; from tests.farm.test_flamenco import make_scene, blender_command_line; {call}"
    result = run([sys.executable, "-c", code, *args], cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("scene_format", ["PNG", "OPEN_EXR_MULTILAYER"])
def test_the_render_task_writes_what_the_post_process_reads(tmp_path, scene_format):
    """Issue 26: on Flamenco 3.9 the add-on no longer switches File Extensions on, so the .blend's own settings
    wrote `000001` and every post-process task failed. The render task's arguments, run by Blender, must write
    OpenEXR frames named as input_pattern says, whatever the .blend says; the post-process task then reads them.
    `format` is what the add-on evaluated: a PNG scene renders OpenEXR, a multilayer one stays multilayer."""
    blend = tmp_path / "shot.blend"
    bpy_run("make_scene(sys.argv[1])", str(blend))
    job = compiled(
        {
            "frames": "1-2",
            "chunk_size": 2,
            "render_output_path": str(tmp_path / "render" / "{timestamp}" / "######"),
            "output_pattern": str(tmp_path / "post" / "{timestamp}" / "######.exr"),
            "model": str(MODEL),
            "precision": "fp32",
            "require_gpu": False,
            "blendfile": str(blend),
            "format": scene_format,
            "scene": "Scene",
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    render_task, post_task = job["tasks"]
    params = render_task["commands"][0]["parameters"]
    assert params["argsBefore"] == []
    assert params["args"][params["args"].index("--render-format") + 1] == (
        "OPEN_EXR_MULTILAYER" if scene_format == "OPEN_EXR_MULTILAYER" else "OPEN_EXR"
    )
    bpy_run("blender_command_line(sys.argv[1:])", params["blendfile"], *params["args"])

    input_pattern = job["settings"]["input_pattern"]
    expected = {input_pattern.replace("######", f"{frame:06d}") for frame in (1, 2)}
    rendered = {str(p) for p in Path(input_pattern).parent.iterdir()}
    assert rendered == expected
    for path in sorted(rendered):
        assert Path(path).read_bytes()[:4] == b"\x76\x2f\x31\x01", f"{path} is no OpenEXR file"
    assert not (tmp_path / "blend_says").exists()

    command = worker_command(post_task["commands"][0])
    result = run(command, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["done"] == [1, 2]


def test_without_the_overrides_the_render_writes_no_extension(tmp_path):
    """The premise of the test above, checked with Blender: the same render task without the --python-expr that
    sets the overrides writes the frame without an extension, which no input pattern of the post-process matches."""
    blend = tmp_path / "shot.blend"
    bpy_run("make_scene(sys.argv[1])", str(blend))
    job = compiled(
        {
            "frames": "1",
            "render_output_path": str(tmp_path / "render" / "######"),
            "output_pattern": str(tmp_path / "post" / "######.exr"),
            "model": str(MODEL),
            "blendfile": str(blend),
            "format": "PNG",
            "scene": "Scene",
        }
    )
    args = job["tasks"][0]["commands"][0]["parameters"]["args"]
    at = args.index("--python-expr")
    bpy_run("blender_command_line(sys.argv[1:])", str(blend), *(args[:at] + args[at + 2 :]))
    assert sorted(p.name for p in (tmp_path / "render").iterdir()) == ["000001"]
