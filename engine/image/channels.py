"""Matching an image's channels to what a model input wants, and image arrays to model tensors."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..errors import ImageError
from ..model.records import TensorInfo
from .alpha import has_transparency
from .bands import contiguous_copy, copy_channels, in_bands, planar_copy

# Rec.709 luma, the weights Blender uses for scene-linear grey.
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def split_alpha(image: NDArray[np.float32], wanted: int) -> tuple[NDArray[np.float32], NDArray[np.float32] | None, str]:
    """Map HxWxC (C 1-4) to HxWx`wanted` colour channels; returns (colour, alpha or None, note)."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or not 1 <= image.shape[2] <= 4:
        raise ImageError(f"expected an HxWxC image with 1-4 channels, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError("the image is empty (0 pixels)")
    have = image.shape[2]
    alpha = image[:, :, 3].copy() if have == 4 else (image[:, :, 1].copy() if have == 2 else None)
    colour = image[:, :, :3] if have >= 3 else image[:, :, :1]
    got = colour.shape[2]
    if wanted == got:
        note = "alpha kept aside and carried through" if has_transparency(alpha) else ""
        return colour, alpha, note
    if wanted == 3 and got == 1:
        return np.repeat(colour, 3, axis=2), alpha, "grey image repeated into RGB for the model"
    if wanted == 1 and got == 3:
        return (colour @ _LUMA)[:, :, None], alpha, "RGB image reduced to luminance for the model"
    if wanted == 4 and have == 4:
        return image, None, "RGBA fed to a 4-channel model"
    raise ImageError(f"model input expects {wanted} channels, the image has {have}: choose a matching image or pass")


def to_tensor(hwc: NDArray[np.float32], info: TensorInfo) -> NDArray[np.generic]:
    """HxWxC float32 to the model's 1-batch layout and dtype, contiguous."""
    dtype = np.dtype(info.dtype)
    if info.layout == "NCHW":
        return planar_copy(hwc, dtype)[None]  # a transposing copy, on every core
    if hwc.flags.c_contiguous and hwc.dtype == dtype:
        return hwc[None]
    # Usually a strided view (RGB of Blender's RGBA, rows reversed): copied on every core.
    return contiguous_copy(hwc, dtype)[None]


def from_tensor(tensor: NDArray[np.generic], layout: str) -> NDArray[np.float32]:
    """A 1-batch model output to HxWxC float32."""
    hwc = tensor[0].transpose(1, 2, 0) if layout == "NCHW" else tensor[0]
    return np.asarray(hwc, dtype=np.float32)


def to_rgba(
    colour: NDArray[np.float32], alpha: NDArray[np.float32] | None = None, bottom_up: bool = False
) -> NDArray[np.float32]:
    """HxWxC (C 1-4) and an optional HxW alpha to a new contiguous HxWx4 float32, in one pass: grey
    repeated into RGB, missing alpha set to 1, rows reversed when `bottom_up` (Blender's order)."""
    if colour.ndim == 2:
        colour = colour[:, :, None]
    h, w, _ = colour.shape
    out = np.empty((h, w, 4), np.float32)

    def band(top: int, end: int) -> None:
        rows = out[h - end : h - top][::-1] if bottom_up else out[top:end]
        _fill_rgba(rows, colour[top:end], None if alpha is None else alpha[top:end])

    in_bands(h, h * w, band)
    return out


def _fill_rgba(rows: NDArray[np.float32], colour: NDArray[np.float32], alpha: NDArray[np.float32] | None) -> None:
    c = colour.shape[2]
    if c in (1, 2):
        for k in range(3):
            rows[:, :, k] = colour[:, :, 0]
    else:
        copy_channels(rows[:, :, : min(c, 4)], colour[:, :, :4])
    if alpha is not None:
        rows[:, :, 3] = alpha
    elif c in (1, 3):
        rows[:, :, 3] = 1.0
    elif c == 2:
        rows[:, :, 3] = colour[:, :, 1]
