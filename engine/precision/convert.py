"""FP16, automatic mixed precision and INT8 conversion, judged against fp32 by the one accuracy rule
(precision.accuracy) and reported (the option and report records live in precision.records)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray

from ..errors import Cancelled, ConversionError, EngineError, ModelError
from ..model.contract import ModelContract
from ..model.cpu_session import cpu_session
from ..model.records import ModelInfo
from ..options import Precision, Status
from ..progress import Progress
from .accuracy import OutputKind, OutputView, compare
from .casts import (
    count_casts,
    float_output_names,
    keep_float_outputs,
    remove_redundant_pairs,
    repair_cast_targets,
    split_shared_initializers,
)
from .fp16_range import FP16_MAX, HEADROOM, activation_peaks, nodes_over
from .graph_repair import oversized_nodes, prepare_for_fp16
from .int8 import CalibrationSet, KeptFloat, calibration_of_feeds, quantize
from .records import Backend, ConversionOptions, ConversionReport

log = logging.getLogger(__name__)


# Seconds from an arbitrary start: the mixed-precision search's time budget is read on one (tests pass their own).
Clock = Callable[[], float]


def _run(model: onnx.ModelProto, feeds: dict[str, NDArray[np.generic]], output: str = "") -> list[NDArray[np.generic]]:
    """Every output, or only `output` when named."""
    outputs: list[NDArray[np.generic]] = cpu_session(model).run([output] if output else None, feeds)
    return outputs


VALUES = OutputView(layout=None, kind=OutputKind.VALUES)
"""How convert_model judges an output it is told nothing about: its first output, as plain values."""


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
def _converter_chatter_to_log() -> Iterator[None]:
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        for line in buffer.getvalue().splitlines():
            log.debug("converter: %s", line)


@dataclass
class _Repairs:
    """What the Cast repairs changed in one converted model."""

    casts: int = 0
    """Cast targets corrected and float32 outputs restored."""
    shared: int = 0
    """Readers of a shared weight given their own copy in their own type."""
    removed: int = 0
    """Redundant Cast pairs removed."""

    def describe(self) -> list[str]:
        notes = []
        if self.casts:
            notes.append(f"corrected the target type of {self.casts} Cast nodes or outputs")
        if self.shared:
            notes.append(f"gave {self.shared} readers of a shared weight their own copy in their own type")
        return notes


def _repair_casts(model: onnx.ModelProto, float_outputs: frozenset[str] = frozenset()) -> _Repairs:
    """Repair a converted model in place (see _Repairs)."""
    restored = keep_float_outputs(model, float_outputs)
    casts = repair_cast_targets(model) + restored
    shared = split_shared_initializers(model)
    return _Repairs(casts=casts, shared=shared, removed=remove_redundant_pairs(model))


class _Search:
    """The mixed-precision search as it goes: attempts, time, and the smallest fp32 node set that
    passed so far (what is reported when the time budget ends)."""

    def __init__(self, options: ConversionOptions, progress: Progress | None, clock: Clock) -> None:
        self.options, self.progress, self.clock = options, progress, clock
        self.start = clock()
        self.attempts = 0
        self.reference: list[NDArray[np.generic]] | None = None
        self.trying: list[str] = []
        self.best: list[str] | None = None

    def before_attempt(self, blocks: list[str]) -> None:
        elapsed = self.clock() - self.start
        if self.progress is not None:
            self.progress.check()  # Cancelled ends the search between attempts
            self.progress.update(
                min(0.95, elapsed / self.options.time_budget_s),
                f"mixed precision: attempt {self.attempts + 1}, {len(blocks)} nodes kept fp32",
            )
        if elapsed > self.options.time_budget_s:
            raise _BudgetSpent(self)
        self.attempts += 1
        self.trying = blocks

    def judged(self, results: list[NDArray[np.generic]]) -> None:
        """Called with each run's outputs: the first is the fp32 reference, the others attempts."""
        if self.reference is None:
            self.reference = results
            return
        rtol, atol = self.options.rtol, self.options.atol
        passed = all(np.allclose(r1, r2, rtol, atol) for r1, r2 in zip(self.reference, results, strict=True))
        if passed and (self.best is None or len(self.trying) < len(self.best)):
            self.best = list(self.trying)


