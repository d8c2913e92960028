"""The one job runner: every long operator runs its job on a worker thread polled by a timer (the modal path),
reports progress, and stops on Esc with nothing written. The bpy module has no window, so the modal loop is
driven here by hand: the operator's own build() and finish() through the real runner's start() and modal()."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from tests.blender.test_operators import H, W, make_image

TIMER = SimpleNamespace(type="TIMER", value="NOTHING")
ESC = SimpleNamespace(type="ESC", value="PRESS")


class WindowManager:
    """The real WindowManager's state (onnx_image_runtime) with the timer and modal calls recorded: in the bpy
    module there is no window to add a timer to."""

    def __init__(self, real):
        self.onnx_image_runtime = real.onnx_image_runtime
        self.calls = []

    def event_timer_add(self, step, window=None):
        self.calls.append("timer_add")
        return object()

    def event_timer_remove(self, timer):
        self.calls.append("timer_remove")

    def modal_handler_add(self, op):
        self.calls.append("modal_handler_add")
        return True

    def progress_begin(self, low, high):
        self.calls.append("progress_begin")

    def progress_update(self, value):
        pass

    def progress_end(self):
        self.calls.append("progress_end")


def driven(bpy, op_class, **props):
    """A stand-in for a running instance of `op_class`: its own build() and finish() on the JobRunner."""
    from onnx_image_runtime.operators.runner import JobRunner

    reports = []

    class Driven(JobRunner):
        build = op_class.build
        finish = op_class.finish

        def report(self, level, text):
            reports.append((next(iter(level)), text))

    op = Driven()
    defaults = {"model": "", "precision": "FP32", "provider": "CPU"}
    for key, value in {**defaults, **props}.items():
        setattr(op, key, value)
    op.properties = SimpleNamespace(is_property_set=lambda name: name in props)
    context = SimpleNamespace(
        window_manager=WindowManager(bpy.context.window_manager),
        window=object(),
        area=None,
        scene=bpy.context.scene,
        preferences=bpy.context.preferences,
        space_data=None,
    )
    return op, context, reports


class RecordsItsThread:
    """A job as the runner sees it (its own fields for finish()), recording which thread ran its work."""

    def __init__(self, job):
        self._job, self.ran_on = job, None

    def __getattr__(self, name):
        return getattr(self._job, name)

    def work(self, progress):
        self.ran_on = threading.get_ident()
        return self._job.work(progress)


def drive(op, context, timeout=120.0) -> set[str]:
    """The timer's job: call modal() until the operator is done."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = op.modal(context, TIMER)
        if state != {"RUNNING_MODAL"}:
            return state
        time.sleep(0.02)
    raise AssertionError("the job did not finish")


@pytest.fixture
def gate(monkeypatch):
    """Holds every job at its model preparation until released: a cancel then arrives at a known point."""
    from onnx_image_runtime.operators import jobs

    opened = threading.Event()
    original = jobs.ModelJob.prepare

    def held(self, *args, **kwargs):
        assert opened.wait(60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jobs.ModelJob, "prepare", held)
    # The advise job converts without ModelJob.prepare: held too, or a conversion already cached by an
    # earlier test can finish before the Esc arrives (the job then ends FINISHED).
    import onnx_image_runtime.engine as engine

    advise = engine.advise_model

    def held_advise(*args, **kwargs):
        assert opened.wait(60)
        return advise(*args, **kwargs)

    monkeypatch.setattr(engine, "advise_model", held_advise)
    return opened


def _operators():
    from onnx_image_runtime.operators.advice import ONNX_OT_advise_model
    from onnx_image_runtime.operators.model import ONNX_OT_benchmark_model, ONNX_OT_prepare_model

    return {
        "prepare": (ONNX_OT_prepare_model, {}),
        "benchmark": (ONNX_OT_benchmark_model, {"repeats": 1}),
        "advise": (ONNX_OT_advise_model, {"height": 64, "width": 64}),
    }


