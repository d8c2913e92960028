"""A sequence's summary and its flicker are records (issue 23): frozen, keyword-only, checked when made, read back
from JSON exactly as written (NaN and inf figures included); frames are tallied as they come and summarised once."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from engine.batch.sequence import SequenceSummary, _Tally
from engine.batch.temporal import Flicker, FlickerMethod, FrameFlicker


def _frame(frame: int, **changes) -> FrameFlicker:
    values = {"frame": frame, "input": 0.01, "output": 0.02, "pixels": 400, "method": FlickerMethod.VECTOR}
    return FrameFlicker(**{**values, **changes})


def _summary(**changes) -> SequenceSummary:
    values = {
        "done": (1, 3, 4),
        "skipped": (7,),
        "failed": {2: "bad pixels", 5: ""},
        "tiling": "whole image",
        "notes": ("frame 3: values beyond half's range",),
        "redone": (4,),
        "temporal": Flicker(frames=(_frame(3), _frame(4, method="difference")), blended=(4,)),
    }
    return SequenceSummary(**{**values, **changes})


def _through_json(record):
    return type(record).from_json(json.loads(json.dumps(record.to_json(), allow_nan=False)))


def test_the_summary_is_frozen_and_its_failures_read_only():
    summary = _summary()
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.cancelled = True
    with pytest.raises(TypeError):
        summary.failed[6] = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.temporal.blended = ()


def test_the_records_are_keyword_only():
    with pytest.raises(TypeError):
        SequenceSummary((1,), (), {})
    with pytest.raises(TypeError):
        FrameFlicker(1, 0.1, 0.1, 10, FlickerMethod.VECTOR)
    with pytest.raises(TypeError):
        Flicker((), ())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"done": (1, 2)}, r"frames \[2\] are both done and failed"),
        ({"skipped": (3,)}, r"frames \[3\] are skipped"),
        ({"skipped": (4,), "done": (1,)}, r"frames \[4\] are skipped"),  # redone, so not kept as it was
        ({"tiling": "tiles\nof 64"}, "one line"),
    ],
)
def test_a_summary_that_breaks_an_invariant_is_never_made(changes, message):
    with pytest.raises(ValueError, match=message):
        _summary(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"input": -0.1}, "0 or more"), ({"pixels": 0}, "1 pixel or more"), ({"method": "optical"}, "optical")],
)
def test_a_frame_flicker_that_breaks_an_invariant_is_never_made(changes, message):
    with pytest.raises(ValueError, match=message):
        _frame(2, **changes)


def test_a_frame_is_measured_once():
    with pytest.raises(ValueError, match="measured once"):
        Flicker(frames=(_frame(2), _frame(2)))


def test_the_summary_round_trips_through_strict_json():
    summary = _summary(cancelled=True)
    again = _through_json(summary)
    assert again == summary and again.to_json() == summary.to_json()
    assert again.failed == {2: "bad pixels", 5: ""} and again.temporal.method == FlickerMethod.DIFFERENCE


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_non_finite_flicker_figure_round_trips(value):
    """A frame with NaN pixels gives a NaN mean: written as "nan" (JSON has none), read back as NaN."""
    flicker = Flicker(frames=(_frame(2, output=value),))
    data = json.loads(json.dumps(flicker.to_json(), allow_nan=False))
    again = Flicker.from_json(data)
    got = again.frames[0].output
    assert (math.isnan(got) if math.isnan(value) else got == value) and again.to_json() == flicker.to_json()


def test_an_empty_summary_round_trips():
    summary = SequenceSummary()
    assert _through_json(summary) == summary and summary.temporal.ratio is None


def test_the_tally_keeps_a_frames_last_outcome_and_summarises_in_frame_order():
    tally = _Tally()
    tally.wrote(3, ["clipped"])
    tally.fail(1, "disk full")
    tally.wrote(1)  # written again (a re-render): done, no longer failed
    tally.fail(3, "bad pixels")
    summary = tally.summary(Flicker())
    assert summary.done == (1,) and dict(summary.failed) == {3: "bad pixels"}
    assert summary.notes == ("frame 3: clipped",)
    tally.wrote(2)
    assert summary.done == (1,) and tally.summary(Flicker()).done == (1, 2)  # a summary is a snapshot


@pytest.mark.parametrize(
    ("edit", "error"),
    [({"done": [1.5]}, TypeError), ({"failed": {"two": "x"}}, ValueError), ({"cancelled": "yes"}, TypeError)],
)
def test_a_summary_read_from_json_is_checked(edit, error):
    with pytest.raises(error):
        SequenceSummary.from_json({**_summary().to_json(), **edit})
