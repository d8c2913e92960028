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

from .blending import CUT_TRUST, blend, whole_factor
from .graphs import BlendGraphs
from .measuring import MEASURE_PIXELS, STATIC_DIFFERENCE, measure, measure_stride
from .records import EPSILON, Flicker, FlickerMethod, FrameFlicker, FrameState, Motion, Onto
from .tracker import Tracker
from .trust import CONSISTENT_PX, DEPTH_TOLERANCE, TRUST_COLOUR, brought_onto, compress, consistent
from .warping import STILL_BAND_ROWS, warp, warp_all

__all__ = [
    "CONSISTENT_PX",
    "CUT_TRUST",
    "DEPTH_TOLERANCE",
    "EPSILON",
    "MEASURE_PIXELS",
    "STATIC_DIFFERENCE",
    "STILL_BAND_ROWS",
    "TRUST_COLOUR",
    "BlendGraphs",
    "Flicker",
    "FlickerMethod",
    "FrameFlicker",
    "FrameState",
    "Motion",
    "Onto",
    "Tracker",
    "blend",
    "brought_onto",
    "compress",
    "consistent",
    "measure",
    "measure_stride",
    "warp",
    "warp_all",
    "whole_factor",
]
