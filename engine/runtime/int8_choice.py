"""Whether int8 runs faster than fp32 on this CPU, for `auto`: measured once per model, input size class and CPU,
and kept in the cache, so what auto chooses is a function of the model, the image size and the machine, never of
the load at the moment it runs (a re-run reads the verdict). The measurement is injectable (`Measure`): tests give
their own timings, never the machine's."""

from __future__ import annotations

import functools
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..image.channels import to_tensor
from ..model.contract import ModelContract
from ..precision.accuracy import AccuracyRule
from ..precision.validation_feeds import sample_feeds, synthetic_image
from .prepared import PreparedModel

FASTER = 0.9
"""int8 counts as faster when it takes at most this share of fp32's time: on a shared machine two equal models
measure a few percent apart, and int8 costs accuracy, so it must win clearly to be chosen."""
ROUNDS = 5
"""Timed runs of each model, interleaved (fp32, int8, int8, fp32, ...) after one warm-up each; medians."""
PAUSE_S = 0.05
"""Seconds before each timed run: onnxruntime's threads spin a while after a run, and a run that starts meanwhile
shares the cores with them (bench/timing.py measured 1-3% against whichever ran second)."""
MIN_LOG2, MAX_LOG2 = 12, 19
"""Size classes are powers of two of the pixel count, from 64x64 to 512x1024. Larger images are one class, timed
at 512x1024: per-pixel work dominates there, and the int8/fp32 ratio measured at 512x1024 and at 1080p agree
(docs/benchmarks.md) while a 1080p timing would cost 4x the seconds once per model."""
MIN_PIXELS = 1 << 15
"""Auto does not consider int8 for images under this many pixels (about 180x180): a run takes milliseconds there, so
int8 could save less than calibrating it costs once, and timings that short are mostly noise."""
DEFAULT_SHAPE = (1080, 1920)
"""The size assumed when no image is at hand (`optimize` without --sample): a 1080p frame."""

TIMING_RULE = AccuracyRule(min_psnr_db=-math.inf, max_p999_error=math.inf, min_mask_iou=0.0)
"""The rule the int8 model that is only timed is made under: it accepts any finite output. That model is calibrated
on a synthetic image and never served; the model auto serves is judged by the real rule on the real image."""

Measure = Callable[[Callable[[], object], Callable[[], object]], tuple[float, float]]
"""(fp32 run, int8 run) -> (fp32 seconds, int8 seconds): how the two are timed."""


@functools.cache
def _cpuinfo() -> tuple[tuple[str, str], ...]:
    """/proc/cpuinfo's (field, value) lines, read once per process; empty where there is none (macOS, Windows)."""
    try:
        with open("/proc/cpuinfo") as fh:
            return tuple(
                (key.strip(), value.strip()) for key, sep, value in (line.partition(":") for line in fh) if sep
            )
    except OSError:
        return ()


def _first_field(*names: str) -> str | None:
    """The value of the first /proc/cpuinfo line naming one of `names` (the first CPU's)."""
    return next((value for key, value in _cpuinfo() if key in names), None)


@functools.cache
def vector_extensions() -> tuple[str, ...]:
    """This CPU's SIMD extensions that matter for int8 and fp32 kernels, as /proc/cpuinfo names them (x86 `flags`,
    Arm `Features`); empty where it cannot be read."""
    wanted = ("avx", "sse4", "fma", "amx", "vnni", "asimd", "i8mm", "sve", "bf16")
    flags = _first_field("flags", "Features") or ""
    return tuple(sorted(f for f in flags.split() if f.startswith(wanted) or f in wanted))


def int8_dot_product(extensions: tuple[str, ...]) -> str:
    """The int8 dot-product instructions onnxruntime's int8 kernels are fast with, in words; '' when none."""
    names = {
        "avx512_vnni": "AVX-512 VNNI",
        "avx_vnni": "AVX-VNNI",
        "amx_int8": "AMX-INT8",
        "i8mm": "Arm int8 matrix multiply",
        "asimddp": "Arm dot product",
    }
    return ", ".join(words for flag, words in names.items() if flag in extensions)


@functools.cache
def cpu_identity() -> str:
    """The CPU model and its vector extensions: what a speed verdict holds for. Read once per process; the model
    name from /proc/cpuinfo first, because platform.processor() runs `uname -p` as a child process on Linux (14 ms of
    every run's start-up), and only where there is no /proc/cpuinfo (macOS, Windows) is it asked."""
    name = _first_field("model name", "CPU part") or platform.processor() or platform.machine()
    return f"{platform.machine()} {name} [{' '.join(vector_extensions())}]"


@dataclass(frozen=True, kw_only=True)
class CpuFeatures:
    """What this CPU brings to int8 and fp32 kernels: what a farm's TD compares across workers (auto's int8
    verdicts are kept per CPU identity, so workers of one model share them)."""

    identity: str
    """The model name and its vector extensions: the key auto's speed verdicts are kept under."""
    extensions: tuple[str, ...]
    """SIMD extensions that matter for int8 and fp32 kernels, as /proc/cpuinfo names them; empty where unknown."""
    int8_dot_product: str
    """The int8 dot-product instructions onnxruntime's int8 kernels are fast with, in words; '' when none."""


