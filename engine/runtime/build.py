"""Building a prepared model on a cache miss: describe the source model, convert it (or take the converted graph
from the cache), optimize it with onnxruntime into the cache and take its memory need. The only part of preparing
that needs the ONNX library; runtime.prepare imports it only on a miss."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from numpy.typing import NDArray

from .. import atomic
from ..model.channels_last import to_channels_last
from ..model.contract import ModelContract
from ..model.declared_shape import apply_declarations
from ..model.describe import describe_model
from ..model.onnx_io import parse_model, serialize
from ..model.records import ModelInfo
from ..model.source_order import in_source_order
from ..options import Device, Layout, Precision
from ..precision.convert import convert_judged
from ..precision.records import ConversionReport
from ..precision.validation_feeds import sample_feeds
from ..progress import Progress
from .cache import CacheUnavailable, EntryMeta, ModelCache
from .prepared import PreparedModel, Request, actual_provider, channels_last_io, conversion_failed
from .refusals import keep_refusal
from .sessions import create_session

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)


def _convert(
    request: Request,
    model: onnx.ModelProto,
    info: ModelInfo,
    sample: NDArray[np.float32] | None,
    cache: ModelCache,
    progress: Progress | None = None,
) -> tuple[onnx.ModelProto, ConversionReport | None, str | None]:
    """The converted graph, its report and where it is cached: from the cache when this model was converted
    with these options before (for another provider or level, say), else converted now and cached."""
    if request.precision == Precision.FP32:
        return model, None, None
    entry = cache.lookup(request.conversion_key)
    if entry is not None and entry.meta.report is None:
        cache.discard(request.conversion_key, "has no conversion report")
    elif entry is not None and entry.meta.report is not None:
        return (
            parse_model(entry.model_path.read_bytes(), "cached converted model"),
            entry.meta.report,
            str(entry.model_path),
        )
    more = request.calibration_frames
    converted, report = convert_judged(model, info, sample, request.options, request.contract, progress, more)
    if converted is None:
        keep_refusal(request, cache, report)
        raise conversion_failed(report)
    try:
        temp = cache.temp_model_path(request.conversion_key)
        temp.write_bytes(serialize(converted))
        stored = cache.commit(request.conversion_key, temp, EntryMeta(report=report))
    except (CacheUnavailable, OSError) as exc:
        log.warning("the converted model is not cached: %s", exc)
        return converted, report, None
    return converted, report, str(stored.model_path)


def _footprint_of_served_graph(
    info: ModelInfo,
    optimized: Path | None,
    written: onnx.ModelProto | None,
    served: onnx.ModelProto,
    contract: ModelContract,
) -> ModelInfo:
    """`info` with its memory need per pixel taken on the graph the CPU session runs (onnxruntime's optimized
    graph, blocked channel layouts included, as `written` to the cache when it was read already; else the
    converted graph): model.footprint says why. A graph that cannot be probed keeps the source graph's need."""
    from ..model.footprint import bytes_per_pixel

    try:
        if written is not None:
            graph = written
        else:
            graph = onnx.load(str(optimized)) if optimized is not None else served
        feeds = sample_feeds(info, None, contract)
        first = info.image_inputs[0]
        shape = feeds[first.name].shape
        h, w = (shape[2], shape[3]) if first.layout == Layout.NCHW else (shape[1], shape[2])
        return replace(info, bytes_per_pixel=bytes_per_pixel(graph, feeds, h * w))
    except Exception as exc:  # noqa: BLE001 - an estimate: the source graph's stands
        log.debug("memory need not probed on the optimized graph: %s", exc)
        return info


