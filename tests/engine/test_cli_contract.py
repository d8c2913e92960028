"""The command line's contract: --contract FILE, the single flags, info's sources, convert --precision auto."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort

from engine.image.files import read_image, write_image
from engine.precision.validation_feeds import synthetic_image
from tests import models
from tests.helpers import ROOT


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def _raw(model, hwc):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.ascontiguousarray(hwc.transpose(2, 0, 1)[None], np.float32)})[0][0].transpose(
        1, 2, 0
    )


def test_run_with_contract_file_and_flags_feeds_the_model_their_way(tmp_path):
    model = models.conv_chain()
    path = models.save(model, tmp_path / "m.onnx")
    image = synthetic_image(16, 16)
    write_image(tmp_path / "in.exr", image)
    (tmp_path / "c.json").write_text(json.dumps({"input": {"range": [0, 255], "order": "bgr"}}))
    args = ["run", path, tmp_path / "in.exr", tmp_path / "out.exr", "--cache-dir", tmp_path / "c", "--provider", "cpu"]
    done = _cli(*args, "--contract", tmp_path / "c.json", "--input-mean", "100,110,120")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["precision"] == "fp32"  # auto on the CPU
    mean = np.array([100.0, 110.0, 120.0], np.float32)
    raw = _raw(model, image[:, :, ::-1] * 255.0 - mean)
    expected = ((raw + mean) / 255.0)[:, :, ::-1]
    np.testing.assert_allclose(read_image(tmp_path / "out.exr")[:, :, :3], expected, rtol=1e-4, atol=1e-4)


def test_info_lists_outputs_non_image_inputs_and_where_each_part_came_from(tmp_path):
    path = models.save(models.with_contract(models.scalar_input(), {"fit": "tile"}), tmp_path / "m.onnx")
    (tmp_path / "m.onnx.contract.json").write_text(json.dumps({"input": {"range": [-1, 1]}}))
    info = json.loads(_cli("info", path, "--const", "noise_level=0.5", "--channel-order", "bgr").stdout)
    sources = info["contract_sources"]
    assert (sources["fit"], sources["input.range"], sources["input.order"]) == ("metadata", "sidecar", "flags")
    assert sources["input.mean"] == "default" and sources["constants.noise_level"] == "flags"
    assert info["non_image_inputs"] == [{"name": "noise_level", "shape": [1], "value": [0.5]}]
    assert info["result_output"] == "y"


def test_run_without_a_needed_constant_names_the_input(tmp_path):
    path = models.save(models.scalar_input(), tmp_path / "m.onnx")
    write_image(tmp_path / "in.exr", synthetic_image(8, 8))
    done = _cli("run", path, tmp_path / "in.exr", tmp_path / "o.exr", "--provider", "cpu", "--cache-dir", tmp_path)
    assert done.returncode == 1 and "'noise_level'" in done.stderr and "--const noise_level=VALUE" in done.stderr
    assert not (tmp_path / "o.exr").exists()


def test_bad_contract_is_a_one_line_error_naming_the_key(tmp_path):
    path = models.save(models.bad_contract(), tmp_path / "m.onnx")
    done = _cli("info", path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "input.std has a 0" in done.stderr
    done = _cli("info", models.save(models.conv_chain(), tmp_path / "ok.onnx"), "--input-mean", "a,b")
    assert done.returncode == 1 and "--input-mean takes numbers" in done.stderr


def test_convert_auto_names_the_chosen_precision_and_fp16_failure_suggests_it(tmp_path):
    path = models.save(models.overflow(), tmp_path / "o.onnx")
    done = _cli("convert", path, "--out", tmp_path / "o16.onnx")
    assert done.returncode == 2 and "use --precision amp or auto" in done.stderr
    done = _cli("convert", path, "--precision", "auto", "--out", tmp_path / "oa.onnx")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["requested"] == "auto" and report["precision"] == "amp" and "fp16 failed" in report["decision"]
    assert (tmp_path / "oa.onnx").is_file()


def test_run_writes_the_output_picked_by_name(tmp_path):
    model = models.three_outputs()
    path = models.save(model, tmp_path / "m.onnx")
    image = synthetic_image(16, 16)
    write_image(tmp_path / "in.exr", image)
    args = ["run", path, tmp_path / "in.exr", tmp_path / "mask.exr", "--provider", "cpu", "--cache-dir", tmp_path / "c"]
    done = _cli(*args, "--output", "mask")
    assert done.returncode == 0, done.stderr
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    mask = session.run(["mask"], {"x": np.ascontiguousarray(image.transpose(2, 0, 1)[None])})[0][0, 0]
    np.testing.assert_allclose(read_image(tmp_path / "mask.exr")[:, :, 0], mask, atol=1e-5)
    done = _cli(*args[:3], tmp_path / "f.exr", *args[4:], "--output-name", "features")
    assert done.returncode == 1 and "'features' is not image-like" in done.stderr