def cpu_features() -> CpuFeatures:
    extensions = vector_extensions()
    return CpuFeatures(identity=cpu_identity(), extensions=extensions, int8_dot_product=int8_dot_product(extensions))


def size_class(h: int, w: int) -> int:
    """The size class of an h x w input: log2 of its pixel count, rounded up, within MIN_LOG2..MAX_LOG2."""
    return min(MAX_LOG2, max(MIN_LOG2, math.ceil(math.log2(max(1, h * w)))))


def timing_shape(size_log2: int, multiple: int = 1) -> tuple[int, int]:
    """The input a size class is timed at: 2^size_log2 pixels, square or twice as wide, cut to `multiple`."""
    h, w = 1 << (size_log2 // 2), 1 << ((size_log2 + 1) // 2)
    return max(multiple, h // multiple * multiple), max(multiple, w // multiple * multiple)


@dataclass(frozen=True, kw_only=True)
class SpeedVerdict:
    """int8 against fp32 on one CPU at one size: measured once, then read from the cache."""

    fp32_ms: float
    int8_ms: float
    timed_at: tuple[int, int]
    """(height, width) of the timed input."""
    dot_product: str
    """The CPU's int8 dot-product instructions ('' when it has none)."""
    failed: str = ""
    """Why no int8 model could be made to time (the quantizer failed on the model); '' when it was timed."""

    @classmethod
    def unavailable(cls, why: str) -> SpeedVerdict:
        """The verdict for a model the quantizer cannot make int8: kept like a timing, so it is not tried again."""
        return cls(fp32_ms=0.0, int8_ms=0.0, timed_at=(0, 0), dot_product="", failed=why)

    @property
    def ratio(self) -> float:
        return self.int8_ms / self.fp32_ms if self.fp32_ms > 0 else math.inf

    @property
    def faster(self) -> bool:
        return not self.failed and self.ratio <= FASTER

    def text(self) -> str:
        """The verdict in words, for precision_note."""
        if self.failed:
            return f"int8 could not be made for this model ({self.failed})"
        at = f"at {self.timed_at[1]}x{self.timed_at[0]}"
        if self.faster:
            return f"int8 {1 / self.ratio:.1f}x faster than fp32 on this CPU ({at})"
        why = f"with {self.dot_product}" if self.dot_product else "no VNNI or other int8 dot-product instructions"
        return f"int8 not faster on this CPU ({self.ratio:.2f}x the fp32 time {at}; {why})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SpeedVerdict:
        """A verdict read back from a cache record; TypeError/ValueError/KeyError when it is not one."""
        h, w = data["timed_at"]
        verdict = cls(
            fp32_ms=float(data["fp32_ms"]),
            int8_ms=float(data["int8_ms"]),
            timed_at=(int(h), int(w)),
            dot_product=str(data["dot_product"]),
            failed=str(data.get("failed", "")),
        )
        if not verdict.failed and not (verdict.fp32_ms > 0 and verdict.int8_ms > 0):
            raise ValueError("timings must be positive")
        return verdict


def interleaved_medians(
    fp32_run: Callable[[], object], int8_run: Callable[[], object], rounds: int = ROUNDS
) -> tuple[float, float]:
    """The default Measure: one warm-up run each, then `rounds` timed runs each in A B, B A, ... order (running
    second is not neutral), each after PAUSE_S; the medians in seconds."""
    fp32_run(), int8_run()
    times: tuple[list[float], list[float]] = ([], [])
    for round_ in range(rounds):
        order = ((fp32_run, times[0]), (int8_run, times[1]))
        for run, into in order if round_ % 2 == 0 else order[::-1]:
            time.sleep(PAUSE_S)
            start = time.perf_counter()
            run()
            into.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _timing_feeds(
    prepared: PreparedModel, contract: ModelContract, shape: tuple[int, int]
) -> dict[str, NDArray[np.generic]]:
    """Feeds at `shape` as the session takes them: a synthetic picture for every image input (int8 kernels take the
    same time whatever the values), the contract's constants for the others."""
    info = prepared.info
    images = {t.name for t in info.image_inputs}
    feeds = {name: value for name, value in sample_feeds(info, None, contract).items() if name not in images}
    for t in info.image_inputs:
        picture = synthetic_image(*shape, channels=t.channels or 1)
        tensor = to_tensor(picture, prepared.session_view(t))
        feeds[t.name] = np.concatenate([tensor] * info.batch) if info.batch > 1 else tensor
    return feeds


def measure_verdict(
    fp32: PreparedModel, int8: PreparedModel, contract: ModelContract, size_log2: int, measure: Measure
) -> SpeedVerdict:
    """Time `int8` against `fp32` (the sessions auto would run) on the size class's input (a fixed-size model:
    its own size)."""
    info = fp32.info
    shape = (info.fixed_size[0], info.fixed_size[1]) if info.fixed_size else timing_shape(size_log2, info.size_multiple)
    feeds32, feeds8 = _timing_feeds(fp32, contract, shape), _timing_feeds(int8, contract, shape)
    fp32_s, int8_s = measure(lambda: fp32.session.run(None, feeds32), lambda: int8.session.run(None, feeds8))
    return SpeedVerdict(
        fp32_ms=fp32_s * 1e3, int8_ms=int8_s * 1e3, timed_at=shape, dot_product=int8_dot_product(vector_extensions())
    )
