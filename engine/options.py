"""The closed sets of choices the engine takes, as enums: parsed once at the edges (command line, Blender
properties) and passed typed inside. They are `StrEnum`s, so their values are the words the CLI, the JSON
reports and the cache keys have always used."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar


class Precision(StrEnum):
    FP32 = "fp32"
    FP16 = "fp16"
    AMP = "amp"
    """Automatic mixed precision: fp16 where the accuracy check allows, fp32 elsewhere."""
    INT8 = "int8"
    """Static int8 quantization (QDQ) calibrated on the image being processed: faster than fp32 on CPUs with int8
    dot-product instructions (AVX-512 VNNI, AVX-VNNI), slower on others (precision/int8.py)."""
    AUTO = "auto"
    """The fastest precision that passes the accuracy check on the provider that runs it: on CUDA fp16, else mixed
    precision, else fp32; on the CPU int8 where it is measured faster on this CPU and passes, else fp32 (fp16 and
    mixed precision run slower there: docs/benchmarks.md)."""


class Provider(StrEnum):
    AUTO = "auto"
    CUDA = "cuda"
    CPU = "cpu"


class Device(StrEnum):
    """Where a session really runs (never 'auto')."""

    CUDA = "cuda"
    CPU = "cpu"


class ColorMode(StrEnum):
    LINEAR = "linear"
    """The model takes scene-linear values."""
    SRGB = "srgb"
    """The model takes display-encoded (sRGB) values in [0, 1]."""
    DATA = "data"
    """Values that are not colour (normals, positions, depth, a matte): never moved between colour spaces (the file's
    working space) and never sRGB-encoded; a normal-estimation model's output, say."""


class WorkingSpace(StrEnum):
    """The colour space scene-linear pixels are in: Blender 5.0's per-file working space (4.2-4.5 have only
    Rec.709). All three are linear, so moving between them is one 3x3 matrix (image/colour.py)."""

    REC709 = "rec709"
    """Linear Rec.709 (sRGB primaries, D65): what the contract's `linear` and `srgb` mean."""
    REC2020 = "rec2020"
    """Linear Rec.2020 (D65)."""
    ACESCG = "acescg"
    """ACEScg: linear AP1 primaries, ACES white."""

    @classmethod
    def from_interop_id(cls, interop: str) -> WorkingSpace | None:
        """The space an OpenColorIO interop id names (Blender 5's `working_space_interop_id`, and the
        `colorInteropID` it writes into EXR headers); None for any other id."""
        return _INTEROP_IDS.get(interop)


_INTEROP_IDS = {
    "lin_rec709_scene": WorkingSpace.REC709,
    "lin_rec2020_scene": WorkingSpace.REC2020,
    "lin_ap1_scene": WorkingSpace.ACESCG,
}


class ChannelOrder(StrEnum):
    RGB = "rgb"
    BGR = "bgr"


class OptLevel(StrEnum):
    DISABLED = "disabled"
    BASIC = "basic"
    EXTENDED = "extended"
    ALL = "all"


class Layout(StrEnum):
    NCHW = "NCHW"
    NHWC = "NHWC"


class Fit(StrEnum):
    """How an image meets a model that cannot take it whole in one run."""

    AUTO = "auto"
    """Whole image when it fits in memory, else tiles when the model is local enough for seamless tiles,
    else resize."""
    TILE = "tile"
    """Tiles, always (seams where the model sees further than the overlap; the run says so)."""
    RESIZE = "resize"
    """Resize to the model's fixed size (or a memory-safe size), run once, resize the result back."""


class FitChoice(StrEnum):
    """What a run did (`Fit.AUTO` resolved)."""

    WHOLE = "whole"
    TILE = "tile"
    RESIZE = "resize"


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"


E = TypeVar("E", bound=StrEnum)


def parse(kind: type[E], value: str | E, *, what: str) -> E:
    """`value` as a member of `kind`, or a ValueError naming the choices (case-insensitive)."""
    try:
        return kind(str(value).lower()) if kind is not Layout else kind(str(value).upper())
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise ValueError(f"unknown {what} {value!r}; choose one of {choices}") from None
