"""The work behind the operators, free of bpy so it runs in a worker thread.

A job is built on the main thread from Blender data (pixels already copied into numpy arrays), runs
`job.work(progress)` anywhere, and its result (which carries `notes` for the report) is written back to
Blender data by the main thread only. Engine names load lazily: enabling the extension loads no onnxruntime.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from ..engine import Cancelled, EngineError, Precision, Progress, Provider, RunSettings

if TYPE_CHECKING:  # these load onnx: only the worker's code touches them, lazily
    from ..engine import Advice, ModelContract, ModelInfo, PreparedModel, SequenceSummary, SessionSettings

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """How a job ended, for the runner's `ended` hook: it runs whichever way the job ends."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Result(Protocol):
    notes: list[str]


class Job(Protocol):
    def work(self, progress: Progress) -> Result: ...


ModelKey = tuple[str, int, int]
"""A model file's version: (absolute path, modification time in ns, size)."""


def model_key(path: str) -> ModelKey | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_mtime_ns, st.st_size)


# Descriptions for the panel, keyed by (path, mtime, size): draw() only reads this.
MODEL_INFO: dict[ModelKey, ModelInfo | str] = {}


def cached_info(path: str) -> ModelInfo | str | None:
    """A ModelInfo, an error string, or None when the model has not been inspected yet."""
    key = model_key(path)
    return MODEL_INFO.get(key) if key else None


# Model metadata (where a contract can be) by the same key, so draw() reads no model file.
MODEL_METADATA: dict[ModelKey, dict[str, str]] = {}


def model_metadata(path: str) -> dict[str, str] | None:
    """The model's metadata_props, read once per file version; None when the file cannot be read."""
    key = model_key(path)
    if key is None:
        return None
    if key not in MODEL_METADATA:
        from ..engine import model_metadata as read_metadata

        try:
            MODEL_METADATA[key] = read_metadata(path)
        except EngineError:
            return None
    return MODEL_METADATA[key]


def cached_metadata(path: str) -> dict[str, str] | None:
    key = model_key(path)
    return MODEL_METADATA.get(key) if key else None


def describe_path(path: str) -> ModelInfo:
    """Describe and cache; returns a ModelInfo or raises EngineError."""
    from ..engine import inspect_model

    key = model_key(path)
    model_metadata(path)
    try:
        info = inspect_model(path)
    except EngineError as exc:
        if key:
            MODEL_INFO[key] = str(exc)
        raise
    if key:
        MODEL_INFO[key] = info
    return info


@dataclass(frozen=True, kw_only=True)
class ModelJob:
    """What prepare_model needs, already resolved from operator, scene and preferences (operators/settings.py)."""

    model_path: str
    precision: Precision
    provider: Provider
    device_id: int
    cache_dir: str
    sample: NDArray[np.float32] | None = None
    contract: ModelContract | None = None
    """The effective contract (the scene's overrides included): constants and validation feeds."""
    calibration_frames: tuple[NDArray[np.float32], ...] = ()
    """A sequence's next frames, which int8 is calibrated on as well as the sample."""

    def session_settings(self) -> SessionSettings:
        from ..engine import SessionSettings

        return SessionSettings(provider=self.provider, device_id=self.device_id)

    def needs_sample(self) -> bool:
        """Whether the precision that will run is reduced, so a sample image judges (for int8: calibrates) its
        conversion (the engine's needs_sample: `auto` on a CPU reads none once int8 was measured not faster for
        this model on this computer)."""
        from ..engine import needs_sample

        return needs_sample(
            self.precision, self.session_settings(), model_path=self.model_path, cache_dir=self.cache_dir
        )

    def with_sample(
        self,
        read: Callable[[], NDArray[np.float32]],
        more: Callable[[NDArray[np.float32]], tuple[NDArray[np.float32], ...]] | None = None,
    ) -> ModelJob:
        """This job with a sample image read by `read`, only when the precision that runs needs one; `more` reads
        the frames int8 is also calibrated on (a sequence's next frames), given the sample."""
        if not self.needs_sample():
            return self
        sample = read()
        frames = more(sample) if more is not None and self.precision in (Precision.INT8, Precision.AUTO) else ()
        return replace(self, sample=sample, calibration_frames=frames)

    def prepare(self, precision: Precision | None = None, progress: Progress | None = None) -> PreparedModel:
        from ..engine import prepare_model

        prepared = prepare_model(
            self.model_path,
            precision or self.precision,
            settings=self.session_settings(),
            cache_dir=self.cache_dir,
            sample=self.sample,
            contract=self.contract,
            progress=progress,  # a mixed-precision search shows its attempts and stops on Esc
            calibration_frames=self.calibration_frames,
        )
        key = model_key(self.model_path)
        if key:
            MODEL_INFO[key] = prepared.info
        return prepared


