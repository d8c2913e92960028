import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.errors import ModelError
from engine.model.describe import describe_model
from engine.precision.accuracy import AccuracyRule
from engine.precision.casts import count_casts, remove_redundant_pairs
from engine.precision.convert import ConversionOptions, convert_model
from engine.precision.validation_feeds import sample_feeds
from tests import models


def _convert(model, precision="fp16", **kw):
    feeds = sample_feeds(describe_model(model))
    return convert_model(model, feeds, ConversionOptions(precision=precision, **kw))


def _float16_weights(model):
    return [i.name for i in model.graph.initializer if i.data_type == TensorProto.FLOAT16]


@pytest.mark.parametrize("backend", ["onnxconverter", "ort"])
def test_fp16_keeps_float32_io_and_is_accurate(backend):
    converted, report = _convert(models.sr_x2(), backend=backend)
    assert report.status == "ok", report.reason
    assert converted.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert _float16_weights(converted), "weights should be fp16"
    assert 0 < report.max_abs_error < 1e-2 and report.psnr_db > 40 and report.nonfinite_count == 0
    assert report.casts_before == 0 and report.casts_after >= 2


def test_user_block_list_keeps_an_op_fp32():
    _, report = _convert(models.sr_x2(), op_block_list=("DepthToSpace",))
    assert report.status == "ok"
    assert any("d2s" in n for n in report.fp32_nodes)


def test_resize_stays_fp32_by_default():
    _, report = _convert(models.unet())
    assert report.status == "ok" and "up" in report.fp32_nodes


def test_activation_overflow_fails_fp16_and_amp_keeps_those_nodes_fp32():
    model = models.overflow()
    converted, report = _convert(model)
    assert converted is None and report.status == "failed"
    assert "beyond fp16's range" in report.reason and "big" in report.reason
    converted, report = _convert(model, "amp")
    assert report.status == "ok", report.reason
    assert "big" in report.fp32_nodes
    # the converter put a float32-float16-float32 round trip between two fp32 nodes; it would be inf
    assert report.redundant_casts_removed >= 1
    assert report.nonfinite_count == 0 and report.max_abs_error < 0.05


@pytest.mark.parametrize("variance", [1e7, 3e4])
def test_batchnorm_variance_beyond_fp16_is_folded_before_converting(variance):
    converted, report = _convert(models.batchnorm(variance))
    assert report.status == "ok", report.reason
    assert not any(n.op_type == "BatchNormalization" for n in converted.graph.node)
    assert report.max_abs_error < 1e-2


def test_constant_node_weights_and_unnamed_nodes_convert_in_both_modes():
    for precision in ("fp16", "amp"):
        converted, report = _convert(models.constant_nodes(), precision)
        assert report.status == "ok", report.reason
        assert len({n.name for n in converted.graph.node}) == len(converted.graph.node)


def test_opset9_initializer_inputs_convert_to_a_loadable_model():
    converted, report = _convert(models.opset9_initializer_inputs())
    assert report.status == "ok", report.reason
    assert [i.name for i in converted.graph.input] == ["x"]
    assert any("initializers listed as graph inputs" in r for r in report.repairs)


def test_existing_casts_are_repaired_so_the_model_loads():
    _, report = _convert(models.with_casts())
    assert report.status == "ok", report.reason
    assert report.casts_before == 2


def test_fp16_only_model_has_nothing_to_convert():
    with pytest.raises(ModelError, match="already reduced precision"):
        _convert(models.fp16_only())


def test_tolerance_failure_is_reported_not_used():
    strict = AccuracyRule(min_psnr_db=200.0, max_p999_error=1e-9)  # only an exact conversion passes
    converted, report = _convert(models.sr_x2(), rule=strict)
    assert converted is None and report.status == "failed" and "tolerance" in report.reason
    assert "PSNR" in report.reason and "99.9th percentile" in report.reason  # each figure beyond its threshold


def test_report_json_has_the_documented_keys():
    _, report = _convert(models.sr_x2())
    data = report.to_json()
    for key in ("status", "precision", "max_abs_error", "mean_abs_error", "psnr_db", "nonfinite_count"):
        assert key in data
    for key in ("fp32_nodes", "casts_before", "casts_after"):
        assert key in data


def _cast(name, src, dst, to):
    return helper.make_node("Cast", [src], [dst], name=name, to=to)


def test_back_to_back_cast_round_trips_are_removed():
    nodes = [
        _cast("a", "x", "x16", TensorProto.FLOAT16),
        _cast("b", "x16", "x32a", TensorProto.FLOAT),
        _cast("c", "x16", "x32b", TensorProto.FLOAT),
        helper.make_node("Add", ["x32a", "x32b"], ["y"], name="add"),
    ]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("x", "y")]
    model = helper.make_model(helper.make_graph(nodes, "g", [io[0]], [io[1]]))
    assert remove_redundant_pairs(model) == 2
    assert count_casts(model) == 0
    assert list(model.graph.node[0].input) == ["x", "x"]
    onnx.checker.check_model(model)


def test_round_trip_with_another_reader_is_kept():
    nodes = [
        _cast("a", "x", "x16", TensorProto.FLOAT16),
        _cast("b", "x16", "x32", TensorProto.FLOAT),
        helper.make_node("Identity", ["x16"], ["y16"], name="keep"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    outs = [helper.make_tensor_value_info("x32", TensorProto.FLOAT, [2])]
    outs.append(helper.make_tensor_value_info("y16", TensorProto.FLOAT16, [2]))
    model = helper.make_model(helper.make_graph(nodes, "g", [x], outs))
    assert remove_redundant_pairs(model) == 0 and count_casts(model) == 2


def test_validation_uses_the_callers_image():
    model = models.sr_x2()
    info = describe_model(model)
    bright = np.full((80, 80, 3), 0.9, np.float32)
    feeds = sample_feeds(info, bright)
    # A 2x2 mosaic of its 64x64 crops (a flat image: all of them alike).
    assert feeds["x"].shape == (1, 3, 128, 128) and np.allclose(feeds["x"], 0.9)
