"""Precision auto: fp16 when it passes, else mixed precision, else a refusal with both reports; fp32 on the CPU."""

import numpy as np

from engine.model.describe import describe_model
from engine.options import Precision
from engine.precision.accuracy import AccuracyRule
from engine.precision.convert import ConversionOptions, convert_model, convert_model_file
from engine.precision.validation_feeds import sample_feeds
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models


def _auto(model, **kw):
    return convert_model(model, sample_feeds(describe_model(model)), ConversionOptions(precision="auto", **kw))


def test_auto_chooses_fp16_when_it_passes():
    converted, report = _auto(models.unet())
    assert converted is not None and report.precision == Precision.FP16
    data = report.to_json()
    assert data["requested"] == "auto" and data["precision"] == "fp16" and "fp16" in data["decision"]


def test_auto_falls_back_to_mixed_precision_and_says_why():
    converted, report = _auto(models.overflow())
    assert converted is not None and report.precision == Precision.AMP
    assert "fp16 failed" in report.decision and "beyond fp16's range" in report.decision
    (first,) = report.to_json()["attempts"]
    assert first["precision"] == "fp16" and first["status"] == "failed"


def test_auto_refuses_with_both_reports_when_neither_passes():
    # A rule only identical outputs meet (fp16 cannot), and a time budget mixed precision spends before its first
    # answer (with time, it would keep every convolution fp32 and pass with zero error).
    exact = AccuracyRule(min_psnr_db=float("inf"))
    converted, report = _auto(models.conv_chain(), rtol=0.0, atol=0.0, rule=exact, time_budget_s=1e-6)
    assert converted is None and report.status == "failed"
    assert "neither fp16" in report.reason and "nor mixed precision" in report.reason
    assert report.to_json()["attempts"][0]["precision"] == "fp16"


def test_any_float_model_converts_with_feeds_from_its_input_shapes(tmp_path):
    path = models.save(models.no_image_input(), tmp_path / "m.onnx")
    report = convert_model_file(path, ConversionOptions(precision="fp16"), out=tmp_path / "m16.onnx")
    assert report.status == "ok", report.reason
    assert (tmp_path / "m16.onnx").is_file()


def test_auto_runs_fp32_on_the_cpu_and_says_why(model_file, cache_dir):
    prepared = prepare_model(model_file("sr_x2"), "auto", settings=SessionSettings(provider="cpu"), cache_dir=cache_dir)
    assert prepared.precision == Precision.FP32 and "CPU" in prepared.precision_note
    assert prepared.summary()["precision_note"] == prepared.precision_note
    assert prepared.report is None
    fp32 = prepare_model(model_file("sr_x2"), "fp32", settings=SessionSettings(provider="cpu"), cache_dir=cache_dir)
    assert fp32.precision_note == "" and fp32.cache_hit
    image = np.random.default_rng(0).random((1, 3, 12, 12), dtype=np.float32)  # CPU sessions keep NCHW
    np.testing.assert_array_equal(prepared.session.run(None, {"x": image})[0], fp32.session.run(None, {"x": image})[0])
