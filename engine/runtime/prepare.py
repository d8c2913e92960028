"""From a model file to a ready session: convert, offline-optimize, cache, pick the provider."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from ..errors import ConversionError, ModelError
from ..image.channels import to_tensor
from ..model.channels_last import to_channels_last
from ..model.contract import ModelContract
from ..model.describe import ModelInfo, TensorInfo, describe_model
from ..model.onnx_io import clamp_ir_version, external_data_digest, parse_model, serialize, sha256_bytes
from ..options import Device, Layout, OptLevel, Precision
from ..precision.convert import FP16_NEXT_STEP, ConversionOptions, ConversionReport, convert_judged
from ..precision.validation_feeds import sample_feeds
from ..progress import Progress
from .cache import CacheEntry, CacheUnavailable, ModelCache, cache_key, default_cache_dir
from .sessions import ProviderChoice, SessionCache, SessionSettings, create_session, resolve_provider

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, eq=False)
class PreparedModel:
    """A ready session. On CUDA its image inputs and outputs are channels-last (NHWC) whatever `info` says about
    the original model (see model/channels_last.py); on the CPU they are the model's own (`session_view`).
    Compared by identity: one per session. What runs on it share (a lock, bound buffers, the memory budget) is
    owned by inference, not kept here."""

    session: onnxruntime.InferenceSession
    info: ModelInfo
    precision: Precision
    """The precision that actually runs (never auto)."""
    provider: Device
    """Where it actually runs."""
    fallback_reason: str
    """Why it runs on the CPU when CUDA was asked for or allowed; empty otherwise."""
    cache_hit: bool
    startup_seconds: float
    optimized_model: str | None
    """Path of the cached optimized model, None when the cache could not be written."""
    report: ConversionReport | None
    """The conversion's accuracy report; None for fp32."""
    converted_model: str | None = None
    """Path of the cached converted graph (before layout changes and optimization) that passed the accuracy
    check; None for fp32 or when the cache could not be written. The advisor reads it instead of converting
    again."""
    settings: SessionSettings
    warnings: tuple[str, ...] = ()
    precision_note: str = ""
    """Why this precision runs when auto chose it (shown in the panel and the JSON summary)."""
    channels_last: bool = False
    """The session's image tensors were made NHWC (model/channels_last.py)."""

    def session_view(self, tensor: TensorInfo) -> TensorInfo:
        """`tensor` as the session takes or gives it."""
        return replace(tensor, layout=Layout.NHWC) if self.channels_last else tensor

    def session_feeds(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """An HxWxC image fed to every image input as the session takes it (cut to each input's channels)."""
        return {t.name: to_tensor(image[:, :, : t.channels], self.session_view(t)) for t in self.info.image_inputs}

    def summary(self) -> dict[str, Any]:
        """The `optimize` command's JSON contract."""
        return {
            "cache_hit": self.cache_hit,
            "startup_seconds": round(self.startup_seconds, 4),
            "optimized_model": self.optimized_model,
            "provider": str(self.provider),
            "fallback_reason": self.fallback_reason,
            "precision": str(self.precision),
            "precision_note": self.precision_note,
            "warnings": list(self.warnings),
        }


SESSIONS: SessionCache[PreparedModel] = SessionCache()
"""Prepared models of this process by (cache key, session settings): a second prepare is free."""


def release_model(prepared: PreparedModel) -> int:
    """Forget a prepared model so its session and device buffers can be freed (Cycles wants the GPU memory
    back after an animation). Returns how many cache entries held it."""
    return SESSIONS.release(prepared)


def is_loaded(prepared: PreparedModel) -> bool:
    return SESSIONS.holds(prepared)


def _actual_provider(session: onnxruntime.InferenceSession) -> Device:
    """CUDA only when the session really has the CUDA provider (it can fail to start for a model)."""
    return Device.CUDA if "CUDAExecutionProvider" in session.get_providers() else Device.CPU


def _conversion_failed(report: ConversionReport) -> ConversionError:
    hint = f"; {FP16_NEXT_STEP}" if report.precision == Precision.FP16 and report.requested is None else ""
    return ConversionError(f"{report.precision} conversion failed: {report.reason}{hint}", report)


def _channels_last(choice: ProviderChoice) -> bool:
    """CUDA sessions take NHWC images (a Transpose in the graph is cheap on the GPU and saves host passes); CPU
    sessions keep the model's own layout: on the CPU, the adapter's Transposes cost about 10% of a 1080p -> 4K
    run (sr_x2, interleaved), more than the numpy copies that already happen on the way in (Blender's RGBA to
    the model's channels) and out (to Blender's RGBA) cost when they transpose as well."""
    return choice.name == Device.CUDA


@dataclass(frozen=True, kw_only=True)
class _Request:
    """Everything a prepared model depends on, resolved once."""

    path: str
    data: bytes
    precision: Precision
    settings: SessionSettings
    options: ConversionOptions
    choice: ProviderChoice
    key: str
    conversion_key: str
    """Cache key of the converted graph alone: the same for every provider and optimization level."""
    contract: ModelContract
    precision_note: str = ""


def _request(
    model_path: str | Path,
    precision: Precision | str,
    settings: SessionSettings | None,
    options: ConversionOptions | None,
    contract: ModelContract | None = None,
    precision_note: str = "",
) -> _Request:
    precision = Precision(precision)
    contract = contract or ModelContract()
    settings = settings or SessionSettings()
    options = replace(options, precision=precision) if options else ConversionOptions(precision=precision)
    if not Path(model_path).is_file():
        raise ModelError(f"model file not found: {model_path}")
    data = Path(model_path).read_bytes()
    choice = resolve_provider(settings)
    conversion = {
        "model": sha256_bytes(data),
        # Weights stored beside the model are part of it: changed weights must not reuse a cached model.
        "external": external_data_digest(data, Path(model_path).parent, str(model_path)),
        "conversion": options.key() if precision != Precision.FP32 else "fp32",
        "onnxruntime": __import__("onnxruntime").__version__,
    }
    if precision != Precision.FP32:
        # A conversion is validated on inputs fed the contract's way: it changes the converted graph.
        conversion["contract"] = {"input": contract.input.to_json(), "constants": contract.to_json()["constants"]}
    key = cache_key(
        {
            **conversion,
            "provider": choice.key,
            "level": str(choice.level(settings)),
            "io": "channels_last" if _channels_last(choice) else "native",
        }
    )
    return _Request(
        path=str(model_path),
        data=data,
        precision=precision,
        settings=settings,
        options=options,
        choice=choice,
        key=key,
        conversion_key=cache_key({**conversion, "stage": "converted"}),
        contract=contract,
        precision_note=precision_note,
    )


def needs_sample(precision: Precision | str, settings: SessionSettings | None = None) -> bool:
    """Whether preparing at `precision` converts the model, and so judges a sample of the image: never for
    fp32, nor for `auto` where it resolves to fp32 (no CUDA). A caller reads a sample only when this says so."""
    precision = Precision(precision)
    if precision == Precision.AUTO:
        return resolve_provider(settings or SessionSettings()).name == Device.CUDA
    return precision != Precision.FP32


def prepare_model(
    model_path: str | Path,
    precision: Precision | str = Precision.AUTO,
    settings: SessionSettings | None = None,
    cache_dir: str | Path | None = None,
    sample: np.ndarray | None = None,
    options: ConversionOptions | None = None,
    contract: ModelContract | None = None,
    progress: Progress | None = None,
) -> PreparedModel:
    """Return a session for `model_path` at `precision`, reusing the cached optimized model when one
    matches everything it depends on. `sample` (HxWxC) validates conversions; raises ConversionError
    (with `.report`) when the converted model is outside tolerance, and caches nothing then. `auto` runs the
    fastest precision that passes on the provider that runs it (see `_auto`). `contract` gives the constants
    for non-image inputs and how validation inputs are fed. `progress` follows (and can cancel) a mixed-precision
    search."""
    if Precision(precision) == Precision.AUTO:
        return _auto(model_path, settings, cache_dir, sample, options, contract, progress)
    return _prepare(_request(model_path, precision, settings, options, contract), cache_dir, sample, "", progress)


_AUTO_CHOICES: dict[str, tuple[Precision, str]] = {}
"""(model hash, provider) -> what auto chose and why, so a failed fp16 conversion is not retried per frame."""


def _auto(model_path, settings, cache_dir, sample, options, contract, progress) -> PreparedModel:
    """Auto: fp32 on the CPU, where fp16 and mixed precision run slower (docs/benchmarks.md); on CUDA fp16 when
    it passes the accuracy check, else mixed precision, else fp32. The prepared model says which and why."""
    choice = resolve_provider(settings or SessionSettings())
    if choice.name != Device.CUDA:
        note = "auto chose fp32: on the CPU, fp16 and mixed precision run slower than fp32"
        request = _request(model_path, Precision.FP32, settings, options, contract, note)
        return _prepare(request, cache_dir, sample, Precision.AUTO, progress)
    if not Path(model_path).is_file():
        raise ModelError(f"model file not found: {model_path}")
    memo = cache_key({"model": sha256_bytes(Path(model_path).read_bytes()), "provider": choice.key})
    if memo in _AUTO_CHOICES:
        precision, note = _AUTO_CHOICES[memo]
        request = _request(model_path, precision, settings, options, contract, note)
        return _prepare(request, cache_dir, sample, Precision.AUTO, progress)
    failures: list[str] = []
    for precision in (Precision.FP16, Precision.AMP):
        note = f"auto chose {precision}: it passed the accuracy check" + (
            f" ({'; '.join(failures)})" if failures else ""
        )
        try:
            request = _request(model_path, precision, settings, options, contract, note)
            prepared = _prepare(request, cache_dir, sample, Precision.AUTO, progress)
        except ConversionError as exc:
            failures.append(f"{precision} failed: {exc}")
            continue
        _AUTO_CHOICES[memo] = (precision, note)
        return prepared
    note = f"auto chose fp32: {'; '.join(failures)}"
    _AUTO_CHOICES[memo] = (Precision.FP32, note)
    request = _request(model_path, Precision.FP32, settings, options, contract, note)
    return _prepare(request, cache_dir, sample, Precision.AUTO, progress)


def _prepare(
    request: _Request,
    cache_dir: str | Path | None,
    sample: np.ndarray | None,
    requested: str = "",
    progress: Progress | None = None,
) -> PreparedModel:
    # Auto's prepared models carry their note: kept apart from the same precision asked for by name.
    session_key = (request.key, request.settings, requested)
    if cached := SESSIONS.get(session_key):
        return cached
    cache = ModelCache(cache_dir or default_cache_dir())
    entry = cache.lookup(request.key)
    prepared = None
    if entry is not None:
        try:
            # A hit loads the optimized graph as it was cached: the source model is not parsed or checked again
            # (its bytes are in the key); what loading it said then is kept with the entry.
            prepared = _from_cache(request, entry)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # Consistent but not what this version writes (missing keys, wrong types): rebuilt, never a
            # traceback and never an entry that fails every time.
            cache.discard(request.key, f"has invalid metadata ({type(exc).__name__}: {exc})")
    if prepared is None:
        model = parse_model(request.data, request.path, Path(request.path).parent)
        prepared = _build(request, model, cache, clamp_ir_version(model), sample, progress)
    SESSIONS.put(session_key, prepared)
    return prepared


def _cached_info(meta: dict) -> tuple[ModelInfo, ConversionReport | None]:
    """The model description and report of a cache entry's metadata; ValueError/TypeError/KeyError
    when it is not what this version writes (the caller rebuilds the entry)."""
    info = ModelInfo.from_json(meta["info"])
    number = (int, float)
    if not (isinstance(info.scale, number) and not isinstance(info.scale, bool) and info.scale > 0):
        raise ValueError(f"scale {info.scale!r} is not a positive number")
    if not (isinstance(info.size_multiple, int) and info.size_multiple >= 1):
        raise ValueError(f"size_multiple {info.size_multiple!r} is not a positive integer")
    fixed = info.fixed_size
    if fixed is not None and not (isinstance(fixed, list) and len(fixed) == 2 and all(type(d) is int for d in fixed)):
        raise ValueError(f"fixed_size {fixed!r} is not [height, width]")
    if not info.image_inputs or not any(t.is_image for t in info.outputs):
        raise ValueError("no image input or output")
    report = meta.get("report")
    if report is not None and not isinstance(report, dict):
        raise TypeError(f"report is a {type(report).__name__}")
    return info, ConversionReport.from_json(report) if report else None


def _from_cache(request: _Request, entry: CacheEntry) -> PreparedModel:
    start = time.perf_counter()
    info, report = _cached_info(entry.meta)
    warnings = entry.meta.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise TypeError("warnings is not a list of strings")
    session, reason = create_session(str(entry.model_path), request.settings, request.choice, OptLevel.DISABLED)
    return PreparedModel(
        session=session,
        info=info,
        precision=request.precision,
        provider=_actual_provider(session),
        fallback_reason=reason,
        cache_hit=True,
        startup_seconds=time.perf_counter() - start,
        optimized_model=str(entry.model_path),
        report=report,
        settings=request.settings,
        channels_last=_channels_last(request.choice),
        warnings=tuple(warnings),
        converted_model=entry.meta.get("converted_model"),
        precision_note=request.precision_note,
    )


def _convert(
    request: _Request,
    model: onnx.ModelProto,
    info: ModelInfo,
    sample: np.ndarray | None,
    cache: ModelCache,
    progress: Progress | None = None,
) -> tuple[onnx.ModelProto, ConversionReport | None, str | None]:
    """The converted graph, its report and where it is cached: from the cache when this model was converted
    with these options before (for another provider or level, say), else converted now and cached."""
    if request.precision == Precision.FP32:
        return model, None, None
    entry = cache.lookup(request.conversion_key)
    if entry is not None:
        try:
            cached_report = ConversionReport.from_json(entry.meta["report"])
        except (KeyError, TypeError, ValueError) as exc:
            cache.discard(request.conversion_key, f"has invalid metadata ({type(exc).__name__}: {exc})")
        else:
            return (
                parse_model(entry.model_path.read_bytes(), "cached converted model"),
                cached_report,
                str(entry.model_path),
            )
    converted, report = convert_judged(model, info, sample, request.options, request.contract, progress)
    if converted is None:
        raise _conversion_failed(report)
    try:
        temp = cache.temp_model_path(request.conversion_key)
        temp.write_bytes(serialize(converted))
        stored = cache.commit(request.conversion_key, temp, {"report": report.to_json()})
    except (CacheUnavailable, OSError) as exc:
        log.warning("the converted model is not cached: %s", exc)
        return converted, report, None
    return converted, report, str(stored.model_path)


def _footprint_of_served_graph(
    info: ModelInfo, optimized: Path | None, served: onnx.ModelProto, contract: ModelContract
) -> ModelInfo:
    """`info` with its memory need per pixel taken on the graph the CPU session runs (onnxruntime's optimized
    graph, blocked channel layouts included; else the converted graph): model.footprint says why. A graph
    that cannot be probed keeps the need measured on the source graph."""
    from ..model.footprint import bytes_per_pixel

    try:
        graph = onnx.load(str(optimized)) if optimized is not None else served
        feeds = sample_feeds(info, None, contract)
        first = info.image_inputs[0]
        shape = feeds[first.name].shape
        h, w = (shape[2], shape[3]) if first.layout == Layout.NCHW else (shape[1], shape[2])
        return replace(info, bytes_per_pixel=bytes_per_pixel(graph, feeds, h * w))
    except Exception as exc:  # noqa: BLE001 - an estimate: the source graph's stands
        log.debug("memory need not probed on the optimized graph: %s", exc)
        return info


def _build(
    request: _Request,
    model: onnx.ModelProto,
    cache: ModelCache,
    warnings: list[str],
    sample: np.ndarray | None = None,
    progress: Progress | None = None,
) -> PreparedModel:
    info = describe_model(model, request.contract.constant_values)
    model, report, converted_path = _convert(request, model, info, sample, cache, progress)
    if _channels_last(request.choice):
        model = to_channels_last(model, info)
    try:
        temp: Path | None = cache.temp_model_path(request.key)
    except CacheUnavailable as exc:
        warnings.append(f"{exc}; the optimized model is not cached this time")
        temp = None
    start = time.perf_counter()
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
    startup = time.perf_counter() - start
    provider = _actual_provider(session)
    optimized = None
    if temp is not None and provider != choice.name:
        # CUDA failed to start for this model: what was optimized is a CPU graph, not for this key.
        temp.unlink(missing_ok=True)
        temp = None
    if provider == Device.CPU:
        info = _footprint_of_served_graph(info, temp, model, request.contract)
    if temp is not None:
        meta = {
            "warnings": list(warnings),
            "info": info.to_json(),
            "report": report.to_json() if report else None,
            "precision": request.precision,
            "converted_model": converted_path,
        }
        try:
            optimized = str(cache.commit(request.key, temp, meta).model_path)
        except CacheUnavailable as exc:
            warnings.append(f"{exc}; the optimized model is not cached this time")
    return PreparedModel(
        session=session,
        info=info,
        precision=request.precision,
        provider=provider,
        fallback_reason=reason,
        cache_hit=False,
        startup_seconds=startup,
        optimized_model=optimized,
        report=report,
        settings=settings,
        channels_last=_channels_last(choice),
        warnings=tuple(warnings),
        converted_model=converted_path,
        precision_note=request.precision_note,
    )
