"""FP16 and automatic mixed precision conversion, validated against fp32 and reported."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import onnx

from ..errors import ConversionError, ModelError
from ..model.contract import ModelContract
from ..model.cpu_session import cpu_session
from ..options import Precision, Status
from .accuracy import compare
from .casts import count_casts, remove_redundant_pairs, repair_cast_targets
from .fp16_range import FP16_MAX, HEADROOM, activation_peaks, nodes_over
from .graph_repair import oversized_nodes, prepare_for_fp16

log = logging.getLogger(__name__)

AMP_SECONDS = 600.0
"""Mixed precision searches node sets, converting and validating many times: it gives up after this long."""
FP16_NEXT_STEP = "use --precision amp or auto"


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", Precision(self.precision))
        object.__setattr__(self, "backend", Backend(self.backend))
        object.__setattr__(self, "op_block_list", tuple(self.op_block_list))

    def key(self) -> dict[str, Any]:
        """For cache keys: plain JSON values."""
        return {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in asdict(self).items()}


@dataclass
class ConversionReport:
    """Filled in as the conversion goes; `status` is OK only once the converted model passed the check."""

    status: Status
    precision: Precision
    max_abs_error: float = 0.0
    mean_abs_error: float = 0.0
    psnr_db: float = float("inf")
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

    def __post_init__(self) -> None:
        # Read back from a cache entry's JSON as plain strings.
        self.status, self.precision = Status(self.status), Precision(self.precision)
        if self.requested is not None:
            self.requested = Precision(self.requested)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"], data["precision"] = str(self.status), str(self.precision)
        data["requested"] = str(self.requested or self.precision)
        if not self.decision:
            data.pop("decision")
        if not self.attempts:
            data.pop("attempts")
        for key in ("max_abs_error", "mean_abs_error", "psnr_db"):
            if not np.isfinite(data[key]):
                data[key] = None if np.isnan(data[key]) else ("inf" if data[key] > 0 else "-inf")
        if self.status == Status.OK:
            data.pop("reason")
        return data


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return cpu_session(model).run(None, feeds)


def _float_nodes(model: onnx.ModelProto) -> list[str]:
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in inferred.graph.value_info}
    types.update({vi.name: vi.type.tensor_type.elem_type for vi in inferred.graph.output})
    return [
        node.name
        for node in inferred.graph.node
        if node.op_type != "Cast" and any(types.get(out) == onnx.TensorProto.FLOAT for out in node.output)
    ]


@contextlib.contextmanager
def _converter_chatter_to_log():
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        for line in buffer.getvalue().splitlines():
            log.debug("converter: %s", line)


def _repair_casts(model: onnx.ModelProto) -> tuple[int, int]:
    """(Cast targets corrected, redundant Cast pairs removed), in place."""
    return repair_cast_targets(model), remove_redundant_pairs(model)


@contextlib.contextmanager
def _patched_converter(extra_blocks: tuple[str, ...], forced_nodes: list[str], repairs: list):
    """auto_convert_mixed_precision takes no op block list and calls the converter many times
    internally: it reads the module default at call time, and each attempt needs the Cast repairs.
    `repairs` receives each attempt's counts; the last one is the returned model's."""
    from onnxconverter_common import float16

    saved_blocks, saved_convert = float16.DEFAULT_OP_BLOCK_LIST, float16.convert_float_to_float16
    deadline = time.monotonic() + AMP_SECONDS

    def convert_and_repair(*args, **kwargs):
        if time.monotonic() > deadline:
            # Raised inside the search, which stops there: mixed precision time is bounded.
            raise ConversionError(f"mixed precision found no node set within {AMP_SECONDS:.0f} s")
        kwargs["node_block_list"] = list(kwargs.get("node_block_list") or []) + forced_nodes
        converted = saved_convert(*args, **kwargs)
        repairs.append(_repair_casts(converted))
        return converted

    float16.DEFAULT_OP_BLOCK_LIST = list(saved_blocks) + [op for op in extra_blocks if op not in saved_blocks]
    float16.convert_float_to_float16 = convert_and_repair
    try:
        yield
    finally:
        float16.DEFAULT_OP_BLOCK_LIST, float16.convert_float_to_float16 = saved_blocks, saved_convert


def _fp16(model: onnx.ModelProto, options: ConversionOptions, node_blocks: list[str]) -> onnx.ModelProto:
    if options.backend == Backend.ORT:
        from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    else:
        from onnxconverter_common.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    return convert_float_to_float16(
        model,
        keep_io_types=options.keep_io_types,
        op_block_list=list(DEFAULT_OP_BLOCK_LIST) + list(options.op_block_list),
        node_block_list=node_blocks,
    )


def _amp(
    model: onnx.ModelProto, options: ConversionOptions, feeds: dict[str, np.ndarray], forced: list[str]
) -> tuple[onnx.ModelProto, tuple[int, int]]:
    from onnxconverter_common.auto_mixed_precision import auto_convert_mixed_precision

    repairs: list[tuple[int, int]] = []
    with _patched_converter(options.op_block_list, forced, repairs):
        try:
            converted = auto_convert_mixed_precision(
                model, feeds, rtol=options.rtol, atol=options.atol, keep_io_types=options.keep_io_types
            )
            return converted, repairs[-1]
        except ConversionError:
            raise
        except ValueError as exc:
            raise ConversionError(f"mixed precision found no node set within tolerance: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - the converter surfaces onnxruntime's load errors
            raise ConversionError(f"mixed precision conversion failed: {str(exc).splitlines()[0]}") from exc


def convert_model(
    model: onnx.ModelProto, feeds: dict[str, np.ndarray], options: ConversionOptions
) -> tuple[onnx.ModelProto | None, ConversionReport]:
    """Convert and validate on `feeds`. Returns (model, report); model is None when the report failed.
    `auto` tries fp16, then mixed precision; its report names the one chosen and why (or both failures)."""
    if options.precision == Precision.AUTO:
        return _convert_auto(model, feeds, options)
    if options.precision == Precision.FP32:
        raise ValueError(f"convert_model handles fp16 and amp, not {options.precision}")
    float_inputs = [vi for vi in model.graph.input if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
    if not float_inputs:
        raise ModelError("model has no float32 inputs: it is already reduced precision, nothing to convert")

    report = ConversionReport(status=Status.FAILED, precision=options.precision, casts_before=count_casts(model))
    reference = _run(model, feeds)[0]
    with tempfile.TemporaryDirectory() as workdir:
        repaired, report.repairs = prepare_for_fp16(model, workdir)
    blocked = oversized_nodes(repaired)
    if blocked:
        report.repairs.append(f"kept {len(blocked)} nodes fp32: their weights exceed fp16's safe range")
    peaks = activation_peaks(repaired, feeds)
    if options.precision == Precision.FP16 and (over := nodes_over(peaks, FP16_MAX)):
        worst = max(over, key=lambda name: peaks[name])
        report.reason = (
            f"{len(over)} nodes produce values beyond fp16's range (largest {peaks[worst]:.3g} at {worst}); "
            "use mixed precision (AMP), which keeps them fp32"
        )
        return None, report
    try:
        with _converter_chatter_to_log():
            if options.precision == Precision.FP16:
                converted = _fp16(repaired, options, blocked)
                fixed, report.redundant_casts_removed = _repair_casts(converted)
            else:
                hot = nodes_over(peaks, FP16_MAX / HEADROOM)
                if hot:
                    report.repairs.append(f"kept {len(hot)} nodes fp32: their activations come near fp16's limit")
                converted, (fixed, report.redundant_casts_removed) = _amp(repaired, options, feeds, blocked + hot)
    except ConversionError as exc:
        report.reason = str(exc)
        return None, report
    if fixed:
        report.repairs.append(f"corrected the target type of {fixed} Cast nodes")
    report.casts_after = count_casts(converted)
    report.fp32_nodes = _float_nodes(converted)

    try:
        output = _run(converted, feeds)[0]
    except Exception as exc:  # noqa: BLE001 - the converter's output is untrusted until it loads
        report.reason = f"converted model does not load or run in onnxruntime: {str(exc).splitlines()[0]}"
        return None, report
    acc = compare(reference, output)
    report.max_abs_error, report.mean_abs_error = acc.max_abs_error, acc.mean_abs_error
    report.psnr_db, report.nonfinite_count = acc.psnr_db, acc.nonfinite_count
    if acc.nonfinite_count:
        report.reason = f"{acc.nonfinite_count} output values are NaN or Inf in {options.precision}"
    elif not acc.within(options.rtol, options.atol, reference, output):
        report.reason = (
            f"max abs error {acc.max_abs_error:.4g} is outside the tolerance (rtol {options.rtol}, atol {options.atol})"
        )
    else:
        report.status = Status.OK
        return converted, report
    return None, report


def _convert_auto(
    model: onnx.ModelProto, feeds: dict[str, np.ndarray], options: ConversionOptions
) -> tuple[onnx.ModelProto | None, ConversionReport]:
    fp16, first = convert_model(model, feeds, replace(options, precision=Precision.FP16))
    if fp16 is not None:
        first.requested = Precision.AUTO
        first.decision = "fp16: it passed the accuracy check (the fastest reduced precision)"
        return fp16, first
    amp, second = convert_model(model, feeds, replace(options, precision=Precision.AMP))
    second.requested = Precision.AUTO
    second.attempts = [first.to_json()]
    if amp is not None:
        second.decision = f"mixed precision: fp16 failed the accuracy check ({first.reason})"
        return amp, second
    second.reason = f"neither fp16 ({first.reason}) nor mixed precision ({second.reason}) passed; keep fp32"
    return None, second


def convert_model_file(
    model_path: str | os.PathLike[str],
    options: ConversionOptions,
    sample: np.ndarray | None = None,
    out: str | os.PathLike[str] | None = None,
    contract: ModelContract | None = None,
) -> ConversionReport:
    """Convert any float model file, validated on feeds made from its inputs (`sample` HxWxC, or a synthetic
    image, for image inputs; the contract's constants or random values elsewhere), and save the result to
    `out` when it passed. The report says whether it did."""
    from ..model.describe import describe_inputs
    from ..model.onnx_io import clamp_ir_version, load_model, save_model
    from .validation_feeds import sample_feeds

    model = load_model(model_path)
    clamp_ir_version(model)
    converted, report = convert_model(model, sample_feeds(describe_inputs(model), sample, contract), options)
    if converted is not None and out is not None:
        save_model(converted, out)
    return report
