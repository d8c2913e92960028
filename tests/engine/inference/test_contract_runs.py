"""Each run's pixels equal the model's raw onnxruntime session fed the contract's way (computed here with plain
numpy), for exports shaped like real ones."""

import json

import numpy as np
import onnxruntime as ort
import pytest

from engine.errors import ModelError
from engine.inference.pipeline import run_image
from engine.inference.settings import RunSettings
from engine.model.contract import build_contract, load_contract, sidecar_path
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models

CPU = SessionSettings(provider="cpu")


def _raw(model, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _nchw(hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(hwc.transpose(2, 0, 1)[None], np.float32)


def _hwc(nchw: np.ndarray) -> np.ndarray:
    return nchw[0].transpose(1, 2, 0)


def _to_srgb(x):
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055)


def _to_linear(x):
    return np.where(x <= 0.04045, x / 12.92, np.power((np.maximum(x, 0.04045) + 0.055) / 1.055, 2.4))


def _run(tmp_path, model, image, contract=None, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = models.save(model, tmp_path / "m.onnx")
    contract = contract if contract is not None else load_contract(path)
    prepared = prepare_model(path, "fp32", settings=CPU, cache_dir=tmp_path / "cache", contract=contract)
    return run_image(prepared, image, settings=RunSettings(contract=contract, **kw))


def test_bgr_0_255_model_from_its_metadata(tmp_path):
    model, image = models.bgr_255(), synthetic_image(24, 20)
    mean = np.array([104.0, 117.0, 123.0], np.float32)
    out = _run(tmp_path, model, image).image
    fed = image[:, :, ::-1] * 255.0 - mean
    raw = _hwc(_raw(model, {"x": _nchw(fed)})[0])
    expected = ((raw + mean) / 255.0)[:, :, ::-1]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_imagenet_srgb_model_from_its_metadata(tmp_path):
    model, image = models.imagenet(), synthetic_image(16, 16)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    out = _run(tmp_path, model, image).image
    raw = _hwc(_raw(model, {"x": _nchw((_to_srgb(image) - mean) / std)})[0])
    np.testing.assert_allclose(out, _to_linear(raw * std + mean), rtol=1e-4, atol=1e-4)


def test_mask_output_is_returned_as_is_whatever_the_input_normalization(tmp_path):
    model, image = models.mask_net(), synthetic_image(16, 16)
    contract = build_contract([("flags", {"input": {"range": [0, 255], "mean": [120.0]}})])
    out = _run(tmp_path, model, image, contract).image
    raw = _hwc(_raw(model, {"x": _nchw(image * 255.0 - 120.0)})[0])
    assert out.shape == (16, 16, 1)
    np.testing.assert_allclose(out, raw, atol=1e-5)


def test_symbolic_dims_model_runs(tmp_path):
    model, image = models.symbolic_dims(), synthetic_image(16, 16)
    out = _run(tmp_path, model, image).image
    np.testing.assert_allclose(out, _hwc(_raw(model, {"x": _nchw(image)})[0]), atol=1e-5)


def test_three_outputs_image_by_default_and_the_mask_by_name(tmp_path):
    model, image = models.three_outputs(), synthetic_image(16, 16)
    _, raw_image, raw_mask = _raw(model, {"x": _nchw(image)})
    default = _run(tmp_path, model, image, build_contract([])).image
    np.testing.assert_allclose(default, _hwc(raw_image), atol=1e-5)
    mask = _run(tmp_path, model, image, build_contract([("flags", {"output_name": "mask"})])).image
    np.testing.assert_allclose(mask, _hwc(raw_mask), atol=1e-5)


def test_scalar_input_needs_its_constant_and_uses_it(tmp_path):
    model, image = models.scalar_input(), synthetic_image(16, 16)
    with pytest.raises(ModelError, match=r"model input 'noise_level' \[1\] is not an image and needs a value"):
        _run(tmp_path, model, image, build_contract([]))
    contract = build_contract([("flags", {"constants": {"noise_level": 0.25}})])
    out = _run(tmp_path, model, image, contract).image
    raw = _raw(model, {"x": _nchw(image), "noise_level": np.array([0.25], np.float32)})[0]
    np.testing.assert_allclose(out, _hwc(raw), atol=1e-5)


def test_fixed_batch_runs_its_batch_and_matches_the_batch_one_model(tmp_path):
    image = synthetic_image(70, 90)
    one_tile = synthetic_image(32, 32)
    batch4, batch1 = models.fixed_batch(batch=4), models.fixed_batch(batch=1)
    out = _run(tmp_path, batch4, one_tile, build_contract([])).image
    raw = _raw(batch4, {"x": np.concatenate([_nchw(one_tile)] * 4)})[0]
    np.testing.assert_allclose(out, _hwc(raw[:1]), atol=1e-5)
    tiled4 = _run(tmp_path / "a", batch4, image, build_contract([]))
    tiled1 = _run(tmp_path / "b", batch1, image, build_contract([]))
    assert tiled4.tiles == tiled1.tiles > 4  # a last group shorter than the batch
    np.testing.assert_allclose(tiled4.image, tiled1.image, atol=1e-5)


def test_sidecar_contract_is_picked_up(tmp_path):
    model, image = models.conv_chain(), synthetic_image(16, 16)
    path = models.save(model, tmp_path / "m.onnx")
    sidecar_path(path).write_text(json.dumps({"input": {"range": [-1, 1]}}))
    out = _run(tmp_path, model, image).image
    raw = _hwc(_raw(model, {"x": _nchw(image * 2.0 - 1.0)})[0])
    np.testing.assert_allclose(out, (raw + 1.0) / 2.0, rtol=1e-4, atol=1e-4)


def test_mean_with_the_wrong_channel_count_for_the_model_is_named(tmp_path):
    contract = build_contract([("flags", {"input": {"mean": [0.1, 0.2, 0.3]}})])
    with pytest.raises(ModelError, match=r"contract input\.mean has 3 values; the model's tensor has 1 channels"):
        _run(tmp_path, models.sr_x2(channels=1), synthetic_image(8, 8, channels=1), contract)
