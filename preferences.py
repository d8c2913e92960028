"""Machine settings (cache folder, default provider, GPU) kept in the add-on preferences, and how to read them.

Operators call `machine_settings(context)`, which also works when the package was registered without
being enabled as an add-on (tests, scripts): then the defaults below apply.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bpy

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

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "cache_dir")
        if not self.cache_dir:
            layout.label(text=f"Using: {default_cache_dir()}", icon="INFO")
        layout.prop(self, "default_provider")
        layout.prop(self, "device_id")
        layout.operator("onnx.check_gpu_runtime", icon="CHECKMARK")


def machine_settings(context=None) -> MachineSettings:
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    prefs = addon.preferences if addon is not None else None
    if prefs is None:
        return MachineSettings(default_cache_dir(), "AUTO", 0)
    cache = Path(bpy.path.abspath(prefs.cache_dir)) if prefs.cache_dir else default_cache_dir()
    return MachineSettings(cache, prefs.default_provider, prefs.device_id)


classes = (ONNX_AP_preferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
