"""One re-check policy (issue 24): decided on the precision that runs, never on the one requested."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from engine.batch.accuracy_check import RECHECK_PIXELS, fp32_reference
from engine.options import Precision
from engine.runtime.prepare import needs_sample
from engine.runtime.sessions import SessionSettings


def _policy(precision: Precision, sample: np.ndarray | None) -> tuple[object, int]:
    made = []
    reference = fp32_reference(
        SimpleNamespace(precision=precision), sample, prepare_fp32=lambda: made.append(1) or "the fp32 model"
    )
    return reference, len(made)


def test_reduced_precision_that_runs_is_checked_on_the_image_when_it_is_small_enough():
    small = np.zeros((64, 64, 3), np.float32)
    assert _policy(Precision.FP16, small) == ("the fp32 model", 1)
    assert _policy(Precision.AMP, small) == ("the fp32 model", 1)


def test_fp32_is_never_rechecked_and_no_reference_is_prepared():
    assert _policy(Precision.FP32, np.zeros((64, 64, 3), np.float32)) == (None, 0)


def test_no_sample_or_an_image_too_large_to_run_twice_is_not_rechecked():
    side = int(np.sqrt(RECHECK_PIXELS)) + 1
    assert _policy(Precision.FP16, None) == (None, 0)
    assert _policy(Precision.FP16, np.zeros((side, side, 1), np.float32)) == (None, 0)


def test_int8_is_not_rechecked_it_was_calibrated_and_judged_on_this_image():
    assert _policy(Precision.INT8, np.zeros((64, 64, 3), np.float32)) == (None, 0)


def test_auto_reads_a_sample_only_where_it_can_resolve_to_a_reduced_precision(tmp_path):
    from engine.runtime.prepare import prepare_model
    from tests import models

    cpu = SessionSettings(provider="cpu")
    assert not needs_sample(Precision.FP32, cpu)
    assert needs_sample(Precision.FP16, cpu) and needs_sample(Precision.AMP, cpu) and needs_sample(Precision.INT8, cpu)
    # Auto on the CPU may choose int8, calibrated on the image: a sample is read until this CPU's verdict for the
    # model at that size says int8 is not faster (issue 30).
    model = models.save(models.sr_x2(), tmp_path / "m.onnx")
    size = (256, 256)
    assert needs_sample(Precision.AUTO, cpu) and needs_sample(
        Precision.AUTO, cpu, model_path=model, size=size, cache_dir=tmp_path / "c"
    )
    prepare_model(
        model, Precision.AUTO, settings=cpu, cache_dir=tmp_path / "c", size=size, measure=lambda a, b: (0.1, 0.2)
    )
    assert not needs_sample(Precision.AUTO, cpu, model_path=model, size=size, cache_dir=tmp_path / "c")
    # An image too small for int8 to pay needs none whatever was measured.
    assert not needs_sample(Precision.AUTO, cpu, model_path=model, size=(40, 50), cache_dir=tmp_path / "other")
