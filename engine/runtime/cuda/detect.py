"""Which CUDA 13 / cuDNN 9 libraries are present (files only: nothing is loaded), which runtime folders are
active, and whether the onnxruntime already imported is the one this extension expects."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

ORT_VERSION = "1.31.1"
"""The onnxruntime release this extension bundles (CPU build) and installs (GPU build); requirements.txt
pins the same version, which a test checks."""

CUDA_MAJOR = "13"
CUDNN_MAJOR = "9"


class CudaLibrary(NamedTuple):
    name: str
    """File name the CUDA provider asks the loader for."""
    pip_dir: tuple[str, ...]
    """Where NVIDIA's wheels put it, relative to a site folder."""
    required: bool
    hint: str
    """What to install when it is missing."""


def library_table(system: str | None = None) -> list[CudaLibrary]:
    """Libraries the CUDA execution provider loads, in load order (cublasLt before cublas).

    The same list `onnxruntime.preload_dlls` uses for CUDA 13 (consolidated `nvidia/cu13` wheels); cuFFT
    and NVRTC are only used by a few operators, onnxruntime treats them as optional and so do we.
    """
    system = system or platform.system()
    cu = ("nvidia", f"cu{CUDA_MAJOR}")
    if system == "Windows":
        arch = "arm64" if platform.machine().lower() in ("arm64", "aarch64") else "x86_64"
        cu_bin, cudnn_bin = (*cu, "bin", arch), ("nvidia", "cudnn", "bin")
        return [
            CudaLibrary("nvcuda.dll", (), True, "the NVIDIA display driver"),
            CudaLibrary(f"cudart64_{CUDA_MAJOR}.dll", cu_bin, True, "nvidia-cuda-runtime"),
            CudaLibrary(f"cublasLt64_{CUDA_MAJOR}.dll", cu_bin, True, "nvidia-cublas"),
            CudaLibrary(f"cublas64_{CUDA_MAJOR}.dll", cu_bin, True, "nvidia-cublas"),
            CudaLibrary("curand64_10.dll", cu_bin, True, "nvidia-curand"),
            CudaLibrary("cufft64_12.dll", cu_bin, False, "nvidia-cufft"),
            CudaLibrary(f"cudnn64_{CUDNN_MAJOR}.dll", cudnn_bin, True, "nvidia-cudnn-cu13"),
        ]
    cu_lib, cudnn_lib = (*cu, "lib"), ("nvidia", "cudnn", "lib")
    return [
        CudaLibrary("libcuda.so.1", (), True, "the NVIDIA display driver"),
        CudaLibrary(f"libcudart.so.{CUDA_MAJOR}", cu_lib, True, "nvidia-cuda-runtime"),
        CudaLibrary(f"libcublasLt.so.{CUDA_MAJOR}", cu_lib, True, "nvidia-cublas"),
        CudaLibrary(f"libcublas.so.{CUDA_MAJOR}", cu_lib, True, "nvidia-cublas"),
        CudaLibrary("libcurand.so.10", cu_lib, True, "nvidia-curand"),
        CudaLibrary("libcufft.so.12", cu_lib, False, "nvidia-cufft"),
        CudaLibrary(f"libnvrtc.so.{CUDA_MAJOR}", cu_lib, False, "nvidia-cuda-nvrtc"),
        CudaLibrary(f"libcudnn.so.{CUDNN_MAJOR}", cudnn_lib, True, "nvidia-cudnn-cu13"),
    ]


class LibraryStatus(NamedTuple):
    library: str
    path: str | None
    """Where it was found, or None."""
    version: str | None
    """The fullest version known: the pip package's, the file's (libfoo.so.13.1.0), or the soname's major."""

    @property
    def found(self) -> bool:
        return self.path is not None


# Folders handed to activate(), searched first by detection and preloading.
_ACTIVE: list[str] = []


def active_targets() -> list[str]:
    return list(_ACTIVE)


def add_active_target(target: str) -> None:
    if target not in _ACTIVE:
        _ACTIVE.insert(0, target)


def remove_active_target(target: str) -> None:
    if target in _ACTIVE:
        _ACTIVE.remove(target)


def activation_state() -> tuple[str, ...]:
    """The active folders as a hashable key: the CUDA probe's verdict is memoized per state."""
    return tuple(_ACTIVE)


def _env_dirs(name: str) -> list[str]:
    return [d for d in os.environ.get(name, "").split(os.pathsep) if d]


def _ldconfig_dirs() -> list[str]:
    """Folders of the system loader's cache (`ldconfig -p`), where distribution packages put CUDA."""
    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if os.path.exists("/sbin/ldconfig") else None)
    if not ldconfig:
        return []
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    dirs = []
    for line in out.splitlines():
        if "=>" in line and ("cuda" in line or "cublas" in line or "cudnn" in line or "curand" in line):
            folder = os.path.dirname(line.split("=>", 1)[1].strip())
            if folder not in dirs:
                dirs.append(folder)
    return dirs


