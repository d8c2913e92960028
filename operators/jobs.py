"""The work behind the operators, free of bpy so it can run in a worker thread.

A job is built on the main thread from Blender data (pixels already copied into numpy arrays), runs
`job.work(progress)` anywhere, and its result is written back to Blender data by the main thread only.
Engine modules are imported inside functions: enabling the extension must not load onnx/onnxruntime.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from dataclasses import dataclass, field

import numpy as np

# Pass names (4.2/5.x spellings, defaults, mappings) live in the bpy-free engine; no onnx is loaded here.
from ..engine.imageio import read_layers  # noqa: F401 - the operators read EXR passes through this
from ..engine.passes import parse_mapping, select_inputs  # noqa: F401 - parse_mapping: for the operators

log = logging.getLogger(__name__)


def model_key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_mtime_ns, st.st_size)


# Descriptions for the panel, keyed by (path, mtime, size): draw() only reads this.
MODEL_INFO: dict[tuple, object] = {}


def cached_info(path: str):
    """A ModelInfo, an error string, or None when the model has not been inspected yet."""
    key = model_key(path)
    return MODEL_INFO.get(key) if key else None


def describe_path(path: str):
    """Describe and cache; returns a ModelInfo or raises EngineError."""
    from ..engine.describe import describe_model
    from ..engine.errors import EngineError
    from ..engine.onnx_io import load_model

    key = model_key(path)
    try:
        info = describe_model(load_model(path))
    except EngineError as exc:
        if key:
            MODEL_INFO[key] = str(exc)
        raise
    if key:
        MODEL_INFO[key] = info
    return info


@dataclass
class ModelJob:
    """What prepare_model needs; lower-case engine names ('fp16', 'auto')."""

    model_path: str
    precision: str
    provider: str
    device_id: int
    cache_dir: str
    sample: np.ndarray | None = None

    def prepare(self):
        from ..engine.prepare import prepare_model
        from ..engine.sessions import SessionSettings

        settings = SessionSettings(provider=self.provider, device_id=self.device_id)
        prepared = prepare_model(
            self.model_path, self.precision, settings=settings, cache_dir=self.cache_dir, sample=self.sample
        )
        key = model_key(self.model_path)
        if key:
            MODEL_INFO[key] = prepared.info
        return prepared


@dataclass
class JobResult:
    image: np.ndarray
    """HxWx4 float32 in Blender's layout (rows bottom-up), ready for Image.pixels."""
    prepared: object
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ImageJob:
    model: ModelJob
    image: np.ndarray
    """HxWxC float32 top-down: the first model input."""
    output_name: str
    colorspace: str
    tile: int = 0
    overlap: int = 32
    color: str = "linear"
    layers: dict[str, np.ndarray] | None = None
    """Render passes by name; other model inputs are taken from here through `mapping`."""
    mapping: dict[str, str] = field(default_factory=dict)
    source_name: str = ""
    """The source image's name: never overwritten by the result."""

    def extra_inputs(self, info) -> dict[str, np.ndarray]:
        """The model's other image inputs, from `layers` by `mapping` or by their default passes."""
        names = [t.name for t in info.image_inputs]
        if len(names) < 2:
            return {}
        return select_inputs(self.layers or {"": self.image}, names, self.mapping)[1]

    def work(self, progress) -> JobResult:
        from ..engine.pipeline import RunSettings, run_image

        start = time.perf_counter()
        progress.update(0.0, "preparing model")
        prepared = self.model.prepare()
        progress.check()
        extra = self.extra_inputs(prepared.info)
        settings = RunSettings(tile=self.tile, overlap=self.overlap, color=self.color, blender_rgba=True)
        result = run_image(prepared, self.image, extra=extra, settings=settings, progress=progress)
        progress.check()
        notes = list(prepared.warnings) + list(result.notes)
        return JobResult(result.image, prepared, notes, time.perf_counter() - start)


@dataclass
class RenderJob(ImageJob):
    """Like ImageJob, but the first input is picked from the passes once the model is known."""

    def work(self, progress) -> JobResult:
        from ..engine.pipeline import RunSettings, run_image

        start = time.perf_counter()
        progress.update(0.0, "preparing model")
        prepared = self.model.prepare()
        progress.check()
        names = [t.name for t in prepared.info.image_inputs]
        self.image, extra = select_inputs(self.layers or {}, names, self.mapping)
        settings = RunSettings(tile=self.tile, overlap=self.overlap, color=self.color, blender_rgba=True)
        result = run_image(prepared, self.image, extra=extra, settings=settings, progress=progress)
        progress.check()
        notes = list(prepared.warnings) + list(result.notes)
        return JobResult(result.image, prepared, notes, time.perf_counter() - start)


def worker(job, progress, messages: queue.Queue) -> None:
    """Thread target: runs the job and posts ('done', JobResult) or ('error', exception).

    Progress updates are posted by the Progress object's callback as ('progress', fraction, text)."""
    try:
        messages.put(("done", job.work(progress)))
    except Exception as exc:  # noqa: BLE001 - handed to the main thread, which reports it
        log.debug("job failed", exc_info=True)
        messages.put(("error", exc))


def error_text(exc: BaseException) -> str:
    """Engine errors are written for users; anything else gets its type so it can be reported as a bug."""
    from ..engine.errors import EngineError

    if isinstance(exc, EngineError | ValueError | OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@dataclass
class SequenceResult:
    summary: object
    """engine.sequence.SequenceSummary"""
    prepared: object
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class SequenceJob:
    """Post-process frames already on disk: one prepared model for all of them (engine.sequence)."""

    model: ModelJob
    input_pattern: str
    output_pattern: str
    frames: list[int]
    run: dict = field(default_factory=dict)
    """RunSettings keywords (tile, overlap, color)."""
    skip_existing: bool = False
    stop_on_error: bool = False
    mapping: dict[str, str] = field(default_factory=dict)

    def work(self, progress) -> SequenceResult:
        from ..engine.pipeline import RunSettings
        from ..engine.sequence import process_sequence

        start = time.perf_counter()
        progress.update(0.0, "preparing model")
        prepared = self.model.prepare()
        progress.check()
        summary = process_sequence(
            prepared,
            self.input_pattern,
            self.output_pattern,
            self.frames,
            RunSettings(**self.run),
            self.skip_existing,
            self.stop_on_error,
            self.mapping,
            progress,
        )
        notes = list(prepared.warnings)
        notes += [f"frame {frame} failed: {reason}" for frame, reason in sorted(summary.failed.items())]
        if summary.cancelled:
            notes.append("cancelled: the frames done so far are complete; the rest were not started")
        return SequenceResult(summary, prepared, notes, time.perf_counter() - start)
