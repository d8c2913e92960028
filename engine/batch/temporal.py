"""Temporal stability of a post-processed sequence: how much the model makes it flicker, and a blend that keeps it
from doing so.

Flicker is measured frame against previous frame, for the input and for the output at the input's scale (an
upscaler's output is area-averaged down), so the ratio output / input says what the model added: about 1 for a
model that adds no flicker of its own, more for one that shimmers.

- **vector** (the frames carry Blender's Vector pass): the previous frame is warped onto the current one by the
  motion vectors and compared on the pixels the warp can be trusted for: the vectors agree both ways (the current
  pixel's motion to the previous frame and that point's motion back to the next frame differ by at most
  `CONSISTENT_PX`), and where Depth is present, the warped depth is within `DEPTH_TOLERANCE` of the current one.
  Those tests find what the previous frame did not show (occlusion).
- **difference** (no Vector pass): the frame-to-frame difference, on the pixels where the input barely changes
  (`STATIC_DIFFERENCE`): what changes there in the output is the model's own flicker.

A frame's error is the mean over those pixels of the absolute difference of c(x) = x / (1 + x), per colour
channel, of the linear values (c keeps HDR highlights from outweighing the rest, as a display would); the
sequence's figures are the means over its frames; ratio = (output + EPSILON) / (input + EPSILON), so an input
that does not change at all and an output that does not either give 1.

Blender's Vector pass (checked on a Cycles render: tests/blender/test_temporal.py) holds, per pixel, in pixels
with y up: X, Y = position in the previous frame - position now; Z, W = position now - position in the next
frame. Arrays here are top-down, so a row offset is -y.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..json_values import (
    Json,
    float_to_json,
    int_from_json,
    int_key_from_json,
    ints_from_json,
    number_from_json,
    object_from_json,
    str_from_json,
)
from .warp_graphs import BlendGraphs, grid_sample

CONSISTENT_PX = 0.5
"""Most a pixel's forward and backward motion may disagree, in pixels, for the warp to be trusted."""
DEPTH_TOLERANCE = 0.05
"""Most the warped previous depth may differ from the current one, relative to it."""
STATIC_DIFFERENCE = 0.01
"""Without motion vectors, a pixel whose input changes less than this (in c units) is static."""
MEASURE_PIXELS = 10_000
"""The fewest pixels the measure looks at: every n-th pixel of every n-th row, n the largest stride that keeps at
least this many (all pixels of a frame up to 100x100; 10,764 at 1920x1080 and at 3840x2160, every 14th and 28th),
never more than about four times as many. A mean over 10 thousand pixels is as good as over all of them (its
standard error is at most 1% of the pixels' spread), and the measure costs about the same at every size instead of
growing with it."""
EPSILON = 1e-4
"""Added to both errors of a ratio: a still input and a still output give 1, not 0/0."""
TRUST_COLOUR = 0.05
"""The blend trusts a warped pixel fully where its input differs from the current input by nothing, and not at all
from this difference on (in c units): new content (a disocclusion the vectors missed, a light change) stays sharp."""
CUT_TRUST = 0.1
"""A frame where less than this share of the pixels can be trusted is a cut: it is not blended."""


class FlickerMethod(StrEnum):
    VECTOR = "vector"
    DIFFERENCE = "difference"


@dataclass(frozen=True, kw_only=True)
class FrameFlicker:
    """One frame against the previous one: mean errors of the input and of the output over `pixels` pixels."""

    frame: int
    input: float
    output: float
    pixels: int
    method: FlickerMethod

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", FlickerMethod(self.method))
        # NaN passes (pixels that were NaN give a NaN mean, reported as it came); a negative mean error is no error.
        if self.input < 0 or self.output < 0:
            raise ValueError(f"frame {self.frame}: flicker errors are 0 or more, not {self.input} and {self.output}")
        if self.pixels < 1:
            raise ValueError(f"frame {self.frame}: flicker is measured over 1 pixel or more, not {self.pixels}")

    @property
    def ratio(self) -> float:
        return (self.output + EPSILON) / (self.input + EPSILON)

    def to_json(self) -> Json:
        """Keyed by its frame in Flicker's JSON, so without it; `ratio` is derived (from_json does not read it)."""
        return {
            "input": float_to_json(self.input),
            "output": float_to_json(self.output),
            "ratio": float_to_json(self.ratio),
            "pixels": self.pixels,
            "method": str(self.method),
        }

    @classmethod
    def from_json(cls, frame: int, data: object) -> FrameFlicker:
        values = object_from_json(data, f"flicker of frame {frame}")
        return cls(
            frame=frame,
            input=number_from_json(values["input"], f"frame {frame} input"),
            output=number_from_json(values["output"], f"frame {frame} output"),
            pixels=int_from_json(values["pixels"], f"frame {frame} pixels"),
            method=FlickerMethod(str_from_json(values["method"], f"frame {frame} method")),
        )


