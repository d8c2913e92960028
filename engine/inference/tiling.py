"""Tile placement, and the two ways tiles become one image.

Every tile has the same shape (a new shape makes cuDNN re-tune). When the overlap holds twice the model's
receptive radius, tiles are cut in the middle of each overlap and copied (`axis_cuts`): every kept pixel saw
its whole neighbourhood, so tiled equals whole-image, with no weighting pass. Otherwise tiles are blended
(`axis_weights`): each tile's weight is zero for a quarter of the overlap at an inner edge and ramps smoothly
to one over the rest, so a pixel near a tile's inner edge comes mostly from the neighbour that sees it inside.
"""

from __future__ import annotations

import functools
import itertools
from typing import Literal

import numpy as np
from numpy.typing import NDArray


def tile_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Starts along one axis; `length - tile` must be a multiple of `multiple`."""
    if tile >= length:
        return [0]
    stride = max(multiple, ((tile - overlap) // multiple) * multiple)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def axis_cuts(length: int, tile: int, starts: tuple[int, ...], scale: float) -> tuple[tuple[int, int], ...]:
    """Per tile along one axis, the output range [lo, hi) it owns: boundaries at the middle of each overlap
    (floored in input pixels, then scaled), so a tile keeps at least half of each overlap's width away from its
    inner edges. The ranges partition the scaled axis."""
    bounds = [0]
    for previous, start in itertools.pairwise(starts):
        bounds.append(round(((previous + tile + start) // 2) * scale))
    bounds.append(round(length * scale))
    return tuple(zip(bounds[:-1], bounds[1:], strict=True))


def _ramp(size: int, overlap: int, inner_start: bool, inner_end: bool) -> NDArray[np.float32]:
    ramp = np.ones(size, np.float32)
    if overlap <= 0:
        return ramp
    pos = np.arange(size, dtype=np.float32)
    zero = overlap / 4.0
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
    length: int, tile: int, overlap: int, starts: tuple[int, ...], scale: float
) -> tuple[NDArray[np.float32], ...]:
    """Per tile along one axis, at output resolution: its ramp divided by the sum of all ramps there.

    Every tile of a grid row shares its row ramp and every tile of a column its column ramp, so the
    total weight is (sum of row ramps) x (sum of column ramps): dividing each axis by its own sum
    normalizes the blend exactly, and no pass over the whole image is needed afterwards. Cached:
    every frame of a sequence has the same grid."""
    size, out_overlap = round(tile * scale), round(overlap * scale)
    ramps = [_ramp(size, out_overlap, start > 0, start + tile < length) for start in starts]
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


def _bands(weights: NDArray[np.float32]) -> tuple[int, int]:
    """Lengths of the leading and trailing runs below one; the whole axis when the ones are not one
    contiguous interior (a tile heavily overlapped by the shifted last tile may have no interior)."""
    full = np.flatnonzero(weights >= 1.0)
    if full.size == 0 or full.size != full[-1] - full[0] + 1:
        return weights.size, 0
    return int(full[0]), int(weights.size - 1 - full[-1])


def apply_window(tile: NDArray[np.float32], rows: NDArray[np.float32], cols: NDArray[np.float32]) -> None:
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


def blend_into(result: NDArray[np.float32], tile: NDArray[np.float32], oy: int, ox: int, top: int, left: int) -> None:
    """Add a weighted tile to the result where earlier tiles already wrote (the `top` rows, then the
    `left` columns below them) and assign elsewhere: tiles go in raster order, so the result needs
    no zero-filling, and each page of a fresh result is touched once."""
    h, w = tile.shape[:2]
    if top:
        result[oy : oy + top, ox : ox + w] += tile[:top]
    if left:
        result[oy + top : oy + h, ox : ox + left] += tile[top:, :left]
    result[oy + top : oy + h, ox + left : ox + w] = tile[top:, left:]


def pad_to(image: NDArray[np.float32], height: int, width: int) -> NDArray[np.float32]:
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
