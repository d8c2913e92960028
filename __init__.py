"""ONNX Image Runtime: a Blender extension that runs ONNX image models on images and renders.

Blender installs this folder as `bl_ext.<repo>.onnx_image_runtime`; everything below uses relative
imports. The engine (`engine/`) never imports bpy.
"""


def register():
    pass


def unregister():
    pass
