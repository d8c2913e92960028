"""The one alpha rule: the engine works on premultiplied (associated) colour.

Straight-alpha sources (8/16-bit PNG and TIFF files, Blender byte images with alpha_mode STRAIGHT) are
premultiplied on the way in, in scene-linear, right after sRGB decoding; float sources (EXR, Blender
float buffers) are premultiplied already. Why on the way in rather than premultiplying the model's
output: an upscaler or a denoiser mixes neighbouring pixels, and on straight colour the colour hidden
under alpha 0 (often garbage: magenta, the last paint stroke) would be mixed into the visible edge
pixels and glow when composited. On premultiplied colour a transparent pixel is (0,0,0,0) and weighs
nothing, so soft edges stay right. Files that store straight alpha get it back on the way out
(`unpremultiply` before sRGB encoding).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def _alpha_index(channels: int) -> int | None:
    return 3 if channels == 4 else (1 if channels == 2 else None)


def premultiply(image: NDArray[np.float32]) -> NDArray[np.float32]:
    """HxWxC with straight alpha (C 2 or 4) -> a new float32 array with colour multiplied by alpha (a copy
    when there is no alpha)."""
    out = np.array(image, np.float32, copy=True)
    a = _alpha_index(out.shape[2]) if out.ndim == 3 else None
    if a is None:
        return out
    out[:, :, :a] *= out[:, :, a : a + 1]
    return out


def unpremultiply(image: NDArray[np.float32]) -> NDArray[np.float32]:
    """The inverse of `premultiply` where alpha > 0 (a new array); fully transparent pixels get colour 0."""
    out = np.array(image, np.float32, copy=True)
    a = _alpha_index(out.shape[2]) if out.ndim == 3 else None
    if a is None:
        return out
    alpha = out[:, :, a : a + 1]
    np.divide(out[:, :, :a], alpha, out=out[:, :, :a], where=alpha > 0)
    out[:, :, :a] = np.where(alpha > 0, out[:, :, :a], 0.0)
    return out


def has_transparency(alpha: NDArray[np.float32] | None) -> bool:
    """True when some pixel is not fully opaque (an all-1 alpha channel is no alpha worth mentioning)."""
    return alpha is not None and bool((alpha < 1.0).any())