class _ConverterCrash(ConversionError):
    """The converter or onnxruntime failed on the model: not an accuracy verdict."""


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class _OutOfTime(ConversionError):
    """Mixed precision's time budget ended: the reason, and the best node set found so far for the report."""

    def __init__(self, reason: str, fp32_nodes: tuple[str, ...]):
        super().__init__(reason)
        self.fp32_nodes = fp32_nodes


class _BudgetSpent(Exception):
    def __init__(self, search: _Search) -> None:
        super().__init__()
        self.search = search

    def reason(self) -> str:
        search = self.search
        budget = f"mixed precision ran out of its time budget ({search.options.time_budget_s:g} s) after "
        budget += f"{search.attempts} attempts"
        if search.best is None:
            return f"{budget}; no node set within tolerance was found yet (raise time_budget_s or loosen the tolerance)"
        return (
            f"{budget}; the best node set within tolerance so far keeps {len(search.best)} nodes fp32 "
            "(listed in fp32_nodes; raise time_budget_s to search further)"
        )


_CONVERTER_PATCH = threading.Lock()
"""The patch replaces module globals of onnxconverter-common: two mixed-precision searches at once (an operator's
worker and a render handler) would see each other's block lists and repairs, so they take turns."""


@contextlib.contextmanager
def _patched_converter(
    extra_blocks: tuple[str, ...], forced_nodes: list[str], repairs: list[_Repairs], search: _Search
) -> Iterator[None]:
    """auto_convert_mixed_precision takes no op block list and calls the converter many times
    internally: it reads the module default at call time, and each attempt needs the Cast repairs.
    `repairs` receives each attempt's counts; the last one is the returned model's. `search` sees
    every attempt (time budget, progress, cancel) and every result (best node set so far)."""
    from onnxconverter_common import auto_mixed_precision, float16

    def convert_and_repair(*args: Any, **kwargs: Any) -> onnx.ModelProto:
        kwargs["node_block_list"] = list(kwargs.get("node_block_list") or []) + forced_nodes
        search.before_attempt(kwargs["node_block_list"])
        source = args[0] if args else kwargs["model"]
        keep = float_output_names(source) if kwargs.get("keep_io_types") else frozenset()
        converted: onnx.ModelProto = saved_convert(*args, **kwargs)
        repairs.append(_repair_casts(converted, keep))
        return converted

    def values_and_judge(*args: Any, **kwargs: Any) -> list[NDArray[np.generic]]:
        results: list[NDArray[np.generic]] = saved_values(*args, **kwargs)
        search.judged(results)
        return results

    with _CONVERTER_PATCH:  # the originals are read under the lock: never another search's patch
        saved_blocks, saved_convert = float16.DEFAULT_OP_BLOCK_LIST, float16.convert_float_to_float16
        saved_values = auto_mixed_precision.get_tensor_values_using_ort
        float16.DEFAULT_OP_BLOCK_LIST = list(saved_blocks) + [op for op in extra_blocks if op not in saved_blocks]
        float16.convert_float_to_float16 = convert_and_repair
        auto_mixed_precision.get_tensor_values_using_ort = values_and_judge
        try:
            yield
        finally:
            float16.DEFAULT_OP_BLOCK_LIST, float16.convert_float_to_float16 = saved_blocks, saved_convert
            auto_mixed_precision.get_tensor_values_using_ort = saved_values


def _fp16(model: onnx.ModelProto, options: ConversionOptions, node_blocks: list[str]) -> onnx.ModelProto:
    with _CONVERTER_PATCH:  # never a mixed-precision search's patched converter or block list
        if options.backend == Backend.ORT:
            from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
        else:
            from onnxconverter_common.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    converted: onnx.ModelProto = convert_float_to_float16(
        model,
        keep_io_types=options.keep_io_types,
        op_block_list=list(DEFAULT_OP_BLOCK_LIST) + list(options.op_block_list),
        node_block_list=node_blocks,
    )
    return converted


