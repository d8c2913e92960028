"""Whole-image passes split into row bands and run on every core.

numpy copies and reductions run on one core, and release the GIL while they do, so a pass over a 4K float
image split into row bands runs on all of them: the RGBA interleave went from 137 to 67 ms on 2 cores. Small
images stay on the calling thread, where a pool's hand-offs would cost more than they save.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

PARALLEL_PIXELS = 1 << 20
_POOL: ThreadPoolExecutor | None = None
_T = TypeVar("_T")
_Scalar = TypeVar("_Scalar", bound=np.generic)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="onnx-bands")
    return _POOL


def in_bands(height: int, pixels: int, band: Callable[[int, int], _T]) -> list[_T]:
    """`band(top, end)` over rows [top, end) covering `height`, in parallel when the image has `pixels` of at
    least PARALLEL_PIXELS; returns each band's result in row order."""
    count = (os.cpu_count() or 1) * 2 if pixels >= PARALLEL_PIXELS else 1
    step = max(1, -(-height // count))
    starts = range(0, height, step)
    if len(starts) <= 1:
        return [band(0, height)]
    return list(_pool().map(lambda top: band(top, min(height, top + step)), starts))


def _pixels(array: NDArray[np.generic]) -> int:
    """Pixels of an HxW or HxWxC array."""
    return array.size // (array.shape[2] if array.ndim > 2 else 1)


def all_finite(array: NDArray[np.generic]) -> bool:
    """No NaN or Inf in an HxW(xC) array. One reduction per band: NaN and Inf propagate through a sum, summed in
    float32 (4x cheaper than float64 at 4K); a sum that overflows only sends the caller to its exact per-pixel
    count, which then finds nothing."""
    if array.size == 0:
        return True
    sums = in_bands(array.shape[0], _pixels(array), lambda top, end: array[top:end].sum(dtype=np.float32))
    return bool(np.isfinite(np.sum(sums, dtype=np.float32)))


BLOCK_BYTES = 768 << 10
"""Rows copied channel by channel at a time: small enough that the destination rows stay in cache between the
channels' passes (4K from NCHW planes on one core: 39 ms unblocked, 22 ms in blocks of 16 rows)."""


def copy_channels(dst: NDArray[np.generic], src: NDArray[np.generic]) -> None:
    """dst[...] = src for HxWxC arrays of a few channels, one channel at a time in blocks of rows: numpy's own
    copy runs its inner loop over the last axis, 1-4 values long here, and is 2-4x slower (4K from a model's
    NCHW planes: 93 ms) than C passes whose inner loop runs along a row."""
    rows = max(1, BLOCK_BYTES // max(1, dst[:1].nbytes))
    for top in range(0, src.shape[0], rows):
        for c in range(src.shape[-1]):
            np.copyto(dst[top : top + rows, ..., c], src[top : top + rows, ..., c], casting="unsafe")


def contiguous_copy(array: NDArray[np.generic], dtype: np.dtype[_Scalar]) -> NDArray[_Scalar]:
    """A C-contiguous copy of an HxW or HxWxC array (rows split in bands), cast to `dtype`."""
    out = np.empty(array.shape, dtype)

    def band(top: int, end: int) -> None:
        if array.ndim == 3 and array.shape[2] <= 4:
            copy_channels(out[top:end], array[top:end])
        else:
            np.copyto(out[top:end], array[top:end], casting="unsafe")

    in_bands(array.shape[0], _pixels(array), band)
    return out


def planar_copy(hwc: NDArray[np.generic], dtype: np.dtype[_Scalar]) -> NDArray[_Scalar]:
    """HxWxC to a new contiguous CxHxW (a model's NCHW planes) cast to `dtype`, rows split in bands."""
    h, w, c = hwc.shape
    out = np.empty((c, h, w), dtype)

    def band(top: int, end: int) -> None:
        np.copyto(out[:, top:end], hwc[top:end].transpose(2, 0, 1), casting="unsafe")

    in_bands(h, h * w, band)
    return out
