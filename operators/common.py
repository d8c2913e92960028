"""Shared operator plumbing: settings resolution, reports, and the modal worker-thread driver."""

from __future__ import annotations

import os
import queue
import threading

import bpy

from ..preferences import PROVIDER_ITEMS, machine_settings
from ..properties import PRECISION_ITEMS
from . import jobs

ENGINE_PRECISION = {"FP32": "fp32", "FP16": "fp16", "AMP": "amp"}
ENGINE_PROVIDER = {"AUTO": "auto", "CUDA": "cuda", "CPU": "cpu"}


class ModelArgs:
    """Mixin: the `model`, `precision`, `provider` arguments; unset ones fall back to the scene."""

    model: bpy.props.StringProperty(
        name="Model", description="The .onnx model; empty uses the scene setting", subtype="FILE_PATH"
    )
    precision: bpy.props.EnumProperty(
        name="Precision", description="Unset uses the scene setting", items=PRECISION_ITEMS, default="FP16"
    )
    provider: bpy.props.EnumProperty(
        name="Provider", description="Unset uses the scene setting", items=PROVIDER_ITEMS, default="AUTO"
    )


def settings(context):
    return context.scene.onnx_image_runtime


def model_job(op, context, sample=None) -> jobs.ModelJob:
    """Operator arguments that were given win; otherwise the scene's settings, then the preferences."""
    scene = settings(context)
    machine = machine_settings(context)
    path = bpy.path.abspath(op.model or scene.model_path)
    if not path:
        raise ValueError("no model chosen: set a .onnx file in the ONNX panel or pass model=")
    if not os.path.isfile(path):
        raise ValueError(f"model file not found: {path}")
    precision = op.precision if op.properties.is_property_set("precision") else scene.precision
    provider = op.provider if op.properties.is_property_set("provider") else scene.provider
    if provider == "AUTO":
        provider = machine.provider
    return jobs.ModelJob(
        path, ENGINE_PRECISION[precision], ENGINE_PROVIDER[provider], machine.device_id, str(machine.cache_dir), sample
    )


def scene_model_job(scene, context=None) -> jobs.ModelJob:
    """The scene's model settings alone (no operator): render handlers and batch jobs use this."""
    settings_ = scene.onnx_image_runtime
    machine = machine_settings(context)
    path = bpy.path.abspath(settings_.model_path)
    if not path:
        raise ValueError("no model chosen: set a .onnx file in the ONNX post-process panel")
    if not os.path.isfile(path):
        raise ValueError(f"model file not found: {path}")
    provider = machine.provider if settings_.provider == "AUTO" else settings_.provider
    return jobs.ModelJob(
        path,
        ENGINE_PRECISION[settings_.precision],
        ENGINE_PROVIDER[provider],
        machine.device_id,
        str(machine.cache_dir),
        None,
    )


COLOR_MODE = {"LINEAR": "linear", "SRGB": "srgb"}


def run_options(settings_) -> dict:
    """Tile, overlap and colour mode from the scene settings, as RunSettings keywords."""
    return {"tile": settings_.tile_size, "overlap": settings_.tile_overlap, "color": COLOR_MODE[settings_.color_mode]}


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
    from ..engine.frames import sibling_output_pattern

    explicit = scene.onnx_image_runtime.postprocess_output
    return bpy.path.abspath(explicit) if explicit else sibling_output_pattern(render_pattern(scene))


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
    scene = settings(context)
    scene.last_provider = prepared.provider.upper()
    scene.last_fallback = prepared.fallback_reason or ""
    scene.last_report = report_text(prepared)
    cache = "cache hit" if prepared.cache_hit else "converted and cached"
    return f"{prepared.precision} on {prepared.provider.upper()} ({cache}, startup {prepared.startup_seconds:.2f} s)"


def report_text(prepared) -> str:
    report = prepared.report
    if report is None:
        return f"{prepared.precision}: reference precision, no conversion"
    text = (
        f"{report.precision} {report.status}: max error {report.max_abs_error:.2e}, "
        f"mean {report.mean_abs_error:.2e}, PSNR {report.psnr_db:.1f} dB, "
        f"{len(report.fp32_nodes)} fp32 nodes, casts {report.casts_before}->{report.casts_after}"
    )
    return text


class JobRunner:
    """Mixin: runs `self.build(context)`'s job blocking in background mode, else in a worker thread
    polled by a 0.1 s timer. Subclasses define build(context) -> job and finish(context, result) -> str."""

    _timer = None
    _thread = None
    _queue = None
    _progress = None
    _job = None

    def execute(self, context):

        try:
            job = self.build(context)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            self.report({"ERROR"}, jobs.error_text(exc))
            return {"CANCELLED"}
        if bpy.app.background or context.window is None:
            messages = queue.Queue()
            jobs.worker(job, self.background_progress(), messages)
            return self.complete(context, job, messages.get())
        return self.start(context, job)

    def background_progress(self):
        """The Progress of a blocking run; subclasses may print from it."""
        from ..engine.progress import Progress

        return Progress()

    def start(self, context, job):
        from ..engine.progress import Progress

        self._job = job
        self._queue = messages = queue.Queue()
        self._progress = Progress(on_update=lambda f, t: messages.put(("progress", f, t)))
        self._thread = threading.Thread(target=jobs.worker, args=(job, self._progress, messages), daemon=True)
        wm = context.window_manager
        state = wm.onnx_image_runtime
        state.running, state.progress, state.status = True, 0.0, "starting"
        wm.progress_begin(0.0, 1.0)
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        self._thread.start()
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            # The worker stops at the next tile; nothing is written.
            self._progress.cancel()
            settings_status(context, "cancelling")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        while True:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                return {"RUNNING_MODAL"}
            if message[0] == "progress":
                _, fraction, text = message
                state = context.window_manager.onnx_image_runtime
                state.progress, state.status = fraction, text
                context.window_manager.progress_update(fraction)
                if context.area:
                    context.area.tag_redraw()
                continue
            self._end(context)
            return self.complete(context, self._job, message)

    def cancel(self, context):
        """Blender ends the modal operator itself (a file is loaded, the window closes): stop the
        worker at its next tile and put the progress state back; nothing is written."""
        if self._progress is not None:
            self._progress.cancel()
        self._end(context)

    def _end(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        state = wm.onnx_image_runtime
        state.running, state.status, state.progress = False, "", 0.0

    def complete(self, context, job, message):
        """Main thread: turn the worker's final message into Blender data and reports."""
        kind, payload = message[0], message[1]
        if kind == "error":
            from ..engine.errors import Cancelled

            level = "WARNING" if isinstance(payload, Cancelled) else "ERROR"
            self.report({level}, jobs.error_text(payload))
            return {"CANCELLED"}
        try:
            text = self.finish(context, job, payload)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            self.report({"ERROR"}, jobs.error_text(exc))
            return {"CANCELLED"}
        for note in payload.notes:
            self.report({"WARNING"}, note)
        self.report({"INFO"}, text)
        return {"FINISHED"}


def settings_status(context, text: str) -> None:
    context.window_manager.onnx_image_runtime.status = text
