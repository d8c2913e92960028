"""Pictures brought from the previous frame onto the current one by the motion: bilinear samples at a few pixels
(the measure's), whole frames by onnxruntime's GridSample (the trust's), the output-size grid (the blend's), and
the rule that what stands still is not warped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .graphs import grid_sample
from .records import Motion

_ROWS_AT_ONCE = 32
"""Rows sampled per step: the temporaries of a few rows stay in the CPU's cache (twice as fast as whole images)."""


def _gatherer(image: NDArray[np.float32]) -> Callable[[NDArray[np.integer[Any]]], NDArray[np.float32]]:
    """A function index -> pixels (index.shape + (C,)) over `image` flattened without copying it where it can be:
    pixel-interleaved (C-contiguous) as rows of one array, channel-planar (a model's NCHW result seen as HxWxC)
    plane by plane."""
    h, w, c = image.shape
    if image.flags.c_contiguous:
        flat = image.reshape(h * w, c)
        return lambda index: flat.take(index, axis=0)
    planes = [image[:, :, k] for k in range(c)]
    if all(plane.flags.c_contiguous for plane in planes):
        rows = [plane.reshape(-1) for plane in planes]
        return lambda index: np.stack([plane.take(index) for plane in rows], axis=-1)
    flat = np.ascontiguousarray(image).reshape(h * w, c)
    return lambda index: flat.take(index, axis=0)


def sample_at(image: NDArray[np.float32], rows: NDArray[np.float32], cols: NDArray[np.float32]) -> NDArray[np.float32]:
    """`image` (HxWxC) at fractional (rows, cols) inside it (2-D arrays), bilinear: four gathers from the flattened
    image (one `take` each: several times faster than 2-D fancy indexing), a few rows at a time."""
    h, w, c = image.shape
    gather = _gatherer(image)
    right, down = (1 if w > 1 else 0), (w if h > 1 else 0)
    out = np.empty((*rows.shape, c), np.float32)
    for start in range(0, rows.shape[0], _ROWS_AT_ONCE):
        r, q = rows[start : start + _ROWS_AT_ONCE], cols[start : start + _ROWS_AT_ONCE]
        r0 = np.minimum(r.astype(np.int32), max(h - 2, 0))
        c0 = np.minimum(q.astype(np.int32), max(w - 2, 0))
        fr, fc = (r - r0)[..., None], (q - c0)[..., None]
        index = r0 * w + c0
        top = gather(index)
        top += fc * (gather(index + right) - top)
        bottom = gather(index + down)
        bottom += fc * (gather(index + down + right) - bottom)
        top += fr * (bottom - top)
        out[start : start + _ROWS_AT_ONCE] = top
    return out


STILL_BAND_ROWS = 64
"""Input rows the trust's warp looks at a time for motion: a band where nothing moved is taken as it is."""


def _still(offsets: NDArray[np.float32]) -> bool:
    """Nothing in these pixels moved: Blender writes exact zeros in the Vector pass for what stands still (a
    locked-off shot's background), so each such pixel is its own sample and a warp of it is skipped."""
    return not offsets.any()


def warp_all(
    images: Sequence[NDArray[np.float32]], offsets: NDArray[np.float32], grid: tuple[slice, slice] | None = None
) -> tuple[list[NDArray[np.float32]], NDArray[np.bool_]]:
    """Each of `images` (HxWxC, the same HxW) sampled (bilinear) at each pixel + `offsets` (HxWx2 rows, columns):
    the previous frame brought onto the current one; with `grid` (row and column slices), only at those pixels.
    Returns (warped, inside), `inside` marking samples within the image. A whole frame is warped by onnxruntime,
    all the images in one GridSample over their channels (`_grid_sample`), except bands of rows that are `_still`
    (a still frame is the images themselves); a grid's few pixels are sampled here."""
    h, w = images[0].shape[:2]
    bands = [slice(top, top + STILL_BAND_ROWS) for top in range(0, h, STILL_BAND_ROWS)]
    moving = [not _still(offsets[band]) for band in bands] if grid is None else []
    if grid is None and not any(moving):
        return list(images), np.ones((h, w), bool)
    region = grid or (slice(None), slice(None))
    rows = np.arange(h, dtype=np.float32)[region[0], None] + offsets[region][:, :, 0]
    cols = np.arange(w, dtype=np.float32)[None, region[1]] + offsets[region][:, :, 1]
    inside = (rows >= 0) & (rows <= h - 1) & (cols >= 0) & (cols <= w - 1)
    np.clip(rows, 0, h - 1, out=rows)
    np.clip(cols, 0, w - 1, out=cols)
    if grid is not None:
        return [sample_at(image, rows, cols) for image in images], inside
    # Channel-planar and C-contiguous, made once: onnxruntime copies an input that is not contiguous on every run
    # (numpy's concatenate of transposed views keeps their layout), once per band here.
    stack = np.empty((sum(image.shape[2] for image in images), h, w), np.float32)
    np.concatenate([image.transpose(2, 0, 1) for image in images], axis=0, out=stack)
    if all(moving):
        sampled = _grid_sample(stack, rows, cols)
    else:  # the moving bands warped, the still ones as they are (a locked-off shot with something moving in it)
        sampled = np.empty_like(stack)
        for band, moved in zip(bands, moving, strict=True):
            sampled[:, band] = _grid_sample(stack, rows[band], cols[band]) if moved else stack[:, band]
    splits = np.cumsum([image.shape[2] for image in images])[:-1]
    return np.split(sampled.transpose(1, 2, 0), splits, axis=2), inside