def _optimized_session(
    request: Request, model: onnx.ModelProto, cache: ModelCache, warnings: list[str]
) -> tuple[onnxruntime.InferenceSession, str, Path | None]:
    """A session on `model`, onnxruntime writing its optimized graph to a temporary cache file. Returns the session,
    its fallback reason and that file (None when it cannot be cached: `warnings` says why)."""
    try:
        temp: Path | None = cache.temp_model_path(request.key)
    except CacheUnavailable as exc:
        warnings.append(f"{exc}; the optimized model is not cached this time")
        temp = None
    settings, choice = request.settings, request.choice
    data = serialize(model)
    try:
        session, reason = create_session(data, settings, choice, choice.level(settings), str(temp) if temp else None)
    except Exception as exc:
        if temp is None:
            raise
        temp.unlink(missing_ok=True)
        # onnxruntime writes the optimized model itself: a cache folder that filled up or vanished
        # meanwhile fails here with a message that blames the model ('SystemError : 2'). Without the
        # cache file the same model either loads (the cache was at fault) or fails for its own reason.
        session, reason = create_session(data, settings, choice, choice.level(settings), None)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warnings.append(f"the optimized model could not be written to the cache ({first}); it is not cached this time")
        temp = None
    if temp is not None and actual_provider(session) != choice.name:
        # CUDA failed to start for this model: what was optimized is a CPU graph, not for this key.
        temp.unlink(missing_ok=True)
        temp = None
    return session, reason, temp


REORDER_LIMIT = 512 << 20
"""Largest optimized file rewritten in source order: it is loaded and serialized whole (twice its size in memory)."""


def _keep_source_order(temp: Path, source: onnx.ModelProto) -> onnx.ModelProto | None:
    """Rewrite the optimized graph onnxruntime wrote at `temp` in `source`'s node order (model.source_order says
    why: later runs load this file, and run its nodes in the order it lists). Returns the graph as the file now holds
    it (the footprint is taken on it without parsing the file again), None when it was not read whole. A file with
    external weights, one over REORDER_LIMIT, one the sort does not handle, or any failure on the way leaves
    onnxruntime's file as it was (replaced whole, never half-written): the order saves memory, it is never a reason
    for a build to fail."""
    try:
        if temp.stat().st_size > REORDER_LIMIT:
            return None
        optimized = onnx.load(str(temp), load_external_data=False)
        if any(init.data_location == onnx.TensorProto.EXTERNAL for init in optimized.graph.initializer):
            return None
        if in_source_order(optimized, source):  # False leaves the graph as it was read
            atomic.write_bytes(temp, optimized.SerializeToString())
        return optimized
    except Exception as exc:  # noqa: BLE001 - onnx's parse errors are protobuf's; a full disk is OSError
        log.warning("the optimized model is cached in onnxruntime's node order (%s: %s)", type(exc).__name__, exc)
        return None


def build(
    request: Request,
    model: onnx.ModelProto,
    cache: ModelCache,
    warnings: list[str],
    sample: NDArray[np.float32] | None = None,
    progress: Progress | None = None,
) -> PreparedModel:
    """A prepared model made from the source `model` on a cache miss, committed to `cache` when it can be."""
    warnings.extend(apply_declarations(model, request.contract))
    info = describe_model(model, request.contract.constant_values)
    model, report, converted_path = _convert(request, model, info, sample, cache, progress)
    if channels_last_io(request.choice):
        model = to_channels_last(model, info)
    start = time.perf_counter()
    session, reason, temp = _optimized_session(request, model, cache, warnings)
    startup = time.perf_counter() - start
    written = _keep_source_order(temp, model) if temp is not None else None
    provider = actual_provider(session)
    optimized = None
    if provider == Device.CPU:
        info = _footprint_of_served_graph(info, temp, written, model, request.contract)
    if temp is not None:
        meta = EntryMeta(
            info=info,
            report=report,
            warnings=tuple(warnings),
            precision=request.precision,
            converted_model=converted_path,
        )
        try:
            optimized = str(cache.commit(request.key, temp, meta).model_path)
        except CacheUnavailable as exc:
            warnings.append(f"{exc}; the optimized model is not cached this time")
    return request.prepared(
        session,
        info=info,
        fallback_reason=reason,
        cache_hit=False,
        startup_seconds=startup,
        optimized_model=optimized,
        report=report,
        warnings=tuple(warnings),
        converted_model=converted_path,
    )
