"""The advice's records, light to import (no onnx): the Blender layer reads them to draw the report."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..json_values import Json, object_from_json, str_from_json, strs_from_json


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "before", tuple(self.before))
        object.__setattr__(self, "why", CastReason(self.why))
        if not self.to:
            raise ValueError(f"cast {self.name!r}: the type it casts to is missing")

    def to_json(self) -> Json:
        return {
            "name": self.name,
            "to": self.to,
            "after": self.after,
            "before": list(self.before),
            "why": str(self.why),
        }

    @classmethod
    def from_json(cls, data: object) -> CastAdvice:
        values = object_from_json(data, "cast")
        return cls(
            name=str_from_json(values["name"], "cast name"),
            to=str_from_json(values["to"], "cast to"),
            after=str_from_json(values["after"], "cast after"),
            before=strs_from_json(values["before"], "cast before"),
            why=CastReason(str_from_json(values["why"], "cast why")),
        )


@dataclass(frozen=True, kw_only=True)
class LayoutConversion:
    """A Transpose or layout reorder the runtime runs on every run, with its neighbours."""

    name: str
    op_type: str
    after: str
    """The node (or graph input) it reads."""
    before: tuple[str, ...]
    """The nodes that read it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "before", tuple(self.before))
        if not self.op_type:
            raise ValueError(f"layout conversion {self.name!r}: its op type is missing")

    def to_json(self) -> Json:
        return {"name": self.name, "op_type": self.op_type, "after": self.after, "before": list(self.before)}

    @classmethod
    def from_json(cls, data: object) -> LayoutConversion:
        values = object_from_json(data, "layout conversion")
        return cls(
            name=str_from_json(values["name"], "conversion name"),
            op_type=str_from_json(values["op_type"], "conversion op_type"),
            after=str_from_json(values["after"], "conversion after"),
            before=strs_from_json(values["before"], "conversion before"),
        )
