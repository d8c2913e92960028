"""A sequence followed frame by frame: the measure of each written frame and, with a strength, the blend."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .blending import blend
from .graphs import BlendGraphs
from .measuring import measure
from .records import Flicker, FrameFlicker, FrameState, Onto


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
