"""The one job runner behind every long operator: the job runs in a worker thread polled by a 0.1 s timer, with
progress in the status bar and Esc to cancel; in background mode (`blender -b`, the bpy module) it runs
blocking. Only the main thread touches bpy data: the worker gets numpy arrays and returns a result that
`finish` writes back."""

from __future__ import annotations

import inspect
import queue
import threading
import time

import bpy

from ..engine import Cancelled, Progress
from . import jobs


def report_failure(op, exc: BaseException) -> set[str]:
    """The one way an operator reports a failure: a warning for a cancel, an error otherwise, one line each."""
    op.report({"WARNING" if isinstance(exc, Cancelled) else "ERROR"}, jobs.error_text(exc))
    return {"CANCELLED"}


# What an operator class must define to use the runner, with the arguments after `self`.
_CONTRACT = {"build": ("context",), "finish": ("context", "job", "result")}

ESC_GRACE_S = 1.0
"""After Esc, a job that has not stopped at a check by then (one that never reports progress: a pip install, a
conversion inside a library) is left to end in the background, its result discarded: Blender is free again
within this time, whatever the job does."""
clock = time.monotonic
"""Seconds, for the Esc grace (tests give the runner their own clock)."""


class JobRunner:
    """Mixin for long operators. Subclasses define

        build(self, context) -> job          main thread: Blender data -> a bpy-free job (operators/jobs.py)
        finish(self, context, job, result) -> str   main thread: the job's result -> Blender data; the report line

    and may define

        ended(self, context, job, outcome: jobs.Outcome)   main thread, after the job ends whichever way (done,
                                             failed, cancelled): undo what build() showed (a status message)

    The contract is checked when the class is defined, so a missing or misnamed method is an error at
    registration, not when an artist clicks."""

    _timer = None
    _thread = None
    _queue = None
    _job = None
    _esc_at: float | None = None
    progress: Progress | None = None
    """The running job's progress (its cancel flag is what Esc sets)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, expected in _CONTRACT.items():
            method = getattr(cls, name, None)
            if not callable(method):
                raise TypeError(f"{cls.__name__} uses JobRunner but defines no {name}(self, {', '.join(expected)})")
            params = tuple(inspect.signature(method).parameters)[1:]
            if len(params) != len(expected):
                raise TypeError(f"{cls.__name__}.{name} takes {params}, JobRunner calls it with {expected}")

    def background_progress(self) -> Progress:
        """The Progress of a blocking run (`blender -b`): a line on stdout at each tenth of the work, so a long
        single-image run is not silent for minutes in a farm log. Subclasses may print otherwise."""
        label = getattr(self, "bl_label", type(self).__name__)
        state = {"tenth": -1}

        def show(fraction: float, text: str) -> None:
            tenth = int(fraction * 10)
            if tenth > state["tenth"]:
                state["tenth"] = tenth
                print(f"{label}: {fraction * 100:3.0f}% {text}", flush=True)

        return Progress(show)

    def ended(self, context, job, outcome: jobs.Outcome) -> None:
        """Runs after every job, whichever way it ended; nothing by default."""

    def invoke(self, context, event):
        return self.execute(context)

    def execute(self, context):
        try:
            job = self.build(context)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            return report_failure(self, exc)
        if bpy.app.background or context.window is None:
            messages: queue.Queue[jobs.Message] = queue.Queue()
            jobs.worker(job, self.background_progress(), messages)
            # The background Progress prints; the worker posts one message, Finished or Failed.
            return self.complete(context, job, messages.get())
        return self.start(context, job)

    def start(self, context, job) -> set[str]:
        """Run `job` on a worker thread; modal() drains its messages on a timer."""
        self._job, self._esc_at = job, None
        self._queue = messages = queue.Queue()
        self.progress = Progress(on_update=lambda f, t: messages.put(jobs.Progressed(fraction=f, text=t)))
        self._thread = threading.Thread(target=jobs.worker, args=(job, self.progress, messages), daemon=True)
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
            # The worker stops at its next check; nothing is written.
            self.progress.cancel()
            self._esc_at = self._esc_at if self._esc_at is not None else clock()
            context.window_manager.onnx_image_runtime.status = "cancelling"
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if self._esc_at is not None and self._queue.empty() and clock() - self._esc_at >= ESC_GRACE_S:
            # The job has not reached a check: Blender is given back now; the worker's result is never read.
            self._end(context)
            cancelled = Cancelled("cancelled by the user; nothing was written")
            return self.complete(context, self._job, jobs.Failed(error=cancelled))
        while True:
            try:
                message = self._queue.get_nowait()
            except queue.Empty:
                return {"RUNNING_MODAL"}
            if isinstance(message, jobs.Progressed):
                state = context.window_manager.onnx_image_runtime
                state.progress, state.status = message.fraction, message.text
                context.window_manager.progress_update(message.fraction)
                if context.area:
                    context.area.tag_redraw()
                continue
            self._end(context)
            return self.complete(context, self._job, message)

    def cancel(self, context):
        """Blender ends the modal operator itself (a file is loaded, the window closes): stop the worker at
        its next check and put the progress state back; nothing is written."""
        if self.progress is not None:
            self.progress.cancel()
        self._end(context)
        if self._job is not None:
            self.ended(context, self._job, jobs.Outcome.CANCELLED)

    def _end(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        state = wm.onnx_image_runtime
        state.running, state.status, state.progress = False, "", 0.0

    def complete(self, context, job, message: jobs.Finished | jobs.Failed) -> set[str]:
        """Main thread: turn the worker's final message into Blender data and reports."""
        if isinstance(message, jobs.Failed):
            error = message.error
            self.ended(context, job, jobs.Outcome.CANCELLED if isinstance(error, Cancelled) else jobs.Outcome.FAILED)
            return report_failure(self, error)
        payload = message.result
        try:
            text = self.finish(context, job, payload)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            self.ended(context, job, jobs.Outcome.FAILED)
            return report_failure(self, exc)
        self.ended(context, job, jobs.Outcome.DONE)
        for note in payload.notes:
            self.report({"WARNING"}, note)
        self.report({"INFO"}, text)
        return {"FINISHED"}
