"""INT8 (issue 30): static quantization calibrated on the image being processed, deterministic, judged by the one
accuracy rule, with a named block list. Figures are compared within tolerances, never bit for bit across kernels:
int8 kernels differ between CPUs (VNNI or not, x86 or Arm)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from engine.errors import ConversionError
from engine.image.files import write_image
from engine.model.describe import describe_model
from engine.model.onnx_io import serialize
from engine.options import Precision
from engine.precision.convert import convert_judged
from engine.precision.int8 import INT8_OP_BLOCK_LIST, calibration_set, quantize
from engine.precision.records import ConversionOptions
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT

CPU = SessionSettings(provider="cpu")
INT8 = ConversionOptions(precision=Precision.INT8)


def sdr(h: int = 192, w: int = 256) -> np.ndarray:
    return synthetic_image(h, w)


def hdr(h: int = 192, w: int = 256) -> np.ndarray:
    """The same picture with its brightest areas at 34-40 (a sun's reflection, a lamp): scene-linear HDR."""
    picture = synthetic_image(h, w)
    return np.where(picture > 0.85, picture * 40.0, picture).astype(np.float32)


def test_calibration_is_reproducible_byte_for_byte():
    model = models.tone_curve()
    info = describe_model(model)
    first = quantize(model, calibration_set(info, sdr(), None))[0].SerializeToString()
    again = quantize(model, calibration_set(info, sdr(), None))[0].SerializeToString()
    assert first == again
    # The calibration is what sets the scales: another image gives another model.
    other = quantize(model, calibration_set(info, hdr(), None))[0].SerializeToString()
    assert other != first


def test_the_report_says_what_the_model_was_calibrated_on():
    model = models.tone_curve()
    _, report = convert_judged(model, describe_model(model), sdr(), INT8)
    calibration = report.calibration
    assert calibration is not None and calibration.method == "MinMax"
    assert "uint8 activations" in calibration.quant_format
    assert "most detailed" in calibration.data and "brightest and darkest" in calibration.data
    assert calibration.inputs == 3 and len(calibration.sha256) == 64 and len(calibration.source_sha256) == 64
    data = report.to_json()
    assert data["calibration"]["method"] == "MinMax" and data["precision"] == "int8"


def test_an_hdr_output_is_refused_with_the_figures():
    """The same model passes on an SDR picture and is refused on its HDR version: 256 levels stretched over the
    log of 40 are too coarse for the darks. The refusal gives each figure and the threshold it broke."""
    model = models.tone_curve()
    info = describe_model(model)
    converted, passed = convert_judged(model, info, sdr(), INT8)
    assert converted is not None and passed.status == "ok", passed.reason
    refused_model, refused = convert_judged(model, info, hdr(), INT8)
    assert refused_model is None and refused.status == "failed" and not refused.converter_failed
    assert refused.psnr_db is not None and refused.psnr_db < refused.rule.min_psnr_db
    assert refused.p999_abs_error is not None and refused.p999_abs_error > refused.rule.max_p999_error
    assert "outside the tolerance" in refused.reason and f"PSNR {refused.psnr_db:.1f} dB" in refused.reason
    assert "99.9th percentile" in refused.reason and "display units" in refused.reason


def _display(x: np.ndarray) -> np.ndarray:
    """Display units computed here, in float64: the highlight shoulder above 0.8, then sRGB, mirrored below 0."""
    a = np.abs(x.astype(np.float64))
    t = np.maximum(a - 0.8, 0) / 0.2
    shouldered = np.where(a > 0.8, 0.8 + 0.2 * t / (1 + t), a)
    curve = 1.055 * np.power(np.maximum(shouldered, 0.0031308), 1 / 2.4) - 0.055
    srgb = np.where(shouldered <= 0.0031308, 12.92 * shouldered, curve)
    return np.sign(x) * srgb


def test_the_reports_figures_match_an_independent_computation():
    model = models.tone_curve()
    info = describe_model(model)
    picture = sdr()
    converted, report = convert_judged(model, info, picture, INT8)
    assert converted is not None, report.reason
    feeds = calibration_set(info, picture, None).feeds[0]  # the validation input is the calibration's first
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    run = lambda m: ort.InferenceSession(serialize(m), options, providers=["CPUExecutionProvider"]).run(None, feeds)[0]  # noqa: E731
    diff = np.abs(_display(run(converted)) - _display(run(model)))
    mse = float(np.mean(diff**2))
    assert report.psnr_db == pytest.approx(10 * np.log10(1 / mse), abs=0.05)
    assert report.p999_abs_error == pytest.approx(float(np.percentile(diff, 99.9)), abs=1e-4)
    assert report.max_abs_error == pytest.approx(float(diff.max()), abs=1e-4)
    assert report.mean_abs_error == pytest.approx(float(diff.mean()), rel=1e-3)
    assert report.mask_iou is None and report.output_kind == "picture"


def _softmax_model() -> onnx.ModelProto:
    """Conv, Softmax over channels, Conv: an attention-like normalisation between two quantizable layers."""
    rng = np.random.default_rng(3)
    w1 = onnx.numpy_helper.from_array((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "w1")
    w2 = onnx.numpy_helper.from_array((rng.standard_normal((3, 4, 3, 3)) * 0.3).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["h"], name="conv1", pads=[1] * 4),
        helper.make_node("Softmax", ["h"], ["s"], name="softmax", axis=1),
        helper.make_node("Conv", ["s", "w2"], ["y"], name="conv2", pads=[1] * 4),
    ]
    image = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, "h", "w"])  # noqa: E731
    graph = helper.make_graph(nodes, "g", [image("x")], [image("y")], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    return model


def _quantized_outputs(model: onnx.ModelProto) -> set[str]:
    return {node.input[0] for node in model.graph.node if node.op_type == "QuantizeLinear"}


def test_the_block_list_keeps_softmax_and_the_output_node_float_and_says_why():
    model = _softmax_model()
    converted, report = convert_judged(model, describe_model(model), sdr(64, 64), ConversionOptions(precision="int8"))
    assert converted is not None or report.reason  # judged either way; the graph is what is checked here
    assert "Softmax" in INT8_OP_BLOCK_LIST
    assert {"softmax", "conv2"} <= set(report.fp32_nodes) and "conv1" not in report.fp32_nodes
    assert any(line.startswith("kept 1 node float: Softmax:") for line in report.repairs), report.repairs
    assert any("writes a model output" in line for line in report.repairs)
    quantized, kept = quantize(model, calibration_set(describe_model(model), sdr(64, 64), None))
    # conv1's output is quantized; softmax's is not (it is read as float), nor is the model's output.
    assert "h" in _quantized_outputs(quantized) and not {"s", "y"} & _quantized_outputs(quantized)
    # --block-op: an op type asked for stays float too.
    _, blocked = quantize(model, calibration_set(describe_model(model), sdr(64, 64), None), ("Conv",))
    assert {k.node for k in blocked} == {"conv1", "conv2", "softmax"}


def test_prepare_int8_refuses_an_hdr_frame_and_remembers_the_refusal(tmp_path, monkeypatch):
    from engine.model import onnx_io
    from engine.precision import convert
    from engine.runtime.prepared import SESSIONS

    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    with pytest.raises(ConversionError, match="outside the tolerance") as refused:
        prepare_model(path, "int8", settings=CPU, cache_dir=tmp_path / "cache", sample=hdr())
    assert refused.value.report.psnr_db < 40

    def never(*_a, **_k):
        raise AssertionError("quantized again: the refusal of this image should have been read from the cache")

    def no_parse(*_a, **_k):
        raise AssertionError("the source model was parsed: a known refusal is read before the ONNX library is needed")

    monkeypatch.setattr(convert, "quantize", never)
    monkeypatch.setattr(onnx_io, "parse_model", no_parse)
    SESSIONS.clear()
    with pytest.raises(ConversionError, match="outside the tolerance") as again:
        prepare_model(path, "int8", settings=CPU, cache_dir=tmp_path / "cache", sample=hdr())
    assert again.value.report.psnr_db == pytest.approx(refused.value.report.psnr_db)


def test_prepare_int8_on_another_image_is_another_calibration(tmp_path):
    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    first = prepare_model(path, "int8", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr())
    assert first.precision == Precision.INT8 and first.report is not None and first.report.status == "ok"
    assert (
        prepare_model(path, "int8", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr()) is first
    )  # same image: reused
    other = prepare_model(path, "int8", settings=CPU, cache_dir=tmp_path / "cache", sample=sdr(128, 128))
    assert other is not first and other.report.calibration.source_sha256 != first.report.calibration.source_sha256


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_cli_convert_int8_writes_the_model_or_refuses_with_exit_2(tmp_path):
    model = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    write_image(tmp_path / "sdr.exr", sdr())
    write_image(tmp_path / "hdr.exr", hdr())
    done = _cli("convert", model, "--precision", "int8", "--sample", tmp_path / "sdr.exr", "--out", tmp_path / "q.onnx")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "ok" and report["calibration"]["method"] == "MinMax" and report["p999_abs_error"] > 0
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(tmp_path / "q.onnx").graph.node)
    assert "note: int8 calibrated (MinMax) on the 4 most detailed 64x64 crops of the sample image" in done.stderr
    done = _cli("convert", model, "--precision", "int8", "--sample", tmp_path / "hdr.exr", "--out", tmp_path / "r.onnx")
    assert done.returncode == 2 and not (tmp_path / "r.onnx").exists()
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "outside the tolerance" in errors[0] and "PSNR" in errors[0]
    assert json.loads(done.stdout)["psnr_db"] < 40


