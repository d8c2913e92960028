"""The flicker measure: the current frame against the previous one, the input and the output at the input's
scale, over 10 to 40 thousand pixels."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .records import FlickerMethod, FrameFlicker, FrameState
from .trust import brought_onto, colour_difference
from .warping import sample_at

STATIC_DIFFERENCE = 0.01
"""Without motion vectors, a pixel whose input changes less than this (in c units) is static."""


MEASURE_PIXELS = 10_000
"""The fewest pixels the measure looks at: every n-th pixel of every n-th row, n the largest stride that keeps at
least this many (all pixels of a frame up to 100x100; 10,764 at 1920x1080 and at 3840x2160, every 14th and 28th),
never more than about four times as many. A mean over 10 thousand pixels is as good as over all of them (its
standard error is at most 1% of the pixels' spread), and the measure costs about the same at every size instead of
growing with it."""


def _errors(
    input_difference: NDArray[np.float32],
    cur_out: NDArray[np.float32],
    prev_out: NDArray[np.float32],
    mask: NDArray[np.bool_],
) -> tuple[float, float, int]:
    """The input's error (its `colour_difference`, already at hand) and the output's, over the `mask` pixels."""
    count = int(mask.sum())
    if count == 0:
        return 0.0, 0.0, 0
    e_in = input_difference[mask].mean()
    e_out = colour_difference(cur_out, prev_out)[mask].mean()
    return float(e_in), float(e_out), count


def _output_at(state: FrameState, rows: NDArray[np.float32], cols: NDArray[np.float32]) -> NDArray[np.float32]:
    """The output at input-pixel positions (rows, cols): sampled at those pixels' centres at the output's scale,
    which for a x2 upscaler is the mean of each 2x2 block (an area average, without resampling the whole image)."""
    (h, w), (out_h, out_w) = state.input.shape[:2], state.output.shape[:2]
    at_rows = np.clip((rows + 0.5) * (out_h / h) - 0.5, 0, out_h - 1).astype(np.float32)
    at_cols = np.clip((cols + 0.5) * (out_w / w) - 0.5, 0, out_w - 1).astype(np.float32)
    return sample_at(state.output, at_rows, at_cols)


def _sampled_count(height: int, width: int, stride: int) -> int:
    return -(-height // stride) * -(-width // stride)


def measure_stride(height: int, width: int) -> int:
    """The largest n for which every n-th pixel of every n-th row is at least MEASURE_PIXELS pixels (1 for a frame
    with fewer)."""
    stride = max(1, math.isqrt(height * width // MEASURE_PIXELS))
    while _sampled_count(height, width, stride + 1) >= MEASURE_PIXELS:
        stride += 1
    while stride > 1 and _sampled_count(height, width, stride) < MEASURE_PIXELS:
        stride -= 1
    return stride


def measure(previous: FrameState, current: FrameState) -> FrameFlicker | None:
    """The current frame's flicker against the previous one (None when no pixel can be compared)."""
    h, w = current.input.shape[:2]
    stride = measure_stride(h, w)
    grid = (slice(None, None, stride), slice(None, None, stride))
    rows = np.broadcast_to(np.arange(h, dtype=np.float32)[grid[0], None], current.input[grid].shape[:2])
    cols = np.broadcast_to(np.arange(w, dtype=np.float32)[None, grid[1]], rows.shape)
    cur_in, cur_out = current.input[grid], _output_at(current, rows, cols)
    if current.motion is not None and previous.motion is not None:
        mask, prev_in = brought_onto(previous, current, grid)
        offsets = current.motion.to_previous[grid]
        prev_out = _output_at(previous, rows + offsets[:, :, 0], cols + offsets[:, :, 1])
        method = FlickerMethod.VECTOR
    else:
        prev_in, prev_out = previous.input[grid], _output_at(previous, rows, cols)
        method = FlickerMethod.DIFFERENCE
    input_difference = colour_difference(cur_in, prev_in)
    if method == FlickerMethod.DIFFERENCE:  # without motion: the pixels whose input barely changes
        mask = input_difference < STATIC_DIFFERENCE
    e_in, e_out, count = _errors(input_difference, cur_out, prev_out, mask)
    return FrameFlicker(frame=current.frame, input=e_in, output=e_out, pixels=count, method=method) if count else None
