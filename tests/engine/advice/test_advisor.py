import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engine.advice.advisor import advise_model, advise_nodes, cast_report, layout_conversions
from engine.advice.channel_padding import pad_channels
from engine.model.describe import describe_model
from engine.model.onnx_io import serialize
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT
from tests.models import conv_chain

CPU = SessionSettings(provider="cpu")


def test_verdicts_and_mac_shares_from_known_channel_counts():
    model = conv_chain((3, 16, 32, 3))
    info = describe_model(model)
    from onnxconverter_common.float16 import convert_float_to_float16

    fp16 = convert_float_to_float16(model, keep_io_types=True)
    advice = advise_nodes(fp16, info, (64, 64))
    by_name = {n.name: n for n in advice.nodes}
    pixels = 64 * 64
    assert by_name["conv0"].macs == pixels * 16 * 3 * 9
    assert by_name["conv1"].macs == pixels * 32 * 16 * 9
    assert by_name["conv2"].macs == pixels * 3 * 32 * 9
    assert not by_name["conv0"].eligible and "in 3 not a multiple of 8" in by_name["conv0"].verdict
    assert by_name["conv1"].eligible and "multiples of 32 would be faster" in by_name["conv1"].verdict
    assert not by_name["conv2"].eligible and "out 3" in by_name["conv2"].verdict
    assert advice.eligible_mac_share == pytest.approx(by_name["conv1"].macs / advice.total_macs)
    fp32 = advise_nodes(model, info, (64, 64))
    assert fp32.eligible_mac_share == 0 and "runs in fp32" in fp32.nodes[1].verdict


def test_nodes_kept_fp32_are_not_eligible():
    model = conv_chain((3, 32, 32, 3))
    advice = advise_nodes(model, describe_model(model), (32, 32), float_nodes={"conv1"})
    assert not {n.name: n for n in advice.nodes}["conv1"].eligible


def test_padding_keeps_results_within_float_rounding_and_makes_convs_eligible():
    model = conv_chain((3, 12, 12, 3))
    padded, names = pad_channels(model, 8)
    assert names == ["conv0", "conv1"]
    x = np.random.default_rng(1).random((1, 3, 45, 61), dtype=np.float32)
    outs = [
        ort.InferenceSession(serialize(m), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for m in (model, padded)
    ]
    # Zero channels add exact zeros, but onnxruntime may pick another kernel for 16 channels than for 12
    # (seen on AVX-512 at level 'all': up to 5e-7), so the promise is float rounding, not bits.
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    assert np.abs(outs[0]).max() > 0.1  # a real signal, not two arrays of zeros
    shapes = {i.name: tuple(i.dims) for i in padded.graph.initializer}
    assert shapes["w0"] == (16, 3, 3, 3) and shapes["w1"] == (16, 16, 3, 3) and shapes["w2"] == (3, 16, 3, 3)


def test_padding_leaves_convs_feeding_other_ops_alone():
    padded, names = pad_channels(models.sr_x2(hidden=12), 8)
    assert names == ["conv1"]  # conv2 feeds DepthToSpace, whose meaning depends on the channel count


def test_cast_report_explains_each_cast():
    from engine.precision.convert import ConversionOptions, convert_model
    from engine.precision.validation_feeds import sample_feeds

    model = models.unet()
    converted, report = convert_model(model, sample_feeds(describe_model(model)), ConversionOptions())
    casts = cast_report(converted, set(report.fp32_nodes))
    reasons = {c.name: c.why for c in casts}
    assert len(casts) == report.casts_after
    assert sum("keep_io_types" in why for why in reasons.values()) == 2
    assert sum("fp32 island" in why for why in reasons.values()) == 2


def test_layout_conversions_on_the_cpu_provider(tmp_path):
    model = conv_chain((3, 16, 16, 3))
    path = tmp_path / "m.onnx"
    path.write_bytes(serialize(model))
    advice = advise_model(str(path), "fp32", settings=CPU, cache_dir=tmp_path / "cache", size=(32, 32), profile=True)
    kinds = [c.op_type for c in advice.layout.conversions]
    # The CPU default level is 'all' and a CPU session keeps the model's own NCHW layout (no channels-last
    # adapter): the only layout work left is what onnxruntime's own 'all' level adds on this CPU (NCHWc's
    # reorders on x86-64 with AVX2 or AVX-512; none where MLAS has no blocked format, as on ARM).
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "all.onnx")
    ort.InferenceSession(serialize(model), options, providers=["CPUExecutionProvider"])
    plain = [c.op_type for c in layout_conversions(onnx.load(str(tmp_path / "all.onnx")), "cpu").conversions]
    assert kinds == plain and "Transpose" not in kinds
    assert set(kinds) <= {"ReorderInput", "ReorderOutput"}
    if kinds:
        assert 0.0 < advice.layout.time_share < 1.0
    else:
        assert advice.layout.time_share == 0.0