def warp(
    image: NDArray[np.float32], offsets: NDArray[np.float32], grid: tuple[slice, slice] | None = None
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """One image through `warp_all`: (warped, inside)."""
    warped, inside = warp_all([image], offsets, grid)
    return warped[0], inside


def _grid_sample(
    planar: NDArray[np.float32], rows: NDArray[np.float32], cols: NDArray[np.float32]
) -> NDArray[np.float32]:
    """`planar` (CxHxW) at fractional (rows, cols) inside it (arrays of the result's shape), bilinear, by onnxruntime:
    CxRxS."""
    h, w = planar.shape[1:]
    grid = np.empty((*rows.shape, 2), np.float32)  # GridSample's (x, y), in -1..1 with align_corners
    np.multiply(cols, np.float32(2 / max(w - 1, 1)), out=grid[..., 0])
    np.multiply(rows, np.float32(2 / max(h - 1, 1)), out=grid[..., 1])
    grid -= 1
    return grid_sample(planar, grid)


def _output_grid(motion: Motion, factor: int, rows: slice) -> NDArray[np.float32]:
    """Rows `rows` (whole blocks) of GridSample's grid (x, y in -1..1) that brings an image at the output's size from
    the previous frame onto the current one: output pixel (r f + i, c f + j) of input pixel (r, c) follows that
    pixel's motion, `factor` times larger. Built at the input's size and spread over each factor x factor block in
    passes along whole rows (the 5-D broadcast it replaces ran numpy's inner loops over 2 values); positions
    outside the frame are left to GridSample's border padding, which clamps them as a clip would. Built a band at
    a time as the blend runs (graphs.py), so the whole frame's grid (66 MB at 3840x2160) is never made."""
    h, w = motion.to_previous.shape[:2]
    big_h, big_w = h * factor, w * factor
    blocks = slice(rows.start // factor, rows.stop // factor)
    to_previous = motion.to_previous[blocks]
    sx, sy = np.float32(2 / max(big_w - 1, 1)), np.float32(2 / max(big_h - 1, 1))
    within = np.arange(factor, dtype=np.float32)
    f = np.float32(factor)
    x = (np.arange(w, dtype=np.float32)[None, :] + to_previous[:, :, 1]) * (f * sx) - 1  # h x w, at j = 0
    y = (np.arange(h, dtype=np.float32)[blocks, None] + to_previous[:, :, 0]) * (f * sy) - 1  # h x w, at i = 0
    grid = np.empty((len(to_previous), factor, big_w, 2), np.float32)
    across = np.repeat(x, factor, axis=1) + np.tile(within * sx, w)[None, :]  # h x W: x depends on r, c and j
    grid[:, :, :, 0] = across[:, None, :]
    down = y[:, None, :] + (within * sy)[None, :, None]  # h x f x w: y depends on r, i and c
    grid[:, :, :, 1] = np.repeat(down, factor, axis=2)
    return grid.reshape(-1, big_w, 2)


def band_grid(motion: Motion, factor: int, rows: slice) -> NDArray[np.float32] | None:
    """`_output_grid`'s rows `rows`, or None where they are `_still`, for the blend to take the earlier outputs'
    rows as they are."""
    still = _still(motion.to_previous[rows.start // factor : rows.stop // factor])
    return None if still else _output_grid(motion, factor, rows)


def planar(image: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.ascontiguousarray(image.transpose(2, 0, 1))  # no copy for a model's channel-planar result
