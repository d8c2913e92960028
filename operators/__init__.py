"""Blender operators over the engine: prepare, inspect, run on images and renders, post-process frame
sequences, benchmark, architecture advice, GPU check."""

from __future__ import annotations

import bpy

from .advice import ONNX_OT_advise_model
from .gpu import ONNX_OT_detect_gpu_runtime, ONNX_OT_install_gpu_runtime
from .model import (
    ONNX_OT_benchmark_model,
    ONNX_OT_check_gpu_runtime,
    ONNX_OT_inspect_model,
    ONNX_OT_prepare_model,
    ONNX_OT_save_contract,
)
from .run import ONNX_OT_run_image, ONNX_OT_run_render
from .sequence import ONNX_OT_process_sequence

classes = (
    ONNX_OT_prepare_model,
    ONNX_OT_inspect_model,
    ONNX_OT_save_contract,
    ONNX_OT_run_image,
    ONNX_OT_run_render,
    ONNX_OT_benchmark_model,
    ONNX_OT_check_gpu_runtime,
    ONNX_OT_process_sequence,
    ONNX_OT_advise_model,
    ONNX_OT_install_gpu_runtime,
    ONNX_OT_detect_gpu_runtime,
)
MENU_OPERATORS = (
    ONNX_OT_run_image,
    ONNX_OT_run_render,
    ONNX_OT_prepare_model,
    ONNX_OT_benchmark_model,
    ONNX_OT_advise_model,
    ONNX_OT_inspect_model,
    ONNX_OT_check_gpu_runtime,
)

_register, _unregister = bpy.utils.register_classes_factory(classes)


def draw_image_menu(self, context):
    """Image Editor > Image menu entries, which also makes the operators findable with F3."""
    layout = self.layout
    layout.separator()
    for cls in MENU_OPERATORS:
        layout.operator(cls.bl_idname, text=cls.bl_label.replace("ONNX Model", "ONNX"))


def draw_sequence_menu(self, context):
    """Image menu and Render menu: post-process a rendered sequence on disk (also found with F3)."""
    self.layout.operator(ONNX_OT_process_sequence.bl_idname, text="Post-Process Sequence (ONNX)", icon="SEQUENCE")


_MENUS = (
    ("IMAGE_MT_image", draw_image_menu),
    ("IMAGE_MT_image", draw_sequence_menu),
    ("TOPBAR_MT_render", draw_sequence_menu),
)


def register():
    _register()
    for menu, draw in _MENUS:
        getattr(bpy.types, menu).append(draw)


def unregister():
    for menu, draw in reversed(_MENUS):
        getattr(bpy.types, menu).remove(draw)
    _unregister()
