"""The optional GPU runtime: find CUDA 13 / cuDNN 9, install the NVIDIA wheels on request, make them loadable.

The extension ships the CPU build of onnxruntime, which runs everywhere. CUDA needs three things that are
too large to bundle (about 1.5 GB): onnxruntime-gpu, the CUDA 13 libraries and cuDNN 9. They come either
from the system (a CUDA toolkit install, `CUDA_PATH`, `LD_LIBRARY_PATH`) or from NVIDIA's pip wheels that
`install_gpu_runtime` puts into a folder of its own (the extension's user folder in Blender), and
`activate` puts that folder in front of the bundled packages and preloads its libraries.

Nothing here imports bpy or onnxruntime at import time, and nothing runs pip unless called.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

__all__ = [
    "ORT_VERSION",
    "ActivationResult",
    "InstallResult",
    "LibraryStatus",
    "activate",
    "active_targets",
    "detect_cuda_libraries",
    "gpu_packages",
    "install_gpu_runtime",
    "missing_summary",
    "needs_onnxruntime_gpu",
    "preload_active_libraries",
    "runtime_conflict",
]

ORT_VERSION = "1.31.1"
"""The onnxruntime release this extension bundles (CPU build) and installs (GPU build); requirements.txt
pins the same version, which a test checks."""

CUDA_MAJOR = "13"
CUDNN_MAJOR = "9"

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


class _Lib(NamedTuple):
    name: str
    """File name the CUDA provider asks the loader for."""
    pip_dir: tuple[str, ...]
    """Where NVIDIA's wheels put it, relative to a site folder."""
    required: bool
    hint: str
    """What to install when it is missing."""


def _library_table(system: str | None = None) -> list[_Lib]:
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
            _Lib("nvcuda.dll", (), True, "the NVIDIA display driver"),
            _Lib(f"cudart64_{CUDA_MAJOR}.dll", cu_bin, True, "nvidia-cuda-runtime"),
            _Lib(f"cublasLt64_{CUDA_MAJOR}.dll", cu_bin, True, "nvidia-cublas"),
            _Lib(f"cublas64_{CUDA_MAJOR}.dll", cu_bin, True, "nvidia-cublas"),
            _Lib("curand64_10.dll", cu_bin, True, "nvidia-curand"),
            _Lib("cufft64_12.dll", cu_bin, False, "nvidia-cufft"),
            _Lib(f"cudnn64_{CUDNN_MAJOR}.dll", cudnn_bin, True, "nvidia-cudnn-cu13"),
        ]
    cu_lib, cudnn_lib = (*cu, "lib"), ("nvidia", "cudnn", "lib")
    return [
        _Lib("libcuda.so.1", (), True, "the NVIDIA display driver"),
        _Lib(f"libcudart.so.{CUDA_MAJOR}", cu_lib, True, "nvidia-cuda-runtime"),
        _Lib(f"libcublasLt.so.{CUDA_MAJOR}", cu_lib, True, "nvidia-cublas"),
        _Lib(f"libcublas.so.{CUDA_MAJOR}", cu_lib, True, "nvidia-cublas"),
        _Lib("libcurand.so.10", cu_lib, True, "nvidia-curand"),
        _Lib("libcufft.so.12", cu_lib, False, "nvidia-cufft"),
        _Lib(f"libnvrtc.so.{CUDA_MAJOR}", cu_lib, False, "nvidia-cuda-nvrtc"),
        _Lib(f"libcudnn.so.{CUDNN_MAJOR}", cudnn_lib, True, "nvidia-cudnn-cu13"),
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


@dataclass(frozen=True)
class InstallResult:
    ok: bool
    target: str
    command: list[str]
    output: str
    """pip's output (stdout and stderr), for the log and for the user when it failed."""
    message: str
    """One sentence for the user."""


@dataclass
class ActivationResult:
    target: str
    added_to_path: bool = False
    loaded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """'library: error' for each library that exists in the folder but did not load."""
    restart_needed: bool = False
    message: str = ""


# Folders handed to activate(), searched first by detection and preloading; Windows DLL directory handles
# must stay referenced or the directories are removed again.
_ACTIVE: list[str] = []
_DLL_HANDLES: list = []


def active_targets() -> list[str]:
    return list(_ACTIVE)


# ----------------------------------------------------------------------------------------------------------
# Detection


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


def _find(lib: _Lib, dirs: Iterable[str]) -> LibraryStatus:
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
    return [_find(lib, dirs) for lib in _library_table(system)]


def missing_summary(statuses: Sequence[LibraryStatus], system: str | None = None) -> str:
    """Empty when every required library was found; else one sentence naming the missing ones."""
    if (system or platform.system()) == "Darwin":
        return "CUDA does not exist on macOS; models run on the CPU"
    table = {lib.name: lib for lib in _library_table(system)}
    missing = [s.library for s in statuses if not s.found and table.get(s.library, _Lib("", (), True, "")).required]
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


# ----------------------------------------------------------------------------------------------------------
# Installation


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
    target: str | os.PathLike,
    packages: Sequence[str],
    wheel_dir: str | os.PathLike | None = None,
    python: str | None = None,
) -> list[str]:
    command = [python or sys.executable, "-m", "pip", "install", "--target", str(target), "--upgrade", "--no-deps"]
    command += ["--only-binary=:all:", "--disable-pip-version-check", "--no-input", "--no-warn-script-location"]
    if wheel_dir:
        command += ["--no-index", "--find-links", str(wheel_dir)]
    return command + list(packages)