def test_cli_advise_and_pad(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(serialize(conv_chain((3, 12, 12, 3))))
    common = ["--provider", "cpu", "--cache-dir", str(tmp_path / "c"), "--size", "64x64"]
    run = [sys.executable, "-m", "engine", "advise", str(path), *common]
    done = subprocess.run([*run, "--precision", "fp16"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["eligible_mac_share"] == 0  # 12 channels: not a multiple of 8
    assert json.loads(done.stdout)["advice_for"] == "advice for fp16 on CPU, as asked"
    done = subprocess.run(
        [*run, "--precision", "fp16", "--pad-channels", "8", "--out", str(tmp_path / "p.onnx")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    data = json.loads(done.stdout)
    assert data["padding"].startswith("padded 2 Conv nodes (not padded: 1 read by an op other than Conv")
    assert data["after"]["eligible_mac_share"] > 0


def test_cli_advise_defaults_to_what_auto_runs_and_says_so(tmp_path):
    """Issue 27: the command line advised fp16 by default (90% eligible) while Blender's Auto, fp32 on a CPU, said
    0%: both now advise the precision that would run, and say which and why."""
    path = tmp_path / "m.onnx"
    path.write_bytes(serialize(conv_chain((3, 16, 16, 3))))
    run = [sys.executable, "-m", "engine", "advise", str(path), "--provider", "cpu", "--cache-dir", str(tmp_path / "c")]
    done = subprocess.run([*run, "--size", "32x32"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["precision"], data["requested"], data["provider"]) == ("fp32", "auto", "cpu")
    assert data["eligible_mac_share"] == 0 and all(n["dtype"] == "fp32" for n in data["nodes"])
    # Why fp32: int8 measured not faster on this CPU, or faster but outside the accuracy rule (issue 30).
    assert data["advice_for"].startswith("advice for fp32, what auto runs on this CPU (auto chose fp32: int8 ")
    assert data["advice_for"].endswith("ask for fp16 to see what an NVIDIA GPU's Tensor Cores would run")
    assert f"note: {data['advice_for']}" in done.stderr.splitlines()
    # The same model asked for at fp16 has its 16->16 Conv eligible: the default, not the model, gave 0%.
    assert advise_model(str(path), "fp16", settings=CPU, cache_dir=tmp_path / "c", size=(32, 32)).eligible_mac_share > 0


def test_padding_that_changes_nothing_says_why():
    """Issue 27: `--pad-channels 8` padded 0 nodes without saying why, right after the advice said to pad."""
    from engine.advice.channel_padding import NotPadded, padding

    model = models.sr_x2(hidden=16)  # hidden layers already have 16 channels; the last Conv is the output
    _, done = padding(model, 8)
    convs = sum(1 for node in model.graph.node if node.op_type == "Conv")
    assert done.padded == ()
    assert dict(done.not_padded) == {NotPadded.ALIGNED: convs - 1, NotPadded.READERS: 1}
    assert done.summary() == (
        f"padded 0 Conv nodes (not padded: {convs - 1} already a multiple; "
        "1 read by an op other than Conv, Relu, LeakyRelu or Identity, or a graph output)"
    )


def test_advice_reads_the_converted_graph_from_the_cache_instead_of_converting_again(tmp_path, monkeypatch):
    from engine.precision import convert
    from engine.runtime.prepare import SESSIONS

    path = tmp_path / "unet.onnx"
    path.write_bytes(serialize(models.unet()))
    first = advise_model(str(path), "fp16", settings=CPU, cache_dir=tmp_path / "cache", size=(32, 32))
    SESSIONS.clear()  # a new process: only the file cache is left

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(convert, "convert_model", no_conversion)
    again = advise_model(str(path), "fp16", settings=CPU, cache_dir=tmp_path / "cache", size=(32, 32))
    assert [c.name for c in again.casts] == [c.name for c in first.casts] and first.casts
