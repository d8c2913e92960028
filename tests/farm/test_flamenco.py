"""The Flamenco job type farm/flamenco/onnx-postprocess.js: its Node test against the stand-in of Flamenco's
job compiler runtime, the render task's Blender arguments run with Blender's own code (the bpy module), the
working_space setting's eval run as the Flamenco add-on runs it, and the post-process task's exec command run
for real, as a Worker would run it: with a Python and the checkout (engine "python"), and with the engine's
wheel installed into a clean virtual environment (engine "command")."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engine import RunSettings, SessionSettings, WorkingSpace, prepare_model, process_frame, read_image
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


def compile_job(settings: dict):
    return run([node(), str(HERE / "flamenco_standin.js"), str(JOB_TYPE), json.dumps(settings)])


def job_settings(tmp_path: Path, render_output_path: str, frames: str, chunk_size: int, **more) -> dict:
    """The settings the add-on submits for a job on real frames in `tmp_path` (the model, fp32 on any worker)."""
    return {
        "frames": frames,
        "chunk_size": chunk_size,
        "render_output_path": render_output_path,
        "output_pattern": str(tmp_path / "post" / "####.exr"),
        "model": str(MODEL),
        "precision": "fp32",
        "require_gpu": False,
        "blendfile": str(tmp_path / "shot.blend"),
        "format": "OPEN_EXR",
        "scene": "Scene",
        "cache_dir": str(tmp_path / "cache"),
        **more,
    }


def compiled(settings: dict) -> dict:
    result = compile_job(settings)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def job_type_settings() -> dict[str, dict]:
    """JOB_TYPE.settings by key, as the Manager sends them to the add-on (JSON)."""
    script = (
        f"const s = require({json.dumps(str(HERE / 'flamenco_standin.js'))});"
        f"process.stdout.write(JSON.stringify(s.loadJobType({json.dumps(str(JOB_TYPE))}).JOB_TYPE.settings));"
    )
    result = run([node(), "-e", script])
    assert result.returncode == 0, result.stdout + result.stderr
    return {s["key"]: s for s in json.loads(result.stdout)}


def worker_command(command: dict, onnx_engine: Path | None = None) -> list[str]:
    """The exec command as the Manager hands it to a Worker: its variables replaced (onnx_engine only on a Manager
    that has it: unset, `{onnx_engine}` stays as it is, as Flamenco leaves an unknown variable)."""
    variables = {"{onnx_python}": sys.executable, "{onnx_engine_dir}": str(ROOT)}
    if onnx_engine is not None:
        variables["{onnx_engine}"] = str(onnx_engine)
    params = command["parameters"]
    return [variables.get(params["exe"], params["exe"])] + [variables.get(a, a) for a in params["args"]]


def expected_in_space(src: Path, dst: Path, space: WorkingSpace) -> np.ndarray:
    """The engine run directly (in this process) on one frame in a working space, as `sequence --working-space`."""
    prepared = prepare_model(
        str(MODEL), "fp32", settings=SessionSettings(provider="auto"), cache_dir=dst.parent / "cache"
    )
    process_frame(prepared, str(src), dst=str(dst), settings=RunSettings(working_space=space))
    return read_image(dst)


def test_the_post_process_task_runs_the_engine(tmp_path):
    render = tmp_path / "render"
    write_frames(render, frames=(1, 2, 3))
    job = compiled(job_settings(tmp_path, str(render / "####"), "1-3", 3, render_output_root=str(tmp_path)))
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

    from tests.farm.bpy_blender import tiny_cycles

    scene = bpy.context.scene
    tiny_cycles(scene)
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
    rendered_to = str(tmp_path / "render" / "{timestamp}" / "######")
    posted_to = str(tmp_path / "post" / "{timestamp}" / "######.exr")
    job = compiled(job_settings(tmp_path, rendered_to, "1-2", 2, output_pattern=posted_to, format=scene_format))
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


# ---- Engine "command": the wheel installed once per fleet --------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_engine(tmp_path_factory) -> Path:
    """A worker set up the way docs/farm.md section 0 says: the engine's wheel (built from this checkout) installed
    into a clean virtual environment, pip taking the requirements from the configured index. Returns its
    `onnx-image-runtime` command, the value of the Manager variable onnx_engine on such a worker. Made once for the
    module: the install takes seconds."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_wheel
    finally:
        sys.path.pop(0)
    wheel = build_wheel.build(tmp_path_factory.mktemp("dist"))
    venv = tmp_path_factory.mktemp("worker") / "onnx"
    made = run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    installed = run([str(bin_dir / "python"), "-m", "pip", "install", str(wheel)], timeout=900)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    command = bin_dir / ("onnx-image-runtime.exe" if os.name == "nt" else "onnx-image-runtime")
    assert command.is_file(), sorted(p.name for p in bin_dir.iterdir())
    return command


