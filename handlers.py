"""ONNX post-processing during animation renders, in the UI and with `blender -b file.blend -a`.

The first frame file written by the render prepares the scene's model once (one session and its buffers for
the whole animation; a still render (F12) writes no frame, so it loads no onnxruntime and announces nothing),
render_write runs it on each frame file Blender has just written (complete on disk then) and writes the
result under the post-process output pattern, render_complete / render_cancel print the summary, store
it on the scene and release the session. The render output itself is only read.

In the UI these handlers run in Blender's render job thread: they only read scene settings and call the
engine; the summary is written to the scene by the main thread (a timer), never from the render thread.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

import bpy

log = logging.getLogger(__name__)

PREFIX = "ONNX post-process"


class _Render:
    """The post-processing of one animation render."""

    def __init__(self, scene_name: str):
        self.scene_name = scene_name
        self.batch = None
        """The FrameBatch, made at the first frame written (None before, and after a failed start)."""
        self.started_batch = False
        self.input_pattern = ""
        self.started = time.time()
        self.frames_seen = 0
        self.refused = ""
        """Set when "Require GPU" is on and the model would run on the CPU: every frame fails with it."""
        self.reference = None
        """The fp32 model the first frame is checked against (reduced precision only), released at the end."""


_ACTIVE: _Render | None = None
# (scene name, summary) posted by the render thread, written to the scene by the main thread.
_SUMMARIES: queue.Queue = queue.Queue()


def _say(text: str) -> None:
    # Headless renders and farm logs show stdout, next to Blender's own "Saved: ..." lines.
    print(f"{PREFIX}: {text}", flush=True)
    log.info(text)


def store_summary(scene_name: str, text: str) -> None:
    """Write the summary on the scene now (main thread) or through the main-thread timer."""
    if threading.current_thread() is threading.main_thread():
        scene = bpy.data.scenes.get(scene_name)
        if scene is not None:
            scene.onnx_image_runtime.postprocess_summary = text
    else:
        _SUMMARIES.put((scene_name, text))


def _drain_summaries():
    while True:
        try:
            store_summary(*_SUMMARIES.get_nowait())
        except queue.Empty:
            return 1.0


def active():
    """The post-processing of the render in progress, or None (for the panel and tests)."""
    return _ACTIVE


def _start(scene, render: _Render) -> None:
    """Prepare the model for this render (at its first frame): fills render.batch, or says why not."""
    render.started_batch = True
    from .engine import (
        Device,
        ExrOptions,
        FrameBatch,
        Precision,
        first_frame_sample,
        fp32_reference,
        parse_mapping,
    )
    from .operators.common import postprocess_pattern, render_pattern
    from .operators.jobs import error_text, first_time, mapping_notes
    from .operators.settings import run_settings, scene_model_job

    settings = scene.onnx_image_runtime
    try:
        # Prepared at the first frame written: a reduced-precision conversion is judged on that frame (fp32, and
        # auto where it resolves to fp32, needs no sample, so the frame is not read for it).
        model = scene_model_job(scene).with_sample(
            lambda: first_frame_sample(render_pattern(scene), [scene.frame_current])
        )
        mapping = parse_mapping(settings.pass_mapping)
        pattern = postprocess_pattern(scene)
        run = run_settings(settings, model_path=model.model_path)
        start = time.perf_counter()
        prepared = model.prepare()
    except Exception as exc:  # noqa: BLE001 - reported on stdout and in the panel; the render goes on
        text = f"not run: {error_text(exc)}"
        _say(text)
        store_summary(scene.name, text)
        return
    if prepared.fallback_reason and first_time(prepared.fallback_reason):
        _say(prepared.fallback_reason)
    for warning in prepared.warnings + tuple(mapping_notes(mapping, prepared.info)):
        _say(warning)
    _say(
        f"{prepared.precision} on {prepared.provider.upper()} (ready in {time.perf_counter() - start:.2f} s), "
        f"frames -> {pattern}"
    )
    # A cached conversion was judged on another image (the first render's frame): the first frame's output is
    # also compared with fp32 before anything is written.
    reference = None
    try:
        reference = fp32_reference(prepared, model.sample, prepare_fp32=lambda: model.prepare(Precision.FP32))
    except Exception as exc:  # noqa: BLE001 - the check is an extra; the post-process still runs
        _say(f"the first frame is not checked against fp32: {error_text(exc)}")
    exr = ExrOptions(keep_passes=settings.postprocess_keep_passes)
    render.batch = FrameBatch(
        prepared,
        pattern,
        settings=run,
        stop_on_error=settings.postprocess_stop_on_error,
        pass_inputs=mapping,
        reference=reference,
        exr=exr,
        temporal_blend=settings.postprocess_temporal_blend,
    )
    render.reference = reference
    render.input_pattern = render_pattern(scene)
    if settings.postprocess_require_gpu and prepared.provider != Device.CUDA:
        why = prepared.fallback_reason or f"the provider is {prepared.provider.upper()}"
        render.refused = f"GPU required (Require GPU), but the model would run on the CPU: {why}"
        _say(render.refused)


def _finish(render: _Render, cancelled: bool, why: str = "") -> None:
    batch = render.batch
    if batch is None:  # no frame was written (a still render), or the model could not be prepared
        return
    if cancelled:
        batch.cancel()
    summary = batch.summary
    if render.frames_seen or summary.failed or summary.cancelled or why:
        text = f"{summary.text()}; {why}" if why else summary.text()
        _say(text)
        store_summary(render.scene_name, text)
    # Release the prepared model: the session and its buffers go with the batch, and the in-process
    # session cache lets go too, so the GPU memory returns to Cycles. The next render loads the
    # cached optimized model again, which is fast.
    from .engine import release_model

    release_model(batch.prepared)
    if render.reference is not None:
        release_model(render.reference)
        render.reference = None
    render.batch = None


@bpy.app.handlers.persistent
def on_render_init(scene, *_args):
    global _ACTIVE
    if _ACTIVE is not None:  # a render that never completed (crashed job): close it first
        _finish(_ACTIVE, cancelled=True)
        _ACTIVE = None
    settings = getattr(scene, "onnx_image_runtime", None)
    if settings is None or not settings.postprocess:
        return
    store_summary(scene.name, "")  # no stale summary (saved in the .blend) speaks for this render
    _ACTIVE = _Render(scene.name)


@bpy.app.handlers.persistent
def on_render_write(scene, *_args):
    render = _ACTIVE
    if render is None or scene.name != render.scene_name:
        return
    frame = scene.frame_current
    src = scene.render.frame_path(frame=frame)
    try:
        written = os.path.getmtime(src)
    except OSError:
        written = None
    # A still render with "write still" goes to another name; an older file of this frame number is not
    # from this render: only frames written since render_init are post-processed.
    if written is None or written < render.started - 1.0:
        log.debug("frame %d: %s was not written by this render; not post-processed", frame, src)
        return
    if not render.started_batch:
        _start(scene, render)
    batch = render.batch
    if batch is None or not batch.active:
        return
    render.frames_seen += 1
    if render.refused:
        batch.fail(frame, render.refused)
        _say(f"frame {frame} FAILED: {render.refused}")
        return
    result = batch.process(frame, src)
    if render.reference is not None and (batch.reference is None or batch.refused):
        # The first frame was checked: the fp32 model's memory goes back to Cycles now.
        from .engine import release_model

        release_model(render.reference)
        render.reference = None
    if result is None:
        return
    if result.error:
        _say(f"frame {frame} FAILED: {result.error}")
        if batch.stopped:
            _say("stopping at the first failure (Stop on Error); the render itself goes on")
    else:
        _say(f"frame {frame} -> {result.output} ({result.seconds:.2f} s)")


def _end_render(cancelled: bool) -> None:
    global _ACTIVE
    render, _ACTIVE = _ACTIVE, None
    if render is not None:
        _finish(render, cancelled=cancelled)


@bpy.app.handlers.persistent
def on_render_complete(scene, *_args):
    _end_render(cancelled=False)


@bpy.app.handlers.persistent
def on_render_cancel(scene, *_args):
    _end_render(cancelled=True)


@bpy.app.handlers.persistent
def pack_results(*_args):
    """Before a save: pack every result image not packed yet, so it is stored in the .blend (a
    generated image's pixels are otherwise lost on reload)."""
    from .operators.blender_io import RESULT_MARK

    for image in bpy.data.images:
        if image.get(RESULT_MARK) and (image.packed_file is None or image.is_dirty):
            image.pack()


_HANDLERS = (
    ("save_pre", pack_results),
    ("render_init", on_render_init),
    ("render_write", on_render_write),
    ("render_complete", on_render_complete),
    ("render_cancel", on_render_cancel),
)


def register():
    for name, fn in _HANDLERS:
        callbacks = getattr(bpy.app.handlers, name)
        if fn not in callbacks:
            callbacks.append(fn)
    if not bpy.app.background and not bpy.app.timers.is_registered(_drain_summaries):
        bpy.app.timers.register(_drain_summaries, first_interval=1.0, persistent=True)


def unregister():
    global _ACTIVE
    if bpy.app.timers.is_registered(_drain_summaries):
        bpy.app.timers.unregister(_drain_summaries)
    for name, fn in reversed(_HANDLERS):
        callbacks = getattr(bpy.app.handlers, name)
        while fn in callbacks:
            callbacks.remove(fn)
    render, _ACTIVE = _ACTIVE, None
    if render is not None and render.batch is not None:
        # Disabled mid-render: without its handlers no later frame would be processed, silently, while
        # the session kept its memory. Stop, release, and say which frames were not processed.
        _finish(
            render,
            cancelled=True,
            why="the extension was disabled during the render: later frames were not post-processed",
        )
