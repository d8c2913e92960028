"""Run a model on an image datablock or on the last render's passes, writing a new packed float image."""

from __future__ import annotations

import logging
import os
import tempfile

import bpy

from ..engine import parse_mapping, read_layers
from ..properties import PATH_OPTIONS
from . import jobs
from .blender_io import is_data, output_colorspace, read_pixels, scene_linear_name, write_image
from .common import ModelArgs, store_prepared, store_run
from .runner import JobRunner
from .settings import blend_path, model_job, run_settings, scene_settings

log = logging.getLogger(__name__)


def _finish(context, job: jobs.ImageJob, result: jobs.JobResult) -> str:
    img = write_image(job.output_name, result.image, job.colorspace, protect=job.source_name)
    summary = store_prepared(context, result.prepared)
    store_run(context, result)
    h, w = result.image.shape[:2]
    tiling = f"; {result.tiling}" if result.tiling else ""
    return f"wrote '{img.name}' ({w}x{h}) in {result.seconds:.2f} s: {summary}{tiling}"


def active_image(context):
    space = getattr(context, "space_data", None)
    return getattr(space, "image", None) if space is not None and space.type == "IMAGE_EDITOR" else None


class ONNX_OT_run_image(JobRunner, ModelArgs, bpy.types.Operator):
    """Run the ONNX model on an image and write the result to a new float image"""

    bl_idname = "onnx.run_image"
    bl_label = "Run ONNX Model on Image"
    bl_options = {"REGISTER", "UNDO"}

    image: bpy.props.StringProperty(name="Image", description="Source image; empty uses the Image Editor's image")
    output_name: bpy.props.StringProperty(name="Output", description="Result image; empty uses the scene setting")

    def build(self, context) -> jobs.ImageJob:
        if self.image:
            img = bpy.data.images.get(self.image)
            if img is None:
                raise ValueError(f"no image named '{self.image}'")
        else:
            img = active_image(context)
            if img is None:
                raise ValueError("no image: open one in the Image Editor or pass image=")
        layers = render_layers_of(img, context.scene)
        if layers is not None:
            # The Render Result and loaded multilayer EXRs have no pixels in the datablock: their passes are
            # read from the render (or the file) and the run goes the render way, passes and all.
            return render_job(self, context, layers, img.name, self.output_name)
        pixels = read_pixels(img)
        output = self.output_name or scene_settings(context).output_name or f"{img.name} ONNX"
        model = model_job(self, context, sample=pixels)  # reduced precision is judged on this image
        return jobs.ImageJob(
            model=model,
            image=pixels,
            output_name=output,
            colorspace=output_colorspace(img),
            data=is_data(img),
            source_name=img.name,
            run=run_settings(scene_settings(context), blender_rgba=True, model_path=model.model_path),
        )

    def finish(self, context, job, result) -> str:
        return _finish(context, job, result)


def save_render_layers(scene) -> dict:
    """Save the Render Result with all its passes to a temporary multilayer EXR and read it back.

    Headless Blender gives Render Result no pixels, so the file written by save_render is the way in."""
    result = bpy.data.images.get("Render Result")
    if result is None:
        raise ValueError("there is no render yet: render first (F12)")
    settings_ = scene.render.image_settings
    # Everything is saved before anything changes (switching the format changes the depth: PNG 8-bit
    # read back after the switch would be 16), and restored format first, then what depends on it.
    keys = ("media_type", "file_format", "color_depth", "exr_codec", "color_mode")
    saved = {key: getattr(settings_, key) for key in keys if hasattr(settings_, key)}
    fd, path = tempfile.mkstemp(suffix=".exr", prefix="onnx_render_")
    os.close(fd)
    try:
        if hasattr(settings_, "media_type"):  # Blender 5.x
            settings_.media_type = "MULTI_LAYER_IMAGE"
        else:  # Blender 4.2
            settings_.file_format = "OPEN_EXR_MULTILAYER"
        # Full float, lossless: the model must see the render, not a half-float or DWA approximation.
        settings_.color_depth, settings_.exr_codec = "32", "ZIP"
        try:
            result.save_render(path, scene=scene)
        except RuntimeError as exc:
            raise ValueError(f"cannot save the last render (render first): {exc}") from exc
        if os.path.getsize(path) == 0:
            raise ValueError("the last render is empty: render first")
        return read_layers(path)
    finally:
        # Format first (media type, file format), then the options valid for it.
        for key, value in saved.items():
            if getattr(settings_, key) != value:
                try:
                    setattr(settings_, key, value)
                except TypeError:
                    log.warning("could not restore render output setting %s=%r", key, value)
        os.unlink(path)


def render_layers_of(img, scene) -> dict | None:
    """The passes of an image whose datablock holds no pixels (the Render Result; a multilayer EXR loaded
    with bpy.data.images.load), read from the render or the file; None for an ordinary image."""
    if img.type == "RENDER_RESULT":
        return save_render_layers(scene)
    if img.type == "MULTILAYER" or (img.source == "FILE" and tuple(img.size) == (0, 0) and img.filepath):
        path = blend_path(img.filepath, f"image '{img.name}'")
        if not os.path.isfile(path):
            raise ValueError(f"image '{img.name}': file not found: {path}")
        return read_layers(path)
    return None


def render_job(op, context, layers: dict, source_name: str, output_name: str = "", passes: str = "") -> jobs.RenderJob:
    """A run on render passes: the first model input gets Combined (or the mapping's pass), the others theirs."""
    if not layers:
        raise ValueError("the render has no passes to read")
    settings = scene_settings(context)
    model = model_job(op, context, sample=next(iter(layers.values())))  # judged on the render itself
    return jobs.RenderJob(
        model=model,
        image=next(iter(layers.values())),
        output_name=output_name or settings.output_name or f"{source_name} ONNX",
        colorspace=scene_linear_name(),
        layers=layers,
        mapping=parse_mapping(passes or settings.pass_mapping),
        source_name=source_name,
        run=run_settings(settings, blender_rgba=True, model_path=model.model_path),
    )


class ONNX_OT_run_render(JobRunner, ModelArgs, bpy.types.Operator):
    """Run the ONNX model on the last render's passes (or a multilayer EXR) and write a new float image"""

    bl_idname = "onnx.run_render"
    bl_label = "Run ONNX Model on Render"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(
        name="EXR",
        description="A multilayer EXR to read; empty uses the last render",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )
    output_name: bpy.props.StringProperty(name="Output", description="Result image; empty uses the scene setting")
    passes: bpy.props.StringProperty(
        name="Passes",
        description="Model input = render pass pairs (e.g. 'albedo=Diffuse Color,normal=Normal'); "
        "empty uses the scene setting",
    )

    def build(self, context) -> jobs.RenderJob:
        if self.filepath:
            path = blend_path(self.filepath, "EXR")
            if not os.path.isfile(path):
                raise ValueError(f"EXR file not found: {path}")
            layers = read_layers(path)
        else:
            layers = save_render_layers(context.scene)
        return render_job(self, context, layers, "Render Result", self.output_name, self.passes)

    def finish(self, context, job, result) -> str:
        return _finish(context, job, result)