@pytest.mark.parametrize("name", ["prepare", "benchmark", "advise"])
def test_long_model_operators_run_in_the_worker_and_finish(bpy_data, models_dir, name):
    bpy = bpy_data
    src, _ = make_image(bpy, "Bench Source")
    op_class, extra = _operators()[name]
    model = str(models_dir / "sr_x2.onnx")
    op, context, reports = driven(bpy, op_class, model=model, image=src.name, **extra)
    job = RecordsItsThread(op.build(context))
    assert op.start(context, job) == {"RUNNING_MODAL"}
    assert context.window_manager.calls[:3] == ["progress_begin", "timer_add", "modal_handler_add"]
    assert context.window_manager.onnx_image_runtime.running
    assert drive(op, context) == {"FINISHED"}, reports
    assert job.ran_on not in (None, threading.get_ident())  # the work ran on the worker, not on Blender's thread
    assert context.window_manager.calls[-2:] == ["timer_remove", "progress_end"]
    assert not context.window_manager.onnx_image_runtime.running
    settings = bpy.context.scene.onnx_image_runtime
    if name == "prepare":
        assert settings.last_provider == "CPU" and "fp32" in settings.last_report
    elif name == "benchmark":
        rows = bpy.data.texts["ONNX Benchmark"].as_string().splitlines()[2:]
        assert [row.split()[0] for row in rows] == ["FP32", "FP16", "AMP", "INT8"], rows
        assert settings.last_benchmark.splitlines()[2:] == rows
    else:
        assert bpy.data.texts["ONNX Advice"].as_string().startswith("Tensor Core eligible:")
    assert reports[-1][0] == "INFO"


@pytest.mark.parametrize("name", ["prepare", "benchmark", "advise"])
def test_esc_cancels_the_job_and_writes_nothing(bpy_data, models_dir, gate, name):
    bpy = bpy_data
    src, _ = make_image(bpy, "Bench Source")
    op_class, extra = _operators()[name]
    op, context, reports = driven(bpy, op_class, model=str(models_dir / "sr_x2.onnx"), image=src.name, **extra)
    texts, settings = set(bpy.data.texts.keys()), bpy.context.scene.onnx_image_runtime
    settings.last_report = "before"
    assert op.start(context, op.build(context)) == {"RUNNING_MODAL"}
    assert op.modal(context, ESC) == {"RUNNING_MODAL"}
    assert op.progress.cancelled and context.window_manager.onnx_image_runtime.status == "cancelling"
    gate.set()
    assert drive(op, context) == {"CANCELLED"}
    assert reports == [("WARNING", "cancelled by the user; nothing was written")]
    assert set(bpy.data.texts.keys()) == texts and settings.last_report == "before"
    assert not context.window_manager.onnx_image_runtime.running


def test_run_image_job_reports_progress_then_writes_the_result(bpy_data, models_dir, gate):
    from onnx_image_runtime.operators.run import ONNX_OT_run_image

    bpy = bpy_data
    src, top_down = make_image(bpy, "Modal")
    op, context, reports = driven(bpy, ONNX_OT_run_image, model=str(models_dir / "sr_x2.onnx"), image=src.name)
    op.output_name = "Modal Out"
    assert op.start(context, op.build(context)) == {"RUNNING_MODAL"}
    assert op.modal(context, SimpleNamespace(type="MOUSEMOVE", value="NOTHING")) == {"PASS_THROUGH"}
    state = context.window_manager.onnx_image_runtime
    end = time.monotonic() + 30
    while state.status != "preparing model" and time.monotonic() < end:  # the job waits at the gate
        assert op.modal(context, TIMER) == {"RUNNING_MODAL"}
        time.sleep(0.01)
    assert state.status == "preparing model" and "Modal Out" not in bpy.data.images
    gate.set()
    assert drive(op, context) == {"FINISHED"}, reports
    out = bpy.data.images["Modal Out"]
    assert tuple(out.size) == (2 * W, 2 * H) and state.status == "" and not state.running
    assert reports[-1][0] == "INFO" and "wrote 'Modal Out'" in reports[-1][1]
    assert f"fit whole: whole image ({W}x{H})" in reports[-1][1]  # the tiling report
    assert np.isfinite(top_down).all()


def test_blender_ending_the_modal_operator_cancels_the_worker_and_resets_state(bpy_data, models_dir, gate):
    from onnx_image_runtime.operators.model import ONNX_OT_prepare_model

    op, context, _ = driven(bpy_data, ONNX_OT_prepare_model, model=str(models_dir / "sr_x2.onnx"))
    op.start(context, op.build(context))
    op.cancel(context)
    gate.set()
    state = context.window_manager.onnx_image_runtime
    assert op.progress.cancelled
    assert (state.running, state.status, state.progress) == (False, "", 0.0)


