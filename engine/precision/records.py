"""A conversion's options and report as records (no onnx here: a cached report is read back, and a panel shows
it, without loading the ONNX library). precision.convert fills them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from ..options import Precision, Status
from .accuracy import Accuracy, AccuracyRule

FP16_NEXT_STEP = "use --precision amp or auto"

FIGURES = ("max_abs_error", "mean_abs_error", "p999_abs_error", "psnr_db", "mask_iou")


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
    """Op types kept fp32 (float, for int8) in addition to the converter's defaults (int8: INT8_OP_BLOCK_LIST)."""
    rtol: float = 1e-2
    atol: float = 1e-2
    """rtol and atol: the tolerance mixed precision's node search judges each attempt with (onnxconverter-common's
    own criterion). Whether a converted model is accepted is `rule`'s verdict, for every precision."""
    rule: AccuracyRule = field(default_factory=AccuracyRule)
    """The accuracy rule every reduced precision is accepted or refused by (precision.accuracy)."""
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
        if isinstance(self.rule, dict):  # as a cache entry's JSON holds it
            object.__setattr__(self, "rule", AccuracyRule(**self.rule))

    def key(self) -> dict[str, Any]:
        """For cache keys: plain JSON values of what changes the converted model (not the time budget)."""
        data = {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in asdict(self).items()}
        data.pop("time_budget_s")
        return data


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """What an int8 model was calibrated on and how (its report says it: the model is only as good as this data
    is typical of the frames it will process)."""

    method: str
    """The calibration method (onnxruntime's MinMax: each tensor's range is the extremes seen on the data)."""
    quant_format: str
    """The quantized graph's format: which types activations and weights take."""
    data: str
    """What the calibration inputs are, in words."""
    inputs: int
    """How many inputs the calibration ran."""
    sha256: str
    """Of the calibration tensors, in order: two calibrations with equal hashes have equal inputs."""
    source_sha256: str
    """Of the image they were cut from (empty for a synthetic image): the cache key's part."""


@dataclass
class ConversionReport:
    """Filled in as the conversion goes; `status` is OK only once the converted model passed the check."""

    status: Status
    precision: Precision
    max_abs_error: float | None = None
    """None until the converted model's output was measured (a conversion that failed before: never 0)."""
    mean_abs_error: float | None = None
    p999_abs_error: float | None = None
    """The 99.9th percentile of the absolute error."""
    psnr_db: float | None = None
    """inf when the outputs are identical; None when not measured."""
    mask_iou: float | None = None
    """For a one-channel output: IoU of the thresholded masks; None otherwise."""
    output_kind: str = ""
    """How the output was judged (precision.accuracy.OutputKind): the figures' units follow from it."""
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
    rule: AccuracyRule | None = None
    """The thresholds the figures were judged by; None until judged."""
    calibration: Calibration | None = None
    """int8 only: what the model was calibrated on."""

    def __post_init__(self) -> None:
        # Read back from a cache entry's JSON as plain strings and dicts.
        self.status, self.precision = Status(self.status), Precision(self.precision)
        if self.requested is not None:
            self.requested = Precision(self.requested)
        if isinstance(self.rule, dict):
            self.rule = AccuracyRule(**self.rule)
        if isinstance(self.calibration, dict):
            self.calibration = Calibration(**self.calibration)

    def take(self, acc: Accuracy, rule: AccuracyRule) -> None:
        """Record the figures of `acc` and the rule they are judged by."""
        self.max_abs_error, self.mean_abs_error = acc.max_abs_error, acc.mean_abs_error
        self.p999_abs_error, self.psnr_db, self.mask_iou = acc.p999_abs_error, acc.psnr_db, acc.mask_iou
        self.nonfinite_count, self.output_kind, self.rule = acc.nonfinite_count, str(acc.kind), rule

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
        text = f"PSNR {self.psnr_db:.1f} dB"
        if self.p999_abs_error is not None:
            text += f", 99.9th percentile error {self.p999_abs_error:.2e}"
        text += f", max {self.max_abs_error:.2e}, mean {self.mean_abs_error:.2e}"
        if self.mask_iou is not None:
            text += f", mask IoU {self.mask_iou:.3f}"
        return text + (f" on {self.validated_on}" if self.validated_on else "")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"], data["precision"] = str(self.status), str(self.precision)
        data["requested"] = str(self.requested or self.precision)
        if not self.decision:
            data.pop("decision")
        if not self.attempts:
            data.pop("attempts")
        if self.calibration is None:
            data.pop("calibration")
        for key in FIGURES:
            if data[key] is not None and not np.isfinite(data[key]):
                data[key] = None if np.isnan(data[key]) else ("inf" if data[key] > 0 else "-inf")
        if self.status == Status.OK:
            data.pop("reason")
        return data
