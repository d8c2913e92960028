"""ONNX Image Runtime: a Blender extension that runs ONNX image models on images and renders.

Blender installs this folder as `bl_ext.<repo>.onnx_image_runtime`; everything below uses relative
imports. The engine (`engine/`) never imports bpy.
"""

from . import handlers, operators, panels, preferences, properties

# Render handlers last: they use everything above; unregistering removes them first.
_MODULES = (preferences, properties, operators, panels, handlers)


def register():
    for module in _MODULES:
        module.register()


def unregister():
    for module in reversed(_MODULES):
        module.unregister()
