"""Issue 28, items 1 and 2: declared sizes that are export artefacts, and non-image inputs declared by the contract.
Each result is judged the way the model's own package feeds it: the whole picture into the graph with its input
dimensions rewritten (for the fixed export), the style vector next to the picture (for the style model)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engine.inference.pipeline import run_image
from engine.inference.settings import RunSettings
from engine.model.contract import ContractError, build_contract
from engine.model.inspect import inspect_model
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT

CPU = SessionSettings(provider="cpu")
DYNAMIC = build_contract([("sidecar", {"size": "dynamic", "batch": 1})])


def _as_its_package_loads_it(model: onnx.ModelProto) -> onnx.ModelProto:
    """What the detector's package does on load, written here independently: the input and output dimensions
    made symbolic (batch 1), the recorded intermediate shapes dropped."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for vi in [*copy.graph.input, *copy.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        dims[0].dim_value = 1
        dims[2].dim_param, dims[3].dim_param = "h", "w"
    del copy.graph.value_info[:]
    return copy


def _raw(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _nchw(hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(hwc.transpose(2, 0, 1)[None], np.float32)


def test_a_fixed_export_is_read_as_declared_without_the_contract(tmp_path):
    info = inspect_model(models.save(models.export_fixed_fcn(), tmp_path / "face.onnx"))
    assert info.fixed_size == (32, 32) and info.batch == 10


def test_size_dynamic_runs_the_whole_picture_like_the_package(tmp_path):
    model = models.export_fixed_fcn()
    path = models.save(model, tmp_path / "face.onnx")
    info = inspect_model(path, DYNAMIC)
    assert info.fixed_size is None and info.batch == 1
    assert "input x declared 10x3x32x32, run as 1x3xheightxwidth (contract)" in info.warnings
    image = synthetic_image(90, 130)
    prepared = prepare_model(path, "fp32", settings=CPU, cache_dir=tmp_path / "cache", contract=DYNAMIC)
    result = run_image(prepared, image, settings=RunSettings(contract=DYNAMIC))
    assert result.image.shape == (90, 130, 1)
    want = _raw(_as_its_package_loads_it(model), {"x": _nchw(image)})[0][0].transpose(1, 2, 0)
    np.testing.assert_allclose(result.image, want, atol=1e-5)


def test_the_declaration_is_part_of_the_cache_key(tmp_path):
    path = models.save(models.export_fixed_fcn(), tmp_path / "face.onnx")
    as_declared = prepare_model(path, "fp32", settings=CPU, cache_dir=tmp_path / "cache")
    redeclared = prepare_model(path, "fp32", settings=CPU, cache_dir=tmp_path / "cache", contract=DYNAMIC)
    assert as_declared.info.fixed_size == (32, 32) and redeclared.info.fixed_size is None
    again = prepare_model(path, "fp32", settings=CPU, cache_dir=tmp_path / "cache2", contract=DYNAMIC)
    assert again.info.fixed_size is None  # a second cache folder: built again, the same description


def test_a_graph_that_is_really_fixed_is_refused_with_the_reason(tmp_path):
    path = models.save(models.truly_fixed(), tmp_path / "fixed.onnx")
    with pytest.raises(ContractError, match=r"contract size dynamic.*does not run as 1x64x96.*fixed to the declared"):
        inspect_model(path, build_contract([("sidecar", {"size": "dynamic"})]))
    with pytest.raises(ContractError, match="does not run as"):
        prepare_model(
            path,
            "fp32",
            settings=CPU,
            cache_dir=tmp_path / "cache",
            contract=build_contract([("f", {"size": "dynamic"})]),
        )


@pytest.mark.parametrize(
    ("layer", "message"),
    [({"size": "any"}, "size must be one of model, dynamic"), ({"batch": -1}, "batch must be a whole number")],
)
def test_bad_declarations_are_one_line(layer, message):
    with pytest.raises(ContractError, match=message):
        build_contract([("sidecar", layer)])


STYLE = tuple(float(v) for v in np.linspace(-0.2, 0.3, 100))


def test_a_style_vector_input_named_in_constants_is_not_an_image(tmp_path):
    model = models.style_vector()
    path = models.save(model, tmp_path / "style.onnx")
    contract = build_contract([("flags", {"constants": {"style": list(STYLE)}})])
    info = inspect_model(path, contract)
    assert [t.name for t in info.image_inputs] == ["x"] and [t.name for t in info.other_inputs] == ["style"]
    image = synthetic_image(20, 28)
    prepared = prepare_model(path, "fp32", settings=CPU, cache_dir=tmp_path / "cache", contract=contract)
    out = run_image(prepared, image, settings=RunSettings(contract=contract)).image
    style = np.asarray(STYLE, np.float32).reshape(1, 1, 1, 100)
    want = _raw(model, {"x": _nchw(image), "style": style})[0][0].transpose(1, 2, 0)
    np.testing.assert_allclose(out, want, atol=1e-5)


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_the_command_line_takes_a_vector_constant_from_a_npy_file(tmp_path):
    from engine import read_image, write_image

    model = models.style_vector()
    path = models.save(model, tmp_path / "style.onnx")
    np.save(tmp_path / "style.npy", np.asarray(STYLE, np.float32).reshape(1, 1, 1, 100))
    image = synthetic_image(20, 28)
    write_image(tmp_path / "in.exr", image)
    ran = _cli("run", path, tmp_path / "in.exr", tmp_path / "out.exr", "--const", f"style={tmp_path / 'style.npy'}")
    assert ran.returncode == 0, ran.stderr
    listed = _cli("info", path, "--const", "style=" + ",".join(map(str, STYLE)))
    assert listed.returncode == 0, listed.stderr
    assert [t["name"] for t in json.loads(listed.stdout)["non_image_inputs"]] == ["style"]
    style = np.asarray(STYLE, np.float32).reshape(1, 1, 1, 100)
    want = _raw(model, {"x": _nchw(image), "style": style})[0][0].transpose(1, 2, 0)
    np.testing.assert_allclose(read_image(tmp_path / "out.exr"), want, atol=1e-5)


def test_convert_of_a_vector_input_model(tmp_path):
    """convert judges the conversion with the style vector fed as a constant; a constant that does not fit the
    input is one line, not a traceback."""
    path = models.save(models.style_vector(), tmp_path / "style.onnx")
    out = tmp_path / "style_fp16.onnx"
    failed = _cli("convert", path, "--precision", "fp16", "--out", out, "--const", "style=1,2,3")
    assert failed.returncode != 0 and not out.exists()
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "style" in lines[0], failed.stderr
    converted = _cli("convert", path, "--precision", "fp16", "--out", out, "--const", "style=0.1")
    assert converted.returncode == 0, converted.stderr
    assert out.is_file()


def test_size_dynamic_alone_keeps_the_declared_batch(tmp_path):
    """Review finding: `size: dynamic` without `batch` was proved at batch 1 against a declared 10 and refused as a
    fixed graph. It is proved at the declared batch, and runs."""
    path = models.save(models.export_fixed_fcn(), tmp_path / "face.onnx")
    info = inspect_model(path, build_contract([("sidecar", {"size": "dynamic"})]))
    assert info.fixed_size is None and info.batch == 10
