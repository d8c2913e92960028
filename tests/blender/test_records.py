"""The Blender layer reads the engine's records (issue 23): the panel's report line formats a report read back from
the cache with psnr_db=inf (once a ValueError in its :.1f), and the worker posts typed messages, not tuples."""

from __future__ import annotations

import dataclasses
import math
import queue
from types import SimpleNamespace

import pytest


def test_the_panel_line_formats_a_report_with_infinite_psnr_read_back_from_the_cache(addon, tmp_path):
    from onnx_image_runtime.engine.options import Precision, Status
    from onnx_image_runtime.engine.precision.records import ConversionReport
    from onnx_image_runtime.engine.runtime.cache import EntryMeta, ModelCache
    from onnx_image_runtime.operators.common import report_text

    identical = ConversionReport(
        status=Status.OK, precision=Precision.FP16, max_abs_error=0.0, mean_abs_error=0.0, psnr_db=math.inf
    )
    cache = ModelCache(tmp_path)
    temp = cache.temp_model_path("k")
    temp.write_bytes(b"model")
    cache.commit("k", temp, EntryMeta(report=identical))
    read = cache.lookup("k").meta.report
    prepared = SimpleNamespace(report=read, precision=Precision.FP16, precision_note="")
    assert report_text(prepared).startswith("fp16 ok: PSNR inf dB, max 0.00e+00")


def test_the_worker_posts_typed_messages(addon):
    from onnx_image_runtime.engine import Progress
    from onnx_image_runtime.operators import jobs

    class Job:
        def work(self, progress):
            progress.update(0.5, "half way")
            return SimpleNamespace(notes=[])

    messages: queue.Queue = queue.Queue()
    jobs.worker(Job(), Progress(lambda f, t: messages.put(jobs.Progressed(fraction=f, text=t))), messages)
    progressed, finished = messages.get_nowait(), messages.get_nowait()
    assert progressed == jobs.Progressed(fraction=0.5, text="half way") and isinstance(finished, jobs.Finished)

    class Failing:
        def work(self, progress):
            raise OSError("disk full")

    jobs.worker(Failing(), Progress(), messages)
    failed = messages.get_nowait()
    assert isinstance(failed, jobs.Failed) and str(failed.error) == "disk full"
    with pytest.raises(dataclasses.FrozenInstanceError):
        failed.error = None
    with pytest.raises(TypeError):
        jobs.Progressed(0.5, "x")
    with pytest.raises(ValueError, match="a number"):
        jobs.Progressed(fraction=math.nan, text="x")
