"""The cached optimized graph is listed close to the source model's order (engine/model/source_order.py): onnxruntime
runs nodes in the order a file lists them, and its own written order cost the sample 0.4 GB more at 4K."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from engine.model.source_order import in_source_order
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT

SAMPLE = ROOT / "samples" / "upscaler_x2.onnx"


def _optimized(path: Path, out: Path) -> onnx.ModelProto:
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return onnx.load(str(out))


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _valid(model: onnx.ModelProto) -> bool:
    """Every node reads only graph inputs, initializers and outputs of nodes listed before it."""
    known = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer} | {""}
    for node in model.graph.node:
        if not set(node.input) <= known:
            return False
        known |= set(node.output)
    return True


def test_the_sample_s_skip_branch_runs_before_its_last_convolution_and_the_pixels_agree(tmp_path):
    source = onnx.load(str(SAMPLE))
    optimized = _optimized(SAMPLE, tmp_path / "o.onnx")
    # (onnxruntime's own order lists Resize after DepthToSpace on x86-64, where its blocked layouts apply.)
    assert in_source_order(optimized, source) and _valid(optimized)
    ops = _ops(optimized)
    assert ops.index("Resize") < ops.index("DepthToSpace") and sorted(ops) == sorted(
        _ops(_optimized(SAMPLE, tmp_path / "p.onnx"))
    )
    x = np.random.default_rng(0).random((1, 3, 40, 56), dtype=np.float32)
    runs = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        for m in (optimized, onnx.load(str(tmp_path / "p.onnx")))
    ]
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=1e-6)


def test_a_cached_model_is_written_in_source_order(tmp_path):
    prepare_model(SAMPLE, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("*.onnx")
    ops = _ops(onnx.load(str(cached)))
    assert ops.index("Resize") < ops.index("DepthToSpace")


def test_generated_models_stay_valid_graphs_with_the_same_nodes(tmp_path):
    for name, model in {"unet": models.unet(), "chain": models.conv_chain(), "sr": models.sr_x2()}.items():
        path = models.save(model, tmp_path / f"{name}.onnx")
        optimized = _optimized(path, tmp_path / f"{name}_o.onnx")
        before = sorted(n.name for n in optimized.graph.node)
        assert in_source_order(optimized, model) and _valid(optimized), name
        assert sorted(n.name for n in optimized.graph.node) == before, name


def test_a_graph_with_subgraphs_is_left_as_it_is():
    branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "b",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    nodes = [
        helper.make_node("Greater", ["x", "x"], ["c"]),
        helper.make_node("If", ["c"], ["out"], then_branch=branch, else_branch=branch),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph)
    listed = _ops(model)
    assert not in_source_order(model, model) and _ops(model) == listed


def test_a_failing_reorder_never_fails_the_build_and_keeps_onnxruntime_s_file(tmp_path, monkeypatch, caplog):
    from engine.runtime import build

    def broken(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build, "in_source_order", broken)
    prepared = prepare_model(SAMPLE, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache")
    assert not prepared.cache_hit and prepared.optimized_model is not None
    ops = _ops(onnx.load(prepared.optimized_model))
    assert ops == _ops(_optimized(SAMPLE, tmp_path / "ort.onnx")) and "node order" in caplog.text  # as written


def test_a_cache_miss_reads_the_optimized_file_once_for_the_order_and_the_footprint(tmp_path, monkeypatch):
    from engine.runtime import build

    reads: list[str] = []
    real = build.onnx.load
    monkeypatch.setattr(build.onnx, "load", lambda path, *a, **k: reads.append(str(path)) or real(path, *a, **k))
    prepared = prepare_model(SAMPLE, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache")
    assert prepared.info.bytes_per_pixel > 0
    assert len(reads) == 1, reads  # the temporary file onnxruntime wrote, parsed once