def _amp(
    model: onnx.ModelProto,
    options: ConversionOptions,
    feeds: dict[str, NDArray[np.generic]],
    forced: list[str],
    progress: Progress | None,
    clock: Clock,
) -> tuple[onnx.ModelProto, _Repairs]:
    from onnxconverter_common.auto_mixed_precision import auto_convert_mixed_precision

    repairs: list[_Repairs] = []
    search = _Search(options, progress, clock)
    with _patched_converter(options.op_block_list, forced, repairs, search):
        try:
            converted = auto_convert_mixed_precision(
                model, feeds, rtol=options.rtol, atol=options.atol, keep_io_types=options.keep_io_types
            )
            return converted, repairs[-1]
        except _BudgetSpent as spent:
            raise _OutOfTime(spent.reason(), tuple(search.best or ())) from None
        except Cancelled:
            raise
        except ValueError as exc:
            raise ConversionError(f"mixed precision found no node set within tolerance: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - the converter surfaces onnxruntime's load errors
            raise _ConverterCrash(f"mixed precision conversion failed: {_first_line(exc)}") from exc


def convert_model(
    model: onnx.ModelProto,
    feeds: dict[str, NDArray[np.generic]],
    options: ConversionOptions,
    progress: Progress | None = None,
    *,
    clock: Clock = time.monotonic,
    view: OutputView = VALUES,
    calibration: CalibrationSet | None = None,
) -> tuple[onnx.ModelProto | None, ConversionReport]:
    """Convert and judge on `feeds` by `options.rule`, reading the output through `view`. Returns (model, report);
    model is None when the report failed. `auto` tries fp16, then mixed precision; its report names the one chosen
    and why (or both failures). Mixed precision reports its search through `progress`, stops on its cancel
    (Cancelled) and within `options.time_budget_s` as read on `clock` (seconds). int8 is calibrated on
    `calibration` (default: `feeds` alone).
    Raises ModelError when the model has no float32 input, ValueError for precision fp32."""
    if options.precision == Precision.AUTO:
        return _convert_auto(model, feeds, options, progress, clock, view)
    if options.precision == Precision.FP32:
        raise ValueError(f"convert_model handles fp16, amp and int8, not {options.precision}")
    float_inputs = [vi for vi in model.graph.input if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
    if not float_inputs:
        raise ModelError("model has no float32 inputs: it is already reduced precision, nothing to convert")
    if options.precision == Precision.INT8:
        return _convert_int8(model, feeds, options, calibration or calibration_of_feeds(feeds), view)
    return _convert_half(model, feeds, options, progress, clock, view)


def _convert_half(
    model: onnx.ModelProto,
    feeds: dict[str, NDArray[np.generic]],
    options: ConversionOptions,
    progress: Progress | None,
    clock: Clock,
    view: OutputView,
) -> tuple[onnx.ModelProto | None, ConversionReport]:
    """fp16 or mixed precision: repairs, the fp16 range check, the conversion, then the accuracy rule."""
    report = ConversionReport(status=Status.FAILED, precision=options.precision, casts_before=count_casts(model))
    reference = _run(model, feeds, view.name)[0]
    with tempfile.TemporaryDirectory() as workdir:
        repaired, repairs = prepare_for_fp16(model, workdir)
    blocked = oversized_nodes(repaired)
    if blocked:
        repairs.append(f"kept {len(blocked)} nodes fp32: their weights exceed fp16's safe range")
    peaks = activation_peaks(repaired, feeds)
    if options.precision == Precision.FP16 and (over := nodes_over(peaks, FP16_MAX)):
        worst = max(over, key=lambda name: peaks[name])
        reason = (
            f"{len(over)} nodes produce values beyond fp16's range (largest {peaks[worst]:.3g} at {worst}); "
            "use mixed precision (AMP), which keeps them fp32"
        )
        return None, replace(report, repairs=tuple(repairs), reason=reason)
    try:
        with _converter_chatter_to_log():
            if options.precision == Precision.FP16:
                converted = _fp16(repaired, options, blocked)
                keep = float_output_names(repaired) if options.keep_io_types else frozenset()
                fixes = _repair_casts(converted, keep)
            else:
                hot = nodes_over(peaks, FP16_MAX / HEADROOM)
                if hot:
                    repairs.append(f"kept {len(hot)} nodes fp32: their activations come near fp16's limit")
                converted, fixes = _amp(repaired, options, feeds, blocked + hot, progress, clock)
    except (Cancelled, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - the converter's own failure is a report, not a traceback
        return None, _conversion_failed(replace(report, repairs=tuple(repairs)), exc)
    report = replace(
        report,
        redundant_casts_removed=fixes.removed,
        repairs=(*repairs, *fixes.describe()),
        casts_after=count_casts(converted),
        fp32_nodes=tuple(_float_nodes(converted)),
    )
    return _judged(converted, reference, feeds, options, report, view)


def _conversion_failed(report: ConversionReport, exc: Exception) -> ConversionReport:
    """`report` with why the conversion failed: a refusal of the search (an accuracy verdict, with the best node set
    found when the time ran out), or the converter's crash."""
    if isinstance(exc, _OutOfTime):
        return replace(report, reason=str(exc), fp32_nodes=exc.fp32_nodes)
    if isinstance(exc, ConversionError):
        return replace(report, reason=str(exc), converter_failed=isinstance(exc, _ConverterCrash))
    return replace(report, reason=f"{report.precision} conversion failed: {_first_line(exc)}", converter_failed=True)


UNITS = {
    OutputKind.PICTURE: " (in display units)",
    OutputKind.MASK: " (mask values)",
    OutputKind.VALUES: "",
}


def _judged(
    converted: onnx.ModelProto,
    reference: NDArray[np.generic],
    feeds: dict[str, NDArray[np.generic]],
    options: ConversionOptions,
    report: ConversionReport,
    view: OutputView,
) -> tuple[onnx.ModelProto | None, ConversionReport]:
    """The converted model's output against fp32's on the same feeds, judged by the accuracy rule: the figures,
    and the model only if it passed."""
    try:
        output = _run(converted, feeds, view.name)[0]
    except Exception as exc:  # noqa: BLE001 - the converter's output is untrusted until it loads
        reason = f"converted model does not load or run in onnxruntime: {_first_line(exc)}"
        return None, replace(report, reason=reason, converter_failed=True)
    acc = compare(reference, output, view, options.rule)
    report = report.judged(acc, options.rule)
    failures = options.rule.failures(acc)
    if acc.nonfinite_count:
        reason = f"{acc.nonfinite_count} output values are NaN or Inf in {options.precision}"
        return None, replace(report, reason=reason)
    if failures:
        return None, replace(report, reason=f"outside the tolerance: {'; '.join(failures)}{UNITS[acc.kind]}")
    return converted, replace(report, status=Status.OK)


def _kept_notes(kept: list[KeptFloat]) -> list[str]:
    """One line per reason: how many nodes int8 left in float for it."""
    reasons: dict[str, int] = {}
    for k in kept:
        reasons[k.reason] = reasons.get(k.reason, 0) + 1
    return [f"kept {n} node{'s' * (n != 1)} float: {reason}" for reason, n in reasons.items()]


def _convert_int8(
    model: onnx.ModelProto,
    feeds: dict[str, NDArray[np.generic]],
    options: ConversionOptions,
    calibration: CalibrationSet,
    view: OutputView,
) -> tuple[onnx.ModelProto | None, ConversionReport]:
    """Static int8 quantization calibrated on `calibration`, judged on `feeds` like every precision."""
    report = ConversionReport(
        status=Status.FAILED, precision=Precision.INT8, casts_before=count_casts(model), calibration=calibration.record
    )
    reference = _run(model, feeds, view.name)[0]
    try:
        quantized, kept = quantize(model, calibration, options.op_block_list)
    except (Cancelled, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - the quantizer's own failure is a report, not a traceback
        return None, replace(report, reason=f"int8 quantization failed: {_first_line(exc)}", converter_failed=True)
    report = replace(
        report,
        fp32_nodes=tuple(k.node for k in kept),
        repairs=tuple(_kept_notes(kept)),
        casts_after=count_casts(quantized),
    )
    return _judged(quantized, reference, feeds, options, report, view)


def _convert_auto(
    model: onnx.ModelProto,
    feeds: dict[str, NDArray[np.generic]],
    options: ConversionOptions,
    progress: Progress | None,
    clock: Clock,
    view: OutputView,
) -> tuple[onnx.ModelProto | None, ConversionReport]:
    fp16, first = convert_model(model, feeds, replace(options, precision=Precision.FP16), view=view)
    if fp16 is not None:
        decision = "fp16: it passed the accuracy check (the fastest reduced precision)"
        return fp16, replace(first, requested=Precision.AUTO, decision=decision)
    amp, second = convert_model(
        model, feeds, replace(options, precision=Precision.AMP), progress, clock=clock, view=view
    )
    second = replace(second, requested=Precision.AUTO, attempts=(first,))
    if amp is not None:
        return amp, replace(second, decision=f"mixed precision: fp16 failed the accuracy check ({first.reason})")
    reason = f"neither fp16 ({first.reason}) nor mixed precision ({second.reason}) passed; keep fp32"
    return None, replace(second, reason=reason)


def convert_judged(
    model: onnx.ModelProto,
    info: ModelInfo,
    sample: NDArray[np.float32] | None,
    options: ConversionOptions,
    contract: ModelContract | None = None,
    progress: Progress | None = None,
    more: tuple[NDArray[np.float32], ...] = (),
) -> tuple[onnx.ModelProto | None, ConversionReport]:
    """convert_model on feeds made from `sample` (validation_feeds decides how: the whole image for a global
    model, the richest crops otherwise, a synthetic image without one), judging the output that is the result the
    contract's way; int8 is calibrated on the same image and `more` frames (int8.calibration_set). The report says
    on what."""
    from .int8 import calibration_set
    from .validation_feeds import output_view, sample_feeds, validated_on

    view = output_view(info, contract)
    calibration = calibration_set(info, sample, contract, more) if options.precision == Precision.INT8 else None
    feeds = calibration.feeds[0] if calibration else sample_feeds(info, sample, contract)
    converted, report = convert_model(model, feeds, options, progress, view=view, calibration=calibration)
    judged = validated_on(info, sample)
    attempts = tuple(replace(attempt, validated_on=judged) for attempt in report.attempts)
    return converted, replace(report, validated_on=judged, attempts=attempts)


def convert_model_file(
    model_path: str | os.PathLike[str],
    options: ConversionOptions,
    *,
    sample: NDArray[np.float32] | None = None,
    out: str | os.PathLike[str] | None = None,
    contract: ModelContract | None = None,
    more: tuple[NDArray[np.float32], ...] = (),
) -> ConversionReport:
    """Convert any float model file, validated on feeds made from its inputs (`sample` HxWxC, or a synthetic
    image, for image inputs; the contract's constants or random values elsewhere), and save the result to
    `out` when it passed. The report says whether it did.

    Raises: EngineError when `out`'s folder does not exist (said before converting); ModelError when the model
    cannot be read, loaded or converted (ContractError: the contract is wrong); ImageError when `sample` cannot be
    fed to it. A conversion that fails or is outside tolerance raises nothing: the report says so."""
    from ..model.declared_shape import apply_declarations
    from ..model.describe import describe_inputs
    from ..model.onnx_io import clamp_ir_version, load_model, save_model

    if out is not None and not Path(out).parent.is_dir():  # said before minutes of converting, not after
        raise EngineError(f"cannot write {out}: the folder {Path(out).parent} does not exist")
    contract = contract or ModelContract()
    model = load_model(model_path)
    clamp_ir_version(model)
    apply_declarations(model, contract)
    info = describe_inputs(model, contract.constant_values)
    converted, report = convert_judged(model, info, sample, options, contract, more=more)
    if converted is not None and out is not None:
        save_model(converted, out)
    return report
