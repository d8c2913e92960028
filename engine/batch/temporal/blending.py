"""The temporal blend of one frame: its raw output with the two raw outputs before it, brought onto it where the
warp is trusted."""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

from .graphs import BlendGraphs
from .records import FrameState, Onto
from .trust import trust_weights
from .warping import band_grid, planar

CUT_TRUST = 0.1
"""A frame where less than this share of the pixels can be trusted is a cut: it is not blended."""


def whole_factor(state: FrameState) -> int | None:
    """The output's size as a whole multiple (1 or more) of the input's on both axes, else None: the blend warps
    in blocks of factor x factor output pixels per input pixel."""
    (h, w), (out_h, out_w) = state.input.shape[:2], state.output.shape[:2]
    factor = out_h // h
    return factor if factor >= 1 and (out_h, out_w) == (h * factor, w * factor) else None


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
    if factor is None:  # known before the trust's whole-frame warp is paid for
        return None
    # The frame before `previous`, if it was brought onto it, makes the window's third frame.
    older = before_previous if before_previous is not None and before_previous.frame == previous.frame else None
    trust, older_trust = trust_weights(previous, current, older.trust if older is not None else None)
    if float((trust > 0.5).mean()) < CUT_TRUST:
        return None
    motion = current.motion if current.motion is not None and previous.motion is not None else None
    a = np.float32(strength / 3)
    earlier = [(planar(previous.output), trust * a)]
    if older is not None and older_trust is not None:
        earlier.append((older.output, trust * older_trust * a))
    # The weighted sums at the output's size, each input pixel's weight spread over its factor x factor block, and
    # the warps of both earlier outputs: one onnxruntime graph (graphs.py).
    grid = functools.partial(band_grid, motion, factor) if motion else None  # both earlier outputs move alike
    blended, warped = graphs.weighted_sum(planar(current.output), earlier, factor, grid)
    here = warped if warped is not None else earlier[0][0]
    out = blended.transpose(1, 2, 0)
    return out, Onto(current.frame, here, trust)
