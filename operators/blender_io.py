"""Pixels between Blender image datablocks and top-down numpy arrays (main thread only).

Blender stores rows bottom-up; the engine works top-down. Only `foreach_get`/`foreach_set` are used:
the `pixels[:]` slice forms are hundreds of times slower.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..engine import WorkingSpace
from .settings import working_space

NON_COLOR = "Non-Color"
# Custom property on images this extension made: handlers.pack_results packs them before a save.
RESULT_MARK = "onnx_image_runtime_result"
LINEAR = "Linear Rec.709"
# Linear colour spaces a byte image may be in, whose values Blender moves into the working space by a matrix.
LINEAR_SPACES = {LINEAR: WorkingSpace.REC709, "Linear Rec.2020": WorkingSpace.REC2020, "ACEScg": WorkingSpace.ACESCG}


def is_data(img: bpy.types.Image) -> bool:
    """Whether the image holds data, not colour (Non-Color: normals, masks): never converted between spaces."""
    return bool(img.colorspace_settings.is_data)


def scene_linear_name() -> str:
    """The colour space name of scene-linear pixels in this file: its working space (Blender 5.0 and later)."""
    return getattr(getattr(bpy.data, "colorspace", None), "working_space", "") or LINEAR


def read_pixels(img: bpy.types.Image) -> np.ndarray:
    """HxWxC float32, top-down, scene-linear in the file's working space (or raw data for Non-Color images).
    Never modifies `img`.

    A top-down view (negative row stride) of a fresh buffer, not a copy: the engine copies anyway as
    it builds its tensors, and a 1080p RGBA copy costs about 5 ms."""
    w, h = img.size
    channels = img.channels
    if w == 0 or h == 0 or channels == 0:
        raise ValueError(f"image '{img.name}' has no pixels (is it loaded, or a render result?)")
    buf = np.empty(w * h * channels, np.float32)
    img.pixels.foreach_get(buf)
    array = buf.reshape(h, w, channels)[::-1]
    if not img.is_float and not is_data(img):
        # Float buffers are in the working space already (Blender converts them on load); byte buffers keep the
        # file's encoded values.
        array = _byte_to_scene_linear(array, img.colorspace_settings.name)
    if not img.is_float and channels == 4 and img.alpha_mode == "STRAIGHT":
        # Byte buffers keep the file's straight alpha; float buffers are premultiplied already. The engine's
        # one rule (engine/image/alpha.py): premultiplied colour in, so hidden colour cannot bleed.
        from ..engine import premultiply

        array = premultiply(array)
    return array


def _byte_to_scene_linear(array: np.ndarray, colorspace: str) -> np.ndarray:
    """A byte image's values as scene-linear colour in the working space, the engine's input: sRGB decoded (to
    linear Rec.709, its primaries), a linear space moved by its matrix. Other spaces (log, display encodings)
    are passed as stored."""
    from ..engine import from_rec709, srgb_to_linear, to_rec709

    if colorspace == "sRGB":
        linear = array.copy()
        linear[:, :, :3] = srgb_to_linear(array[:, :, :3])
        return from_rec709(linear, working_space())
    if colorspace in LINEAR_SPACES:
        return from_rec709(to_rec709(array, LINEAR_SPACES[colorspace]), working_space())
    return array


def output_colorspace(img: bpy.types.Image | None) -> str:
    """A result's colour space: Non-Color for a data source, else the working space, which its float pixels are
    in (labelled otherwise, a packed result would come back converted when the file is opened again)."""
    return NON_COLOR if img is not None and is_data(img) else scene_linear_name()


def _ours(img: bpy.types.Image, protect: str) -> bool:
    return img.name != protect and bool(img.get(RESULT_MARK, False))


def result_target(name: str, protect: str = "") -> tuple[str, bpy.types.Image | None]:
    """The name a result called `name` is written under, and the previous result there (or None)."""
    candidates = [name, f"{name} ONNX"]
    for candidate in candidates + [f"{name} ONNX.{i:03d}" for i in range(1, 1000)]:
        existing = bpy.data.images.get(candidate)
        if existing is None or _ours(existing, protect):
            return candidate, existing
    raise ValueError(f"no free image name for the result '{name}': rename or remove old results")


def write_image(name: str, array: np.ndarray, colorspace: str, protect: str = "") -> bpy.types.Image:
    """Write a result in Blender's layout (HxWx4 float32, rows bottom-up: an engine result made with
    `RunSettings(blender_rgba=True)`) into a float image called `name`, marked as a result so it is
    packed when the .blend is saved (see handlers.pack_results: packing a 4K float image costs
    about 0.2 s, which a run should not pay for an image that may never be saved).

    An existing image is written into only when it is a previous result of this extension (a float
    image of the same size is reused, another one replaced); an unrelated image of that name (an
    unsaved painting) and the image named `protect` (the source) are never touched: the result goes
    to the first of '<name> ONNX', '<name> ONNX.001', ... that is free or a previous result.
    """
    h, w = array.shape[:2]
    # No NaN/Inf check here: engine.inference.pipeline.run_image refuses non-finite results before they get here.
    if array.ndim != 3 or array.shape[2] != 4 or array.dtype != np.float32 or not array.flags.c_contiguous:
        raise ValueError("write_image takes Blender's layout: RGBA float32, rows bottom-up (RunSettings.blender_rgba)")
    rgba = array.reshape(-1)
    name, existing = result_target(name, protect)
    if existing is not None and (tuple(existing.size) != (w, h) or not existing.is_float or existing.channels != 4):
        bpy.data.images.remove(existing)
        existing = None
    created = existing is None
    img = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True) if created else existing
    try:
        # Before the pixels: changing the colour space afterwards resets an unsaved image to black.
        if img.colorspace_settings.name != colorspace:
            img.colorspace_settings.name = colorspace
        # Blender keeps float buffers premultiplied; declared STRAIGHT (the default), a saved and
        # reloaded result comes back multiplied by alpha a second time.
        if img.alpha_mode != "PREMUL":
            img.alpha_mode = "PREMUL"
        img.pixels.foreach_set(rgba)
        img.update()
        img[RESULT_MARK] = True
        # A result has no users yet (nothing displays it in background mode): keep it in the file.
        img.use_fake_user = True
    except Exception:
        if created:
            bpy.data.images.remove(img)
        raise
    return img
