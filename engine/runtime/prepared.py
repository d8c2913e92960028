"""A prepared model as the rest of the engine uses it, and this process's prepared models (no onnx here: a cache
hit builds one without loading the ONNX library)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ConversionError
from ..image.channels import to_tensor
from ..model.contract import ModelContract
from ..model.records import ModelInfo, TensorInfo
from ..options import Device, Layout, Precision
from ..precision.records import FP16_NEXT_STEP, ConversionOptions, ConversionReport
from .sessions import ProviderChoice, SessionCache, SessionSettings

if TYPE_CHECKING:
    import onnxruntime


class PreparedFrom(StrEnum):
    """How this process got a prepared model; its value is the words a report uses."""

    CONVERTED = "converted and cached"
    """Built here: converted (or optimized, for fp32) and written to the cache."""
    CACHE_HIT = "cache hit"
    """Loaded from the file cache, nothing converted."""
    MEMORY = "reused in memory"
    """Handed out again by this process's SESSIONS: no file was read."""


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

    @property
    def prepared_from(self) -> PreparedFrom:
        """Converted, loaded from the cache, or reused in memory. The last is a property of this process, not of the
        session (the same object is handed out again, so no field can say it): SESSIONS remembers it."""
        if SESSIONS.reused(self):
            return PreparedFrom.MEMORY
        return PreparedFrom.CACHE_HIT if self.cache_hit else PreparedFrom.CONVERTED

    def session_view(self, tensor: TensorInfo) -> TensorInfo:
        """`tensor` as the session takes or gives it."""
        return replace(tensor, layout=Layout.NHWC) if self.channels_last else tensor

    def session_feeds(self, image: NDArray[np.float32]) -> dict[str, NDArray[np.generic]]:
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


def actual_provider(session: onnxruntime.InferenceSession) -> Device:
    """CUDA only when the session really has the CUDA provider (it can fail to start for a model)."""
    return Device.CUDA if "CUDAExecutionProvider" in session.get_providers() else Device.CPU


def conversion_failed(report: ConversionReport) -> ConversionError:
    hint = f"; {FP16_NEXT_STEP}" if report.precision == Precision.FP16 and report.requested is None else ""
    return ConversionError(f"{report.precision} conversion failed: {report.reason}{hint}", report)


def channels_last_io(choice: ProviderChoice) -> bool:
    """CUDA sessions take NHWC images (a Transpose in the graph is cheap on the GPU and saves host passes); CPU
    sessions keep the model's own layout: on the CPU, the adapter's Transposes cost about 10% of a 1080p -> 4K
    run (sr_x2, interleaved), more than the numpy copies that already happen on the way in (Blender's RGBA to
    the model's channels) and out (to Blender's RGBA) cost when they transpose as well."""
    return choice.name == Device.CUDA


@dataclass(frozen=True, kw_only=True)
class Request:
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
    calibration_frames: tuple[NDArray[np.float32], ...] = ()
    """More frames int8 is calibrated on besides the sample (a sequence's next frames); in `key` by their digest."""

    def prepared(
        self,
        session: onnxruntime.InferenceSession,
        *,
        info: ModelInfo,
        fallback_reason: str,
        cache_hit: bool,
        startup_seconds: float,
        optimized_model: str | None,
        report: ConversionReport | None,
        warnings: tuple[str, ...],
        converted_model: str | None,
    ) -> PreparedModel:
        """The prepared model this request asked for, on `session`, with what preparing it found out (from the
        cache or built): the request's own fields are filled here, once."""
        return PreparedModel(
            session=session,
            info=info,
            precision=self.precision,
            provider=actual_provider(session),
            fallback_reason=fallback_reason,
            cache_hit=cache_hit,
            startup_seconds=startup_seconds,
            optimized_model=optimized_model,
            report=report,
            settings=self.settings,
            channels_last=channels_last_io(self.choice),
            warnings=warnings,
            converted_model=converted_model,
            precision_note=self.precision_note,
        )
