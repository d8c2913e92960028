"""ONNX Runtime sessions on the best provider, with the reason for any fallback, cached in-process."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from .errors import ModelError
from .gpu_runtime import cuda_unavailable_reason, gpu_name

log = logging.getLogger(__name__)

PROVIDERS = ("auto", "cuda", "cpu")
OPT_LEVELS = ("disabled", "basic", "extended", "all")


@dataclass(frozen=True)
class SessionSettings:
    provider: str = "auto"
    device_id: int = 0
    cudnn_conv_algo_search: str = "EXHAUSTIVE"
    gpu_mem_limit: int = 0
    """Bytes; 0 leaves onnxruntime's default (no limit)."""
    arena_extend_strategy: str = "kNextPowerOfTwo"
    do_copy_in_default_stream: bool = True
    prefer_nhwc: bool = False
    """CUDA only, builds that support it: run convolutions channels-last (Tensor Core friendly)."""
    intra_op_threads: int = 0
    log_severity: int = 3
    profiling: bool = False
    profile_prefix: str = "onnx_image_runtime_profile"
    optimization_level: str = "extended"

    def cuda_options(self) -> dict:
        opts = {
            "device_id": self.device_id,
            "cudnn_conv_algo_search": self.cudnn_conv_algo_search,
            "arena_extend_strategy": self.arena_extend_strategy,
            "do_copy_in_default_stream": self.do_copy_in_default_stream,
        }
        if self.gpu_mem_limit:
            opts["gpu_mem_limit"] = self.gpu_mem_limit
        if self.prefer_nhwc:
            opts["prefer_nhwc"] = "1"
        return opts


@dataclass(frozen=True)
class ProviderChoice:
    name: str
    """'cuda' or 'cpu': what sessions will actually run on."""
    fallback_reason: str = ""
    key: dict = field(default_factory=dict, compare=False, hash=False)
    """Everything an optimized model depends on about the provider, for cache keys."""


def resolve_provider(settings: SessionSettings) -> ProviderChoice:
    if settings.provider not in PROVIDERS:
        raise ValueError(f"unknown provider {settings.provider!r}; choose one of {PROVIDERS}")
    if settings.provider == "cpu":
        return ProviderChoice("cpu", "", {"provider": "cpu"})
    reason = cuda_unavailable_reason()
    if reason:
        said = "CUDA requested, but" if settings.provider == "cuda" else "CUDA not used:"
        return ProviderChoice("cpu", f"{said} {reason}: running on CPU", {"provider": "cpu"})
    key = {"provider": "cuda", "gpu": gpu_name(settings.device_id), **settings.cuda_options()}
    return ProviderChoice("cuda", "", key)


def _level(name: str):
    import onnxruntime as ort

    levels = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if name not in levels:
        raise ValueError(f"unknown optimization level {name!r}; choose one of {OPT_LEVELS}")
    return levels[name]


def session_options(settings: SessionSettings, level: str, save_to: str | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = _level(level)
    options.log_severity_level = settings.log_severity
    if settings.intra_op_threads:
        options.intra_op_num_threads = settings.intra_op_threads
    if settings.profiling:
        options.enable_profiling = True
        options.profile_file_prefix = settings.profile_prefix
    if save_to:
        options.optimized_model_filepath = save_to
    return options


def cpu_session(model, level: str = "all", save_to: str | None = None, log_severity: int = 3):
    """A quiet CPU session for the engine's own work on a model (validation runs, size probes,
    pre-optimization); `model` is a ModelProto, written at an IR version onnxruntime accepts."""
    import onnxruntime as ort

    from .onnx_io import serialize

    options = session_options(SessionSettings(log_severity=log_severity), level, save_to)
    return ort.InferenceSession(serialize(model), options, providers=["CPUExecutionProvider"])


def create_session(model: bytes | str, settings: SessionSettings, choice: ProviderChoice, level: str, save_to=None):
    """Build a session; returns (session, fallback_reason) with the reason filled in when the
    provider we asked for did not end up in the session."""
    import onnxruntime as ort

    providers: list = ["CPUExecutionProvider"]
    if choice.name == "cuda":
        providers.insert(0, ("CUDAExecutionProvider", settings.cuda_options()))
    try:
        session = ort.InferenceSession(model, session_options(settings, level, save_to), providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's exception types are not public
        raise ModelError(f"onnxruntime cannot load the model: {str(exc).splitlines()[0]}") from exc
    reason = choice.fallback_reason
    if choice.name == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        reason = "CUDA requested, but the CUDA provider failed to start for this model: running on CPU"
    return session, reason


class SessionCache:
    """One session per (optimized model, provider settings), shared by every run in the process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sessions: dict[tuple, tuple] = {}

    def get(self, key: tuple):
        with self._lock:
            return self._sessions.get(key)

    def put(self, key: tuple, value: tuple) -> None:
        with self._lock:
            self._sessions[key] = value

    def holds(self, value) -> bool:
        with self._lock:
            return any(held is value for held in self._sessions.values())

    def release(self, value) -> int:
        """Forget every entry holding `value`, so its session and device buffers can be freed (Cycles
        wants the GPU memory back after an animation). Returns how many entries were dropped."""
        with self._lock:
            keys = [key for key, held in self._sessions.items() if held is value]
            for key in keys:
                del self._sessions[key]
            return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()


SESSIONS = SessionCache()
