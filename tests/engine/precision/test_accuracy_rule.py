"""The one accuracy rule (issue 30): figures in display units after the contract's mapping, thresholds with
reasons, and the strict cases kept (NaN and Inf refuse whatever the figures)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model.contract import TensorContract
from engine.options import Layout
from engine.precision.accuracy import AccuracyRule, OutputKind, OutputView, compare, display_units

PICTURE = OutputView(layout=Layout.NCHW, kind=OutputKind.PICTURE)
MASK = OutputView(layout=Layout.NCHW, kind=OutputKind.MASK)


def _srgb(x: np.ndarray) -> np.ndarray:
    """The sRGB encoding, written out here in float64 (not the engine's)."""
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055)


def test_display_units_are_srgb_below_the_knee_mirrored_below_zero_and_under_1_for_highlights():
    linear = np.array([0.0, 0.001, 0.18, 0.5, 0.8], np.float32)
    np.testing.assert_allclose(display_units(linear), _srgb(linear.astype(np.float64)), atol=1e-6)
    np.testing.assert_allclose(display_units(-linear), -display_units(linear), atol=0)
    bright = display_units(np.array([1.0, 4.0, 50.0, 1e6], np.float32))
    assert np.all(np.diff(bright) > 0) and bright.max() < 1.0  # highlights still ordered, never beyond white


def test_the_same_linear_error_counts_more_in_the_darks_than_in_a_highlight():
    dark, light = np.full((1, 3, 8, 8), 0.002, np.float32), np.full((1, 3, 8, 8), 0.8, np.float32)
    err = np.float32(0.004)
    assert compare(dark, dark + err, PICTURE).max_abs_error > 10 * compare(light, light + err, PICTURE).max_abs_error


def test_a_cluster_of_wrong_pixels_fails_the_percentile_though_psnr_passes():
    """0.2% of the pixels eight 8-bit levels off: invisible in the average (PSNR 55 dB), a visible patch."""
    rng = np.random.default_rng(0)
    ref = rng.uniform(0.2, 0.8, (1, 3, 100, 100)).astype(np.float32)
    out = ref.copy()
    out[0, :, :2, :10] += 0.05  # 20 of 10,000 pixels, in linear; about 8 levels in display units
    acc = compare(ref, out, PICTURE)
    failures = AccuracyRule().failures(acc)
    assert acc.psnr_db > 45 and len(failures) == 1 and "99.9th percentile" in failures[0]


def test_nan_or_inf_fails_whatever_the_other_figures():
    ref = np.zeros((1, 3, 4, 4), np.float32)
    out = ref.copy()
    out[0, 0, 0, 0] = np.inf
    acc = compare(ref, out, PICTURE)
    assert acc.nonfinite_count == 1 and AccuracyRule().failures(acc) == ["1 output values are NaN or Inf"]
    # However lenient the thresholds: the strict case stays strict.
    lenient = AccuracyRule(min_psnr_db=-np.inf, max_p999_error=np.inf, min_mask_iou=0.0)
    assert lenient.failures(acc)


def test_a_mask_is_judged_on_its_values_and_the_iou_of_its_thresholded_pixels():
    ref = np.zeros((1, 1, 20, 20), np.float32)
    ref[0, 0, 5:15, 5:15] = 0.9  # 100 selected pixels
    out = ref.copy()
    out[0, 0, 5:7, 5:15] = 0.45  # 20 of them drop under the threshold
    acc = compare(ref, out, MASK)
    assert acc.kind == OutputKind.MASK and acc.mask_iou == pytest.approx(80 / 100)
    assert acc.max_abs_error == pytest.approx(0.45, abs=1e-6)  # values, not display units
    assert any("mask IoU 0.800" in f for f in AccuracyRule().failures(acc))


def test_the_contract_mapping_comes_before_display_units():
    """An output in 0-255 is judged as the picture it becomes: an error of 1 in model units is 1/255 linear."""
    view = OutputView(layout=Layout.NCHW, contract=TensorContract(range=(0.0, 255.0)), kind=OutputKind.PICTURE)
    ref = np.full((1, 3, 4, 4), 128.0, np.float32)
    acc = compare(ref, ref + 1.0, view)
    expected = _srgb(np.float64(129 / 255)) - _srgb(np.float64(128 / 255))
    assert acc.max_abs_error == pytest.approx(expected, rel=1e-4)


def test_the_rule_reads_back_from_a_report_and_is_part_of_the_options_key():
    from engine.precision.records import ConversionOptions, ConversionReport

    strict = AccuracyRule(min_psnr_db=50.0)
    assert ConversionOptions(rule=strict).key() != ConversionOptions().key()
    figures = {"max_abs_error": 0.02, "mean_abs_error": 0.001, "psnr_db": 51.0, "p999_abs_error": 0.01}
    report = ConversionReport(status="ok", precision="int8", rule=strict, **figures)
    again = ConversionReport.from_json(report.to_json())
    assert again.rule == strict and again.p999_abs_error == 0.01


def test_values_beyond_1_are_judged_relative_to_their_largest():
    """A one-channel depth map in metres: 0.05 m off at 100 m is 0.05% of its range, not 13 display levels."""
    depth = np.linspace(1.0, 100.0, 400, dtype=np.float32).reshape(1, 1, 20, 20)
    acc = compare(depth, depth + 0.05, MASK)
    assert acc.max_abs_error == pytest.approx(0.05 / 100.0, rel=1e-3) and AccuracyRule().failures(acc) == []
    assert AccuracyRule().failures(compare(depth, depth + 5.0, MASK))  # 5% of the range is refused
