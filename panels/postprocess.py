"""Output Properties > "ONNX Post-Process": run the model on every frame of an animation render.

The checkbox in the header is `scene.onnx_image_runtime.postprocess`; handlers.py does the work.
"""

from __future__ import annotations

import bpy

from ..operators.common import postprocess_pattern


def short_pattern(pattern: str) -> str:
    """A frame pattern short enough for a panel line: relative to the .blend where it is inside its folder, else
    its last folder and file name ('.../render_onnx/####.exr'); a long absolute path wraps unreadably."""
    relative = bpy.path.relpath(pattern) if bpy.data.filepath else pattern
    if relative.startswith("//") and not relative.startswith("//.."):
        return relative
    parts = pattern.replace("\\", "/").rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) <= 2 else ".../" + "/".join(parts[-2:])


class ONNX_PT_postprocess(bpy.types.Panel):
    bl_label = "ONNX Post-Process"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None and hasattr(context.scene, "onnx_image_runtime")

    def draw_header(self, context):
        self.layout.prop(context.scene.onnx_image_runtime, "postprocess", text="")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        scene = context.scene
        settings = scene.onnx_image_runtime
        col = layout.column()
        col.active = settings.postprocess
        col.prop(settings, "model_path")
        col.prop(settings, "precision")
        col.prop(settings, "pass_mapping")
        col.prop(settings, "postprocess_output")
        if not settings.postprocess_output:
            col.label(text=f"Frames go to {short_pattern(postprocess_pattern(scene))}", icon="FILE_FOLDER")
        col.prop(settings, "postprocess_stop_on_error")
        col.prop(settings, "postprocess_keep_passes")
        col.prop(settings, "postprocess_temporal_blend")
        col.prop(settings, "postprocess_require_gpu")
        if settings.postprocess and not settings.model_path:
            col.label(text="Choose a .onnx model", icon="ERROR")
        if settings.postprocess_summary:
            layout.label(text=f"Last batch: {settings.postprocess_summary}", icon="INFO")
        layout.operator("onnx.process_sequence", text="Process Rendered Frames", icon="SEQUENCE")


classes = (ONNX_PT_postprocess,)
register, unregister = bpy.utils.register_classes_factory(classes)
