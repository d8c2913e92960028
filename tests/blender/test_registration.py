"""Registration, properties, preferences, panels and the menu entry, with the real bpy module."""

from __future__ import annotations

import importlib
import re
import sys

import pytest

from tests.blender.layout import Recorder, draw

OPERATORS = (
    "prepare_model",
    "inspect_model",
    "run_image",
    "run_render",
    "benchmark_model",
    "check_gpu_runtime",
    "advise_model",
)
PANELS = ("ONNX_PT_model", "ONNX_PT_precision", "ONNX_PT_run", "ONNX_PT_provider", "ONNX_PT_architecture")


def test_register_unregister_round_trip(addon):
    import bpy

    assert all(hasattr(bpy.types, name) for name in PANELS)
    addon.unregister()
    try:
        assert not hasattr(bpy.types.Scene, "onnx_image_runtime")
        assert not hasattr(bpy.types.WindowManager, "onnx_image_runtime")
        assert not any(hasattr(bpy.types, name) for name in PANELS)
        assert not hasattr(bpy.types, "ONNX_OT_run_image")
        assert addon.operators.draw_image_menu not in bpy.types.IMAGE_MT_image._dyn_ui_initialize()
    finally:
        addon.register()
    assert bpy.context.scene.onnx_image_runtime.precision == "AUTO"
    for name in OPERATORS:
        assert hasattr(bpy.ops.onnx, name)
        assert getattr(bpy.ops.onnx, name).idname() == f"ONNX_OT_{name}"


def test_registration_does_not_load_onnxruntime(addon):
    """Enabling the extension must stay fast: heavy modules load only when an operator runs."""
    import subprocess

    code = (
        "import sys, bpy; sys.path.insert(0, sys.argv[1]); import onnx_image_runtime as a; a.register(); "
        "print('onnxruntime' in sys.modules, 'onnx' in sys.modules); a.unregister()"
    )
    root = next(p for p in sys.path if (__import__("pathlib").Path(p) / "onnx_image_runtime").exists())
    out = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout + out.stderr


def test_scene_settings_defaults_and_items(bpy_data):
    bpy = bpy_data
    settings = bpy.context.scene.onnx_image_runtime
    assert settings.model_path == ""
    assert settings.precision == "AUTO"
    assert settings.provider == "AUTO"
    assert settings.tile_size == 0
    assert settings.tile_overlap == -1  # automatic: from the model's receptive field
    assert settings.contract_fit == "MODEL"
    assert settings.color_mode == "MODEL"
    assert settings.output_name == "" and settings.pass_mapping == ""
    props = settings.bl_rna.properties
    assert [i.identifier for i in props["precision"].enum_items] == ["AUTO", "FP32", "FP16", "AMP", "INT8"]
    assert [i.identifier for i in props["provider"].enum_items] == ["AUTO", "CUDA", "CPU"]
    assert [i.identifier for i in props["color_mode"].enum_items] == ["MODEL", "LINEAR", "SRGB", "DATA"]
    assert [i.identifier for i in props["contract_fit"].enum_items] == ["MODEL", "AUTO", "TILE", "RESIZE"]
    assert props["model_path"].subtype == "FILE_PATH"
    with pytest.raises(TypeError):
        settings.precision = "BF16"
    state = bpy.context.window_manager.onnx_image_runtime
    assert state.progress == 0.0 and state.status == "" and not state.running


def test_preferences_fallback_and_class(addon, tmp_path):
    import bpy

    prefs = importlib.import_module("onnx_image_runtime.preferences")
    assert prefs.ONNX_AP_preferences.bl_idname == "onnx_image_runtime"
    machine = prefs.machine_settings(bpy.context)
    # Not enabled through the add-on system here: the defaults apply, the cache from the environment.
    assert machine.provider == "AUTO" and machine.device_id == 0
    assert str(machine.cache_dir) == __import__("os").environ["ONNX_IMAGE_RUNTIME_CACHE"]
    items = prefs.ONNX_AP_preferences.bl_rna.properties["default_provider"].enum_items
    assert [i.identifier for i in items] == ["AUTO", "CUDA", "CPU"]


def test_check_gpu_runtime_reports(bpy_data):
    import onnxruntime as ort
    from onnx_image_runtime.engine.gpu import cuda_unavailable_reason

    assert bpy_data.ops.onnx.check_gpu_runtime() == {"FINISHED"}
    # No GPU on the test machines: the reason is a sentence; with one, it is empty.
    reason = cuda_unavailable_reason()
    assert isinstance(reason, str)
    assert "CPUExecutionProvider" in ort.get_available_providers()


