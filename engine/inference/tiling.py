"""Tile placement and blending windows for seamless tiled inference.

Every tile has the same shape (a new shape makes cuDNN re-tune). Each tile's weight is zero for a margin at
an inner edge and ramps smoothly to one by the overlap minus that margin, so a pixel near a tile's inner edge
is taken from the neighbour that sees it well inside. The margin is the model's receptive radius when it is
known (a tile's outer `radius` pixels are the only ones that differ from the whole image, so they get no
weight), else a quarter of the overlap. Either way, when the margin covers the radius the blend of exact
values is exact: tiled equals whole-image.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np


def tile_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Starts along one axis; `length - tile` must be a multiple of `multiple`."""
    if tile >= length:
        return [0]
    stride = max(multiple, ((tile - overlap) // multiple) * multiple)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(size: int, overlap: int, inner_start: bool, inner_end: bool, margin: float | None) -> np.ndarray:
    ramp = np.ones(size, np.float32)
    if overlap <= 0:
        return ramp
    pos = np.arange(size, dtype=np.float32)
    zero = overlap / 4.0 if margin is None else margin
    full = overlap - zero
    rising = np.clip((pos + 0.5 - zero) / (full - zero), 0.0, 1.0)
    smooth = 0.5 - 0.5 * np.cos(np.pi * rising)
    if inner_start:
        ramp *= smooth
    if inner_end:
        ramp *= smooth[::-1]
    return ramp


@functools.lru_cache(maxsize=16)
def axis_weights(
    length: int, tile: int, overlap: int, starts: tuple[int, ...], scale: float, margin: int | None = None
) -> tuple:
    """Per tile along one axis, at output resolution: its ramp divided by the sum of all ramps there. `margin`
    (input pixels; None: a quarter of the overlap) is the zero-weight band at an inner edge.

    Every tile of a grid row shares its row ramp and every tile of a column its column ramp, so the
    total weight is (sum of row ramps) x (sum of column ramps): dividing each axis by its own sum
    normalizes the blend exactly, and no pass over the whole image is needed afterwards. Cached:
    every frame of a sequence has the same grid."""
    size, out_overlap = round(tile * scale), round(overlap * scale)
    out_margin = None if margin is None else margin * scale
    ramps = [_ramp(size, out_overlap, start > 0, start + tile < length, out_margin) for start in starts]
    total = np.zeros(round(length * scale), np.float32)
    for start, ramp in zip(starts, ramps, strict=True):
        total[round(start * scale) : round(start * scale) + size] += ramp
    weights = []
    for start, ramp in zip(starts, ramps, strict=True):
        offset = round(start * scale)
        normalized = ramp / np.maximum(total[offset : offset + size], 1e-12)
        normalized.setflags(write=False)
        weights.append(normalized)
    return tuple(weights)


def _bands(weights: np.ndarray) -> tuple[int, int]:
    """Lengths of the leading and trailing runs below one; the whole axis when the ones are not one
    contiguous interior (a tile heavily overlapped by the shifted last tile may have no interior)."""
    full = np.flatnonzero(weights >= 1.0)
    if full.size == 0 or full.size != full[-1] - full[0] + 1:
        return weights.size, 0
    return int(full[0]), int(weights.size - 1 - full[-1])


def apply_window(tile: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    """Multiply in place by outer(rows, cols), touching only the bands where a weight is below one:
    the interior, most of the tile, is left as is."""
    h, w = rows.size, cols.size
    top, bottom = _bands(rows)
    left, right = _bands(cols)
    if top:
        tile[:top] *= rows[:top, None, None]
    if bottom:
        tile[h - bottom :] *= rows[h - bottom :, None, None]
    if left:
        tile[:, :left] *= cols[None, :left, None]
    if right:
        tile[:, w - right :] *= cols[None, w - right :, None]


def blend_into(result: np.ndarray, tile: np.ndarray, oy: int, ox: int, top: int, left: int) -> None:
    """Add a weighted tile to the result where earlier tiles already wrote (the `top` rows, then the
    `left` columns below them) and assign elsewhere: tiles go in raster order, so the result needs
    no zero-filling, and each page of a fresh result is touched once."""
    h, w = tile.shape[:2]
    if top:
        result[oy : oy + top, ox : ox + w] += tile[:top]
    if left:
        result[oy + top : oy + h, ox : ox + left] += tile[top:, :left]
    result[oy + top : oy + h, ox + left : ox + w] = tile[top:, left:]


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad at the bottom and right (edge-pad where the image is too small to reflect)."""
    pad_h, pad_w = height - image.shape[0], width - image.shape[1]
    if pad_h <= 0 and pad_w <= 0:
        return image
    mode: Literal["reflect", "symmetric"] = (
        "reflect" if pad_h < image.shape[0] and pad_w < image.shape[1] else "symmetric"
    )
    return np.pad(image, ((0, max(pad_h, 0)), (0, max(pad_w, 0)), (0, 0)), mode=mode)


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
