"""`input.hdr: compress` (issue 27 item 2): scene-linear highlights survive a display-referred (sRGB) model. An
identity model is the measuring stick: with `clip` every value above 1 comes back as 1; with `compress` the
highlights of a render-like image come back within 1%, and values below the knee are not touched."""

import numpy as np
import onnx
from onnx import TensorProto, helper

from engine.image.normalize import HDR_KNEE, compress_highlights
from engine.inference.pipeline import run_image
from engine.inference.settings import RunSettings
from engine.model.contract import build_contract
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models

CPU = SessionSettings(provider="cpu")


def identity() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def render_like(h: int = 96, w: int = 128) -> np.ndarray:
    """Diffuse shading (0.02-0.75), a bright wall just under 1 (0.85-0.98), glossy highlights (peaks 3, 12 and 40)
    and a light source (150), as a path tracer's beauty pass has them."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 0.02 + 0.73 * (0.5 + 0.5 * np.sin(x / 17.0) * np.cos(y / 23.0))
    image = np.stack([shade, 0.9 * shade, 0.8 * shade], axis=2)
    image[:, 100:] = np.linspace(0.85, 0.98, h, dtype=np.float32)[:, None, None]
    for (cy, cx), peak in (((20, 30), 3.0), ((60, 50), 12.0), ((30, 80), 40.0)):
        blob = peak * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 18.0)
        image += blob[:, :, None] * np.array([1.0, 0.95, 0.9], np.float32)
    image[70:76, 10:16] = 150.0
    return image.astype(np.float32)


def _run(tmp_path, image, hdr: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = models.save(identity(), tmp_path / "id.onnx")
    contract = build_contract([("file", {"input": {"colour": "srgb", "hdr": hdr}})])
    prepared = prepare_model(path, "fp32", settings=CPU, cache_dir=tmp_path / "cache", contract=contract)
    return run_image(prepared, image, settings=RunSettings(contract=contract))


def test_compress_returns_the_highlights_that_clip_loses(tmp_path):
    image = render_like()
    bright = image > 1.0
    assert bright.sum() > 100 and image.max() == 150.0
    clipped = _run(tmp_path / "clip", image, "clip")
    compressed = _run(tmp_path / "compress", image, "compress")
    clip_error = np.abs(clipped.image - image)[bright] / image[bright]
    error = np.abs(compressed.image - image)[bright] / image[bright]
    assert clip_error.max() > 0.9  # 150 came back as 1
    assert error.max() < 1e-4  # fp32: 1.1e-5 measured
    assert clipped.clipped_pixels == int(bright.any(axis=2).sum()) and compressed.clipped_pixels == 0
    below = image <= HDR_KNEE  # untouched by the shoulder: only the sRGB round trip's float rounding
    np.testing.assert_allclose(compressed.image[below], image[below], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compressed.image[below], clipped.image[below], rtol=1e-5, atol=1e-6)


def test_the_display_units_shoulder_is_smooth_at_the_knee_and_under_one():
    """The fixed shoulder the accuracy rule puts errors through (display units)."""
    x = np.array([0.0, 0.5, HDR_KNEE, 0.8001, 1.0, 4.0, 100.0], np.float32)
    y = compress_highlights(x)
    assert np.all(y < 1.0) and np.all(np.diff(y) > 0) and np.all(y[:3] == x[:3])
    slope = (compress_highlights(np.float32([HDR_KNEE + 1e-4])) - np.float32(HDR_KNEE)) / 1e-4
    assert abs(slope[0] - 1.0) < 2e-3  # no kink at the knee


def test_the_fitted_shoulder_survives_fp16_and_is_smooth_at_the_knee():
    """Review finding: the fixed shoulder squeezed everything above 0.8 into (0.8, 1), where fp16 (a GPU's reduced
    precision) has steps of 2^-11: a highlight of 150 came back as the frame's brightest value. The shoulder fitted
    to the picture keeps one relative resolution up to its brightest value."""
    from engine.image.normalize import roll_back, roll_off

    for ceiling in (1.5, 150.0, 20000.0):
        x = np.array([0.5, HDR_KNEE, 0.9, 1.0, 3.0, 12.0, 40.0, 150.0, ceiling], np.float32)
        x = x[x <= ceiling]
        y = roll_off(x, ceiling)
        assert y.max() == np.float32(1.0) and np.all(np.diff(y) >= 0) and np.all(y[:2] == x[:2])
        np.testing.assert_allclose(roll_back(y, ceiling), x, rtol=1e-5)
        through_fp16 = roll_back(y.astype(np.float16).astype(np.float32), ceiling)
        assert np.abs(through_fp16 / x - 1).max() < 0.02, (ceiling, through_fp16)
        slope = (roll_off(np.float32([HDR_KNEE + 1e-4]), ceiling)[0] - np.float32(HDR_KNEE)) / 1e-4
        assert abs(slope - 1.0) < 5e-3  # no kink at the knee (a finite difference over 1e-4)
    plain = np.array([0.2, 0.9, 1.0], np.float32)  # nothing above 1: fed as it is
    assert np.array_equal(roll_off(plain, 1.0), plain)
