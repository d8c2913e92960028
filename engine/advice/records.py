"""The advice's records, light to import (no onnx): the Blender layer reads them to draw the report."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CastReason(StrEnum):
    """Why a Cast is in a converted model (the value is the sentence the report shows)."""

    GRAPH_IO = "graph input/output kept float32 so callers pass float32 (keep_io_types)"
    FP32_ISLAND = "boundary of an fp32 island (block list, overflow guard or mixed precision)"
    ORIGINAL = "present in the original model or inserted by the converter"


@dataclass(frozen=True, kw_only=True)
class CastAdvice:
    """One Cast left in a converted model: where it sits and why."""

    name: str
    to: str
    """The element type it casts to ('float16', 'float')."""
    after: str
    """The node (or graph input) it reads."""
    before: tuple[str, ...]
    """The nodes that read it."""
    why: CastReason


@dataclass(frozen=True, kw_only=True)
class LayoutConversion:
    """A Transpose or layout reorder the runtime runs on every run, with its neighbours."""

    name: str
    op_type: str
    after: str
    """The node (or graph input) it reads."""
    before: tuple[str, ...]
    """The nodes that read it."""
