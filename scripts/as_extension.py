"""Import this checkout the way Blender imports an installed extension: as a package (Blender uses
`bl_ext.<repo>.onnx_image_runtime`), so the relative imports inside it resolve as they do there."""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "onnx_image_runtime"


def import_extension(module: str = "", holder: Path | None = None):
    """`onnx_image_runtime` (or one of its modules) from a folder holding a symlink to this checkout."""
    if PACKAGE not in sys.modules:
        holder = Path(holder or tempfile.mkdtemp())
        link = holder / PACKAGE
        if not link.exists():
            link.symlink_to(ROOT, target_is_directory=True)
        sys.path.insert(0, str(holder))
    return importlib.import_module(f"{PACKAGE}.{module}" if module else PACKAGE)
