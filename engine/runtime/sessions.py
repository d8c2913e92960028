"""ONNX Runtime sessions on the best provider, with the reason for any fallback, cached in-process."""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from ..errors import ModelError
from ..model.cpu_session import ort_level
from ..options import Device, OptLevel, Provider
from .cuda.probe import NO_GPU, cuda_unavailable_reason, gpu_name

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class SessionSettings:
    """How sessions are built: provider, its options, threads, logging, optimization level."""

    provider: Provider = Provider.AUTO
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
    optimization_level: OptLevel | None = None
    """None: the level that measures best on the provider the session runs on (BEST_LEVEL)."""

    def __post_init__(self) -> None:
        # Strings are accepted at construction (scripts, tests) and stored as the enum.
        object.__setattr__(self, "provider", Provider(self.provider))
        if self.optimization_level is not None:
            object.__setattr__(self, "optimization_level", OptLevel(self.optimization_level))

    def cuda_options(self) -> dict[str, object]:
        opts: dict[str, object] = {
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


BEST_LEVEL = {Device.CPU: OptLevel.ALL, Device.CUDA: OptLevel.EXTENDED}
"""Measured (docs/benchmarks.md): on the CPU, 'all' adds the NCHWc layout transformations that 'extended' lacks
(the sample model's CPU time at 'extended' is 1.30x that at 'all'). CUDA keeps 'extended' until a GPU run
measures otherwise."""


def _cpu_identity() -> str:
    """A saved 'all'-level CPU graph may hold NCHWc kernels chosen for this CPU's vector width: cache keys
    name the CPU (model and the vector extensions it has), so a cache shared between machines stays right."""
    name, flags = platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name == platform.machine():
                    name = f"{platform.machine()} {value.strip()}"
                elif key.strip() == "flags":
                    flags = " ".join(sorted(f for f in value.split() if f.startswith(("avx", "sse4", "fma", "amx"))))
                    break
    except OSError:
        name = f"{platform.machine()} {platform.processor()}"
    return f"{name} [{flags}]"


@dataclass(frozen=True)
class ProviderChoice:
    name: Device
    """What sessions will actually run on."""
    fallback_reason: str = ""
    key: dict[str, object] = field(default_factory=dict, compare=False, hash=False)
    """Everything an optimized model depends on about the provider, for cache keys."""

    def level(self, settings: SessionSettings) -> OptLevel:
        """The optimization level a session for this provider is built at."""
        return settings.optimization_level or BEST_LEVEL[self.name]


def resolve_provider(settings: SessionSettings) -> ProviderChoice:
    cpu_key: dict[str, object] = {"provider": "cpu", "cpu": _cpu_identity()}
    if settings.provider == Provider.CPU:
        return ProviderChoice(Device.CPU, "", cpu_key)
    reason = cuda_unavailable_reason()
    if reason == NO_GPU and settings.provider != Provider.CUDA:
        return ProviderChoice(Device.CPU, f"{NO_GPU}: running on the CPU", {"provider": "cpu"})
    if reason:
        said = "CUDA requested, but" if settings.provider == Provider.CUDA else "CUDA not used:"
        return ProviderChoice(Device.CPU, f"{said} {reason}: running on CPU", cpu_key)
    key = {"provider": "cuda", "gpu": gpu_name(settings.device_id), **settings.cuda_options()}
    return ProviderChoice(Device.CUDA, "", key)


def session_options(
    settings: SessionSettings, level: OptLevel, save_to: str | None = None, *, device: Device = Device.CPU
) -> onnxruntime.SessionOptions:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort_level(level)
    options.log_severity_level = settings.log_severity
    # onnxruntime's CPU threads spin between its operators (fast launches) and, by default, for a while after
    # a run too, taking the cores from what follows: the image's RGBA interleave on our row bands ran 30% slower
    # right after a run. Stop spinning at the end of each run instead.
    options.add_session_config_entry("session.force_spinning_stop", "1")
    if device == Device.CPU:
        # A CPU session's threads do not spin between operators either: an image model's operators each take
        # milliseconds, so waking a thread costs nothing next to them, and spinning burnt 6-24% of the CPU time
        # (generated U-Nets, the sample, a conv chain, 256x256 to 1920x1080, on 2 cores) for the same wall time
        # (0.97-1.01x, interleaved runs): CPU time a render farm pays for.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if settings.intra_op_threads:
        options.intra_op_num_threads = settings.intra_op_threads
    if settings.profiling:
        options.enable_profiling = True
        options.profile_file_prefix = settings.profile_prefix
    if save_to:
        options.optimized_model_filepath = save_to
    return options


def create_session(
    model: bytes | str, settings: SessionSettings, choice: ProviderChoice, level: OptLevel, save_to: str | None = None
) -> tuple[onnxruntime.InferenceSession, str]:
    """Build a session; returns (session, fallback_reason) with the reason filled in when the
    provider we asked for did not end up in the session."""
    import onnxruntime as ort

    providers: list[str | tuple[str, dict[str, object]]] = ["CPUExecutionProvider"]
    if choice.name == Device.CUDA:
        providers.insert(0, ("CUDAExecutionProvider", settings.cuda_options()))
    try:
        options = session_options(settings, level, save_to, device=choice.name)
        session = ort.InferenceSession(model, options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's exception types are not public
        raise ModelError(f"onnxruntime cannot load the model: {str(exc).splitlines()[0]}") from exc
    reason = choice.fallback_reason
    if choice.name == Device.CUDA and "CUDAExecutionProvider" not in session.get_providers():
        reason = "CUDA requested, but the CUDA provider failed to start for this model: running on CPU"
    return session, reason


class SessionCache(Generic[T]):
    """One value (a prepared model) per key (optimized model, provider settings), shared by every run in the
    process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, T] = {}
        self._reused: set[Hashable] = set()
        """Keys a `get` found: their value was handed out again, not made for that call."""

    def get(self, key: Hashable) -> T | None:
        """The value under `key`, or None; a value found is remembered as reused (see `reused`)."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._reused.add(key)
            return value

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._entries[key] = value
            self._reused.discard(key)

    def reused(self, value: T) -> bool:
        """Whether `value` has been handed out by a `get` since it was put: a report then says the model was
        reused in memory, not converted or loaded again."""
        with self._lock:
            return any(held is value and key in self._reused for key, held in self._entries.items())

    def holds(self, value: T) -> bool:
        with self._lock:
            return any(held is value for held in self._entries.values())

    def release(self, value: T) -> int:
        """Forget every entry holding `value`, so its session and device buffers can be freed (Cycles
        wants the GPU memory back after an animation). Returns how many entries were dropped."""
        with self._lock:
            keys = [key for key, held in self._entries.items() if held is value]
            for key in keys:
                del self._entries[key]
                self._reused.discard(key)
            return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._reused.clear()
