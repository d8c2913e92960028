"""A conversion's options and report as records (no onnx here: a cached report is read back, and a panel shows
it, without loading the ONNX library). precision.convert fills them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..json_values import (
    Json,
    bool_from_json,
    float_from_json,
    float_to_json,
    int_from_json,
    list_from_json,
    number_from_json,
    object_from_json,
    str_from_json,
    strs_from_json,
)
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


def _rule_to_json(rule: AccuracyRule) -> Json:
    return {key: float_to_json(value) for key, value in rule.to_json().items()}


def _rule_from_json(data: object) -> AccuracyRule:
    values = object_from_json(data, "rule")
    return AccuracyRule(**{key: number_from_json(value, f"rule.{key}") for key, value in values.items()})


def _calibration_from_json(data: object) -> Calibration:
    values = object_from_json(data, "calibration")
    texts = ("method", "quant_format", "data", "sha256", "source_sha256")
    return Calibration(
        **{key: str_from_json(values[key], f"calibration.{key}") for key in texts},
        inputs=int_from_json(values["inputs"], "calibration.inputs"),
    )


@dataclass(frozen=True, kw_only=True)
class ConversionReport:
    """What a conversion did and found; `status` is OK only once the converted model passed the check. Made once
    each step of a conversion is known (precision.convert builds it with dataclasses.replace)."""

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
    fp32_nodes: tuple[str, ...] = ()
    casts_before: int = 0
    casts_after: int = 0
    redundant_casts_removed: int = 0
    repairs: tuple[str, ...] = ()
    reason: str = ""
    requested: Precision | None = None
    """What was asked for when it differs from `precision` (auto); None when it is `precision`."""
    decision: str = ""
    """For auto: which precision was chosen and why."""
    attempts: tuple[ConversionReport, ...] = ()
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
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "precision", Precision(self.precision))
        if self.requested is not None:
            object.__setattr__(self, "requested", Precision(self.requested))
        for name in ("fp32_nodes", "repairs", "attempts"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        self._check()

    def _check(self) -> None:
        errors = {k: getattr(self, k) for k in ("max_abs_error", "mean_abs_error", "p999_abs_error")}
        # NaN passes these (a figure of a broken run is reported as it came); a negative error or an IoU beyond
        # [0, 1] is a figure that was never measured.
        if any(value is not None and value < 0 for value in errors.values()):
            raise ValueError(f"an error figure is negative: {errors}")
        if self.mask_iou is not None and not (self.mask_iou >= 0 and self.mask_iou <= 1 or math.isnan(self.mask_iou)):
            raise ValueError(f"mask_iou {self.mask_iou} is not in [0, 1]")
        counts = ("nonfinite_count", "casts_before", "casts_after", "redundant_casts_removed")
        if any(getattr(self, name) < 0 for name in counts):
            raise ValueError(f"a count is negative: {', '.join(f'{n}={getattr(self, n)}' for n in counts)}")
        if self.requested == self.precision:
            raise ValueError(f"requested is None when it is the precision ({self.precision}), not {self.requested}")
        if self.status == Status.OK:
            self._check_passed()

    def _check_passed(self) -> None:
        """A report that says OK was measured and passed: its figures are there, and it gives no reason."""
        if self.max_abs_error is None or self.mean_abs_error is None or self.psnr_db is None:
            raise ValueError("a report that passed has its accuracy figures (max, mean, PSNR)")
        if self.nonfinite_count or self.converter_failed or self.reason:
            raise ValueError(
                f"a report that passed has no NaN/Inf outputs, no crash and no reason; this one says "
                f"{self.nonfinite_count} non-finite values, converter_failed={self.converter_failed}, "
                f"reason {self.reason!r}"
            )

    def judged(self, acc: Accuracy, rule: AccuracyRule) -> ConversionReport:
        """This report with the figures of `acc` and the rule they are judged by."""
        return replace(
            self,
            max_abs_error=acc.max_abs_error,
            mean_abs_error=acc.mean_abs_error,
            p999_abs_error=acc.p999_abs_error,
            psnr_db=acc.psnr_db,
            mask_iou=acc.mask_iou,
            nonfinite_count=acc.nonfinite_count,
            output_kind=str(acc.kind),
            rule=rule,
        )

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

    def to_json(self) -> Json:
        """Plain JSON (non-finite figures as "inf", "-inf", "nan": json_values). `requested` is written always (the
        precision when none differs); decision, attempts and calibration when set, reason unless it passed."""
        data: Json = {
            "status": str(self.status),
            "precision": str(self.precision),
            **{key: float_to_json(getattr(self, key)) for key in FIGURES},
            "output_kind": self.output_kind,
            "nonfinite_count": self.nonfinite_count,
            "fp32_nodes": list(self.fp32_nodes),
            "casts_before": self.casts_before,
            "casts_after": self.casts_after,
            "redundant_casts_removed": self.redundant_casts_removed,
            "repairs": list(self.repairs),
            "requested": str(self.requested or self.precision),
            "validated_on": self.validated_on,
            "converter_failed": self.converter_failed,
            "rule": None if self.rule is None else _rule_to_json(self.rule),
        }
        if self.status != Status.OK:
            data["reason"] = self.reason
        if self.decision:
            data["decision"] = self.decision
        if self.attempts:
            data["attempts"] = [attempt.to_json() for attempt in self.attempts]
        if self.calibration is not None:
            data["calibration"] = asdict(self.calibration)
        return data

    @classmethod
    def from_json(cls, data: object) -> ConversionReport:
        """The report to_json wrote; a key it leaves out reads as its default. A wrong type is a TypeError and a
        wrong value a ValueError (a damaged cache entry, discarded and rebuilt)."""
        values = object_from_json(data, "report")
        precision = Precision(str_from_json(values["precision"], "precision"))
        requested = values.get("requested")
        requested = None if requested is None else Precision(str_from_json(requested, "requested"))
        rule, calibration = values.get("rule"), values.get("calibration")
        return cls(
            status=Status(str_from_json(values["status"], "status")),
            precision=precision,
            max_abs_error=float_from_json(values.get("max_abs_error"), "max_abs_error"),
            mean_abs_error=float_from_json(values.get("mean_abs_error"), "mean_abs_error"),
            p999_abs_error=float_from_json(values.get("p999_abs_error"), "p999_abs_error"),
            psnr_db=float_from_json(values.get("psnr_db"), "psnr_db"),
            mask_iou=float_from_json(values.get("mask_iou"), "mask_iou"),
            output_kind=str_from_json(values.get("output_kind", ""), "output_kind"),
            nonfinite_count=int_from_json(values.get("nonfinite_count", 0), "nonfinite_count"),
            casts_before=int_from_json(values.get("casts_before", 0), "casts_before"),
            casts_after=int_from_json(values.get("casts_after", 0), "casts_after"),
            redundant_casts_removed=int_from_json(values.get("redundant_casts_removed", 0), "redundant_casts_removed"),
            fp32_nodes=strs_from_json(values.get("fp32_nodes", []), "fp32_nodes"),
            repairs=strs_from_json(values.get("repairs", []), "repairs"),
            reason=str_from_json(values.get("reason", ""), "reason"),
            requested=None if requested == precision else requested,
            decision=str_from_json(values.get("decision", ""), "decision"),
            attempts=tuple(cls.from_json(a) for a in list_from_json(values.get("attempts", []), "attempts")),
            validated_on=str_from_json(values.get("validated_on", ""), "validated_on"),
            converter_failed=bool_from_json(values.get("converter_failed", False), "converter_failed"),
            rule=None if rule is None else _rule_from_json(rule),
            calibration=None if calibration is None else _calibration_from_json(calibration),
        )