def install_gpu_runtime(
    target: str | os.PathLike,
    wheel_dir: str | os.PathLike | None = None,
    runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
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
    command = install_command(target, packages, wheel_dir, python)
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


# ----------------------------------------------------------------------------------------------------------
# Activation


def _has_onnxruntime(target: str) -> bool:
    return os.path.isfile(os.path.join(target, "onnxruntime", "__init__.py"))


def _imported_onnxruntime_file() -> str | None:
    module = sys.modules.get("onnxruntime")
    return getattr(module, "__file__", None) if module is not None else None


def _under(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) == os.path.realpath(folder)
    except ValueError:  # different drives on Windows
        return False


def preload_active_libraries(
    targets: Sequence[str] | None = None, loader: Callable[[str], object] | None = None
) -> tuple[list[str], list[str]]:
    """Load the CUDA libraries found in the runtime folders, in dependency order; returns (loaded, failed).

    On Linux the loader resolves the CUDA provider's dependencies by soname against libraries already
    loaded, so preloading them by full path works without LD_LIBRARY_PATH (which only counts at start-up).
    """
    targets = list(_ACTIVE if targets is None else targets)
    if not targets or platform.system() == "Darwin":
        return [], []
    if loader is None:
        mode = getattr(os, "RTLD_GLOBAL", 0)

        def loader(path):
            return ctypes.CDLL(path, mode=mode)

    loaded, failed = [], []
    for status in detect_cuda_libraries(targets):
        if status.path is None:
            continue
        try:
            loader(status.path)
            loaded.append(status.library)
        except OSError as exc:
            failed.append(f"{status.library}: {exc}")
    return loaded, failed


def activate(
    target: str | os.PathLike, load_libraries: bool = True, loader: Callable[[str], object] | None = None
) -> ActivationResult:
    """Make an installed GPU runtime folder usable in this process.

    Puts `target` first on sys.path (its onnxruntime-gpu then wins over the bundled CPU build), registers
    its DLL folders on Windows, and, with `load_libraries`, preloads its CUDA libraries. If a different
    onnxruntime was already imported, this process keeps it: the result says a restart is needed.
    """
    target = os.path.abspath(str(target))
    result = ActivationResult(target)
    if not os.path.isdir(target):
        result.message = f"no GPU runtime folder at {target}"
        return result
    if target not in sys.path:
        sys.path.insert(0, target)
        result.added_to_path = True
    if target not in _ACTIVE:
        _ACTIVE.insert(0, target)
    if platform.system() == "Windows" and hasattr(os, "add_dll_directory"):
        for lib in _library_table("Windows"):
            folder = os.path.join(target, *lib.pip_dir)
            if lib.pip_dir and os.path.isdir(folder) and folder not in [getattr(h, "path", "") for h in _DLL_HANDLES]:
                _DLL_HANDLES.append(os.add_dll_directory(folder))
    if load_libraries:
        result.loaded, result.failed = preload_active_libraries([target], loader)
    imported = _imported_onnxruntime_file()
    if imported and _has_onnxruntime(target) and not _under(imported, target):
        result.restart_needed = True
        result.message = (
            f"onnxruntime was already loaded from {os.path.dirname(imported)}: restart Blender to use the GPU runtime"
        )
    else:
        result.message = f"GPU runtime folder {target} is active"
    _clear_runtime_caches()
    return result


def _clear_runtime_caches() -> None:
    # gpu_runtime memoizes its verdict; a new runtime folder must be looked at again.
    from . import gpu_runtime

    for fn in (gpu_runtime.cuda_unavailable_reason, gpu_runtime.preload_cuda_libraries):
        fn.cache_clear()


# ----------------------------------------------------------------------------------------------------------
# Conflicts with an onnxruntime someone else loaded


def runtime_conflict(module=None, expected_version: str = ORT_VERSION, expected_dirs: Sequence[str] = ()) -> str:
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
    elif expected_dirs and not any(_under(getattr(module, "__file__", ""), d) for d in expected_dirs):
        problems.append(f"onnxruntime {version} is loaded from {where}, not from this extension's packages")
    if not problems:
        return ""
    return (
        problems[0] + " (another extension or a script imported it first): disable the other extension or remove "
        "that onnxruntime and restart Blender"
    )
