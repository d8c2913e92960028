"""What the temporal measure and blend (engine/batch/temporal.py) cost a frame, against the model's own run on
that frame, timed interleaved in the same run (issue 29's targets: under 5% and 15%)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import RunSettings, run_image
from engine.batch.temporal import FrameState, Motion, blend, measure
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings

from .timing import paired


def _vector(h: int, w: int) -> np.ndarray:
    """A camera pan of 1.5 px a frame, the Vector pass as Blender writes it (sub-pixel: the warp interpolates)."""
    vector = np.zeros((h, w, 4), np.float32)
    vector[:, :, 0] = vector[:, :, 2] = -1.5
    return vector


def temporal_row(name: str, model: Path, settings: SessionSettings, cache: Path, size, repeats: int) -> dict:
    prepared = prepare_model(model, "fp32", settings=settings, cache_dir=cache)
    h, w = size
    images = [synthetic_image(h, w, 4, seed=seed) for seed in (1, 2)]
    outputs = [run_image(prepared, image, settings=RunSettings()).image for image in images]  # as the model gives them
    motion = Motion.from_vector_pass(_vector(h, w))
    previous = FrameState(1, images[0], outputs[0], motion, None)
    current = FrameState(2, images[1], outputs[1], motion, None)

    def run() -> None:
        run_image(prepared, images[1], settings=RunSettings())

    run_s, measure_s = paired(run, lambda: measure(previous, current), repeats)

    # The blend's full window: the frame before, and the one before that already brought onto it.
    before = blend(previous, previous, None, 0.5)
    window = before[1] if before is not None else None
    run_again_s, blend_s = paired(run, lambda: blend(current, previous, window, 0.5), repeats)
    return {
        "model": name,
        "size": f"{h}x{w}",
        "run_ms": round(1000 * run_s, 1),
        "measure_ms": round(1000 * measure_s, 1),
        "blend_ms": round(1000 * blend_s, 1),
        "measure_share": round(measure_s / run_s, 3),
        "blend_share": round(blend_s / run_again_s, 3),
    }
