"""What the temporal measure and blend take and give: a frame's input, output, motion and depth, and the
flicker figures (per frame and for a sequence, with their JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from ...json_values import (
    Json,
    float_to_json,
    int_from_json,
    int_key_from_json,
    ints_from_json,
    number_from_json,
    object_from_json,
    str_from_json,
)

EPSILON = 1e-4
"""Added to both errors of a ratio: a still input and a still output give 1, not 0/0."""


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


@dataclass(frozen=True)
class Onto:
    """An earlier frame's raw output brought onto a later frame (channel-planar), and how far each input pixel of
    that later frame can trust it (0 to 1)."""

    frame: int
    """The frame it was brought onto."""
    output: NDArray[np.float32]
    trust: NDArray[np.float32]
