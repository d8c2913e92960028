"""`auto` on the CPU (issue 30): int8 only when it is measured faster on this CPU (once per model, size class and
CPU, then read from the cache) and passes the accuracy rule on the image; fp32 otherwise, saying why. Timings are
injected: what the machine running the tests measures never decides a test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.options import Precision
from engine.precision.validation_feeds import synthetic_image
from engine.runtime import int8_choice
from engine.runtime.int8_choice import SpeedVerdict, interleaved_medians, size_class, timing_shape
from engine.runtime.prepare import SESSIONS, is_loaded, needs_sample, prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models

CPU = SessionSettings(provider="cpu")


class Timer:
    """A Measure that runs both models once (so a broken session still fails) and reports fixed timings."""

    def __init__(self, fp32_s: float, int8_s: float):
        self.result, self.calls = (fp32_s, int8_s), 0

    def __call__(self, fp32_run, int8_run) -> tuple[float, float]:
        self.calls += 1
        outputs = fp32_run(), int8_run()
        assert all(np.isfinite(o[0]).all() for o in outputs)
        return self.result


def never(*_args):
    raise AssertionError("measured again: the cached verdict should have been read")


def sdr(h: int = 160, w: int = 224) -> np.ndarray:
    return synthetic_image(h, w)


def hdr() -> np.ndarray:
    picture = sdr()
    return np.where(picture > 0.85, picture * 40.0, picture).astype(np.float32)


def test_auto_chooses_fp32_when_int8_is_slower_and_reads_the_verdict_after(tmp_path):
    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    timer = Timer(0.100, 0.120)
    prepared = prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(), measure=timer)
    assert prepared.precision == Precision.FP32 and timer.calls == 1
    assert "int8 not faster on this CPU (1.20x the fp32 time" in prepared.precision_note
    assert prepared.report is None  # fp32 runs the model as it is
    # The fp32 model timed is the one served: built here (not a cache hit), held once, by auto's entry.
    assert not prepared.cache_hit and is_loaded(prepared)
    assert (
        prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(), measure=never) is prepared
    )
    SESSIONS.clear()
    again = prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(), measure=never)
    assert again.precision == Precision.FP32 and again.precision_note == prepared.precision_note
    # Known not faster for this size class: no image needs reading to calibrate or judge int8.
    assert not needs_sample("auto", CPU, model_path=path, size=sdr().shape[:2], cache_dir=tmp_path / "cache")


def test_auto_chooses_int8_when_faster_and_within_the_rule(tmp_path):
    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    timer = Timer(0.100, 0.050)
    prepared = prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(), measure=timer)
    assert prepared.precision == Precision.INT8, prepared.precision_note
    assert prepared.precision_note.startswith("auto chose int8: int8 2.0x faster than fp32 on this CPU")
    assert prepared.precision_note.endswith("and within tolerance")
    assert prepared.report is not None and prepared.report.status == "ok" and prepared.report.calibration is not None
    assert prepared.report.psnr_db >= prepared.report.rule.min_psnr_db
    assert needs_sample(
        "auto", CPU, model_path=path, size=sdr().shape[:2], cache_dir=tmp_path / "cache"
    )  # int8 is calibrated on the image
    SESSIONS.clear()
    again = prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(), measure=never)
    assert again.precision == Precision.INT8 and again.cache_hit


def test_auto_chooses_fp32_when_int8_is_faster_but_outside_the_rule(tmp_path):
    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    prepared = prepare_model(
        path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=hdr(), measure=Timer(0.100, 0.050)
    )
    assert prepared.precision == Precision.FP32
    note = prepared.precision_note
    assert note.startswith("auto chose fp32: int8 2.0x faster") and "outside the tolerance: PSNR" in note


def test_the_verdict_is_taken_once_per_size_class(tmp_path):
    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    timer = Timer(0.100, 0.120)
    prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(160, 224), measure=timer)
    prepare_model(
        path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(150, 230), measure=never
    )  # same class
    assert size_class(160, 224) == size_class(150, 230) != size_class(256, 320)
    prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(256, 320), measure=timer)
    assert timer.calls == 2
    # Without an image, auto assumes a 1080p frame; beyond 512x1024 every size is one class, timed at 512x1024.
    assert size_class(1080, 1920) == size_class(2160, 3840) and timing_shape(size_class(1080, 1920)) == (512, 1024)


def test_an_image_too_small_for_int8_to_pay_runs_fp32_unmeasured_and_reads_no_sample(tmp_path):
    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    prepared = prepare_model(
        path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(100, 120), measure=never
    )
    assert prepared.precision == Precision.FP32 and "a 120x100 image is too small for int8" in prepared.precision_note
    assert not needs_sample("auto", CPU, model_path=path, size=(100, 120), cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.record.json"))  # nothing was measured


def test_the_timed_models_run_at_the_size_class_and_a_damaged_record_is_measured_again(tmp_path):
    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    shapes = []

    def measure(fp32_run, int8_run):
        shapes.append(fp32_run()[0].shape)
        return 0.1, 0.2

    prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", size=(300, 400), measure=measure)
    assert shapes == [(1, 3, *timing_shape(size_class(300, 400)))]
    (record,) = (tmp_path / "cache").glob("*.record.json")
    edited = json.loads(record.read_text())
    edited["record"]["int8_ms"] = 10.0  # hand-edited: its checksum no longer matches
    record.write_text(json.dumps(edited))
    _new_process()
    prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", size=(300, 400), measure=measure)
    assert len(shapes) == 2


def _new_process() -> None:
    """A new process: this one's memory of verdicts forgotten (the cache folder is what persists)."""
    from engine.runtime import prepare

    prepare._SPEED_VERDICTS.clear()
    SESSIONS.clear()


