"""Mixed precision is bounded (issue 16, item 13): a time budget ending with the best node set found so
far, progress for every attempt, and cancel between attempts."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import Cancelled
from engine.model.describe import describe_model
from engine.precision.convert import ConversionOptions, convert_model
from engine.precision.validation_feeds import sample_feeds
from engine.progress import Progress
from tests import models


def _case(**kw):
    model = models.conv_chain(channels=(3, 12, 12, 12, 3))
    feeds = sample_feeds(describe_model(model), np.random.default_rng(0).random((64, 64, 3), np.float32))
    # A tolerance so tight that the search needs many attempts.
    return model, feeds, ConversionOptions(precision="amp", rtol=1e-5, atol=1e-5, **kw)


def test_budget_ends_the_search_with_the_best_so_far_and_progress_on_every_attempt():
    model, feeds, options = _case(time_budget_s=1.0)
    seen: list[str] = []
    now = [0.0]  # the search's clock: each progress report moves it on 0.35 s, whatever the machine's speed

    def slow_viewer(fraction: float, text: str) -> None:
        seen.append(text)
        now[0] += 0.35  # each attempt now takes a third of the budget

    converted, report = convert_model(model, feeds, options, Progress(slow_viewer), clock=lambda: now[0])
    assert converted is None and "ran out of its time budget (1 s)" in report.reason
    attempts = [t for t in seen if t.startswith("mixed precision: attempt")]
    # Attempts start at 0, 0.35 and 0.70 s; the fourth, at 1.05 s, finds the budget spent.
    assert len(attempts) == 4 and "after 3 attempts" in report.reason, (seen, report.reason)
    if "best node set" in report.reason:
        assert f"keeps {len(report.fp32_nodes)} nodes fp32" in report.reason
    else:
        assert report.fp32_nodes == () and "no node set within tolerance was found yet" in report.reason


def test_cancel_stops_the_search_between_attempts():
    model, feeds, options = _case()
    calls: list[str] = []

    def cancel_on_second(fraction: float, text: str) -> None:
        calls.append(text)
        if len(calls) == 2:
            progress.cancel()

    progress = Progress(cancel_on_second)
    with pytest.raises(Cancelled):
        convert_model(model, feeds, options, progress)
    assert len(calls) == 2


def test_budget_must_be_positive():
    with pytest.raises(ValueError, match="time_budget_s"):
        ConversionOptions(precision="amp", time_budget_s=0)


def test_the_converter_patch_is_held_under_a_lock_and_put_back():
    """Two searches at once (an operator and a render handler) take turns on onnxconverter-common's globals."""
    from onnxconverter_common import float16

    from engine.precision import convert

    model, feeds, options = _case(time_budget_s=60.0)
    original = float16.convert_float_to_float16
    held: list[bool] = []

    def viewer(fraction: float, text: str) -> None:
        held.append(convert._CONVERTER_PATCH.locked() and float16.convert_float_to_float16 is not original)

    convert_model(model, feeds, options, Progress(viewer))
    assert held and all(held)
    assert float16.convert_float_to_float16 is original and not convert._CONVERTER_PATCH.locked()
