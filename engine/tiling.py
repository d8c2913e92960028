"""Tile placement and blending windows for seamless tiled inference.

Every tile has the same shape (a new shape makes cuDNN re-tune). Each tile's weight is zero for the
first quarter of the overlap at an inner edge and ramps smoothly to one by three quarters, so a pixel
near a tile's inner edge is taken from the neighbour that sees it well inside. For a model whose
receptive radius is at most overlap/4, the blend of exact values is exact: tiled equals whole-image.
"""

from __future__ import annotations

import numpy as np


def tile_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Starts along one axis; `length - tile` must be a multiple of `multiple`."""
    if tile >= length:
        return [0]
    stride = max(multiple, ((tile - overlap) // multiple) * multiple)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(size: int, overlap: int, inner_start: bool, inner_end: bool) -> np.ndarray:
    ramp = np.ones(size, np.float32)
    if overlap <= 0:
        return ramp
    pos = np.arange(size, dtype=np.float32)
    zero, full = overlap / 4.0, overlap * 3.0 / 4.0
    rising = np.clip((pos + 0.5 - zero) / (full - zero), 0.0, 1.0)
    smooth = 0.5 - 0.5 * np.cos(np.pi * rising)
    if inner_start:
        ramp *= smooth
    if inner_end:
        ramp *= smooth[::-1]
    return ramp


def window(shape: tuple[int, int], overlap: int, inner: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """HxW weights for a tile; `inner` says which of (top, bottom, left, right) borders another tile."""
    rows = _ramp(shape[0], overlap, inner[0], inner[1])
    cols = _ramp(shape[1], overlap, inner[2], inner[3])
    return np.outer(rows, cols)[:, :, None]


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad at the bottom and right (edge-pad where the image is too small to reflect)."""
    pad_h, pad_w = height - image.shape[0], width - image.shape[1]
    if pad_h <= 0 and pad_w <= 0:
        return image
    mode = "reflect" if pad_h < image.shape[0] and pad_w < image.shape[1] else "symmetric"
    return np.pad(image, ((0, max(pad_h, 0)), (0, max(pad_w, 0)), (0, 0)), mode=mode)


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