_SAID: set[str] = set()


def first_time(note: str) -> bool:
    """True the first time `note` is asked about in this Blender session: the CUDA fallback note is said once
    (the sidebar shows it all the time), not on every run."""
    if note in _SAID:
        return False
    _SAID.add(note)
    return True


def _prepare(model: ModelJob, progress: Progress) -> PreparedModel:
    progress.update(0.0, "preparing model")
    progress.check()
    prepared = model.prepare(progress=progress)
    progress.check()
    return prepared


@dataclass
class PrepareResult:
    prepared: PreparedModel
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class PrepareJob:
    model: ModelJob

    def work(self, progress: Progress) -> PrepareResult:
        prepared = _prepare(self.model, progress)
        notes = list(prepared.warnings) + [r for r in (prepared.fallback_reason,) if r and first_time(r)]
        return PrepareResult(prepared, notes)


@dataclass
class JobResult:
    image: NDArray[np.float32]
    """HxWx4 float32 in Blender's layout (rows bottom-up), ready for Image.pixels."""
    prepared: PreparedModel
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    tiles: int = 1
    inputs: list[str] = field(default_factory=list)
    """Which image or pass went to which model input: 'albedo <- Diffuse Color'."""
    tiling: str = ""
    """How the image met the model (fit, tiles, overlap, covered area), one line."""


def mapping_notes(mapping: dict[str, str], info: ModelInfo) -> list[str]:
    """The pass mapping's entries for inputs the model lacks, as a note (the engine's mapping_warning)."""
    from ..engine import mapping_warning

    warning = mapping_warning(mapping, [t.name for t in info.image_inputs])
    return [warning] if warning else []


def _layer_label(layers: dict[str, NDArray[np.float32]] | None, array: NDArray[np.float32], fallback: str) -> str:
    """The pass name of `array` in `layers` ('ViewLayer.Diffuse Color' -> 'Diffuse Color'; '' -> 'Combined')."""
    for name, layer in (layers or {}).items():
        if layer is array:
            return name.rsplit(".", 1)[-1] if name else "Combined"
    return fallback


@dataclass(kw_only=True)
class ImageJob:
    model: ModelJob
    image: NDArray[np.float32]
    """HxWxC float32 top-down: the first model input."""
    output_name: str
    colorspace: str
    run: RunSettings = field(default_factory=lambda: RunSettings(blender_rgba=True))
    layers: dict[str, NDArray[np.float32]] | None = None
    """Render passes by name; other model inputs are taken from here through `mapping`."""
    mapping: dict[str, str] = field(default_factory=dict)
    source_name: str = ""
    """The source image's name: never overwritten by the result."""
    data: bool = False
    """The source image is Non-Color data (normals, masks): nothing of it is converted between colour spaces."""

    def data_inputs(self, info: ModelInfo) -> frozenset[str]:
        """The model inputs given data, not colour (RunSettings.data_inputs): every one for a data image."""
        return frozenset(t.name for t in info.image_inputs) if self.data else frozenset()

    def inputs(self, info: ModelInfo) -> tuple[NDArray[np.float32], dict[str, NDArray[np.float32]]]:
        """The first model input and the others, from `layers` by `mapping` or by their default passes."""
        from ..engine import select_inputs

        names = [t.name for t in info.image_inputs]
        if len(names) < 2:
            return self.image, {}
        return self.image, select_inputs(self.layers or {"": self.image}, names, mapping=self.mapping)[1]

    def bindings(self, info: ModelInfo, image: NDArray[np.float32], extra: dict[str, NDArray[np.float32]]) -> list[str]:
        """'input <- source' for each model input, for the panel."""
        names = [t.name for t in info.image_inputs]
        source = f"image '{self.source_name}'" if self.source_name else "the image"
        first = [f"{names[0]} <- {_layer_label(self.layers, image, source)}"] if names else []
        return first + [f"{name} <- {_layer_label(self.layers, array, 'a pass')}" for name, array in extra.items()]

    def work(self, progress: Progress) -> JobResult:
        from ..engine import run_image

        start = time.perf_counter()
        prepared = _prepare(self.model, progress)
        image, extra = self.inputs(prepared.info)
        run = replace(self.run, data_inputs=self.data_inputs(prepared.info))
        result = run_image(prepared, image, extra=extra, settings=run, progress=progress)
        progress.check()
        notes = list(prepared.warnings) + mapping_notes(self.mapping, prepared.info) + list(result.notes)
        return JobResult(
            result.image,
            prepared,
            notes,
            time.perf_counter() - start,
            tiles=result.tiles,
            inputs=self.bindings(prepared.info, image, extra),
            tiling=result.tiling.text() if result.tiling is not None else "",
        )


