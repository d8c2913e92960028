"""prepare_model: a session for a model at a precision, from the cache when it holds one (a hit loads the cached
optimized graph without the ONNX library), else built (runtime.build). `auto` resolves here."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import ConversionError, ModelError
from ..model.contract import ModelContract
from ..model.digest import external_data_digest, sha256_bytes
from ..model.records import ModelInfo
from ..options import Device, OptLevel, Precision
from ..precision.records import ConversionOptions, ConversionReport
from ..progress import Progress
from .cache import CacheEntry, ModelCache, cache_key, default_cache_dir
from .prepared import (
    SESSIONS,
    PreparedFrom,
    PreparedModel,
    Request,
    channels_last_io,
    is_loaded,
    release_model,
)
from .sessions import SessionSettings, create_session, resolve_provider

__all__ = [
    "SESSIONS",
    "PreparedFrom",
    "PreparedModel",
    "is_loaded",
    "needs_sample",
    "prepare_model",
    "release_model",
]

log = logging.getLogger(__name__)


def _request(
    model_path: str | Path,
    precision: Precision | str,
    settings: SessionSettings | None,
    options: ConversionOptions | None,
    contract: ModelContract | None = None,
    precision_note: str = "",
) -> Request:
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
    if contract.redeclares:
        # Re-declared input shapes change the graph itself (model.declared_shape).
        conversion["declared"] = {"size": str(contract.size), "batch": contract.batch}
    if precision != Precision.FP32:
        # A conversion is validated on inputs fed the contract's way: it changes the converted graph.
        conversion["contract"] = {"input": contract.input.to_json(), "constants": contract.to_json()["constants"]}
    key = cache_key(
        {
            **conversion,
            "provider": choice.key,
            "level": str(choice.level(settings)),
            "io": "channels_last" if channels_last_io(choice) else "native",
        }
    )
    return Request(
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
    request: Request,
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
        from ..model.onnx_io import clamp_ir_version, parse_model  # the ONNX library: only on a miss
        from .build import build

        model = parse_model(request.data, request.path, Path(request.path).parent)
        prepared = build(request, model, cache, clamp_ir_version(model), sample, progress)
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


def _from_cache(request: Request, entry: CacheEntry) -> PreparedModel:
    start = time.perf_counter()
    info, report = _cached_info(entry.meta)
    warnings = entry.meta.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise TypeError("warnings is not a list of strings")
    session, reason = create_session(str(entry.model_path), request.settings, request.choice, OptLevel.DISABLED)
    return request.prepared(
        session,
        info=info,
        fallback_reason=reason,
        cache_hit=True,
        startup_seconds=time.perf_counter() - start,
        optimized_model=str(entry.model_path),
        report=report,
        warnings=tuple(warnings),
        converted_model=entry.meta.get("converted_model"),
    )
