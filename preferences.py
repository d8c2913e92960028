"""Machine settings (cache folder, default provider, GPU) kept in the add-on preferences, and how to read them.

Operators call `machine_settings(context)`, which also works when the package was registered without
being enabled as an add-on (tests, scripts): then the defaults below apply.

The preferences also show the state of the optional GPU runtime (CUDA 13 / cuDNN 9 libraries found or
missing, a conflicting onnxruntime) and offer `onnx.install_gpu_runtime`; the logic is in
engine/runtime/cuda/, this module only draws it and runs it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bpy

from .engine import gpu as gpu_setup

PROVIDER_ITEMS = (
    ("AUTO", "Auto", "CUDA when its runtime loads, else the CPU"),
    ("CUDA", "CUDA", "NVIDIA GPU through the CUDA execution provider (falls back to the CPU with a reason)"),
    ("CPU", "CPU", "Always run on the CPU"),
)


def default_cache_dir() -> Path:
    """Where optimized models go when the preference is empty.

    An explicit ONNX_IMAGE_RUNTIME_CACHE wins (tests and farms set it); an installed extension uses its
    user folder; a package that is not an installed extension (scripts, tests) uses the user cache folder.
    """
    if explicit := os.environ.get("ONNX_IMAGE_RUNTIME_CACHE"):
        return Path(explicit)
    try:
        return Path(bpy.utils.extension_path_user(__package__, path="cache", create=True))
    except (ValueError, OSError):
        # ValueError: "package does not name an extension" when loaded as a plain module.
        pass
    home = Path.home()
    base = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") if os.access(home, os.W_OK) else None
    return (base or Path(tempfile.gettempdir())) / "onnx_image_runtime"


@dataclass(frozen=True)
class MachineSettings:
    cache_dir: Path
    provider: str
    """'AUTO', 'CUDA' or 'CPU'."""
    device_id: int


class ONNX_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    cache_dir: bpy.props.StringProperty(
        name="Cache Folder",
        description="Where converted, optimized models are kept; empty uses the extension's user folder",
        subtype="DIR_PATH",
        default="",
    )
    default_provider: bpy.props.EnumProperty(
        name="Default Provider",
        description="Where models run when a scene leaves the provider on Auto",
        items=PROVIDER_ITEMS,
        default="AUTO",
    )
    device_id: bpy.props.IntProperty(
        name="GPU", description="CUDA device index used by the CUDA provider", default=0, min=0, max=15
    )
    force_gpu_runtime: bpy.props.BoolProperty(
        name="Offer the GPU Runtime Anyway",
        description=(
            "Show and install the GPU runtime on a machine where no NVIDIA GPU is found (a driver this check "
            "cannot see: containers, unusual installs)"
        ),
        default=False,
    )
    wheel_dir: bpy.props.StringProperty(
        name="Wheel Folder",
        description="Install the GPU runtime offline from this folder of wheels; empty downloads them from PyPI",
        subtype="DIR_PATH",
        default="",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "cache_dir")
        if not self.cache_dir:
            layout.label(text=f"Using: {default_cache_dir()}", icon="INFO")
        layout.prop(self, "default_provider")
        layout.prop(self, "device_id")
        layout.operator("onnx.check_gpu_runtime", icon="CHECKMARK")
        draw_gpu_runtime(layout, self)


# ------------------------------------------------------------------------------------------------------------
# GPU runtime: state shown in the preferences (module state, never on bpy types), install operator.

GPU_STATE = {"libraries": None, "message": "", "restart": False}


def gpu_runtime_dir() -> Path:
    """The extension's user folder for the GPU runtime (kept across updates of the extension)."""
    if explicit := os.environ.get("ONNX_IMAGE_RUNTIME_GPU_DIR"):
        return Path(explicit)
    try:
        return Path(bpy.utils.extension_path_user(__package__, path="gpu_runtime", create=True))
    except (ValueError, OSError):
        return default_cache_dir().parent / "onnx_image_runtime_gpu"


def _installed(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.dist-info"))


def refresh_gpu_state() -> None:
    GPU_STATE["libraries"] = gpu_setup.detect_cuda_libraries()


def draw_gpu_runtime(layout, prefs) -> None:
    """The GPU runtime box; a function of (layout, prefs) so tests can call it with a stand-in layout."""
    box = layout.box()
    box.label(text="GPU Runtime (CUDA 13, cuDNN 9)", icon="MEMORY")
    if sys.platform == "darwin":
        box.label(text="CUDA does not exist on macOS: models run on the CPU", icon="INFO")
        return
    if not gpu_setup.nvidia_gpu_present() and not prefs.force_gpu_runtime:
        # The normal state of most artists' machines: nothing to install, nothing wrong.
        box.label(text="No NVIDIA GPU found: models run on the CPU, nothing to install", icon="INFO")
        box.prop(prefs, "force_gpu_runtime")
        return
    conflict = gpu_setup.runtime_conflict()
    if conflict:
        box.label(text=conflict, icon="ERROR")
    if GPU_STATE["libraries"] is None:
        refresh_gpu_state()
    libraries = GPU_STATE["libraries"]
    col = box.column(align=True)
    for status in libraries:
        if status.found:
            col.label(text=f"{status.library} {status.version or ''} found at {status.path}", icon="CHECKMARK")
        else:
            col.label(text=f"{status.library} missing", icon="X")
    summary = gpu_setup.missing_summary(libraries)
    box.label(text=summary or "All CUDA libraries found", icon="ERROR" if summary else "CHECKMARK")
    folder = gpu_runtime_dir()
    box.label(text=f"Runtime folder: {folder}" + ("" if _installed(folder) else " (not installed)"))
    if GPU_STATE["message"]:
        box.label(text=GPU_STATE["message"], icon="ERROR" if GPU_STATE["restart"] else "INFO")
    box.prop(prefs, "wheel_dir")
    if not gpu_setup.nvidia_gpu_present():
        box.prop(prefs, "force_gpu_runtime")
    row = box.row()
    row.operator("onnx.install_gpu_runtime", icon="IMPORT")
    row.operator("onnx.detect_gpu_runtime", icon="FILE_REFRESH")


def addon_preferences(context=None):
    """This extension's preferences, or None where it is not enabled as an add-on (operators live in a
    subpackage: their own __package__ is not the add-on's name)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


def machine_settings(context=None) -> MachineSettings:
    prefs = addon_preferences(context)
    if prefs is None:
        return MachineSettings(default_cache_dir(), "AUTO", 0)
    cache = Path(bpy.path.abspath(prefs.cache_dir)) if prefs.cache_dir else default_cache_dir()
    return MachineSettings(cache, prefs.default_provider, prefs.device_id)


classes = (ONNX_AP_preferences,)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register():
    _register()
    # A runtime installed earlier goes on sys.path now (cheap: no library is loaded until CUDA is asked
    # for), so its onnxruntime-gpu is the one imported. Nothing is installed here.
    folder = gpu_runtime_dir()
    if _installed(folder):
        gpu_setup.activate(folder, load_libraries=False)


def unregister():
    _unregister()