def test_engine_command_runs_the_installed_wheel_with_the_working_space(onnx_engine, tmp_path):
    """engine "command" with an ACEScg file's working_space: the exec command is `{onnx_engine} sequence ...
    --working-space acescg`, and the installed console command, run from a folder that is not the checkout,
    writes what the engine writes for those frames in ACEScg, which is not what it writes for Rec.709."""
    render = tmp_path / "render"
    write_frames(render, frames=(1, 2))
    job = compiled(job_settings(tmp_path, str(render / "####"), "1-2", 2, engine="command", working_space="acescg"))
    post = [t for t in job["tasks"] if t["type"] == "onnx-gpu"]
    params = post[0]["commands"][0]["parameters"]
    assert params["exe"] == "{onnx_engine}" and params["args"][0] == "sequence"
    # On a Manager without the variable the command cannot run: the worker gets the placeholder itself.
    assert worker_command(post[0]["commands"][0])[0] == "{onnx_engine}"
    command = worker_command(post[0]["commands"][0], onnx_engine=onnx_engine)
    assert command[0] == str(onnx_engine) and "-c" not in command and str(ROOT) not in command

    result = run(command, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["done"] == [1, 2]
    for frame in (1, 2):
        name = f"{frame:04d}.exr"
        want = expected_in_space(render / name, tmp_path / "acescg" / name, WorkingSpace.ACESCG)
        as_rec709 = expected_output(render / name, tmp_path / "rec709" / name)
        # The premise: the model's results depend on the working space, so the comparison below can fail.
        assert np.abs(want - as_rec709).max() > 1e-3
        np.testing.assert_allclose(read_image(tmp_path / "post" / name), want, rtol=0, atol=1e-6)


# ---- working_space: the setting's eval, run as the Flamenco add-on runs it -----------------------------------------

# Blender 5's working spaces (the names of wm.set_working_color_space) and the engine's --working-space for each.
BLENDER_SPACES = {
    "Linear Rec.709": WorkingSpace.REC709,
    "Linear Rec.2020": WorkingSpace.REC2020,
    "ACEScg": WorkingSpace.ACESCG,
}


def addon_eval(expression: str, bpy_module, context=None):
    """As the Flamenco add-on evaluates a setting's eval (job_types_propgroup.py, eval_setting): empty globals,
    the add-on's names as locals. Its helpers (abspath, last_n_dir_parts, settings) are left out: a use of one in
    the expression would be a NameError here."""
    names = {"bpy": bpy_module, "C": context, "jobname": "shot", "Path": Path}
    return eval(expression, {}, names)  # noqa: S307 - the add-on's own eval() of the job type's expression


def evaluate_in_files(expression: str, folder: str) -> None:
    """Runs in a subprocess with the bpy module: saves one .blend per working space, then opens each again and
    evaluates `expression` in it as the add-on would. Prints `RESULT {space name: value}`."""
    import bpy  # noqa: TID251

    for name in BLENDER_SPACES:
        bpy.ops.wm.set_working_color_space(working_space=name)
        assert bpy.data.colorspace.working_space == name
        bpy.ops.wm.save_as_mainfile(filepath=str(Path(folder) / f"{name}.blend"))
    # Opened in the order they were saved: the space last set (ACEScg) is not the first file's, so a value read
    # from anything but the open file shows.
    values = {}
    for name in BLENDER_SPACES:
        bpy.ops.wm.open_mainfile(filepath=str(Path(folder) / f"{name}.blend"))
        values[name] = addon_eval(expression, bpy, bpy.context)
    print("RESULT " + json.dumps(values))


def test_working_space_eval_reads_the_submitted_files_space_with_bpy(tmp_path):
    """The eval, run in Blender (bpy 5.0.1) on files saved in each working space, gives that file's engine space;
    the job compiled from it passes --working-space for Rec.2020 and ACEScg and no flag for Rec.709."""
    expression = job_type_settings()["working_space"]["eval"]
    code = (
        "import sys; from tests.farm.test_flamenco import evaluate_in_files; "
        "evaluate_in_files(sys.argv[1], sys.argv[2])"
    )
    result = run([sys.executable, "-c", code, expression, str(tmp_path)], cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    values = json.loads(lines[-1].removeprefix("RESULT "))
    assert values == {name: space.value for name, space in BLENDER_SPACES.items()}

    for name, value in values.items():
        job = compiled(
            {
                "frames": "1",
                "render_output_path": str(tmp_path / "render" / "####"),
                "output_pattern": str(tmp_path / "post" / "####.exr"),
                "model": str(MODEL),
                "blendfile": str(tmp_path / f"{name}.blend"),
                "format": "OPEN_EXR",
                "working_space": value,
            }
        )
        args = job["tasks"][1]["commands"][0]["parameters"]["args"]
        if BLENDER_SPACES[name] is WorkingSpace.REC709:
            assert "--working-space" not in args  # the engine's default: older engines run the job too
        else:
            assert args[args.index("--working-space") + 1] == value


def test_working_space_eval_on_blender_4_and_on_a_space_the_engine_cannot_convert():
    """What bpy 5.0.1 cannot show, with stand-ins for bpy: Blender 4.2-4.5 have no bpy.data.colorspace (their
    renders are linear Rec.709), and a custom OCIO config's working space has another interop id or none. The
    first evaluates to rec709; the second to the space's name, which the job compiler refuses with that name."""
    expression = job_type_settings()["working_space"]["eval"]
    blender_4 = SimpleNamespace(data=SimpleNamespace())  # BlendData without `colorspace`
    assert addon_eval(expression, blender_4) == WorkingSpace.REC709.value

    for interop in ("", "lin_p3d65_scene"):
        custom = SimpleNamespace(
            data=SimpleNamespace(
                colorspace=SimpleNamespace(working_space="Linear DCI-P3 D65", working_space_interop_id=interop)
            )
        )
        value = addon_eval(expression, custom)
        assert value == "Linear DCI-P3 D65"
        refused = compile_job(
            {
                "frames": "1",
                "render_output_path": "/shared/render/####",
                "output_pattern": "/shared/post/####.exr",
                "model": str(MODEL),
                "blendfile": "/shared/shot.blend",
                "format": "OPEN_EXR",
                "working_space": value,
            }
        )
        assert refused.returncode != 0
        assert 'working_space "Linear DCI-P3 D65"' in refused.stderr
