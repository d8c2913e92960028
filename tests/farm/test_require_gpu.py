"""`--require-gpu` on `run` and `sequence`: exit status 4 and the fallback reason, nothing written, when the
model would run on the CPU (always the case on a machine without a GPU, like CI's)."""

from __future__ import annotations

import sys

import pytest

from engine import SessionSettings, resolve_provider
from tests.farm.conftest import MODEL, ROOT, run, write_frames


def engine(*args: str):
    return run([sys.executable, "-m", "engine", *args], cwd=ROOT)


def reason(provider: str) -> str:
    choice = resolve_provider(SessionSettings(provider=provider))
    return "" if choice.name == "cuda" else choice.fallback_reason


@pytest.mark.parametrize("command", ["run", "sequence"])
def test_require_gpu_fails_fast_without_cuda(tmp_path, command):
    write_frames(tmp_path / "render", frames=(1,))
    src, out = tmp_path / "render" / "####.exr", tmp_path / "post" / "####.exr"
    if command == "run":
        args = ["run", str(MODEL), str(src).replace("####", "0001"), str(out).replace("####", "0001")]
    else:
        args = ["sequence", str(MODEL), "--input", str(src), "--output", str(out), "--frames", "1"]
    result = engine(*args, "--require-gpu", "--precision", "fp32", "--cache-dir", str(tmp_path / "cache"))
    why = reason("auto")
    if not why:  # CUDA works here: --require-gpu changes nothing
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --require-gpu:"), result.stderr
    assert why in lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "post").exists()
    assert not (tmp_path / "cache").exists()  # failed before preparing the model


def test_require_gpu_with_the_cpu_provider_says_so(tmp_path):
    write_frames(tmp_path / "render", frames=(1,))
    src = tmp_path / "render" / "0001.exr"
    result = engine("run", str(MODEL), str(src), str(tmp_path / "out.exr"), "--require-gpu", "--provider", "cpu")
    assert result.returncode == 4
    assert "--provider cpu runs on the CPU" in result.stderr
    assert not (tmp_path / "out.exr").exists()


def test_without_require_gpu_the_cpu_fallback_still_runs(tmp_path):
    write_frames(tmp_path / "render", frames=(1,))
    src = tmp_path / "render" / "0001.exr"
    result = engine("run", str(MODEL), str(src), str(tmp_path / "out.exr"), "--precision", "fp32")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.exr").is_file()
