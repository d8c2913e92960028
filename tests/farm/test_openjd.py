"""The Open Job Description templates in farm/openjd/, checked and run by the real OpenJD runtime (`openjd`)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import SessionSettings, parse_frames, read_image, resolve_provider
from tests.farm.conftest import FARM, MODEL, ROOT, expected_output, run, venv_tool, write_frames

TEMPLATES = sorted((FARM / "openjd").glob("*.yaml"))
POSTPROCESS = FARM / "openjd" / "onnx_postprocess.yaml"
COMBINED = FARM / "openjd" / "render_and_postprocess.yaml"
BPY_BLENDER = Path(__file__).with_name("bpy_blender.py")


def openjd(*args: str, cwd: Path | None = None):
    return run([venv_tool("openjd"), *args], cwd=cwd)


def post_params(folder: Path, frames: str = "1-3", **more: str) -> list[str]:
    values = {
        "ModelFile": str(MODEL),
        "InputDir": str(folder / "render"),
        "OutputDir": str(folder / "post"),
        "Frames": frames,
        "Python": sys.executable,
        "EngineDir": str(ROOT),
        # Precision is left at the template's default, auto: fp32 on these CPU workers, like the reference.
        "CacheDir": str(folder / "cache"),
        **more,
    }
    return [arg for key, value in values.items() for arg in ("-p", f"{key}={value}")]


def gpu_reason() -> str:
    """Why models run on the CPU here ('' on a machine where CUDA works)."""
    choice = resolve_provider(SessionSettings())
    return "" if choice.name == "cuda" else choice.fallback_reason


def test_the_templates_are_the_shipped_ones():
    assert [t.name for t in TEMPLATES] == ["onnx_postprocess.yaml", "render_and_postprocess.yaml"]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_openjd_check_passes(template):
    result = openjd("check", str(template))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passes validation checks" in result.stdout


def test_templates_embed_the_current_task_script():
    sys.path.insert(0, str(FARM / "openjd"))
    try:
        import sync_embedded
    finally:
        sys.path.pop(0)
    import yaml  # PyYAML, an openjd-model dependency

    code = (FARM / "openjd" / "onnx_task.py").read_text()
    for template in TEMPLATES:
        parsed = yaml.safe_load(template.read_text())
        scripts = [step["script"] for step in parsed["steps"]] + [env["script"] for env in parsed["jobEnvironments"]]
        files = [f["data"] for script in scripts for f in script["embeddedFiles"]]
        assert len(files) == len(scripts), template.name
        assert sync_embedded.embedded(template.read_text()) == files
        assert all(data == code for data in files), f"run python farm/openjd/sync_embedded.py ({template.name})"


def test_postprocess_step_processes_frames_then_skips_them(frames_dir):
    result = openjd("run", str(POSTPROCESS), "--step", "PostProcess", *post_params(frames_dir), cwd=frames_dir)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "openjd_progress: 100.0" in log
    assert "openjd_status: done 3, skipped 0" in log
    outputs = sorted((frames_dir / "post").iterdir())
    assert [p.name for p in outputs] == ["0001.exr", "0002.exr", "0003.exr"]  # no temporary files left
    for out in outputs:
        got = read_image(out)
        assert got.shape == (48, 64, 3)
        want = expected_output(frames_dir / "render" / out.name, frames_dir / "direct" / out.name)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)

    before = {p.name: p.stat().st_mtime_ns for p in outputs}
    again = openjd("run", str(POSTPROCESS), "--step", "PostProcess", *post_params(frames_dir), cwd=frames_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "openjd_status: done 0, skipped 3" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (frames_dir / "post").iterdir()} == before


def test_a_corrupt_frame_fails_its_chunk_and_leaves_no_output(frames_dir):
    corrupt = frames_dir / "render" / "0002.exr"
    corrupt.write_bytes(corrupt.read_bytes()[:200])  # a frame cut short, as by a full disk
    result = openjd("run", str(POSTPROCESS), "--step", "PostProcess", *post_params(frames_dir), cwd=frames_dir)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert "openjd_fail: frame 2:" in log
    assert "exit status 3" in log
    assert sorted(p.name for p in (frames_dir / "post").iterdir()) == ["0001.exr", "0003.exr"]


def test_chunks_follow_chunk_size(frames_dir):
    result = openjd(
        "run", str(POSTPROCESS), "--step", "PostProcess", *post_params(frames_dir, "1-3", ChunkSize="2"),
        cwd=frames_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    chunks = re.findall(r"--frames (\S+) --skip-existing", result.stdout)
    assert [parse_frames(chunk) for chunk in chunks] == [[1, 2], [3]]
    assert len(list((frames_dir / "post").iterdir())) == 3


def test_require_gpu_parameter(frames_dir):
    result = openjd(
        "run", str(POSTPROCESS), "--step", "PostProcess", *post_params(frames_dir, RequireGpu="yes"), cwd=frames_dir
    )
    reason = gpu_reason()
    if not reason:  # a machine with a working CUDA: the job simply runs
        assert result.returncode == 0, result.stdout + result.stderr
        return
    assert result.returncode != 0
    assert "exit status 4" in result.stdout
    assert reason in result.stdout
    assert not (frames_dir / "post").exists()


def test_render_then_postprocess_with_blender(tmp_path):
    """The Render step runs Blender (the bpy module behind tests/farm/bpy_blender.py: this machine has no
    `blender` binary), then the PostProcess step runs the model on what it rendered. The .blend writes elsewhere
    with File Extensions off: the Render step puts the frames into InputDir, with the extension."""
    blend = tmp_path / "shot.blend"
    made = run([sys.executable, str(BPY_BLENDER), "--make-scene", str(blend), str(tmp_path / "blend_says")])
    assert made.returncode == 0, made.stdout + made.stderr
    blender = f"{sys.executable} {BPY_BLENDER}"
    params = post_params(tmp_path, "1-3", ChunkSize="2", SceneFile=str(blend), Blender=blender, RequireGpu="no")
    result = openjd("run", str(COMBINED), *params, cwd=tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "-s 1 -e 2 -a" in log and "-s 3 -e 3 -a" in log
    assert log.index("Running step 'Render'") < log.index("Running step 'PostProcess'")
    assert "openjd_progress: 50.0" in log  # one Saved: line of two in the first render chunk
    assert not (tmp_path / "blend_says").exists()
    rendered = sorted((tmp_path / "render").iterdir())
    assert [p.name for p in rendered] == ["0001.exr", "0002.exr", "0003.exr"]
    for src in rendered:
        got = read_image(tmp_path / "post" / src.name)
        np.testing.assert_allclose(got, expected_output(src, tmp_path / "direct" / src.name), rtol=0, atol=1e-6)


def test_every_location_is_path_mapped(tmp_path):
    """Issue 26: a job submitted from one machine's paths runs on a worker whose paths differ. Every location is a
    PATH parameter, so the runtime maps the model, the frames, the output folder and the cache alike; the job is
    given the submitter's paths only, which do not exist here."""
    worker = tmp_path / "worker"
    write_frames(worker / "shot" / "render")
    shutil.copy(MODEL, worker / "model.onnx")
    submitted = "/studio/projects/job42"  # the submitting machine's root: nothing exists under it here
    rules = {
        "version": "pathmapping-1.0",
        "path_mapping_rules": [
            {"source_path_format": "POSIX", "source_path": submitted, "destination_path": str(worker)}
        ],
    }
    params = post_params(Path(submitted) / "shot", ModelFile=f"{submitted}/model.onnx")
    params += ["-p", f"CacheDir={submitted}/cache"]
    result = openjd(
        "run", str(POSTPROCESS), "--step", "PostProcess", "--path-mapping-rules", json.dumps(rules), *params,
        cwd=tmp_path,
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert not Path(submitted).exists()
    outputs = sorted((worker / "shot" / "post").iterdir())
    assert [p.name for p in outputs] == ["0001.exr", "0002.exr", "0003.exr"]
    assert any((worker / "cache").iterdir())  # the prepared model went to the mapped cache
    for out in outputs:
        want = expected_output(worker / "shot" / "render" / out.name, tmp_path / "direct" / out.name)
        np.testing.assert_allclose(read_image(out), want, rtol=0, atol=1e-6)


def test_a_pattern_cannot_leave_its_folder(frames_dir):
    """Only the folders are mapped and attached: a pattern with a folder of its own would escape both."""
    result = openjd(
        "run", str(POSTPROCESS), "--step", "PostProcess",
        *post_params(frames_dir, OutputPattern="../elsewhere/####.exr"), cwd=frames_dir,
    )  # fmt: skip
    assert result.returncode != 0
    assert "OutputPattern must be a file name pattern inside its folder" in result.stdout
    assert not (frames_dir / "elsewhere").exists()


def _requirements(template: Path, step: str, **params: str) -> dict:
    """The host requirements and action timeout of a step once the job's parameters are resolved
    (openjd-model's own job creation, as a farm's scheduler does it)."""
    from openjd.model import (
        DocumentType,
        JobParameterInputValues,
        SymbolTable,
        create_job,
        decode_job_template,
        document_string_to_object,
        preprocess_job_parameters,
    )

    text = template.read_text()
    job_template = decode_job_template(
        template=document_string_to_object(document=text, document_type=DocumentType.YAML),
        supported_extensions=["TASK_CHUNKING", "FEATURE_BUNDLE_1"],
    )
    values = preprocess_job_parameters(
        job_template=job_template,
        job_parameter_values=JobParameterInputValues(params),
        job_template_dir=template.parent,
        current_working_dir=template.parent,
    )
    job = create_job(job_template=job_template, job_parameter_values=values)
    found = next(s for s in job.steps if s.name == step)
    amounts = {a.name: float(a.min) for a in found.hostRequirements.amounts or []}
    attributes = {a.name: list(a.anyOf or []) for a in found.hostRequirements.attributes or []}
    # A timeout given as a format string is resolved when the session runs the action, with the job's values.
    timeout = found.script.actions.onRun.timeout
    symbols = SymbolTable(source={f"Param.{name}": value.value for name, value in values.items()})
    return {"amounts": amounts, "attributes": attributes, "timeout": int(timeout.resolve(symtab=symbols))}


@pytest.mark.parametrize(
    ("template", "step", "gpus", "memory"),
    [(POSTPROCESS, "PostProcess", 0, 0), (COMBINED, "PostProcess", 1, 8192)],
    ids=["postprocess", "combined"],
)
def test_host_requirements_follow_the_parameters(tmp_path, template, step, gpus, memory):
    """Issue 26: OS family, GPU count and GPU memory are parameters with defaults (any worker for post-processing
    alone; a GPU with 8 GB after a render), and each action has a timeout."""
    base = {"ModelFile": str(MODEL), "InputDir": str(tmp_path), "OutputDir": str(tmp_path / "o"), "Frames": "1-3"}
    if template == COMBINED:
        base["SceneFile"] = str(tmp_path / "shot.blend")
    default = _requirements(template, step, **base)
    assert default["amounts"] == {"amount.worker.gpu": gpus, "amount.worker.gpu.memory": memory}
    assert default["attributes"] == {"attr.worker.os.family": ["linux"]}
    assert default["timeout"] == 7200
    chosen = _requirements(
        template, step, **base, GpuCount="2", GpuMemoryMiB="24000", OsFamily="windows", TaskTimeout="600"
    )
    assert chosen["amounts"] == {"amount.worker.gpu": 2, "amount.worker.gpu.memory": 24000}
    assert chosen["attributes"] == {"attr.worker.os.family": ["windows"]}
    assert chosen["timeout"] == 600
    if template == COMBINED:
        render = _requirements(template, "Render", **base)
        assert render["attributes"] == {"attr.worker.os.family": ["linux"]} and render["timeout"] == 43200


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_closed_parameters_refuse_other_values(tmp_path, template):
    for name, wrong in (("Precision", "int4"), ("OsFamily", "beos"), ("RequireGpu", "maybe"), ("WorkingSpace", "p3")):
        with pytest.raises(Exception, match=name):
            _requirements(template, "PostProcess", ModelFile=str(MODEL), InputDir=str(tmp_path),
                          OutputDir=str(tmp_path / "o"), Frames="1", SceneFile=str(tmp_path / "s.blend"),
                          **{name: wrong})  # fmt: skip


def test_working_space_parameter_reaches_the_engine(frames_dir):
    """WorkingSpace=acescg is passed as --working-space (auto, the default, passes nothing: each EXR's header
    rules); the outputs are what the engine gives for that space."""
    result = openjd(
        "run", str(POSTPROCESS), "--step", "PostProcess", *post_params(frames_dir, "1", WorkingSpace="acescg"),
        cwd=frames_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--working-space acescg" in result.stdout
    direct = frames_dir / "direct.exr"
    ran = run([sys.executable, "-m", "engine", "run", str(MODEL), str(frames_dir / "render" / "0001.exr"), str(direct),
               "--working-space", "acescg", "--cache-dir", str(frames_dir / "cache")], cwd=ROOT)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    np.testing.assert_allclose(read_image(frames_dir / "post" / "0001.exr"), read_image(direct), rtol=0, atol=1e-6)
    default = openjd("run", str(POSTPROCESS), "--step", "PostProcess", *post_params(frames_dir, "2"), cwd=frames_dir)
    assert default.returncode == 0 and "--working-space" not in default.stdout


def test_a_quoted_blender_path_on_windows_loses_its_quotes():
    """Review finding: on Windows shlex kept the quotes of '"C:\\Program Files\\...\\blender.exe"', and CreateProcess
    found no such file. POSIX splitting is unchanged."""
    sys.path.insert(0, str(FARM / "openjd"))
    try:
        import onnx_task
    finally:
        sys.path.pop(0)
    windows = onnx_task.command_words('"C:\\Program Files\\Blender\\blender.exe" --factory-startup', windows=True)
    assert windows == ["C:\\Program Files\\Blender\\blender.exe", "--factory-startup"]
    assert onnx_task.command_words("'/opt/my blender/blender' -noaudio", windows=False) == [
        "/opt/my blender/blender",
        "-noaudio",
    ]