@dataclass(kw_only=True)
class RenderJob(ImageJob):
    """Like ImageJob, but the first input is picked from the passes once the model is known."""

    def inputs(self, info: ModelInfo) -> tuple[NDArray[np.float32], dict[str, NDArray[np.float32]]]:
        from ..engine import select_inputs

        return select_inputs(self.layers or {}, [t.name for t in info.image_inputs], mapping=self.mapping)

    def data_inputs(self, info: ModelInfo) -> frozenset[str]:
        """The inputs given a data pass (normal, depth, position...), by the pass each one gets."""
        from ..engine import data_inputs

        return data_inputs(self.layers or {}, [t.name for t in info.image_inputs], mapping=self.mapping)


BENCH_PRECISIONS = (Precision.FP32, Precision.FP16, Precision.AMP, Precision.INT8)


@dataclass
class BenchmarkResult:
    lines: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class BenchmarkJob:
    """Times the model at each precision on one image (median of `repeats` after a warm-up run)."""

    model: ModelJob
    image: NDArray[np.float32]
    """HxWxC float32 top-down: the first model input (of a render, its Combined pass)."""
    repeats: int
    layers: dict[str, NDArray[np.float32]] | None = None
    """Render passes, cropped like `image`: the model's inputs are picked from them as Run on Render picks them."""
    mapping: dict[str, str] = field(default_factory=dict)

    def inputs(self, info: ModelInfo) -> tuple[NDArray[np.float32], dict[str, NDArray[np.float32]]]:
        """The first model input and the others: from the passes as RenderJob picks them, or the image alone."""
        from ..engine import select_inputs

        names = [t.name for t in info.image_inputs]
        if self.layers is None and len(names) < 2:
            return self.image, {}
        return select_inputs(self.layers or {"": self.image}, names, mapping=self.mapping)

    def _time(self, prepared: PreparedModel, progress: Progress) -> float:
        from ..engine import run_image

        image, extra = self.inputs(prepared.info)
        run_image(prepared, image, extra=extra)  # warm-up: the first run allocates and tunes
        times = []
        for _ in range(self.repeats):
            progress.check()
            start = time.perf_counter()
            run_image(prepared, image, extra=extra)
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    def work(self, progress: Progress) -> BenchmarkResult:
        h, w = self.image.shape[:2]
        lines = [f"{self.model.model_path}  {w}x{h}  median of {self.repeats}"]
        lines.append("precision  provider  run ms  startup s  note")
        for i, precision in enumerate(BENCH_PRECISIONS):
            progress.update(i / len(BENCH_PRECISIONS), f"benchmarking {precision}")
            progress.check()
            name = precision.upper()
            try:
                prepared = self.model.prepare(precision)
                seconds = self._time(prepared, progress)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - one precision failing is a result, not an abort
                lines.append(f"{name:<9}  -         -       -          failed: {error_text(exc)}")
                continue
            note = prepared.report.status if prepared.report else "reference"
            ms, startup = seconds * 1000, prepared.startup_seconds
            lines.append(f"{name:<9}  {prepared.provider:<8}  {ms:6.1f}  {startup:9.2f}  {note}")
        return BenchmarkResult(lines)


