"""Post-processing a rendered frame sequence: one session and its buffers for every frame, the next
frame read while the current one runs, atomic writes, failures reported per frame."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Cancelled, EngineError
from .frames import frame_path
from .imageio import combined_layer, find_pass, read_layers, write_image
from .pipeline import RunSettings, run_image
from .prepare import PreparedModel
from .progress import SILENT, Progress

log = logging.getLogger(__name__)


@dataclass
class SequenceSummary:
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled

    def to_json(self) -> dict:
        return {"done": self.done, "skipped": self.skipped, "failed": self.failed, "cancelled": self.cancelled}


def _load(path: str, pass_inputs: dict[str, str]):
    layers = read_layers(path)
    extra = {}
    for model_input, pass_name in pass_inputs.items():
        found = find_pass(layers, pass_name)
        if found is None:
            raise EngineError(f"pass '{pass_name}' not in {path}; it has: {', '.join(sorted(layers))}")
        extra[model_input] = found
    return combined_layer(layers), extra


def process_frame(prepared, src: str, dst: str, settings: RunSettings, pass_inputs=None, progress=None):
    image, extra = _load(src, pass_inputs or {})
    result = run_image(prepared, image, extra, settings, progress)
    write_image(dst, result.image)
    return result


def process_sequence(
    prepared: PreparedModel,
    input_pattern: str,
    output_pattern: str,
    frames: list[int],
    settings: RunSettings | None = None,
    skip_existing: bool = False,
    stop_on_error: bool = False,
    pass_inputs: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> SequenceSummary:
    settings = settings or RunSettings()
    progress = progress or SILENT
    pass_inputs = pass_inputs or {}
    summary = SequenceSummary()
    todo = []
    for frame in frames:
        src, dst = frame_path(input_pattern, frame), frame_path(output_pattern, frame)
        if os.path.abspath(src) == os.path.abspath(dst):
            raise EngineError(f"output {dst} would overwrite its source frame; choose another output pattern")
        if skip_existing and os.path.exists(dst):
            summary.skipped.append(frame)
        else:
            todo.append((frame, src, dst))
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(_load, todo[0][1], pass_inputs) if todo else None
        for index, (frame, _src, dst) in enumerate(todo):
            if progress.cancelled:
                summary.cancelled = True
                break
            try:
                image, extra = pending.result()
            except (EngineError, OSError) as exc:
                image, extra = None, str(exc)
            if index + 1 < len(todo):
                pending = reader.submit(_load, todo[index + 1][1], pass_inputs)
            try:
                if image is None:
                    raise EngineError(extra)
                Path(dst).parent.mkdir(parents=True, exist_ok=True)
                write_image(dst, run_image(prepared, image, extra, settings, progress).image)
                summary.done.append(frame)
            except Cancelled:
                summary.cancelled = True
                break
            except (EngineError, OSError) as exc:
                summary.failed[frame] = str(exc)
                log.error("frame %d failed: %s", frame, exc)
                if stop_on_error:
                    break
            progress.update((index + 1) / len(todo), f"frame {frame} ({index + 1}/{len(todo)})")
    return summary
