"""Make an installed GPU runtime folder usable in this process: first on sys.path, its DLL folders registered,
its CUDA libraries preloaded. The CUDA probe keys its memoized verdict on the active folders, so nothing here
has to tell it."""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .detect import (
    active_targets,
    add_active_target,
    detect_cuda_libraries,
    is_under,
    library_table,
    remove_active_target,
)

# Windows DLL directory handles must stay referenced or the directories are removed again.
_DLL_HANDLES: list[object] = []


@dataclass
class ActivationResult:
    target: str
    added_to_path: bool = False
    loaded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """'library: error' for each library that exists in the folder but did not load."""
    restart_needed: bool = False
    message: str = ""


def _has_onnxruntime(target: str) -> bool:
    return os.path.isfile(os.path.join(target, "onnxruntime", "__init__.py"))


def _imported_onnxruntime_file() -> str | None:
    module = sys.modules.get("onnxruntime")
    return getattr(module, "__file__", None) if module is not None else None


def preload_active_libraries(
    targets: Sequence[str] | None = None, loader: Callable[[str], object] | None = None
) -> tuple[list[str], list[str]]:
    """Load the CUDA libraries found in the runtime folders, in dependency order; returns (loaded, failed).

    On Linux the loader resolves the CUDA provider's dependencies by soname against libraries already
    loaded, so preloading them by full path works without LD_LIBRARY_PATH (which only counts at start-up).
    """
    targets = list(active_targets() if targets is None else targets)
    if not targets or platform.system() == "Darwin":
        return [], []
    if loader is None:
        mode = getattr(os, "RTLD_GLOBAL", 0)

        def loader(path: str) -> object:
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
    target: str | os.PathLike[str], *, load_libraries: bool = True, loader: Callable[[str], object] | None = None
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
    add_active_target(target)
    if platform.system() == "Windows" and hasattr(os, "add_dll_directory"):
        for lib in library_table("Windows"):
            folder = os.path.join(target, *lib.pip_dir)
            if lib.pip_dir and os.path.isdir(folder) and folder not in [getattr(h, "path", "") for h in _DLL_HANDLES]:
                _DLL_HANDLES.append(os.add_dll_directory(folder))
    if load_libraries:
        result.loaded, result.failed = preload_active_libraries([target], loader)
    imported = _imported_onnxruntime_file()
    if imported and _has_onnxruntime(target) and not is_under(imported, target):
        result.restart_needed = True
        result.message = (
            f"onnxruntime was already loaded from {os.path.dirname(imported)}: restart Blender to use the GPU runtime"
        )
    else:
        result.message = f"GPU runtime folder {target} is active"
    return result


def deactivate(target: str | os.PathLike[str]) -> None:
    """Forget an activated folder (libraries already loaded stay loaded in this process)."""
    target = os.path.abspath(str(target))
    remove_active_target(target)
    if target in sys.path:
        sys.path.remove(target)