@dataclass(frozen=True, kw_only=True)
class Flicker:
    """A sequence's flicker: its frames' figures and their means."""

    frames: tuple[FrameFlicker, ...] = ()
    blended: tuple[int, ...] = ()
    """Frames the temporal blend changed (the first frame and cuts are left alone)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "frames", tuple(self.frames))
        object.__setattr__(self, "blended", tuple(self.blended))
        numbers = [f.frame for f in self.frames]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"a frame's flicker is measured once, not {numbers}")

    @property
    def method(self) -> FlickerMethod | None:
        methods = {f.method for f in self.frames}
        return methods.pop() if len(methods) == 1 else (FlickerMethod.DIFFERENCE if methods else None)

    def means(self) -> tuple[float, float]:
        if not self.frames:
            return 0.0, 0.0
        return float(np.mean([f.input for f in self.frames])), float(np.mean([f.output for f in self.frames]))

    @property
    def ratio(self) -> float | None:
        if not self.frames:
            return None
        mean_in, mean_out = self.means()
        return (mean_out + EPSILON) / (mean_in + EPSILON)

    def to_json(self) -> Json:
        """The frames and the blended ones, with the sequence's method, means and ratio (derived: from_json does
        not read them)."""
        mean_in, mean_out = self.means()
        return {
            "method": str(self.method) if self.method else None,
            "input": float_to_json(mean_in) if self.frames else None,
            "output": float_to_json(mean_out) if self.frames else None,
            "ratio": float_to_json(self.ratio),
            "frames": {str(f.frame): f.to_json() for f in self.frames},
            "blended": list(self.blended),
        }

    @classmethod
    def from_json(cls, data: object) -> Flicker:
        values = object_from_json(data, "flicker")
        frames = object_from_json(values.get("frames", {}), "flicker frames")
        return cls(
            frames=tuple(
                FrameFlicker.from_json(int_key_from_json(key, "flicker frame"), value) for key, value in frames.items()
            ),
            blended=ints_from_json(values.get("blended", []), "blended"),
        )

    def text(self) -> str:
        if self.ratio is None:
            return ""
        return f"flicker x{self.ratio:.2f} of the input's ({self.method}, {len(self.frames)} frames)"


def compress(image: NDArray[np.float32]) -> NDArray[np.float32]:
    """c(x) = x / (1 + x) of the colour channels (the first 3, or the one grey channel), negatives as 0."""
    colour = image[:, :, : 3 if image.shape[2] >= 3 else 1]
    x: NDArray[np.float32] = np.maximum(colour, 0.0)
    return x / (1.0 + x)


@dataclass(frozen=True)
class Motion:
    """Blender's Vector pass in array terms: per pixel, the row and column offsets to the same point in the
    previous frame, and from the previous frame's point to this one (its motion to the next frame)."""

    to_previous: NDArray[np.float32]
    """HxWx2 (rows, columns)."""
    to_next: NDArray[np.float32]
    """HxWx2 (rows, columns): where this pixel is in the next frame, relative to here."""

    def __post_init__(self) -> None:
        _as_float32(self, "to_previous", "to_next")

    @classmethod
    def from_vector_pass(cls, vector: NDArray[np.float32]) -> Motion:
        v = vector.astype(np.float32)
        to_previous = np.stack([-v[:, :, 1], v[:, :, 0]], axis=2)
        to_next = np.stack([v[:, :, 3], -v[:, :, 2]], axis=2)
        return cls(to_previous, to_next)


def _as_float32(record: object, *fields: str) -> None:
    """A record's pictures as float32, what the warps (onnxruntime's float graphs) take: a TD's float64 or float16
    frames are converted once here (float32 ones are kept as they are, views included)."""
    for field in fields:
        value = getattr(record, field)
        if value is not None and value.dtype != np.float32:
            object.__setattr__(record, field, np.asarray(value, np.float32))


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


