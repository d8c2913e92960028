"""From a model file to a ready session: convert, offline-optimize, cache, pick the provider."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import CacheUnavailable, ModelCache, cache_key, default_cache_dir
from .channels_last import to_channels_last
from .convert import PRECISIONS, ConversionOptions, ConversionReport, convert_model
from .describe import ModelInfo, describe_model
from .errors import ConversionError, ModelError
from .onnx_io import clamp_ir_version, parse_model, serialize, sha256_bytes
from .samples import sample_feeds
from .sessions import SESSIONS, SessionSettings, create_session, resolve_provider

log = logging.getLogger(__name__)


@dataclass
class PreparedModel:
    """A ready session. Its image inputs and outputs are channels-last (NHWC) whatever `info` says
    about the original model: see channels_last.py."""

    session: object
    info: ModelInfo
    precision: str
    provider: str
    """'cuda' or 'cpu': where it actually runs."""
    fallback_reason: str
    cache_hit: bool
    startup_seconds: float
    optimized_model: str | None
    """Path of the cached optimized model, None when the cache could not be written."""
    report: ConversionReport | None
    settings: SessionSettings
    warnings: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """Held by each run: runs share the bound input and output buffers."""

    def summary(self) -> dict:
        """The `optimize` command's JSON contract."""
        return {
            "cache_hit": self.cache_hit,
            "startup_seconds": round(self.startup_seconds, 4),
            "optimized_model": self.optimized_model,
            "provider": self.provider,
            "fallback_reason": self.fallback_reason,
            "precision": self.precision,
            "warnings": self.warnings,
        }


def _actual_provider(session) -> str:
    """'cuda' only when the session really has the CUDA provider (it can fail to start for a model)."""
    return "cuda" if "CUDAExecutionProvider" in session.get_providers() else "cpu"


def _conversion_failed(report: ConversionReport) -> ConversionError:
    error = ConversionError(f"{report.precision} conversion failed: {report.reason}")
    error.report = report
    return error


def prepare_model(
    model_path: str | Path,
    precision: str = "fp16",
    settings: SessionSettings | None = None,
    cache_dir: str | Path | None = None,
    sample: np.ndarray | None = None,
    options: ConversionOptions | None = None,
) -> PreparedModel:
    """Return a session for `model_path` at `precision`, reusing the cached optimized model when one
    matches everything it depends on. `sample` (HxWxC) validates conversions; raises ConversionError
    (with `.report`) when the converted model is outside tolerance, and caches nothing then."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    settings = settings or SessionSettings()
    options = options or ConversionOptions(precision=precision)
    if options.precision != precision:
        options = ConversionOptions(**{**options.key(), "precision": precision})
    if not Path(model_path).is_file():
        raise ModelError(f"model file not found: {model_path}")
    data = Path(model_path).read_bytes()
    model = parse_model(data, str(model_path))
    warnings = clamp_ir_version(model)
    choice = resolve_provider(settings)
    key = cache_key(
        {
            "model": sha256_bytes(data),
            "conversion": options.key() if precision != "fp32" else "fp32",
            "onnxruntime": __import__("onnxruntime").__version__,
            "provider": choice.key,
            "level": settings.optimization_level,
            "io": "channels_last",
        }
    )
    session_key = (key, settings)
    if cached := SESSIONS.get(session_key):
        return cached

    cache = ModelCache(cache_dir or default_cache_dir())
    entry = cache.lookup(key)
    if entry is not None:
        start = time.perf_counter()
        session, reason = create_session(str(entry.model_path), settings, choice, "disabled")
        provider = _actual_provider(session)
        prepared = PreparedModel(
            session,
            ModelInfo.from_json(entry.meta["info"]),
            precision,
            provider,
            reason,
            True,
            time.perf_counter() - start,
            str(entry.model_path),
            ConversionReport(**entry.meta["report"]) if entry.meta.get("report") else None,
            settings,
            warnings,
        )
        SESSIONS.put(session_key, prepared)
        return prepared

    info = describe_model(model)
    report = None
    if precision != "fp32":
        converted, report = convert_model(model, sample_feeds(info, sample), options)
        if converted is None:
            raise _conversion_failed(report)
        model = converted
    model = to_channels_last(model, info)

    try:
        temp = cache.temp_model_path(key)
    except CacheUnavailable as exc:
        warnings.append(f"{exc}; the optimized model is not cached this time")
        temp = None
    start = time.perf_counter()
    try:
        session, reason = create_session(
            serialize(model), settings, choice, settings.optimization_level, str(temp) if temp else None
        )
    except Exception:
        if temp is not None:
            temp.unlink(missing_ok=True)
        raise
    startup = time.perf_counter() - start
    provider = _actual_provider(session)
    optimized = None
    if temp is not None and provider != choice.name:
        # CUDA failed to start for this model: what was optimized is a CPU graph, not for this key.
        temp.unlink(missing_ok=True)
        temp = None
    if temp is not None:
        meta = {"info": info.to_json(), "report": report.to_json() if report else None, "precision": precision}
        try:
            optimized = str(cache.commit(key, temp, meta).model_path)
        except CacheUnavailable as exc:
            warnings.append(f"{exc}; the optimized model is not cached this time")
    prepared = PreparedModel(
        session, info, precision, provider, reason, False, startup, optimized, report, settings, warnings
    )
    SESSIONS.put(session_key, prepared)
    return prepared
