"""The engine as a wheel for workers with no Blender (issue 26): built from the repository, installed into a clean
virtual environment by the OpenJD job environment, and run there on real frames."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine import read_image
from tests.farm.conftest import FARM, MODEL, ROOT, expected_output, run, venv_tool

sys.path.insert(0, str(ROOT / "scripts"))
try:
    import build_wheel
finally:
    sys.path.pop(0)

POSTPROCESS = FARM / "openjd" / "onnx_postprocess.yaml"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel.build(tmp_path_factory.mktemp("dist"))


def test_the_wheel_holds_the_engine_a_command_and_its_requirements(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"onnx_image_runtime-{build_wheel._project()[0]}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        record = list(csv.reader(io.StringIO(archive.read(f"{info}/RECORD").decode())))
        for name, digest, size in record:
            if name.endswith("RECORD"):
                continue
            data = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}" and int(size) == len(data), name
    tracked = subprocess.run(["git", "ls-files", "engine"], cwd=ROOT, capture_output=True, text=True, check=True)
    engine_files = {name.removeprefix("engine/") for name in tracked.stdout.split()}
    packaged = {n.removeprefix("onnx_image_runtime/") for n in names if n.startswith("onnx_image_runtime/")}
    assert packaged == engine_files  # what git tracks, no more (a file in progress in the working tree never ships)
    assert not any("__pycache__" in n or n.startswith("engine/") for n in names)
    assert {row[0] for row in record} == names
    assert "onnx-image-runtime = onnx_image_runtime.cli:main" in entry_points
    requires = [line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    assert any(r.startswith("onnxruntime-gpu==") and "Linux" in r for r in requires)
    assert any(r.startswith("onnxruntime==") and "not in" in r for r in requires)  # ARM and macOS: the CPU build
    for pinned in ("onnx==", "onnxconverter-common==", "protobuf=="):
        assert any(r.startswith(pinned) for r in requires), pinned
    again = build_wheel.build(tmp_path)
    assert again.read_bytes() == wheel.read_bytes()  # the same sources give the same wheel


def test_the_wheel_runs_sequence_on_a_worker_through_the_openjd_template(wheel, frames_dir):
    """A worker with nothing but a Python: the job environment creates a virtual environment in the session's
    folder, installs the attached wheel (its requirements from the package index the worker uses) and every task
    of the session runs its `onnx-image-runtime` command."""
    params = {
        "ModelFile": str(MODEL),
        "InputDir": str(frames_dir / "render"),
        "OutputDir": str(frames_dir / "post"),
        "Frames": "1-3",
        "ChunkSize": "2",
        "EngineWheel": str(wheel),
        "Python": sys.executable,
        "CacheDir": str(frames_dir / "cache"),
    }
    args = [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]
    result = run([venv_tool("openjd"), "run", str(POSTPROCESS), *args], cwd=frames_dir, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert f"installing {wheel.name}" in log
    assert log.count("pip install") == 1  # once for the session, not per task
    commands = [line for line in log.splitlines() if "running: " in line and " sequence " in line]
    assert len(commands) == 2 and all(
        "onnx-image-runtime-venv" in c and "/bin/onnx-image-runtime" in c for c in commands
    )
    assert "-m engine" not in log
    outputs = sorted((frames_dir / "post").iterdir())
    assert [p.name for p in outputs] == ["0001.exr", "0002.exr", "0003.exr"]
    for out in outputs:
        want = expected_output(frames_dir / "render" / out.name, frames_dir / "direct" / out.name)
        np.testing.assert_allclose(read_image(out), want, rtol=0, atol=1e-6)


def test_a_worker_without_the_engine_fails_in_one_line(frames_dir):
    params = {
        "ModelFile": str(MODEL),
        "InputDir": str(frames_dir / "render"),
        "OutputDir": str(frames_dir / "post"),
        "Frames": "1",
        "Python": sys.executable,
    }
    args = [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]
    result = run([venv_tool("openjd"), "run", str(POSTPROCESS), *args], cwd=frames_dir, timeout=120)
    if "onnx-image-runtime" in result.stdout and result.returncode == 0:
        pytest.skip("this machine has onnx-image-runtime on PATH")  # a fleet install: the job runs, as it should
    assert result.returncode != 0
    assert "openjd_fail: the engine is not on this worker: attach its wheel (EngineWheel)" in result.stdout
    assert not (frames_dir / "post").exists()
