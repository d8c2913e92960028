"""A conversion's options and report as records (no onnx here: a cached report is read back, and a panel shows
it, without loading the ONNX library). precision.convert fills them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from ..options import Precision, Status

FP16_NEXT_STEP = "use --precision amp or auto"

FIGURES = ("max_abs_error", "mean_abs_error", "psnr_db")


class Backend(StrEnum):
    ONNXCONVERTER = "onnxconverter"
    """onnxconverter-common's float16 converter."""
    ORT = "ort"
    """onnxruntime.transformers.float16, as Olive uses."""


@dataclass(frozen=True, kw_only=True)
class ConversionOptions:
    """How a model is converted to reduced precision and how close to fp32 it must stay."""

    precision: Precision = Precision.FP16
    keep_io_types: bool = True
    """Callers keep passing and receiving float32."""
    op_block_list: tuple[str, ...] = ()
    """Op types kept fp32 in addition to the converter's defaults."""
    rtol: float = 1e-2
    atol: float = 1e-2
    backend: Backend = Backend.ONNXCONVERTER
    time_budget_s: float = 180.0
    """How long mixed precision may search for its node set; when it runs out the conversion fails with
    the best node set found so far in its report. Not part of the cache key."""

    def __post_init__(self) -> None:
        if not self.time_budget_s > 0:
            raise ValueError(f"time_budget_s must be positive, not {self.time_budget_s}")
        if not (self.rtol >= 0 and self.atol >= 0):
            raise ValueError(f"rtol and atol must be 0 or more, not {self.rtol} and {self.atol}")
        object.__setattr__(self, "precision", Precision(self.precision))
        object.__setattr__(self, "backend", Backend(self.backend))
        object.__setattr__(self, "op_block_list", tuple(self.op_block_list))

    def key(self) -> dict[str, Any]:
        """For cache keys: plain JSON values of what changes the converted model (not the time budget)."""
        data = {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in asdict(self).items()}
        data.pop("time_budget_s")
        return data


@dataclass
class ConversionReport:
    """Filled in as the conversion goes; `status` is OK only once the converted model passed the check."""

    status: Status
    precision: Precision
    max_abs_error: float | None = None
    """None until the converted model's output was measured (a conversion that failed before: never 0)."""
    mean_abs_error: float | None = None
    psnr_db: float | None = None
    """inf when the outputs are identical; None when not measured."""
    nonfinite_count: int = 0
    fp32_nodes: list[str] = field(default_factory=list)
    casts_before: int = 0
    casts_after: int = 0
    redundant_casts_removed: int = 0
    repairs: list[str] = field(default_factory=list)
    reason: str = ""
    requested: Precision | None = None
    """What was asked for when it differs from `precision` (auto)."""
    decision: str = ""
    """For auto: which precision was chosen and why."""
    attempts: list[dict[str, Any]] = field(default_factory=list)
    """For auto: the reports of the precisions tried before this one."""
    validated_on: str = ""
    """What the accuracy was judged on: the whole sample image, its richest crops, or a synthetic image."""
    converter_failed: bool = False
    """The converter or onnxruntime failed (a crash, not an accuracy refusal): the command line exits 1."""

    def __post_init__(self) -> None:
        # Read back from a cache entry's JSON as plain strings.
        self.status, self.precision = Status(self.status), Precision(self.precision)
        if self.requested is not None:
            self.requested = Precision(self.requested)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConversionReport:
        """The report to_json wrote (non-finite figures travel as the strings "inf" and "-inf")."""
        values = dict(data)
        for key in FIGURES:
            value = values.get(key)
            if isinstance(value, str):
                values[key] = float(value)  # "inf", "-inf"; anything else is a ValueError (a damaged entry)
            elif value is not None and not isinstance(value, int | float):
                raise TypeError(f"{key} is a {type(value).__name__}")
        return cls(**values)

    def accuracy_text(self) -> str:
        """The figures for a report line, or why there are none."""
        if self.max_abs_error is None or self.mean_abs_error is None or self.psnr_db is None:
            return "accuracy not measured"
        return f"max error {self.max_abs_error:.2e}, mean {self.mean_abs_error:.2e}, PSNR {self.psnr_db:.1f} dB" + (
            f" on {self.validated_on}" if self.validated_on else ""
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"], data["precision"] = str(self.status), str(self.precision)
        data["requested"] = str(self.requested or self.precision)
        if not self.decision:
            data.pop("decision")
        if not self.attempts:
            data.pop("attempts")
        for key in FIGURES:
            if data[key] is not None and not np.isfinite(data[key]):
                data[key] = None if np.isnan(data[key]) else ("inf" if data[key] > 0 else "-inf")
        if self.status == Status.OK:
            data.pop("reason")
        return data