def test_the_verdict_reads_back_and_says_why_in_words():
    slow = SpeedVerdict(fp32_ms=100.0, int8_ms=121.0, timed_at=(512, 1024), dot_product="")
    assert not slow.faster and "no VNNI" in slow.text() and "1.21x the fp32 time at 1024x512" in slow.text()
    fast = SpeedVerdict(fp32_ms=100.0, int8_ms=58.0, timed_at=(512, 1024), dot_product="AVX-512 VNNI")
    assert fast.faster and fast.text() == "int8 1.7x faster than fp32 on this CPU (at 1024x512)"
    assert SpeedVerdict.from_json(fast.to_json()) == fast
    # Within the margin is not faster: equal models measure a few percent apart on a shared machine.
    assert not SpeedVerdict(fp32_ms=100.0, int8_ms=95.0, timed_at=(64, 64), dot_product="").faster
    with pytest.raises(ValueError):
        SpeedVerdict.from_json({**fast.to_json(), "int8_ms": 0})


def test_the_default_measure_interleaves_and_takes_medians(monkeypatch):
    order: list[str] = []
    monkeypatch.setattr(int8_choice, "PAUSE_S", 0.0)
    # The function itself (tests/conftest.py replaces the module's name for every other test).
    fp32_s, int8_s = interleaved_medians(lambda: order.append("a"), lambda: order.append("b"), rounds=4)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]  # a warm-up each, then A B, B A, ...
    assert fp32_s >= 0 and int8_s >= 0


def test_a_model_the_quantizer_cannot_make_runs_fp32_and_is_not_tried_again(tmp_path, monkeypatch):
    from engine.precision import convert

    attempts = []

    def fails(*_args, **_kwargs):
        attempts.append(1)
        raise RuntimeError("Unrecognized attribute: axis for operator DequantizeLinear")

    monkeypatch.setattr(convert, "quantize", fails)
    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    prepared = prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(), measure=never)
    assert prepared.precision == Precision.FP32 and "int8 could not be made for this model" in prepared.precision_note
    assert "Unrecognized attribute" in prepared.precision_note
    _new_process()
    again = prepare_model(path, "auto", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(), measure=never)
    assert again.precision_note == prepared.precision_note and len(attempts) == 1
    assert not needs_sample("auto", CPU, model_path=path, size=sdr().shape[:2], cache_dir=tmp_path / "cache")


def test_cpu_features_name_the_dot_product_instructions_from_the_flags(monkeypatch):
    """The public record a TD compares workers by: the int8 dot-product instructions follow the CPU's flags, and
    its identity is the key auto's verdicts are kept under."""
    from engine import cpu_features

    monkeypatch.setattr(int8_choice, "vector_extensions", lambda: ("avx2", "avx512_vnni", "fma"))
    int8_choice.cpu_identity.cache_clear()
    try:
        found = cpu_features()
        assert found.extensions == ("avx2", "avx512_vnni", "fma") and found.int8_dot_product == "AVX-512 VNNI"
        assert found.identity.endswith("[avx2 avx512_vnni fma]") and found.identity == int8_choice.cpu_identity()
        monkeypatch.setattr(int8_choice, "vector_extensions", lambda: ("avx2", "fma"))
        assert cpu_features().int8_dot_product == ""
    finally:
        int8_choice.cpu_identity.cache_clear()
