"""What the temporal measure and blend (engine/batch/temporal/) add to a sequence per frame, against the model's own
run on a frame (issue 29's targets: under 5% and 15%), measured through `process_sequence` as a pipeline pays for
them. The same frames (Combined and a Vector pass: a camera pan) run three ways, timed interleaved in pairs:
numbered with gaps (no frame follows another, so nothing is measured or blended), in order (each frame after the
first measured against the one before), and in order with the blend. The differences, per frame that follows
another, are the measure's and the blend's cost. `tracker_row` times them directly instead: the engine's
TemporalTracker stepping over the model's outputs in memory, with and without the blend (nothing read or written)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine import (
    Motion,
    RunSettings,
    SessionSettings,
    TemporalFrame,
    TemporalTracker,
    prepare_model,
    process_sequence,
    run_image,
    synthetic_image,
)
from tests import models
from tests.helpers import write_passes

from .timing import median_seconds, paired

FRAMES = 4
PAN = 2
"""Pixels the camera pans a frame (to the right: each point was PAN px to the left in the frame before)."""
BLEND = 0.5


def _pan(h: int, w: int, pan: int = PAN) -> list[np.ndarray]:
    """FRAMES crops of one wider picture, each `pan` px further left, so the content moves right by `pan` a frame
    (0: a locked-off shot, the same picture every frame)."""
    wide = synthetic_image(h, w + pan * FRAMES, channels=4)
    return [np.ascontiguousarray(wide[:, pan * (FRAMES - t) :][:, :w]) for t in range(1, FRAMES + 1)]


def _vector(h: int, w: int, pan: int = PAN) -> np.ndarray:
    """The pan as Blender's Vector pass (X, Y: position in the previous frame - now; Z, W: now - in the next);
    exact zeros for a locked-off shot, as Blender writes them for what does not move."""
    vector = np.zeros((h, w, 4), np.float32)
    vector[:, :, 0] = vector[:, :, 2] = -pan
    return vector


def _write_frames(folder: Path, images: list[np.ndarray], step: int) -> tuple[str, list[int]]:
    """The frames as multilayer EXRs numbered 1, 1 + step, ...: (their pattern, their numbers)."""
    folder.mkdir(parents=True)
    numbers = [1 + step * index for index in range(len(images))]
    vector = _vector(*images[0].shape[:2])
    for number, image in zip(numbers, images, strict=True):
        write_passes(folder / f"{number:04d}.exr", {"Combined": ("RGBA", image), "Vector": ("XYZW", vector)})
    return str(folder / "####.exr"), numbers


def temporal_row(name: str, model: Path, settings: SessionSettings, cache: Path, size, repeats: int) -> dict:
    prepared = prepare_model(model, "fp32", settings=settings, cache_dir=cache)
    h, w = size
    images = _pan(h, w)
    work = Path(tempfile.mkdtemp())
    apart, in_order = _write_frames(work / "apart", images, 2), _write_frames(work / "in_order", images, 1)
    output = str(work / "out" / "####.exr")

    def sequence(frames: tuple[str, list[int]], blend: float = 0.0):
        summary = process_sequence(prepared, frames[0], output_pattern=output, frames=frames[1], temporal_blend=blend)
        assert summary.ok, summary.text()
        return summary

    # What each way does, from its summary: the differences below are the measure's and the blend's cost only if
    # frames apart are neither measured nor blended and frames in order are measured (and blended) after the first.
    plain, measured, blended = sequence(apart), sequence(in_order), sequence(in_order, BLEND)
    assert not plain.temporal.frames and not plain.temporal.blended, plain.text()
    assert len(measured.temporal.frames) == FRAMES - 1 and not measured.temporal.blended, measured.text()
    assert len(blended.temporal.blended) == FRAMES - 1, blended.text()

    plain_s, measured_s = paired(lambda: sequence(apart), lambda: sequence(in_order), repeats)
    measured_again_s, blended_s = paired(lambda: sequence(in_order), lambda: sequence(in_order, BLEND), repeats)
    run_s = median_seconds(lambda: run_image(prepared, images[1], settings=RunSettings()), repeats)
    measure_s = (measured_s - plain_s) / (FRAMES - 1)
    blend_s = (blended_s - measured_again_s) / (FRAMES - 1)
    return {
        "model": name,
        "size": f"{h}x{w}",
        "motion": f"pan {PAN} px",
        "frames": FRAMES,
        "run_ms": round(1000 * run_s, 1),
        "measure_ms": round(1000 * measure_s, 1),
        "blend_ms": round(1000 * blend_s, 1),
        "measure_share": round(measure_s / run_s, 3),
        "blend_share": round(blend_s / run_s, 3),
    }


def tracker_row(
    name: str, model: Path, settings: SessionSettings, cache: Path, size, repeats: int, pan: int = PAN
) -> dict:
    """The measure and the blend timed as TemporalTracker steps on frames in memory, against the model's run on one
    frame, as in a long sequence: one tracker measuring and one blending, each stepping over the four panned frames
    again and again with the numbers going on (each pass of a pan starts with a cut back to the first frame, which
    is measured but not blended), the third and fourth frame of each pass timed (the blend's whole window); medians
    over `repeats` passes after a warm-up pass (the trackers' onnxruntime graphs are built on first use). `pan` 0
    is a locked-off shot: nothing moves, so nothing is warped."""
    prepared = prepare_model(model, "fp32", settings=settings, cache_dir=cache)
    h, w = size
    images = _pan(h, w, pan)
    motion = Motion.from_vector_pass(_vector(h, w, pan))
    outputs = [run_image(prepared, image, settings=RunSettings()).image for image in images]
    trackers = {0.0: TemporalTracker(0.0), BLEND: TemporalTracker(BLEND)}
    numbers = {0.0: 0, BLEND: 0}

    def steps(strength: float) -> list[float]:
        """Seconds of the third and later steps of one pass over the frames."""
        tracker, seconds, timed = trackers[strength], [], []
        for index, (image, output) in enumerate(zip(images, outputs, strict=True)):
            numbers[strength] += 1
            started = time.perf_counter()
            tracker.step(TemporalFrame(numbers[strength], image, output, motion, None))
            if index >= 2:
                seconds.append(time.perf_counter() - started)
                timed.append(numbers[strength])
        measured = {f.frame for f in tracker.flicker.frames}
        assert set(timed) <= measured, (timed, sorted(measured))
        assert set(timed) <= set(tracker.flicker.blended) if strength else not tracker.flicker.blended
        return seconds

    steps(0.0), steps(BLEND)
    measured: list[float] = []
    blended: list[float] = []
    for _ in range(repeats):
        measured += steps(0.0)
        blended += steps(BLEND)
    run_s = median_seconds(lambda: run_image(prepared, images[1], settings=RunSettings()), repeats)
    measure_s, blend_s = statistics.median(measured), statistics.median(blended) - statistics.median(measured)
    return {
        "model": name,
        "size": f"{h}x{w}",
        "timed": "tracker",
        "motion": f"pan {pan} px" if pan else "still",
        "run_ms": round(1000 * run_s, 1),
        "measure_ms": round(1000 * measure_s, 1),
        "blend_ms": round(1000 * blend_s, 1),
        "measure_share": round(measure_s / run_s, 3),
        "blend_share": round(blend_s / run_s, 3),
    }


def section_rows(sample_name: str, sample: Path, settings: SessionSettings, work: Path, repeats: int) -> list[dict]:
    """`make bench`'s temporal section: through process_sequence (what a sequence pays, frames read and written
    around it) and timed directly on the tracker, on the sample (a pan, and a locked-off shot at 1920x1080) and on
    an upscaler of the weight artists run (SRVGGNetCompact-shaped)."""
    cache = work / "cache"
    compact = models.save(models.compact_sr_x2(), work / "compact_sr_x2.onnx")
    compact_name = "compact_sr_x2 64x16 (generated)"
    return [
        temporal_row(sample_name, sample, settings, cache, (540, 960), max(5, repeats)),
        tracker_row(sample_name, sample, settings, cache, (540, 960), max(5, repeats)),
        tracker_row(sample_name, sample, settings, cache, (1080, 1920), max(3, repeats)),
        tracker_row(sample_name, sample, settings, cache, (1080, 1920), max(3, repeats), pan=0),
        tracker_row(compact_name, compact, settings, cache, (540, 960), 3),
        tracker_row(compact_name, compact, settings, cache, (1080, 1920), 3),
    ]


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.temporal_cost`: the temporal section of `make bench` alone, one JSON row a line."""
    parser = argparse.ArgumentParser(prog="python -m bench.temporal_cost")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    started = time.perf_counter()
    settings = SessionSettings(provider="cpu")
    rows = section_rows(
        "upscaler_x2 (sample)", root / "samples" / "upscaler_x2.onnx", settings, Path(tempfile.mkdtemp()), args.repeats
    )
    for row in rows:
        print(json.dumps(row), flush=True)
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
