"""Whether the CUDA execution provider can load here, and if not, why, in words a user can act on."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import logging
import os
import re
import shutil
import subprocess
import sys

from .activate import preload_active_libraries
from .detect import activation_state, detect_cuda_libraries, missing_summary, runtime_conflict

log = logging.getLogger(__name__)


def preload_cuda_libraries() -> str:
    """Load CUDA/cuDNN before the CUDA provider needs them (once per set of active runtime folders); returns
    any error text."""
    return _preload(activation_state())


@functools.lru_cache(maxsize=4)
def _preload(state: tuple[str, ...]) -> str:
    """First the libraries of an activated GPU runtime folder (cuda.activate), then onnxruntime's own
    preload_dlls (>= 1.21), which looks for pip's nvidia-* packages next to onnxruntime.
    """
    loaded, failed = preload_active_libraries(list(state))
    if loaded:
        log.debug("preloaded from the GPU runtime folder: %s", ", ".join(loaded))
    for line in failed:
        log.warning("GPU runtime library did not load: %s", line)
    import onnxruntime as ort

    if not hasattr(ort, "preload_dlls"):
        return ""
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            ort.preload_dlls()
    except Exception as exc:  # noqa: BLE001 - preloading is best effort, the reason is reported
        return str(exc)
    for line in chatter.getvalue().splitlines():
        log.debug("preload_dlls: %s", line)
    return chatter.getvalue()


def _provider_library() -> str:
    import onnxruntime as ort

    name = "onnxruntime_providers_cuda.dll" if sys.platform == "win32" else "libonnxruntime_providers_cuda.so"
    return os.path.join(os.path.dirname(ort.__file__), "capi", name)


def nvidia_gpu_present() -> bool:
    """An NVIDIA driver (its control device or nvidia-smi) is on this machine; Windows is assumed to have one."""
    if os.path.exists("/dev/nvidiactl") or sys.platform == "win32":
        return True
    return shutil.which("nvidia-smi") is not None


def cuda_unavailable_reason() -> str:
    """Empty when CUDA should work; otherwise one sentence saying what is missing. Memoized per set of active
    runtime folders: activating a new folder is a new question."""
    return _unavailable_reason(activation_state())


def forget_verdicts() -> None:
    """Ask again next time (a test that changed the library search path, say)."""
    _unavailable_reason.cache_clear()
    _preload.cache_clear()


NO_GPU = "no NVIDIA GPU found"
"""The reason when the machine has no NVIDIA driver or card: nothing to install would help, so it is said plainly
(not as a missing 1.5 GB runtime download)."""


@functools.lru_cache(maxsize=4)
def _unavailable_reason(state: tuple[str, ...]) -> str:
    if not nvidia_gpu_present():
        return NO_GPU
    import onnxruntime as ort

    conflict = runtime_conflict(ort)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        where = os.path.dirname(os.path.dirname(ort.__file__))
        reason = f"the onnxruntime {ort.__version__} loaded from {where} is a CPU-only build"
        if any(os.path.isdir(os.path.join(t, "onnxruntime")) for t in state):
            reason += " (the GPU runtime is installed: restart Blender to use it)"
        else:
            reason += " (install the GPU runtime from the extension's preferences)"
        return f"{reason}; {conflict}" if conflict else reason
    if conflict:
        return conflict
    preload_cuda_libraries()
    library = _provider_library()
    try:
        ctypes.CDLL(library)
    except OSError as exc:
        missing = re.search(r"([\w.+-]+\.so[\w.]*|[\w.+-]+\.dll)", str(exc).replace(os.path.basename(library), ""))
        what = missing.group(1) if missing else str(exc)
        summary = missing_summary(detect_cuda_libraries())
        if summary:
            return f"the CUDA provider cannot load ({what}); {summary}"
        return f"the CUDA runtime library {what} was not found (install CUDA 13 and cuDNN 9, or the GPU runtime)"
    return ""


def query_gpu(field: str, device_id: int = 0) -> str:
    """One `nvidia-smi --query-gpu` field of a card ('' when there is no nvidia-smi or it fails)."""
    if shutil.which("nvidia-smi") is None:
        return ""
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--id={device_id}", f"--query-gpu={field}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


# A card's name does not change while the process runs, and asking costs a process (nvidia-smi): every prepare
# resolves the provider once or more (auto tries several precisions), so it is asked once per device.
@functools.lru_cache(maxsize=8)
def gpu_name(device_id: int = 0) -> str:
    """The card's name for cache keys: an optimized model is tuned to the GPU it was built on."""
    return query_gpu("name", device_id) or "unknown-gpu"