def _sample(image: NDArray[np.float32], rows: NDArray[np.float32], cols: NDArray[np.float32]) -> NDArray[np.float32]:
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
        return [_sample(image, rows, cols) for image in images], inside
    # Channel-planar and C-contiguous, made once: onnxruntime copies an input that is not contiguous on every run
    # (numpy's concatenate of transposed views keeps their layout), once per band here.
    planar = np.empty((sum(image.shape[2] for image in images), h, w), np.float32)
    np.concatenate([image.transpose(2, 0, 1) for image in images], axis=0, out=planar)
    if all(moving):
        sampled = _grid_sample(planar, rows, cols)
    else:  # the moving bands warped, the still ones as they are (a locked-off shot with something moving in it)
        sampled = np.empty_like(planar)
        for band, moved in zip(bands, moving, strict=True):
            sampled[:, band] = _grid_sample(planar, rows[band], cols[band]) if moved else planar[:, band]
    splits = np.cumsum([image.shape[2] for image in images])[:-1]
    return np.split(sampled.transpose(1, 2, 0), splits, axis=2), inside


def warp(
    image: NDArray[np.float32], offsets: NDArray[np.float32], grid: tuple[slice, slice] | None = None
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """One image through `warp_all`: (warped, inside)."""
    warped, inside = warp_all([image], offsets, grid)
    return warped[0], inside


def _agreeing(
    to_previous: NDArray[np.float32],
    back: NDArray[np.float32],
    inside: NDArray[np.bool_],
    depth: NDArray[np.float32] | None,
    warped_depth: NDArray[np.float32] | None,
) -> NDArray[np.bool_]:
    """Where a previous-frame point is visible now: inside the frame, the motion to it and its motion back within
    CONSISTENT_PX of each other, and (with both depths, HxW) at the same distance within DEPTH_TOLERANCE."""
    disagreement = np.maximum(
        np.abs(to_previous[:, :, 0] + back[:, :, 0]), np.abs(to_previous[:, :, 1] + back[:, :, 1])
    )
    ok: NDArray[np.bool_] = inside & (disagreement <= CONSISTENT_PX)
    if depth is not None and warped_depth is not None:
        ok &= np.abs(warped_depth - depth) <= DEPTH_TOLERANCE * np.abs(depth) + 1e-6
    return ok


def _visible(
    motion: Motion,
    previous: Motion,
    depth: NDArray[np.float32] | None,
    previous_depth: NDArray[np.float32] | None,
    grid: tuple[slice, slice] | None,
    along: Sequence[NDArray[np.float32]] = (),
) -> tuple[NDArray[np.bool_], list[NDArray[np.float32]]]:
    """Pixels (of `grid`, else all) whose previous-frame point is visible there (`_agreeing`), and the previous
    frame's `along` images brought onto them: its motion back to the next frame, those images and its depth warped
    in one go."""
    depths = _depths(depth, previous_depth)
    images = [previous.to_next, *along] + ([depths[1]] if depths else [])
    warped, inside = warp_all(images, motion.to_previous, grid)
    region = grid or (slice(None), slice(None))
    here, there = (depths[0][region], warped[-1][:, :, 0]) if depths else (None, None)
    return _agreeing(motion.to_previous[region], warped[0], inside, here, there), warped[1 : 1 + len(along)]


def brought_onto(
    previous: FrameState, current: FrameState, grid: tuple[slice, slice] | None = None
) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """The previous frame's input brought onto the current frame by its Vector pass (both frames have one), and
    the pixels (of `grid`, else all) where that can be trusted (`_visible`)."""
    assert current.motion is not None and previous.motion is not None
    ok, (warped,) = _visible(
        current.motion, previous.motion, current.depth, previous.depth, grid, along=[previous.input]
    )
    return ok, warped


def _depths(
    depth: NDArray[np.float32] | None, previous_depth: NDArray[np.float32] | None
) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
    """With both frames' Depth: the current one (HxW) and the previous one to warp (HxWx1)."""
    return (depth[:, :, 0], previous_depth[:, :, :1]) if depth is not None and previous_depth is not None else None


def consistent(
    motion: Motion,
    previous: Motion,
    depth: NDArray[np.float32] | None = None,
    previous_depth: NDArray[np.float32] | None = None,
    grid: tuple[slice, slice] | None = None,
) -> NDArray[np.bool_]:
    """Pixels (of `grid`, else all) whose previous-frame point is visible there, from the two frames' motion and
    depth alone (`_visible`)."""
    return _visible(motion, previous, depth, previous_depth, grid)[0]


@dataclass(frozen=True)
class FrameState:
    """What the next frame is compared with: this frame's input and output (the written one: blended or not) and
    its motion and depth."""

    frame: int
    input: NDArray[np.float32]
    output: NDArray[np.float32]
    motion: Motion | None
    depth: NDArray[np.float32] | None

    def __post_init__(self) -> None:
        _as_float32(self, "input", "output", "depth")


def _errors(
    cur_in: NDArray[np.float32],
    prev_in: NDArray[np.float32],
    cur_out: NDArray[np.float32],
    prev_out: NDArray[np.float32],
    mask: NDArray[np.bool_],
) -> tuple[float, float, int]:
    count = int(mask.sum())
    if count == 0:
        return 0.0, 0.0, 0
    e_in = np.abs(compress(cur_in) - compress(prev_in)).mean(axis=2)[mask].mean()
    e_out = np.abs(compress(cur_out) - compress(prev_out)).mean(axis=2)[mask].mean()
    return float(e_in), float(e_out), count


def _output_at(state: FrameState, rows: NDArray[np.float32], cols: NDArray[np.float32]) -> NDArray[np.float32]:
    """The output at input-pixel positions (rows, cols): sampled at those pixels' centres at the output's scale,
    which for a x2 upscaler is the mean of each 2x2 block (an area average, without resampling the whole image)."""
    (h, w), (out_h, out_w) = state.input.shape[:2], state.output.shape[:2]
    at_rows = np.clip((rows + 0.5) * (out_h / h) - 0.5, 0, out_h - 1).astype(np.float32)
    at_cols = np.clip((cols + 0.5) * (out_w / w) - 0.5, 0, out_w - 1).astype(np.float32)
    return _sample(state.output, at_rows, at_cols)


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
        mask = np.abs(compress(cur_in) - compress(prev_in)).mean(axis=2) < STATIC_DIFFERENCE
        method = FlickerMethod.DIFFERENCE
    e_in, e_out, count = _errors(cur_in, prev_in, cur_out, prev_out, mask)
    return FrameFlicker(frame=current.frame, input=e_in, output=e_out, pixels=count, method=method) if count else None


def _trust(
    previous: FrameState, current: FrameState, older: NDArray[np.float32] | None = None
) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """Per input pixel, how far the previous frame brought onto this one can stand for it (0 to 1); and `older`
    (HxW, per pixel of the previous frame) brought onto this one with it, in the same warp (as it is without
    motion: nothing moved)."""
    if current.motion is not None and previous.motion is not None:
        along = [previous.input] + ([older[:, :, None]] if older is not None else [])
        ok, warped = _visible(current.motion, previous.motion, current.depth, previous.depth, None, along)
        prev_in, older = warped[0], (warped[1][:, :, 0] if older is not None else None)
    else:
        ok = np.ones(current.input.shape[:2], bool)
        prev_in = previous.input
    difference = np.abs(compress(current.input) - compress(prev_in)).mean(axis=2)
    return np.where(ok, np.clip(1.0 - difference / TRUST_COLOUR, 0.0, 1.0), 0.0).astype(np.float32), older


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
    a time as the blend runs (warp_graphs.py), so the whole frame's grid (66 MB at 3840x2160) is never made."""
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


def _band_grid(motion: Motion, factor: int, rows: slice) -> NDArray[np.float32] | None:
    """`_output_grid`'s rows `rows`, or None where they are `_still`, for the blend to take the earlier outputs'
    rows as they are."""
    still = _still(motion.to_previous[rows.start // factor : rows.stop // factor])
    return None if still else _output_grid(motion, factor, rows)


def _planar(image: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.ascontiguousarray(image.transpose(2, 0, 1))  # no copy for a model's channel-planar result


def whole_factor(state: FrameState) -> int | None:
    """The output's size as a whole multiple (1 or more) of the input's on both axes, else None: the blend warps
    in blocks of factor x factor output pixels per input pixel."""
    (h, w), (out_h, out_w) = state.input.shape[:2], state.output.shape[:2]
    factor = out_h // h
    return factor if factor >= 1 and (out_h, out_w) == (h * factor, w * factor) else None


@dataclass(frozen=True)
class Onto:
    """An earlier frame's raw output brought onto a later frame (channel-planar), and how far each input pixel of
    that later frame can trust it (0 to 1)."""

    frame: int
    """The frame it was brought onto."""
    output: NDArray[np.float32]
    trust: NDArray[np.float32]


def blend(
    current: FrameState, previous: FrameState, before_previous: Onto | None, strength: float, graphs: BlendGraphs
) -> tuple[NDArray[np.float32], Onto] | None:
    """The current raw output blended with the two frames before it, raw too, brought onto it where the warp is
    trusted (a window, not a recursion: a farm chunk that runs the two frames before it gives the same pixels as
    one long run). With weights a = strength / 3 x trust: out = now + a1 (previous - now) + a2 (before - now); at
    strength 1 and full trust, the mean of the three (the frame-to-frame flicker of per-frame noise falls to a
    third). `before_previous` is the frame before `previous` already brought onto `previous`. Returns the blended
    output (HxWxC view of planar data) and `previous` brought onto the current frame, for the next frame; None for
    a cut (too little trusted)."""
    factor = whole_factor(current)
    # The frame before `previous`, if it was brought onto it, makes the window's third frame.
    older = before_previous if before_previous is not None and before_previous.frame == previous.frame else None
    trust, older_trust = _trust(previous, current, older.trust if older is not None else None)
    if factor is None or float((trust > 0.5).mean()) < CUT_TRUST:
        return None
    motion = current.motion if current.motion is not None and previous.motion is not None else None
    a = np.float32(strength / 3)
    earlier = [(_planar(previous.output), trust * a)]
    if older is not None and older_trust is not None:
        earlier.append((older.output, trust * older_trust * a))
    # The weighted sums at the output's size, each input pixel's weight spread over its factor x factor block, and
    # the warps of both earlier outputs: one onnxruntime graph (warp_graphs.py).
    grid = functools.partial(_band_grid, motion, factor) if motion else None  # both earlier outputs move alike
    blended, warped = graphs.weighted_sum(_planar(current.output), earlier, factor, grid)
    here = warped if warped is not None else earlier[0][0]
    out = blended.transpose(1, 2, 0)
    return out, Onto(current.frame, here, trust)


class Tracker:
    """Follows a sequence frame by frame: measures each written frame against the one before and, with `strength`
    > 0, blends each raw output with the two raw outputs before it (frames must come in order; a gap in the
    numbering starts afresh)."""

    def __init__(self, strength: float = 0.0) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"the temporal blend's strength is from 0 to 1, not {strength}")
        self.strength = strength
        self._measured: list[FrameFlicker] = []
        self._blended: list[int] = []
        self._raw: FrameState | None = None
        """The last frame as the model gave it (what the blend uses)."""
        self._written: FrameState | None = None
        """The last frame as it was written (what the measure compares with)."""
        self._onto: Onto | None = None
        self._graphs = BlendGraphs()
        """The blend's onnxruntime sessions and their buffers: the tracker's, so they go when it does."""

    def step(self, current: FrameState, written: bool = True) -> NDArray[np.float32]:
        """The output to write for `current` (blended or as it is), its flicker recorded; `written=False` primes
        the tracker with a frame that is run but not written (nothing recorded)."""
        raw, output, onto = self._raw, current.output, None
        follows = raw is not None and raw.frame == current.frame - 1 and raw.input.shape == current.input.shape
        done = (
            blend(current, raw, self._onto, self.strength, self._graphs)
            if raw is not None and follows and self.strength
            else None
        )
        if done is not None:
            output, onto = done
            if written:
                self._blended.append(current.frame)
        shown = FrameState(current.frame, current.input, output, current.motion, current.depth)
        if follows and written and self._written is not None and self._written.frame == current.frame - 1:
            if (found := measure(self._written, shown)) is not None:
                self._measured.append(found)
        self._raw, self._written, self._onto = current, shown, onto
        return output

    @property
    def flicker(self) -> Flicker:
        """The flicker measured so far."""
        return Flicker(frames=tuple(self._measured), blended=tuple(self._blended))

    @property
    def last_frame(self) -> int | None:
        return None if self._raw is None else self._raw.frame