def test_the_runner_contract_is_checked_when_an_operator_class_is_defined():
    from onnx_image_runtime.operators.runner import JobRunner

    with pytest.raises(TypeError, match="defines no finish"):

        class NoFinish(JobRunner):
            def build(self, context):
                return None

    with pytest.raises(TypeError, match="finish takes"):

        class WrongFinish(JobRunner):
            def build(self, context):
                return None

            def finish(self, context, result):
                return ""


class _Waits:
    """A job that never reports progress or checks for a cancel (as a pip install or a library's conversion)."""

    notes: list = []

    def __init__(self):
        self.release = threading.Event()

    def work(self, progress):
        assert self.release.wait(60)
        return SimpleNamespace(notes=[])


def _runner_with_hook(bpy):
    from onnx_image_runtime.operators.jobs import Outcome
    from onnx_image_runtime.operators.runner import JobRunner

    seen: list[Outcome] = []
    reports: list = []

    class Hooked(JobRunner):
        def build(self, context):
            return _Waits()

        def finish(self, context, job, result):
            if getattr(job, "fail", False):
                raise RuntimeError("finish failed")
            return "done"

        def ended(self, context, job, outcome):
            seen.append(outcome)

        def report(self, level, text):
            reports.append((next(iter(level)), text))

    context = SimpleNamespace(window_manager=WindowManager(bpy.context.window_manager), window=object(), area=None)
    return Hooked(), context, seen, reports


def test_the_ended_hook_runs_on_success_failure_and_cancel(bpy_data):
    from onnx_image_runtime.operators.jobs import Outcome

    op, context, seen, reports = _runner_with_hook(bpy_data)
    job = _Waits()
    job.release.set()
    assert op.start(context, job) == {"RUNNING_MODAL"} and drive(op, context) == {"FINISHED"}
    failing = _Waits()
    failing.fail = True
    failing.release.set()
    op.start(context, failing)
    assert drive(op, context) == {"CANCELLED"} and reports[-1] == ("ERROR", "RuntimeError: finish failed")
    held = _Waits()
    op.start(context, held)
    op.cancel(context)  # Blender ends the modal operator
    held.release.set()
    assert seen == [Outcome.DONE, Outcome.FAILED, Outcome.CANCELLED]


def test_esc_frees_blender_within_the_grace_even_when_the_job_never_checks(bpy_data, monkeypatch):
    """Every job honours Esc within ESC_GRACE_S (issue 23), read on the runner's clock (injected here)."""
    from onnx_image_runtime.operators import runner
    from onnx_image_runtime.operators.jobs import Outcome

    now = [100.0]
    monkeypatch.setattr(runner, "clock", lambda: now[0])
    op, context, seen, reports = _runner_with_hook(bpy_data)
    job = _Waits()
    op.start(context, job)
    assert op.modal(context, ESC) == {"RUNNING_MODAL"}
    now[0] += runner.ESC_GRACE_S / 2
    assert op.modal(context, TIMER) == {"RUNNING_MODAL"}  # still within the grace: the job may yet stop
    now[0] += runner.ESC_GRACE_S / 2
    assert op.modal(context, TIMER) == {"CANCELLED"}
    assert reports == [("WARNING", "cancelled by the user; nothing was written")] and seen == [Outcome.CANCELLED]
    assert not context.window_manager.onnx_image_runtime.running
    job.release.set()  # the worker ends in the background; its result is never read


def test_a_failed_or_cancelled_gpu_install_does_not_keep_saying_installing(bpy_data):
    from onnx_image_runtime.operators.gpu import INSTALLING, ONNX_OT_install_gpu_runtime
    from onnx_image_runtime.operators.jobs import Outcome
    from onnx_image_runtime.preferences import GPU_STATE

    op = None  # ended() reads nothing of the operator instance (a bpy struct needs a running operator)
    for outcome, word in ((Outcome.FAILED, "failed"), (Outcome.CANCELLED, "cancelled")):
        GPU_STATE.update(message=INSTALLING)
        ONNX_OT_install_gpu_runtime.ended(op, None, None, outcome)
        assert (
            GPU_STATE["message"]
            == f"GPU runtime install {word}{' (see the report)' if word == 'failed' else ''}; nothing was activated"
        )
    GPU_STATE.update(message="installed 3 packages")
    ONNX_OT_install_gpu_runtime.ended(op, None, None, Outcome.DONE)
    assert GPU_STATE["message"] == "installed 3 packages"  # finish() said what happened: kept
