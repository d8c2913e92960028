"""The `resize` fit's resampling: an area filter going down (every input pixel counts by the area it covers,
so no aliasing), a smooth (linear, tent) filter going up (no blocks, no overshoot, so masks stay in
[0, 1]). Values are resampled as given: the pipeline hands it linear light, before the model's colour
encoding and after its decoding."""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray


@functools.lru_cache(maxsize=32)
def axis_matrix(source: int, target: int) -> NDArray[np.float32]:
    """A target x source matrix whose rows sum to one: output = matrix @ input along one axis."""
    if source == target:
        return np.eye(target, dtype=np.float32)
    matrix = np.zeros((target, source), np.float64)
    if target < source:
        # Area: output pixel i covers [i, i+1) * source/target input pixels.
        step = source / target
        for i in range(target):
            start, end = i * step, (i + 1) * step
            first, last = int(np.floor(start)), min(source, int(np.ceil(end)))
            for j in range(first, last):
                matrix[i, j] = min(end, j + 1) - max(start, j)
    else:
        # Tent: pixel centres aligned, edges clamped.
        centres = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
        low = np.floor(centres).astype(int)
        high = np.minimum(low + 1, source - 1)
        frac = centres - low
        matrix[np.arange(target), low] += 1 - frac
        matrix[np.arange(target), high] += frac
    matrix /= matrix.sum(axis=1, keepdims=True)
    result = matrix.astype(np.float32)
    result.setflags(write=False)
    return result


def resample(image: NDArray[np.float32], height: int, width: int) -> NDArray[np.float32]:
    """HxW or HxWxC float image resampled to `height` x `width` (area down, tent up, per axis). Always a new array,
    even at the same size: the input may be a runner's reused output buffer, which the next run overwrites."""
    squeeze = image.ndim == 2
    array = (
        np.array(image, np.float32, copy=True) if image.shape[:2] == (height, width) else np.asarray(image, np.float32)
    )
    if squeeze:
        array = array[:, :, None]
    h, w, c = array.shape
    if (h, w) != (height, width):
        rows = axis_matrix(h, height)
        cols = axis_matrix(w, width)
        array = (rows @ array.reshape(h, w * c)).reshape(height, w, c)
        array = np.matmul(array.transpose(0, 2, 1), cols.T).transpose(0, 2, 1)
    array = np.ascontiguousarray(array, np.float32)
    return array[:, :, 0] if squeeze else array
