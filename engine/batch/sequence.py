"""Post-processing a rendered frame sequence: one session and its buffers for every frame, the next
frame read while the current one runs, atomic writes, failures reported per frame.

Two drivers share the per-frame work: `process_sequence` walks a list of frames already on disk (the
`sequence` command, the Blender operator), and `FrameBatch` is fed one frame at a time by whoever knows
when a frame is complete (Blender's render handlers during an animation render).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from ..errors import Cancelled, ConversionError, EngineError, ImageError
from ..image.colour import from_rec709, to_rec709
from ..image.files import (
    ExrOptions,
    FrameHeader,
    clean_stale_temps,
    frame_header,
    image_size,
    read_layers,
    same_file,
    whole_image_problem,
    write_image,
    write_layers_like,
)
from ..image.passes import data_inputs, find_pass, select_inputs
from ..inference.pipeline import RunResult, run_image
from ..inference.settings import RunSettings
from ..json_values import (
    Json,
    bool_from_json,
    int_key_from_json,
    ints_from_json,
    object_from_json,
    str_from_json,
    strs_from_json,
)
from ..options import ColorMode, WorkingSpace
from ..progress import SILENT, Progress
from ..runtime.prepare import PreparedModel
from .accuracy_check import recheck_affordable, recheck_against_fp32
from .frames import frame_path
from .temporal import Flicker, FrameState, Motion, Tracker

log = logging.getLogger(__name__)

# What a single frame may fail with and still let the batch go on: bad pixels or passes (ImageError),
# a failing model run (RuntimeFailure), a full or read-only disk (OSError), and anything unforeseen in
# a reader or writer library, which is reported against its frame rather than ending the batch.
# (Cancelled is caught before these.)
FRAME_ERRORS = (Exception,)
MAX_PENDING_WRITES = 2


@dataclass(frozen=True, kw_only=True)
class SequenceSummary:
    """What a sequence run did, frame by frame (made once the run ends; a running batch's is a snapshot)."""

    done: tuple[int, ...] = ()
    skipped: tuple[int, ...] = ()
    failed: Mapping[int, str] = field(default_factory=dict)
    """Failed frames and why, in the order they failed (read-only)."""
    cancelled: bool = False
    tiling: str = ""
    """How the first frame met the model (fit, tiles, overlap, covered area), one line; every frame of a
    sequence of one size is planned the same way."""
    notes: tuple[str, ...] = ()
    """What the user should know about frames that were written (values beyond half's range, say)."""
    redone: tuple[int, ...] = ()
    """Frames whose earlier output existed but did not read back whole (cut, empty, wrong size): processed again
    under --skip-existing, and counted in `done` once written."""
    temporal: Flicker = field(default_factory=Flicker)
    """How much the output flickers against the input, frame to frame (batch/temporal/)."""

    def __post_init__(self) -> None:
        for name in ("done", "skipped", "notes", "redone"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "failed", MappingProxyType(dict(self.failed)))
        if both := sorted(set(self.done) & set(self.failed)):
            raise ValueError(f"frames {both} are both done and failed")
        if processed := sorted(set(self.skipped) & (set(self.done) | set(self.failed) | set(self.redone))):
            raise ValueError(f"frames {processed} are skipped (kept as they were) and processed")
        if "\n" in self.tiling:
            raise ValueError(f"tiling is one line, not {self.tiling!r}")

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled

    def to_json(self) -> Json:
        return {
            "done": list(self.done),
            "skipped": list(self.skipped),
            "failed": {str(frame): why for frame, why in self.failed.items()},
            "cancelled": self.cancelled,
            "tiling": self.tiling,
            "notes": list(self.notes),
            "redone": list(self.redone),
            "temporal": self.temporal.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> SequenceSummary:
        values = object_from_json(data, "summary")
        failed = object_from_json(values.get("failed", {}), "failed")
        reasons = {
            int_key_from_json(k, "failed frame"): str_from_json(why, f"failed[{k}]") for k, why in failed.items()
        }
        return cls(
            done=ints_from_json(values.get("done", []), "done"),
            skipped=ints_from_json(values.get("skipped", []), "skipped"),
            failed=reasons,
            cancelled=bool_from_json(values.get("cancelled", False), "cancelled"),
            tiling=str_from_json(values.get("tiling", ""), "tiling"),
            notes=strs_from_json(values.get("notes", []), "notes"),
            redone=ints_from_json(values.get("redone", []), "redone"),
            temporal=Flicker.from_json(values.get("temporal", {})),
        )

    def text(self) -> str:
        """One line for a status bar or a log: 'done 3, skipped 0, failed 1 (frame 2: ...)'."""
        line = f"done {len(self.done)}, skipped {len(self.skipped)}, failed {len(self.failed)}"
        if self.failed:
            first = min(self.failed)
            more = f"; frames {_ranges(sorted(self.failed))}" if len(self.failed) > 1 else ""
            line += f" (frame {first}: {self.failed[first]}{more})"
        if self.cancelled:
            line += ", cancelled"
        if flicker := self.temporal.text():
            line += f"; {flicker}"
        return line


class _Tally:
    """A sequence's outcome as it comes in (writes finish in the background, a render hands frames over one by one);
    `summary` is the record of it so far. A frame's last outcome counts: one processed again after a failure is done
    (a render may write a frame twice)."""

    def __init__(self) -> None:
        self.done: dict[int, None] = {}
        """Frames written, as an ordered set."""
        self.skipped: list[int] = []
        self.redone: list[int] = []
        self.failed: dict[int, str] = {}
        self.notes: list[str] = []
        self.cancelled = False
        self.tiling = ""

    def wrote(self, frame: int, notes: list[str] | tuple[str, ...] = ()) -> None:
        self.failed.pop(frame, None)
        self.done[frame] = None
        self.notes.extend(f"frame {frame}: {note}" for note in notes)

    def fail(self, frame: int, reason: str) -> None:
        self.done.pop(frame, None)
        self.failed[frame] = reason

    def note_plan(self, result: RunResult, frames: int) -> None:
        """Keep (and log, as the sequence's first line) how the first frame processed met the model."""
        if not self.tiling and result.tiling is not None:
            self.tiling = result.tiling.text()
            log.info("sequence of %d frames: %s", frames, self.tiling)

    def summary(self, temporal: Flicker) -> SequenceSummary:
        return SequenceSummary(
            done=tuple(sorted(self.done)),
            skipped=tuple(self.skipped),
            failed=self.failed,
            cancelled=self.cancelled,
            tiling=self.tiling,
            notes=tuple(self.notes),
            redone=tuple(self.redone),
            temporal=temporal,
        )


def _ranges(frames: list[int]) -> str:
    parts, start = [], None
    for i, f in enumerate(frames):
        start = f if start is None else start
        if i + 1 == len(frames) or frames[i + 1] != f + 1:
            parts.append(str(f) if f == start else f"{start}-{f}")
            start = None
    return ",".join(parts)


def _input_names(prepared: PreparedModel) -> list[str]:
    return [t.name for t in prepared.info.image_inputs]


# The formats image.files reads and writes as float, scene-linear in the working space; the others (PNG, TIFF, JPEG)
# hold display sRGB, which image.files decodes to and encodes from linear Rec.709.
_SCENE_LINEAR = (".exr", ".hdr")


@dataclass(frozen=True)
class _Frame:
    """One frame read for the model, and how its result is stored."""

    image: NDArray[np.float32]
    extra: dict[str, NDArray[np.float32]]
    settings: RunSettings
    """The run's settings with this frame's data inputs (its normal, depth... passes: never converted)."""
    result_space: WorkingSpace
    """The result's colour space (a data result is never converted: Rec.709 stands for 'as it is')."""
    motion: Motion | None = None
    """Blender's Vector pass, when the frame has one (the temporal measure and blend follow it)."""
    depth: NDArray[np.float32] | None = None
    header: FrameHeader = FrameHeader(0, None)
    """The source frame's header, read once: its working space, and how its result is stored (`_write_like`)."""

    def state(self, frame: int, output: NDArray[np.float32]) -> FrameState:
        return FrameState(frame, self.image, output, self.motion, self.depth)


def _frame_space(path: str, header: FrameHeader, settings: RunSettings) -> WorkingSpace:
    """The working space a frame's colour is in: what its EXR header says (Blender 5 writes it), else the run's."""
    interop = header.exr.colour_interop if header.exr is not None else ""
    said = WorkingSpace.from_interop_id(interop) if interop else None
    if interop and said is None and settings.working_space_from_files:
        # A space this engine does not convert (a custom OCIO config): run as Rec.709, the model would get the
        # wrong colours without a word. A working space given explicitly is the user's word over the header.
        raise ImageError(
            f"{path} says its colour is in '{interop}' (its header's colorInteropID), a space this engine does not "
            "convert: give --working-space rec709, rec2020 or acescg if its pixels are in one of them"
        )
    if said is None or said == settings.working_space:
        return settings.working_space
    if settings.working_space_from_files:
        return said
    raise ImageError(
        f"{path} was rendered in {said} (its header's colorInteropID {interop}), not in {settings.working_space} as "
        "this run says: give the working space it was rendered in"
    )


def _data_result(settings: RunSettings) -> bool:
    """Whether the contract says the result is data (`output.colour: data`, or a data input the output follows):
    written as the model gave it, in no colour space."""
    contract = settings.effective_contract()
    said = dict(contract.output_keys).get("colour")
    return said == ColorMode.DATA or (said is None and contract.input.colour == ColorMode.DATA)


def _load(
    path: str,
    pass_inputs: Mapping[str, str],
    input_names: list[str],
    settings: RunSettings,
    layers: dict[str, NDArray[np.float32]] | None = None,
) -> _Frame:
    layers = layers if layers is not None else read_layers(path)
    try:
        image, extra = select_inputs(layers, input_names, mapping=pass_inputs)
        data = data_inputs(layers, input_names, mapping=pass_inputs)
    except EngineError as exc:
        raise type(exc)(f"{path}: {exc}") from exc
    header = frame_header(path)
    settings = replace(settings, data_inputs=data, working_space=_frame_space(path, header, settings))
    space = settings.working_space
    if Path(path).suffix.lower() not in _SCENE_LINEAR:
        # Display sRGB decoded to linear Rec.709: brought into the working space the run takes its colour in, as
        # Blender brings an sRGB image into it (the run takes it back out for the model: a no-op overall).
        image = from_rec709(image, space) if settings.converts(input_names[0]) else image
        extra = {name: from_rec709(a, space) if settings.converts(name) else a for name, a in extra.items()}
    result_space = space if settings.converts(input_names[0]) and not _data_result(settings) else WorkingSpace.REC709
    vector = find_pass(layers, "Vector")
    motion = Motion.from_vector_pass(vector) if vector is not None and vector.shape[2] >= 4 else None
    return _Frame(image, extra, settings, result_space, motion, find_pass(layers, "Depth"), header)


LOGGED_FAILURES = 5
"""Frame failures logged one by one; the rest are counted in one line at the end (and listed in the summary)."""


def _finished(tally: _Tally, temporal: Flicker) -> SequenceSummary:
    """The summary (done frames in frame order), the failures not logged one by one counted in one line."""
    if len(tally.failed) > LOGGED_FAILURES:
        log.error("%d more frames failed (listed in the summary)", len(tally.failed) - LOGGED_FAILURES)
    return tally.summary(temporal)


def _record_failure(tally: _Tally, frame: int, exc: BaseException) -> None:
    """A failed frame writes nothing: write_image removes its own temporary file, and an output an
    earlier run finished is kept (the input may be archived or unmounted this time)."""
    tally.fail(frame, str(exc))
    # A pattern that matches nothing fails every frame alike: the log names the first few, the JSON has them all.
    if len(tally.failed) <= LOGGED_FAILURES:
        log.error("frame %d failed: %s", frame, exc)
    else:
        log.debug("frame %d failed: %s", frame, exc)


def _write_like(
    src: str,
    dst: str,
    image: NDArray[np.float32],
    exr: ExrOptions | None,
    space: WorkingSpace = WorkingSpace.REC709,
    header: FrameHeader | None = None,
) -> list[str]:
    """Write `dst` stored like its source frame (EXR depth and codec), except where `exr` says. A
    multilayer EXR frame written to an EXR keeps its other passes (unless `exr.keep_passes` is False):
    the next step of a pipeline expects the layout it rendered. `space`: the result's colour space; a display
    format stores sRGB, encoded from linear Rec.709. `header`: the source's, when it was read already. Returns the
    write's notes (image.files.fit_half)."""
    if Path(dst).suffix.lower() not in _SCENE_LINEAR:
        image = to_rec709(image, space)
    exr = exr or ExrOptions()
    header = header if header is not None else frame_header(src)
    keep = exr.keep_passes is not False and all(Path(p).suffix.lower() == ".exr" for p in (src, dst))
    if keep and header.layers > 1:
        return write_layers_like(src, dst, image, exr)
    return write_image(dst, image, exr=exr.over(header.exr))


def _tracked(
    tracker: Tracker, loaded: _Frame, frame: int, output: NDArray[np.float32], prime: partial[None]
) -> NDArray[np.float32]:
    """The output to write: measured against the frame before, and blended with it when asked (`prime` first
    gives the tracker that frame when it has not seen it)."""
    prime(frame=frame)
    return tracker.step(loaded.state(frame, output))


def _write_new(src: str, dst: str, image: NDArray[np.float32], exr: ExrOptions | None, frame: _Frame) -> list[str]:
    """`_write_like` into a folder made first if needed (the sequence's writer thread)."""
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    return _write_like(src, dst, image, exr, frame.result_space, frame.header)


def _recheck(
    reference: PreparedModel | None,
    prepared: PreparedModel,
    image: NDArray[np.float32],
    extra: dict[str, NDArray[np.float32]],
    output: NDArray[np.float32],
    settings: RunSettings,
) -> None:
    """The first full output of a reduced-precision model against fp32 (see accuracy_check)."""
    if reference is not None and recheck_affordable(image):
        recheck_against_fp32(reference, image, extra, output, settings, str(prepared.precision))


def _run_and_write(
    prepared: PreparedModel,
    frame: _Frame,
    src: str,
    dst: str,
    progress: Progress,
    exr: ExrOptions | None = None,
    reference: PreparedModel | None = None,
    tracker: Tracker | None = None,
    number: int = 0,
) -> RunResult:
    """Run one loaded frame and write it; with `tracker` (a sequence's), the output goes through its measure and
    blend first (frame `number`)."""
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    result = _run_checked(prepared, frame.image, frame.extra, frame.settings, progress, reference)
    image = tracker.step(frame.state(number, result.image)) if tracker is not None else result.image
    written = _write_like(src, dst, image, exr, frame.result_space, frame.header)
    return replace(result, notes=result.notes + tuple(written)) if written else result


PRIMING_FRAMES = 2
"""The blend's window reaches two frames back (batch/temporal/blending.py): a chunk runs (not writes) those two
first."""


def _prime(
    tracker: Tracker,
    prepared: PreparedModel,
    input_pattern: str,
    frame: int,
    pass_inputs: Mapping[str, str],
    settings: RunSettings,
) -> None:
    """Give the temporal blend the frames before `frame` when it has not seen them (a farm chunk's first frame, or
    one after a gap): they are run, not written, so the chunk's pixels are those of one long run. Nothing to do
    without a blend; a frame before that is missing or fails leaves the window shorter, as in a long run."""
    if tracker.strength <= 0 or tracker.last_frame == frame - 1:
        return
    for earlier in range(frame - PRIMING_FRAMES, frame):
        src = frame_path(input_pattern, earlier)
        if earlier < 0 or not os.path.isfile(src):
            continue
        try:
            loaded = _load(src, pass_inputs, _input_names(prepared), settings)
            result = run_image(prepared, loaded.image, extra=loaded.extra, settings=loaded.settings, progress=SILENT)
        except FRAME_ERRORS as exc:
            log.info("frame %d: not primed with frame %d (%s)", frame, earlier, exc)
            continue
        tracker.step(loaded.state(earlier, result.image), written=False)


def _clean_temps(folder: str) -> None:
    removed = clean_stale_temps(folder)
    if removed:
        log.warning("removed %d temporary file(s) of killed runs in %s", len(removed), folder)


class _FrameProgress(Progress):
    """Maps one frame's tile progress into the sequence's fraction and shares its cancel flag."""

    def __init__(self, parent: Progress, index: int, total: int, frame: int) -> None:
        super().__init__()
        self._cancel = parent._cancel
        self._parent, self._index, self._total, self._frame = parent, index, total, frame

    def update(self, fraction: float, text: str = "") -> None:
        overall = (self._index + fraction) / self._total
        self._parent.update(overall, f"frame {self._frame} ({self._index + 1}/{self._total}): {text}")


def process_frame(
    prepared: PreparedModel,
    src: str,
    *,
    dst: str,
    settings: RunSettings,
    pass_inputs: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    exr: ExrOptions | None = None,
    reference: PreparedModel | None = None,
    layers: dict[str, NDArray[np.float32]] | None = None,
) -> RunResult:
    """Run one image file into another. With `reference` (the fp32 model), a reduced-precision result
    outside tolerance of fp32 on this image raises ConversionError and nothing is written. `layers`: the file's
    `read_layers`, when the caller read them already (to calibrate or judge a conversion on it): not decoded twice.

    Raises: ImageError when the file cannot be read or written or its passes fed; ModelError or RuntimeFailure
    when the model cannot run on it; ConversionError as said above; Cancelled when `progress` is cancelled."""
    frame = _load(src, pass_inputs or {}, _input_names(prepared), settings, layers)
    return _run_and_write(prepared, frame, src, dst, progress or SILENT, exr, reference)


def first_frame_sample(input_pattern: str, frames: list[int]) -> NDArray[np.float32] | None:
    """The first frame on disk of a sequence (its combined layer), for validating a reduced-precision
    conversion on the pixels being processed; None when none of the first few frames can be read."""
    from ..image.files import read_image

    for frame in frames[:8]:
        path = frame_path(input_pattern, frame)
        if os.path.isfile(path):
            try:
                return read_image(path)
            except EngineError:
                continue
    return None


CALIBRATION_FRAMES = 3
"""A sequence's int8 model is calibrated on its first frames, not only the first: what the next frames bring (a light
coming on, the camera turning) must fit the ranges calibration sets."""


def next_frames_sample(
    input_pattern: str, frames: list[int], *, first: NDArray[np.float32] | None
) -> tuple[NDArray[np.float32], ...]:
    """The frames after the first of a sequence, up to CALIBRATION_FRAMES in all, of the first's size (their
    combined layer), for int8 calibration; () without a first frame. A frame that cannot be read is passed over."""
    from ..image.files import read_image

    if first is None:
        return ()
    more: list[NDArray[np.float32]] = []
    for frame in frames[1 : 4 * CALIBRATION_FRAMES]:
        path = frame_path(input_pattern, frame)
        if len(more) == CALIBRATION_FRAMES - 1:
            break
        if os.path.isfile(path):
            try:
                image = read_image(path)
            except EngineError:
                continue
            if image.shape == first.shape and not np.array_equal(image, first):
                more.append(image)
    return tuple(more)


def _check_paths(src: str, dst: str) -> None:
    """Refuse an output that is its source file: same path, a symlinked folder, a hard link, or a
    name that differs only in case on a case-insensitive file system."""
    if same_file(src, dst):
        raise EngineError(f"output {dst} would overwrite its source frame; choose another output pattern")


def _output_scale(prepared: PreparedModel, settings: RunSettings, skip_existing: bool) -> float | None:
    """The output's size / the input's (what an earlier output must measure to be kept), when outputs may be kept."""
    if not skip_existing:
        return None
    return prepared.info.output_scale(prepared.info.output_named(settings.effective_contract().output_name))


def _frames_to_do(
    input_pattern: str,
    output_pattern: str,
    frames: list[int],
    keep_at_scale: float | None,
    tally: _Tally,
) -> list[tuple[int, str, str]]:
    """(frame, source, target) of each frame to process; skipped ones go to `tally`. `keep_at_scale` (the model's
    output scale, when earlier outputs may be kept): an output is kept only when it reads back whole at the size
    the model makes; a cut, empty or wrong-sized one is redone (`tally.redone`). A dead writer's temporary files
    in the output folder are cleaned first."""
    todo = []
    if frames:
        _clean_temps(os.path.dirname(frame_path(output_pattern, frames[0])) or ".")
    for frame in frames:
        src, dst = frame_path(input_pattern, frame), frame_path(output_pattern, frame)
        _check_paths(src, dst)
        if keep_at_scale is not None and os.path.lexists(dst):
            source = image_size(src)
            size = None if source is None else (round(source[0] * keep_at_scale), round(source[1] * keep_at_scale))
            if not (problem := whole_image_problem(dst, size)):
                tally.skipped.append(frame)
                continue
            log.warning("frame %d: the existing %s is redone: %s", frame, dst, problem)
            tally.redone.append(frame)
        todo.append((frame, src, dst))
    return todo


class _Writes:
    """Frames being written in the background, recorded in the tally as they finish. A sequence overlaps three
    stages: the next frame is read, the current one runs, the previous one is written (EXR compression costs about
    as much as a small model's inference). Writes are bounded: at most MAX_PENDING_WRITES results wait in memory."""

    def __init__(self, tally: _Tally, stop_on_error: bool) -> None:
        self.tally, self.stop_on_error = tally, stop_on_error
        self.pending: list[tuple[int, Future[list[str]]]] = []

    def harvest(self, wait_all: bool) -> bool:
        """Record finished writes (all of them with `wait_all`, else until at most MAX_PENDING_WRITES wait);
        returns False when a failed write should stop the batch."""
        keep_going = True
        while self.pending and (wait_all or len(self.pending) >= MAX_PENDING_WRITES or self.pending[0][1].done()):
            frame, future = self.pending.pop(0)
            try:
                self.tally.wrote(frame, future.result())
            except FRAME_ERRORS as exc:
                _record_failure(self.tally, frame, exc)
                keep_going = not self.stop_on_error
        return keep_going


class _Prefetch:
    """Frames read one ahead, on a thread of their own, while the current one runs."""

    def __init__(
        self,
        reader: ThreadPoolExecutor,
        sources: list[str],
        pass_inputs: dict[str, str],
        names: list[str],
        settings: RunSettings,
    ) -> None:
        self.reader, self.sources, self.pass_inputs, self.names = reader, sources, pass_inputs, names
        self.settings = settings
        self.pending = reader.submit(_load, sources[0], pass_inputs, names, settings) if sources else None

    def take(self, index: int) -> _Frame:
        """Frame `index`, the next one's read started meanwhile; raises what reading this one raised."""
        current = self.pending
        assert current is not None  # submitted at the start and for every next frame
        if index + 1 < len(self.sources):
            self.pending = self.reader.submit(
                _load, self.sources[index + 1], self.pass_inputs, self.names, self.settings
            )
        return current.result()


def _run_checked(
    prepared: PreparedModel,
    image: NDArray[np.float32],
    extra: dict[str, NDArray[np.float32]],
    settings: RunSettings,
    progress: Progress,
    reference: PreparedModel | None,
) -> RunResult:
    """One frame's run, stopped if cancelled meanwhile, and (the first frame of a reduced precision) re-checked
    against fp32 before anything is written."""
    result = run_image(prepared, image, extra=extra, settings=settings, progress=progress)
    progress.check()
    _recheck(reference, prepared, image, extra, result.image, settings)
    return result


def process_sequence(
    prepared: PreparedModel,
    input_pattern: str,
    *,
    output_pattern: str,
    frames: list[int],
    settings: RunSettings | None = None,
    skip_existing: bool = False,
    stop_on_error: bool = False,
    pass_inputs: dict[str, str] | None = None,
    progress: Progress | None = None,
    exr: ExrOptions | None = None,
    reference: PreparedModel | None = None,
    temporal_blend: float = 0.0,
) -> SequenceSummary:
    """Process `frames` of `input_pattern` into `output_pattern` ('#' runs are frame numbers). A failing frame is
    recorded in `summary.failed` with the reason and writes nothing; the others go on unless `stop_on_error`. Cancelling
    through `progress` stops before the next frame or tile (`summary.cancelled`) and keeps only complete files; an
    output an earlier run finished is never removed. Progress: 'frame 7 processed (3/10)' (or failed). EXR outputs
    are stored like their sources unless `exr` says. Flicker: `summary.temporal`; blend: batch/temporal/.

    Raises: ConversionError when the first frame, checked against `reference` (the fp32 model) before it is written, is
    outside tolerance (no frame is written); EngineError when an output would overwrite its source."""
    settings, progress, pass_inputs = settings or RunSettings(), progress or SILENT, pass_inputs or {}
    tracker, tally = Tracker(temporal_blend), _Tally()
    todo = _frames_to_do(input_pattern, output_pattern, frames, _output_scale(prepared, settings, skip_existing), tally)
    writes = _Writes(tally, stop_on_error)  # three stages overlap: read the next, run this, write the last
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=1) as writer:
        frames_in = _Prefetch(reader, [src for _, src, _ in todo], pass_inputs, _input_names(prepared), settings)
        prime = partial(_prime, tracker, prepared, input_pattern, pass_inputs=pass_inputs, settings=settings)
        for index, (frame, src, dst) in enumerate(todo):
            try:
                progress.check()  # a cancel before the next frame: Cancelled, below
                loaded = frames_in.take(index)
                start = time.perf_counter()
                frame_progress = _FrameProgress(progress, index, len(todo), frame)
                result = _run_checked(prepared, loaded.image, loaded.extra, loaded.settings, frame_progress, reference)
                reference = None  # the first frame decides
                image = _tracked(tracker, loaded, frame, result.image, prime)
                writes.pending.append((frame, writer.submit(_write_new, src, dst, image, exr, loaded)))
                tally.note_plan(result, len(todo))
                log.info("frame %d -> %s (%.2f s)", frame, dst, time.perf_counter() - start)
            except Cancelled:
                tally.cancelled = True
                break
            except ConversionError:
                raise  # the model is wrong on these pixels, not this frame: no frame is written
            except FRAME_ERRORS as exc:
                _record_failure(tally, frame, exc)
                if stop_on_error:
                    break
            if not writes.harvest(wait_all=False):
                break
            state = "failed" if frame in tally.failed else "processed"
            progress.update((index + 1) / len(todo), f"frame {frame} {state} ({index + 1}/{len(todo)})")
        writes.harvest(wait_all=True)
    return _finished(tally, tracker.flicker)


@dataclass
class FrameResult:
    frame: int
    output: str
    seconds: float
    error: str = ""


class FrameBatch:
    """Frames handed over one at a time, all through one prepared model (its session and buffers).

    Used by the render handlers: `process(frame, src)` right after Blender wrote `src`. With `reference`
    (the fp32 model), the first frame's output is compared with fp32 before it is written; outside
    tolerance, that frame and every later one fail with the measured error. Failures are recorded per
    frame; with `stop_on_error` the first failure stops the batch (later frames are left
    alone), and `cancel()` stops it too. The source frame is only ever read."""

    def __init__(
        self,
        prepared: PreparedModel,
        output_pattern: str,
        *,
        settings: RunSettings | None = None,
        stop_on_error: bool = False,
        pass_inputs: Mapping[str, str] | None = None,
        progress: Progress | None = None,
        reference: PreparedModel | None = None,
        exr: ExrOptions | None = None,
        temporal_blend: float = 0.0,
    ):
        self.prepared = prepared
        self.tracker = Tracker(temporal_blend)
        """Frames come in render order: measured against the one before, and blended with it when asked."""
        self.exr = exr
        """How outputs are stored (None: like each rendered frame, its passes kept)."""
        self.reference = reference
        """The fp32 model the first frame is checked against (see process_sequence); None after it."""
        self.refused = ""
        """Why every frame fails without being processed: the model is wrong on these frames."""
        self.output_pattern = output_pattern
        self.settings = settings or RunSettings()
        self.stop_on_error = stop_on_error
        self.pass_inputs = dict(pass_inputs or {})
        self.progress = progress or Progress()
        self._tally = _Tally()
        self.stopped = False
        self._cleaned: set[str] = set()

    @property
    def summary(self) -> SequenceSummary:
        """What the batch did so far."""
        return self._tally.summary(self.tracker.flicker)

    def fail(self, frame: int, reason: str) -> None:
        """Record `frame` as failed without processing it (the render handler's refusal: a GPU that is required)."""
        self._tally.fail(frame, reason)

    @property
    def active(self) -> bool:
        return not self.stopped and not self.progress.cancelled

    def cancel(self) -> None:
        self.progress.cancel()
        self._tally.cancelled = True

    def process(self, frame: int, src: str) -> FrameResult | None:
        """Process one frame; None when the batch has stopped or was cancelled."""
        if not self.active:
            return None
        dst = frame_path(self.output_pattern, frame)
        start = time.perf_counter()
        folder = os.path.dirname(dst) or "."
        if folder not in self._cleaned:
            self._cleaned.add(folder)
            _clean_temps(folder)
        if self.refused:
            self._tally.fail(frame, self.refused)
            return FrameResult(frame, dst, 0.0, self.refused)
        try:
            _check_paths(src, dst)
            loaded = _load(src, self.pass_inputs, _input_names(self.prepared), self.settings)
            _run_and_write(
                self.prepared, loaded, src, dst, self.progress, self.exr, self.reference, self.tracker, frame
            )
            self.reference = None  # the first frame processed decides
        except Cancelled:
            self._tally.cancelled = True
            return None
        except ConversionError as exc:
            # Wrong on these frames, not on this one only: every later frame fails with the same reason.
            self.refused = str(exc)
            self._tally.fail(frame, self.refused)
            return FrameResult(frame, dst, time.perf_counter() - start, self.refused)
        except FRAME_ERRORS as exc:
            # Not logged here: the render handler prints each failed frame itself.
            self._tally.fail(frame, str(exc))
            self.stopped = self.stop_on_error
            return FrameResult(frame, dst, time.perf_counter() - start, str(exc))
        self._tally.wrote(frame)
        return FrameResult(frame, dst, time.perf_counter() - start)
