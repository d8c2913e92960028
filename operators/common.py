"""Shared operator pieces: the model arguments, render and post-process paths, the panel's last-model state."""

from __future__ import annotations

import os

import bpy

from ..preferences import PROVIDER_ITEMS
from ..properties import PATH_OPTIONS, PRECISION_ITEMS
from .settings import blend_path, scene_settings


class ModelArgs:
    """Mixin: the `model`, `precision`, `provider` arguments; unset ones fall back to the scene."""

    model: bpy.props.StringProperty(
        name="Model",
        description="The .onnx model; empty uses the scene setting",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )
    precision: bpy.props.EnumProperty(
        name="Precision", description="Unset uses the scene setting", items=PRECISION_ITEMS, default="AUTO"
    )
    provider: bpy.props.EnumProperty(
        name="Provider", description="Unset uses the scene setting", items=PROVIDER_ITEMS, default="AUTO"
    )


def render_pattern(scene) -> str:
    """The render output as an absolute '#' pattern, exactly as Blender names the frames it writes
    (folder, padding, extension): derived from frame_path() of frames 0 and 1."""
    render = scene.render
    zero, one = render.frame_path(frame=0), render.frame_path(frame=1)
    index = next((i for i, (a, b) in enumerate(zip(zero, one, strict=False)) if a != b), None)
    if index is None:
        return zero
    # Blender pads to the last '#' run of the file name, or to 4 digits when there is none.
    padding = _last_hash_run(os.path.basename(render.filepath)) or 4
    return zero[: index - padding + 1] + "#" * padding + zero[index + 1 :]


def postprocess_pattern(scene) -> str:
    """Absolute '#' pattern of post-processed frames: the scene setting, else a sibling folder of the
    render output ('//render/####' -> '//render_onnx/####.exr', same frame numbering)."""
    from ..engine import sibling_output_pattern, with_extension

    explicit = scene.onnx_image_runtime.postprocess_output
    source = render_pattern(scene)
    if not explicit:
        return sibling_output_pattern(source)
    return with_extension(blend_path(explicit, "post-process output"), source)


def _last_hash_run(name: str) -> int:
    end = name.rfind("#")
    if end < 0:
        return 0
    start = end
    while start > 0 and name[start - 1] == "#":
        start -= 1
    return end - start + 1


def store_prepared(context, prepared) -> str:
    """Keep what the panel shows about the last prepared model; returns a one-line summary."""
    from ..engine import PreparedFrom

    scene = scene_settings(context)
    scene.last_provider = prepared.provider.upper()
    scene.last_fallback = prepared.fallback_reason or ""
    scene.last_report = report_text(prepared)
    scene.last_precision = str(prepared.precision)
    # Converted, loaded from the file cache, or handed out again in memory (its startup was the first time's).
    origin = prepared.prepared_from
    startup = "no startup" if origin == PreparedFrom.MEMORY else f"startup {prepared.startup_seconds:.2f} s"
    return f"{prepared.precision} on {prepared.provider.upper()} ({origin}, {startup})"


def report_text(prepared) -> str:
    report = prepared.report
    note = f" ({prepared.precision_note})" if prepared.precision_note else ""
    if report is None:
        return f"{prepared.precision}: reference precision, no conversion{note}"
    text = (
        f"{report.precision} {report.status}: {report.accuracy_text()}, "
        f"{len(report.fp32_nodes)} fp32 nodes, casts {report.casts_before}->{report.casts_after}{note}"
    )
    return text


def store_run(context, result) -> None:
    """Keep what the panel shows about the last run: time, tiles, which pass went to which model input."""
    scene = scene_settings(context)
    scene.last_seconds = result.seconds
    scene.last_tiles = result.tiles
    scene.last_inputs = "\n".join(result.inputs)