def test_a_sequence_calibrates_on_its_first_frames(tmp_path):
    """Issue 30: int8 for a sequence is calibrated on its first frames, not the first alone: what the next frames
    bring (a highlight coming in) sets the ranges too, and is part of the cache key."""
    from engine.batch.sequence import CALIBRATION_FRAMES, next_frames_sample

    model = models.tone_curve()
    info = describe_model(model)
    one = calibration_set(info, sdr(), None)
    three = calibration_set(info, sdr(), None, (hdr(), sdr() * 0.5))
    assert three.record.inputs == 3 * one.record.inputs and "the same of 2 more images" in three.record.data
    assert three.record.source_sha256 != one.record.source_sha256
    assert quantize(model, three)[0].SerializeToString() != quantize(model, one)[0].SerializeToString()
    again = quantize(model, calibration_set(info, sdr(), None, (hdr(), sdr() * 0.5)))[0].SerializeToString()
    assert again == quantize(model, three)[0].SerializeToString()  # reproducible with the frames too
    folder = tmp_path / "in"
    folder.mkdir()
    for frame, image in enumerate((sdr(), sdr() * 0.8, sdr() * 0.6, hdr(), sdr(96, 128)), start=1):
        write_image(folder / f"{frame:04d}.exr", image)
    pattern = str(folder / "####.exr")
    more = next_frames_sample(pattern, [1, 2, 3, 4, 5], first=sdr())
    assert len(more) == CALIBRATION_FRAMES - 1  # frames 2 and 3
    np.testing.assert_allclose(more[1], sdr() * 0.6, atol=1e-6)
    path = models.save(model, tmp_path / "tone.onnx")
    done = subprocess.run(
        [sys.executable, "-m", "engine", "sequence", str(path), "--input", pattern, "--output",
         str(tmp_path / "out" / "####.exr"), "--frames", "1-4", "--precision", "int8", "--provider", "cpu",
         "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert "the same of 2 more images" in done.stderr, done.stderr


def test_convert_calibrates_on_every_sample_given(tmp_path):
    """Issue 30: `--sample` repeated: the first judges the accuracy, all of them calibrate int8."""
    path = models.save(models.tone_curve(), tmp_path / "tone.onnx")
    for name, image in (("a.exr", sdr()), ("b.exr", sdr() * 0.7)):
        write_image(tmp_path / name, image)
    done = subprocess.run(
        [sys.executable, "-m", "engine", "convert", str(path), "--precision", "int8", "--out", str(tmp_path / "q.onnx"),
         "--sample", str(tmp_path / "a.exr"), "--sample", str(tmp_path / "b.exr")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "the same of 1 more image" in done.stderr and (tmp_path / "q.onnx").is_file()
