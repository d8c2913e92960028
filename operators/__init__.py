"""Blender operators over the engine: prepare, inspect, run on images and renders, benchmark, GPU check."""

from __future__ import annotations

import bpy

from .model import ONNX_OT_benchmark_model, ONNX_OT_check_gpu_runtime, ONNX_OT_inspect_model, ONNX_OT_prepare_model
from .run import ONNX_OT_run_image, ONNX_OT_run_render

classes = (
    ONNX_OT_prepare_model,
    ONNX_OT_inspect_model,
    ONNX_OT_run_image,
    ONNX_OT_run_render,
    ONNX_OT_benchmark_model,
    ONNX_OT_check_gpu_runtime,
)
MENU_OPERATORS = (
    ONNX_OT_run_image,
    ONNX_OT_run_render,
    ONNX_OT_prepare_model,
    ONNX_OT_benchmark_model,
)

_register, _unregister = bpy.utils.register_classes_factory(classes)


def draw_image_menu(self, context):
    """Image Editor > Image menu entries, which also makes the operators findable with F3."""
    layout = self.layout
    layout.separator()
    for cls in MENU_OPERATORS:
        layout.operator(cls.bl_idname, text=cls.bl_label.replace("ONNX Model", "ONNX"))


def register():
    _register()
    bpy.types.IMAGE_MT_image.append(draw_image_menu)


def unregister():
    bpy.types.IMAGE_MT_image.remove(draw_image_menu)
    _unregister()
