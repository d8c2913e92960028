"""Tile placement and blending windows for seamless tiled inference.

Every tile has the same shape (a new shape makes cuDNN re-tune). Each tile's weight is zero for the
first quarter of the overlap at an inner edge and ramps smoothly to one by three quarters, so a pixel
near a tile's inner edge is taken from the neighbour that sees it well inside. For a model whose
receptive radius is at most overlap/4, the blend of exact values is exact: tiled equals whole-image.
"""

from __future__ import annotations

import functools

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


def ramps(shape: tuple[int, int], overlap: int, inner: tuple[bool, bool, bool, bool]):
    """Row and column weights of a tile; its window is their outer product. `inner` says which of
    (top, bottom, left, right) borders another tile."""
    return _ramp(shape[0], overlap, inner[0], inner[1]), _ramp(shape[1], overlap, inner[2], inner[3])


def window(shape: tuple[int, int], overlap: int, inner: tuple[bool, bool, bool, bool]) -> np.ndarray:
    rows, cols = ramps(shape, overlap, inner)
    return np.outer(rows, cols)[:, :, None]


def apply_window(tile: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    """Multiply in place by outer(rows, cols), touching only the border bands where a ramp is below
    one: the interior, most of the tile, is left as is."""
    top = int(np.argmax(rows >= 1.0)) if rows[0] < 1.0 else 0
    bottom = int(np.argmax(rows[::-1] >= 1.0)) if rows[-1] < 1.0 else 0
    left = int(np.argmax(cols >= 1.0)) if cols[0] < 1.0 else 0
    right = int(np.argmax(cols[::-1] >= 1.0)) if cols[-1] < 1.0 else 0
    h, w = rows.size, cols.size
    if top:
        tile[:top] *= rows[:top, None, None]
    if bottom:
        tile[h - bottom :] *= rows[h - bottom :, None, None]
    if left:
        tile[:, :left] *= cols[None, :left, None]
    if right:
        tile[:, w - right :] *= cols[None, w - right :, None]


@functools.lru_cache(maxsize=8)
def inverse_weights(
    size: tuple[int, int], tile: tuple[int, int], overlap: int, starts: tuple[tuple, tuple], scale: float
):
    """1 / (sum of all tile windows) at output resolution, per grid geometry: every frame of a
    sequence shares it, so it is computed once."""
    ys, xs = starts
    total = np.zeros((round(size[0] * scale), round(size[1] * scale), 1), np.float32)
    oh, ow = round(tile[0] * scale), round(tile[1] * scale)
    for y in ys:
        for x in xs:
            inner = (y > 0, y + tile[0] < size[0], x > 0, x + tile[1] < size[1])
            oy, ox = round(y * scale), round(x * scale)
            total[oy : oy + oh, ox : ox + ow] += window((oh, ow), round(overlap * scale), inner)
    inverse = 1.0 / np.maximum(total, 1e-12)
    inverse.setflags(write=False)
    return inverse


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad at the bottom and right (edge-pad where the image is too small to reflect)."""
    pad_h, pad_w = height - image.shape[0], width - image.shape[1]
    if pad_h <= 0 and pad_w <= 0:
        return image
    mode = "reflect" if pad_h < image.shape[0] and pad_w < image.shape[1] else "symmetric"
    return np.pad(image, ((0, max(pad_h, 0)), (0, max(pad_w, 0)), (0, 0)), mode=mode)


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