def test_panels_register_poll_anddraw(bpy_data, models_dir):
    bpy = bpy_data
    panels = importlib.import_module("onnx_image_runtime.panels")
    context = bpy.context
    for cls in panels.classes:
        assert cls.bl_space_type == "IMAGE_EDITOR" and cls.bl_region_type == "UI" and cls.bl_category == "ONNX"
        assert cls.poll(context)
        assert getattr(bpy.types, cls.__name__).is_registered
    settings = context.scene.onnx_image_runtime

    empty = draw(panels.ONNX_PT_model, context)
    assert "model_path" in empty.props() and "Choose a .onnx model" in empty.texts()

    importlib.import_module("onnx_image_runtime.operators.jobs").MODEL_INFO.clear()
    settings.model_path = str(models_dir / "sr_x2.onnx")
    before = draw(panels.ONNX_PT_model, context)
    assert before.operators() == ["onnx.inspect_model"]  # nothing described yet: draw() does no work
    assert bpy.ops.onnx.inspect_model() == {"FINISHED"}
    after = draw(panels.ONNX_PT_model, context)
    text = "\n".join(after.texts())
    assert "x: NCHW 3 ch [1x3x?x?] float32" in text
    assert "Scale x2, size dynamic" in text

    settings.model_path = str(models_dir / "not_onnx.onnx")
    # An ERROR report makes bpy.ops raise; the same text is then shown by the panel.
    with pytest.raises(RuntimeError, match="not a readable ONNX model"):
        bpy.ops.onnx.inspect_model()
    assert "not a readable ONNX model" in " ".join(draw(panels.ONNX_PT_model, context).texts())

    precision = draw(panels.ONNX_PT_precision, context)
    assert "precision" in precision.props() and "onnx.prepare_model" in precision.operators()
    run = draw(panels.ONNX_PT_run, context)
    assert run.operators() == ["onnx.run_image", "onnx.run_render"]
    state = context.window_manager.onnx_image_runtime
    state.running, state.status = True, "3/9 tiles"
    try:
        busy = draw(panels.ONNX_PT_run, context)
        assert "progress" in busy.props() and not busy.operators()
    finally:
        state.running, state.status = False, ""
    settings.last_provider, settings.last_fallback = "CPU", "CUDA not used: no GPU: running on CPU"
    provider = draw(panels.ONNX_PT_provider, context)
    assert " ".join(provider.texts()) == "Last run on: CPU CUDA not used: no GPU: running on CPU"


def test_menu_entry_lists_operators(addon):
    layout = Recorder()
    menu = type("Menu", (), {"layout": layout})()
    addon.operators.draw_image_menu(menu, None)
    assert layout.operators() == [
        "onnx.run_image",
        "onnx.run_render",
        "onnx.prepare_model",
        "onnx.benchmark_model",
        "onnx.advise_model",
        "onnx.inspect_model",
        "onnx.check_gpu_runtime",
    ]


def test_advise_operator_fills_the_architecture_panel(bpy_data, models_dir):
    bpy = bpy_data
    panels = importlib.import_module("onnx_image_runtime.panels")
    context = bpy.context
    settings = context.scene.onnx_image_runtime
    settings.last_advice = ""
    assert draw(panels.ONNX_PT_architecture, context).operators() == ["onnx.advise_model"]
    settings.model_path = str(models_dir / "sr_x2.onnx")
    assert bpy.ops.onnx.advise_model(precision="FP16", provider="CPU", height=64, width=64) == {"FINISHED"}
    header, *lines = draw(panels.ONNX_PT_architecture, context).texts()
    assert "NVIDIA" in header and "NVIDIA" in panels.ONNX_PT_architecture.bl_label  # what the advice is about
    # sr_x2: Conv 3->16 (in 3 not a multiple of 8) and Conv 16->12 (out 12 not a multiple of 8)
    assert lines[0].startswith("Tensor Core eligible: 0% of")
    shown = " ".join(lines)
    assert "in 3 not a multiple of 8" in shown and "out 12 not a multiple of 8" in shown
    # A CPU session keeps the model's NCHW layout: what is left is NCHWc's own reorder, no adapter Transpose.
    assert re.search(r"layout conversions on CPU: \d+ ReorderOutput", shown) and "Transpose" not in shown
    # The panel wraps long lines; the text block keeps them whole for copying, then names every node.
    whole, _, details = bpy.data.texts["ONNX Advice"].as_string().partition("\n\n")
    assert " ".join(whole.split()) == " ".join(" ".join(lines).split())
    assert details.startswith("Layers:\n") and "Layout conversions:\n  ReorderOutput" in details
    settings.model_path = str(models_dir / "not_onnx.onnx")
    with pytest.raises(RuntimeError, match="not a readable ONNX model"):
        bpy.ops.onnx.advise_model()
