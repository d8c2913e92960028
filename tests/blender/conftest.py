"""Real-bpy fixtures: the repository registered as the package `onnx_image_runtime`, a temporary cache.

The repository root is the extension package, so a symlink named like the extension makes its relative
imports work exactly as they do when Blender installs it (as bl_ext.<repo>.onnx_image_runtime).
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def addon(tmp_path_factory):
    os.environ["ONNX_IMAGE_RUNTIME_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    import bpy  # noqa: F401 - loads Blender before the package

    from scripts.as_extension import import_extension

    module = import_extension(holder=tmp_path_factory.mktemp("pkg"))
    module.register()
    yield module
    module.unregister()


@pytest.fixture(autouse=True)
def _extension_int8_timed_slower(request, monkeypatch):
    """As tests/conftest.py does for the engine, for the extension's own copy of it (imported under the package's
    name): `auto` on the CPU never depends on the CPU running the suite, unless a test injects its timing."""
    if "addon" not in request.fixturenames:
        return
    import sys

    module = sys.modules.get("onnx_image_runtime.engine.runtime.int8_choice")
    if module is None:
        import importlib

        module = importlib.import_module("onnx_image_runtime.engine.runtime.int8_choice")
    monkeypatch.setattr(module, "interleaved_medians", lambda fp32_run, int8_run: (1.0, 2.0))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    from tests import models

    folder = tmp_path_factory.mktemp("models")
    models.save(models.sr_x2(), folder / "sr_x2.onnx")
    models.save(models.sr_x2(channels=2), folder / "two_channels.onnx")
    models.save(models.multi_input(), folder / "multi_input.onnx")
    models.save(models.fixed_global(32), folder / "fixed_global.onnx")
    models.write_not_onnx(folder / "not_onnx.onnx")
    return folder


@pytest.fixture
def bpy_data(addon):
    """bpy with the add-on registered; removes images and texts a test created."""
    import bpy

    images, texts = set(bpy.data.images.keys()), set(bpy.data.texts.keys())
    yield bpy
    for img in list(bpy.data.images):
        if img.name not in images:
            bpy.data.images.remove(img)
    for text in list(bpy.data.texts):
        if text.name not in texts:
            bpy.data.texts.remove(text)
    settings = bpy.context.scene.onnx_image_runtime
    for key in ("model_path", "output_name", "pass_mapping", "last_provider", "last_fallback", "last_report"):
        settings.property_unset(key)
    state = bpy.context.window_manager.onnx_image_runtime
    for key in ("progress", "status", "running"):
        state.property_unset(key)


@pytest.fixture
def clean_file(addon, tmp_path):
    """Scene changes (and opened .blend files) are undone: the startup state is reopened afterwards."""
    import bpy

    clean = tmp_path / "clean.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(clean), copy=True)
    yield bpy
    bpy.ops.wm.open_mainfile(filepath=str(clean))
