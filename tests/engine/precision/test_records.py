"""ConversionReport is the contract (issue 23): frozen, keyword-only, checked when made, and read back from JSON
exactly as written, inf, -inf, NaN and None figures included (JSON holds none of inf or NaN: they travel as strings)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from engine.options import Precision, Status
from engine.precision.accuracy import AccuracyRule
from engine.precision.records import Calibration, ConversionReport

PASSED = {"max_abs_error": 0.0, "mean_abs_error": 0.0, "p999_abs_error": 0.0, "psnr_db": math.inf}


def _passed(**changes) -> ConversionReport:
    return ConversionReport(**{"status": Status.OK, "precision": Precision.FP16, **PASSED, **changes})


def _through_json(report: ConversionReport) -> ConversionReport:
    return ConversionReport.from_json(json.loads(json.dumps(report.to_json(), allow_nan=False)))


def _same(a: ConversionReport, b: ConversionReport) -> bool:
    """Equal field by field, NaN equal to NaN (a report's own == says NaN != NaN)."""
    return a.to_json() == b.to_json() and dataclasses.replace(a, **_no_nan(a)) == dataclasses.replace(b, **_no_nan(b))


def _no_nan(report: ConversionReport) -> dict:
    figures = ("max_abs_error", "mean_abs_error", "p999_abs_error", "psnr_db", "mask_iou")
    return {k: 0.5 for k in figures if isinstance(getattr(report, k), float) and math.isnan(getattr(report, k))}


def test_a_report_is_frozen_and_keyword_only():
    report = _passed()
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.status = Status.FAILED
    with pytest.raises(TypeError):
        ConversionReport(Status.OK, Precision.FP16)
    assert isinstance(report.fp32_nodes, tuple) and isinstance(report.attempts, tuple)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_abs_error": -0.1}, "negative"),
        ({"mask_iou": 1.5}, r"not in \[0, 1\]"),
        ({"casts_after": -1}, "negative"),
        ({"requested": Precision.FP16}, "requested is None when it is the precision"),
        ({"psnr_db": None}, "has its accuracy figures"),
        ({"reason": "outside the tolerance"}, "no reason"),
        ({"nonfinite_count": 3}, "no NaN/Inf outputs"),
        ({"converter_failed": True}, "no crash"),
    ],
)
def test_a_report_that_breaks_an_invariant_is_never_made(changes, message):
    with pytest.raises(ValueError, match=message):
        _passed(**changes)


def test_a_failed_report_needs_no_figures():
    failed = ConversionReport(status=Status.FAILED, precision=Precision.AMP, reason="crashed", converter_failed=True)
    assert failed.accuracy_text() == "accuracy not measured" and _same(_through_json(failed), failed)


@pytest.mark.parametrize(
    "figures",
    [
        {"psnr_db": math.inf},
        {"psnr_db": -math.inf, "max_abs_error": 3.5},
        {"psnr_db": math.nan, "max_abs_error": math.nan, "mean_abs_error": math.nan},
        {"max_abs_error": math.inf, "mean_abs_error": math.inf, "p999_abs_error": math.inf, "psnr_db": 0.0},
        {"mask_iou": math.nan},
        {"mask_iou": None, "p999_abs_error": None},
    ],
)
def test_non_finite_and_missing_figures_round_trip_exactly(figures):
    report = ConversionReport(
        status=Status.FAILED, precision=Precision.FP16, **{**PASSED, **figures}, reason="outside the tolerance"
    )
    again = _through_json(report)
    assert _same(again, report)
    for key, value in figures.items():
        got = getattr(again, key)
        assert got is None if value is None else (math.isnan(got) if math.isnan(value) else got == value)
    assert isinstance(again.accuracy_text(), str)  # formats every figure with :.1f and :.2e


def test_an_auto_report_round_trips_with_its_attempts_rule_and_calibration():
    first = ConversionReport(
        status=Status.FAILED, precision=Precision.FP16, reason="beyond fp16's range", fp32_nodes=("a",), **PASSED
    )
    report = _passed(
        precision=Precision.AMP,
        requested=Precision.AUTO,
        decision="mixed precision: fp16 failed",
        attempts=(first,),
        repairs=("named 2 nodes",),
        rule=AccuracyRule(min_psnr_db=math.inf),
        calibration=Calibration(
            method="MinMax", quant_format="QDQ", data="crops", inputs=3, sha256="ab", source_sha256=""
        ),
        validated_on="the whole image",
    )
    again = _through_json(report)
    assert _same(again, report) and isinstance(again.attempts[0], ConversionReport)
    assert again.attempts[0].fp32_nodes == ("a",) and again.rule.min_psnr_db == math.inf


def test_requested_none_reads_back_as_none():
    """to_json writes the precision when nothing else was asked for; reading it back must not turn it into a request
    (the fp16 hint of a failed conversion is given only when fp16 was asked for by name)."""
    report = ConversionReport(status=Status.FAILED, precision=Precision.FP16, reason="refused")
    assert report.to_json()["requested"] == "fp16" and _through_json(report).requested is None


def test_judged_returns_a_new_report_with_the_figures():
    from engine.precision.accuracy import Accuracy

    draft = ConversionReport(status=Status.FAILED, precision=Precision.INT8)
    acc = Accuracy(max_abs_error=0.5, mean_abs_error=0.1, p999_abs_error=0.4, psnr_db=20.0)
    judged = draft.judged(acc, AccuracyRule())
    assert draft.psnr_db is None and judged.psnr_db == 20.0 and judged.rule == AccuracyRule()


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        ({"psnr_db": "much"}, ValueError),
        ({"psnr_db": [1]}, TypeError),
        ({"status": "maybe"}, ValueError),
        ({"fp32_nodes": "a"}, TypeError),
        ({"casts_before": 1.5}, TypeError),
        ({"converter_failed": "no"}, TypeError),
        ({"attempts": [{"status": "failed"}]}, KeyError),
    ],
)
def test_a_report_read_from_json_is_checked(edit, error):
    with pytest.raises(error):
        ConversionReport.from_json({**_passed().to_json(), **edit})