def default_search_dirs() -> list[str]:
    """Where detection looks, in the order the libraries would be used.

    Site folders (activated runtime folders, then sys.path) are searched for NVIDIA's wheel layout; the
    other folders are searched for the plain file name.
    """
    dirs = list(_ACTIVE) + [p for p in sys.path if p and os.path.isdir(p)]
    for var in ("CUDA_PATH", "CUDA_HOME"):
        for root in _env_dirs(var):
            dirs += [os.path.join(root, sub) for sub in ("bin", os.path.join("bin", "x64"), "lib64", "lib")]
    if platform.system() == "Windows":
        dirs += _env_dirs("PATH") + [os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32")]
    else:
        dirs += _env_dirs("LD_LIBRARY_PATH") + _ldconfig_dirs()
        dirs += ["/usr/local/cuda/lib64", f"/usr/local/cuda-{CUDA_MAJOR}/lib64", "/usr/lib/x86_64-linux-gnu"]
        dirs += ["/usr/lib64", "/usr/lib/wsl/lib"]
    seen, ordered = set(), []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            ordered.append(d)
    return ordered


def _pip_version(site: Path, file: Path) -> str | None:
    """The version of the installed NVIDIA wheel whose RECORD lists `file`."""
    try:
        relative = file.relative_to(site).as_posix()
    except ValueError:
        return None
    for record in site.glob("nvidia_*.dist-info/RECORD"):
        try:
            if relative in record.read_text(encoding="utf-8", errors="replace"):
                return record.parent.name[: -len(".dist-info")].split("-", 1)[1]
        except OSError:
            continue
    return None


def _file_version(name: str, path: str) -> str:
    """libcublasLt.so.13 -> libcublasLt.so.13.1.0.3 gives 13.1.0.3; otherwise the major in the name."""
    real = os.path.basename(os.path.realpath(path))
    if ".so." in real:
        return real.split(".so.", 1)[1]
    major = re.search(r"(\d+)\.dll$", name)
    return major.group(1) if major else ""


def _find(lib: CudaLibrary, dirs: Iterable[str]) -> LibraryStatus:
    for d in dirs:
        base = Path(d)
        if lib.pip_dir:
            candidate = base.joinpath(*lib.pip_dir, lib.name)
            if candidate.is_file():
                version = _pip_version(base, candidate) or _file_version(lib.name, str(candidate))
                return LibraryStatus(lib.name, str(candidate), version)
        candidate = base / lib.name
        if candidate.is_file():
            return LibraryStatus(lib.name, str(candidate), _file_version(lib.name, str(candidate)))
    return LibraryStatus(lib.name, None, None)


def detect_cuda_libraries(search_dirs: Sequence[str] | None = None, system: str | None = None) -> list[LibraryStatus]:
    """Each library the CUDA provider needs, with where it was found (or None) and its version.

    Only looks at files: nothing is loaded. `search_dirs` replaces the default places (tests pass a temp
    folder laid out like pip's nvidia/*/lib/).
    """
    if (system or platform.system()) == "Darwin":
        return []
    dirs = default_search_dirs() if search_dirs is None else list(search_dirs)
    return [_find(lib, dirs) for lib in library_table(system)]


def missing_summary(statuses: Sequence[LibraryStatus], system: str | None = None) -> str:
    """Empty when every required library was found; else one sentence naming the missing ones."""
    if (system or platform.system()) == "Darwin":
        return "CUDA does not exist on macOS; models run on the CPU"
    table = {lib.name: lib for lib in library_table(system)}
    missing = [
        s.library for s in statuses if not s.found and table.get(s.library, CudaLibrary("", (), True, "")).required
    ]
    if not missing:
        return ""
    hints = sorted({table[m].hint for m in missing if m in table})
    driver = [h for h in hints if "driver" in h]
    wheels = [h for h in hints if "driver" not in h]
    advice = []
    if wheels:
        advice.append("install the GPU runtime from the preferences (or CUDA 13 and cuDNN 9)")
    if driver:
        advice.append("install the NVIDIA driver")
    return f"missing {', '.join(missing)}: {' and '.join(advice)}"


def is_under(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) == os.path.realpath(folder)
    except ValueError:  # different drives on Windows
        return False


def runtime_conflict(
    module: ModuleType | None = None, *, expected_version: str = ORT_VERSION, expected_dirs: Sequence[str] = ()
) -> str:
    """Empty when the imported onnxruntime is the one this extension expects; else a sentence saying which
    one is loaded, from where, and what to do.

    `module` defaults to sys.modules['onnxruntime'] (nothing is imported here). `expected_dirs`: folders
    our copy may live in; an empty sequence skips the location check.
    """
    module = module if module is not None else sys.modules.get("onnxruntime")
    if module is None:
        return ""
    version = getattr(module, "__version__", "unknown")
    where = os.path.dirname(os.path.dirname(getattr(module, "__file__", "") or "")) or "an unknown place"
    problems = []
    if version != expected_version:
        problems.append(f"onnxruntime {version} is loaded from {where}, but this extension needs {expected_version}")
    elif expected_dirs and not any(is_under(getattr(module, "__file__", ""), d) for d in expected_dirs):
        problems.append(f"onnxruntime {version} is loaded from {where}, not from this extension's packages")
    if not problems:
        return ""
    return (
        problems[0] + " (another extension or a script imported it first): disable the other extension or remove "
        "that onnxruntime and restart Blender"
    )