@dataclass
class AdviceResult:
    advice: Advice
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class AdviseJob:
    model: ModelJob
    size: tuple[int, int]

    def work(self, progress: Progress) -> AdviceResult:
        from ..engine import advise_model

        # Prepared first (converted, optimized, cached: the long part, and where a cancel is honoured, with the
        # scene's contract); the advisor is given it, and the precision asked for (auto, say), so the advice says
        # which precision it is for and why.
        prepared = _prepare(self.model, progress)
        progress.update(0.5, "inspecting the model")
        settings = self.model.session_settings()
        path, cache = self.model.model_path, self.model.cache_dir
        advice = advise_model(
            path, self.model.precision, settings=settings, cache_dir=cache, size=self.size, prepared=prepared
        )
        progress.check()
        return AdviceResult(advice)


@dataclass
class SequenceResult:
    summary: SequenceSummary
    prepared: PreparedModel
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(kw_only=True)
class SequenceJob:
    """Post-process frames already on disk: one prepared model for all of them (engine.batch)."""

    model: ModelJob
    input_pattern: str
    output_pattern: str
    frames: list[int]
    run: RunSettings = field(default_factory=RunSettings)
    skip_existing: bool = False
    stop_on_error: bool = False
    mapping: dict[str, str] = field(default_factory=dict)
    keep_passes: bool = True
    """A multilayer EXR frame gives a multilayer EXR output with its other passes (engine ExrOptions)."""
    temporal_blend: float = 0.0
    """The temporal blend's strength (engine batch/temporal/); flicker is measured either way."""

    def work(self, progress: Progress) -> SequenceResult:
        from ..engine import ExrOptions, fp32_reference, process_sequence

        start = time.perf_counter()
        prepared = _prepare(self.model, progress)
        sample = self.model.sample
        # The first frame's reduced-precision output is compared with fp32 before it is written.
        reference = fp32_reference(prepared, sample, prepare_fp32=lambda: self.model.prepare(Precision.FP32))
        summary = process_sequence(
            prepared,
            self.input_pattern,
            output_pattern=self.output_pattern,
            frames=self.frames,
            settings=self.run,
            skip_existing=self.skip_existing,
            stop_on_error=self.stop_on_error,
            pass_inputs=self.mapping,
            progress=progress,
            exr=ExrOptions(keep_passes=self.keep_passes),
            reference=reference,
            temporal_blend=self.temporal_blend,
        )
        # Failed frames are the operator's error, not notes (reported once); the tiling line is information, which
        # the operator reports as such (notes are warnings).
        notes = list(prepared.warnings) + mapping_notes(self.mapping, prepared.info)
        if summary.cancelled:
            notes.append("cancelled: the frames done so far are complete; the rest were not started")
        return SequenceResult(summary, prepared, notes, time.perf_counter() - start)


@dataclass(frozen=True, kw_only=True)
class Progressed:
    """The job's progress, posted by its Progress callback: the status bar's fraction and line."""

    fraction: float
    text: str

    def __post_init__(self) -> None:
        if not math.isfinite(self.fraction):
            raise ValueError(f"a progress fraction is a number, not {self.fraction}")


@dataclass(frozen=True, kw_only=True)
class Finished:
    """The job ended with its result."""

    result: Result


@dataclass(frozen=True, kw_only=True)
class Failed:
    """The job raised `error` (Cancelled included), or the runner gave up waiting for it after Esc."""

    error: BaseException


Message = Progressed | Finished | Failed
"""What the worker thread posts to the main thread: progress along the way, then how the job ended."""


def worker(job: Job, progress: Progress, messages: queue.Queue[Message]) -> None:
    """Thread target: runs the job and posts Finished(result) or Failed(exception).

    Progress updates are posted by the Progress object's callback as Progressed(fraction, text)."""
    try:
        messages.put(Finished(result=job.work(progress)))
    except Exception as exc:  # noqa: BLE001 - handed to the main thread, which reports it
        log.debug("job failed", exc_info=True)
        messages.put(Failed(error=exc))


def error_text(exc: BaseException) -> str:
    """Engine errors are written for users; anything else gets its type so it can be reported as a bug."""
    if isinstance(exc, EngineError | ValueError | OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
