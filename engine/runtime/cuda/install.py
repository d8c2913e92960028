"""Install the GPU runtime (onnxruntime-gpu and NVIDIA's CUDA 13 / cuDNN 9 wheels) into a folder of its own,
with pip as a subprocess; nothing runs unless called."""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .detect import ORT_VERSION

log = logging.getLogger(__name__)

# onnxruntime-gpu 1.31.1's extras `[cuda,cudnn]`, plus the two wheels those pull in themselves
# (nvidia-cudnn-cu13 needs nvidia-cublas, nvidia-cufft needs nvidia-nvjitlink). pip runs with --no-deps so
# that nothing else (numpy above all) lands in the runtime folder and shadows Blender's own copy.
NVIDIA_PACKAGES = (
    "nvidia-cuda-runtime~=13.0",
    "nvidia-cublas~=13.0",
    "nvidia-cudnn-cu13~=9.0",
    "nvidia-cufft~=12.0",
    "nvidia-curand~=10.0",
    "nvidia-cuda-nvrtc~=13.0",
    "nvidia-nvjitlink~=13.0",
)


@dataclass(frozen=True)
class InstallResult:
    ok: bool
    target: str
    command: list[str]
    output: str
    """pip's output (stdout and stderr), for the log and for the user when it failed."""
    message: str
    """One sentence for the user."""


def gpu_packages(include_onnxruntime: bool = True) -> list[str]:
    """What the GPU runtime consists of, as pip requirement strings."""
    packages = [f"onnxruntime-gpu=={ORT_VERSION}"] if include_onnxruntime else []
    return packages + list(NVIDIA_PACKAGES)


def needs_onnxruntime_gpu() -> bool:
    """True unless the onnxruntime Python would import is already a CUDA build (looked up, not imported)."""
    import importlib.util

    module = sys.modules.get("onnxruntime")
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        spec = importlib.util.find_spec("onnxruntime")
        origin = spec.origin if spec is not None else None
    if not origin:
        return True
    capi = os.path.join(os.path.dirname(origin), "capi")
    names = ("libonnxruntime_providers_cuda.so", "onnxruntime_providers_cuda.dll")
    return not any(os.path.isfile(os.path.join(capi, n)) for n in names)


def install_command(
    target: str | os.PathLike[str],
    packages: Sequence[str],
    *,
    wheel_dir: str | os.PathLike[str] | None = None,
    python: str | None = None,
) -> list[str]:
    command = [python or sys.executable, "-m", "pip", "install", "--target", str(target), "--upgrade", "--no-deps"]
    command += ["--only-binary=:all:", "--disable-pip-version-check", "--no-input", "--no-warn-script-location"]
    if wheel_dir:
        command += ["--no-index", "--find-links", str(wheel_dir)]
    return command + list(packages)


def install_gpu_runtime(
    target: str | os.PathLike[str],
    wheel_dir: str | os.PathLike[str] | None = None,
    *,
    runner: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
    packages: Sequence[str] | None = None,
    python: str | None = None,
    timeout: float = 3600,
) -> InstallResult:
    """Install the GPU runtime wheels into `target` with pip, as a subprocess of this Python.

    `wheel_dir`: install offline from a folder of wheels (`--no-index --find-links`), e.g. one filled
    with `pip download` on a machine that has internet. `runner` is subprocess.run or a stand-in.
    Blocking: a UI caller runs it on a worker thread.
    """
    target = str(target)
    if platform.system() == "Darwin" and packages is None:
        return InstallResult(False, target, [], "", "CUDA does not exist on macOS; there is no GPU runtime to install")
    packages = list(packages) if packages is not None else gpu_packages()
    os.makedirs(target, exist_ok=True)
    if wheel_dir is not None and not os.path.isdir(wheel_dir):
        return InstallResult(False, target, [], "", f"the wheel folder {wheel_dir} does not exist")
    command = install_command(target, packages, wheel_dir=wheel_dir, python=python)
    # No user site, no PYTHONPATH from the shell Blender was started from: pip must see only this target.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_TARGET", "PIP_USER")}
    env["PYTHONNOUSERSITE"] = "1"
    log.info("installing the GPU runtime: %s", " ".join(command))
    try:
        done = runner(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return InstallResult(False, target, command, str(exc), f"pip could not be started: {exc}")
    output = (done.stdout or "") + (done.stderr or "")
    for line in output.splitlines():
        log.debug("pip: %s", line)
    if done.returncode != 0:
        if "No module named pip" in output:
            why = "this Python has no pip (run `python -m ensurepip` with Blender's Python)"
        elif wheel_dir and "No matching distribution" in output:
            why = f"the wheel folder {wheel_dir} lacks some of: {', '.join(packages)}"
        elif "No matching distribution" in output or "Could not fetch" in output or "connection" in output.lower():
            why = "the packages could not be downloaded (no internet? use a folder of wheels instead)"
        else:
            lines = [line for line in output.splitlines() if line.strip()]
            why = lines[-1] if lines else f"pip exited with status {done.returncode}"
        return InstallResult(False, target, command, output, f"installing the GPU runtime failed: {why}")
    return InstallResult(True, target, command, output, f"GPU runtime installed into {target}")
