"""The contract's normalisations (issue 28 item 4) against numpy done the way background-removal packages (rembg-like)
feed their models: im / max(im), then (im - mean) / std; the output min-max normalised, (p - min) / (max - min),
over the whole output, also when the image runs in tiles."""

import numpy as np
import onnxruntime as ort
import pytest

from engine.image.colour import linear_to_srgb
from engine.image.normalize import decode, encode
from engine.model.contract import InputScale, OutputNormalize, TensorContract
from engine.options import ColorMode
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import run_with_contract

CPU = SessionSettings(provider="cpu")
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
REMBG_LIKE = {
    "input": {"colour": "srgb", "scale": "image-max", "mean": MEAN.tolist(), "std": STD.tolist()},
    "output": {"normalize": "minmax"},
}


_run = run_with_contract


def _rembg_way(model, picture: np.ndarray) -> np.ndarray:
    """What the package computes from the display-encoded picture."""
    im = linear_to_srgb(np.clip(picture, 0, 1))
    im = im / np.max(im)
    x = ((im - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    p = session.run(None, {"x": x})[0][0, 0]
    return (p - p.min()) / (p.max() - p.min())


def test_image_max_and_minmax_match_the_packages_numpy(tmp_path):
    model = models.mask_net()
    picture = 0.4 * synthetic_image(40, 56, seed=2)  # a dim picture: its maximum is far from 1
    out = _run(tmp_path, model, picture, REMBG_LIKE).image
    expected = _rembg_way(model, picture)
    assert out.shape == (40, 56, 1)
    np.testing.assert_allclose(out[:, :, 0], expected, atol=2e-5)
    assert out.min() == pytest.approx(0.0, abs=1e-6) and out.max() == pytest.approx(1.0, abs=1e-6)
    # Without the two keys the mask differs (the keys do something).
    plain = _run(tmp_path / "plain", model, picture, {"input": REMBG_LIKE["input"] | {"scale": "none"}}).image
    assert np.abs(plain[:, :, 0] - expected).max() > 0.05


def test_minmax_is_taken_over_the_whole_output_when_the_image_runs_in_tiles(tmp_path):
    model = models.mask_net()
    picture = synthetic_image(150, 170, seed=3)
    whole = _run(tmp_path / "whole", model, picture, REMBG_LIKE)
    tiled = _run(tmp_path / "tiled", model, picture, REMBG_LIKE, tile=64)
    assert whole.tiles == 1 and tiled.tiles >= 9 and tiled.tiling.exact
    np.testing.assert_allclose(tiled.image, whole.image, atol=2e-5)
    np.testing.assert_allclose(tiled.image[:, :, 0], _rembg_way(model, picture), atol=2e-5)


def test_formulas_on_arrays():
    picture = np.array([[[0.1, 0.2, 0.25]], [[0.05, 0.0, 0.125]]], np.float32)
    scaled, _ = encode(picture, TensorContract(scale=InputScale.IMAGE_MAX, range=(0.0, 255.0)))
    np.testing.assert_allclose(scaled, picture / 0.25 * 255.0, rtol=1e-6)
    black, _ = encode(np.zeros((2, 2, 3), np.float32), TensorContract(scale=InputScale.IMAGE_MAX))
    assert np.all(black == 0)  # fed as it is, never divided by 0
    values = np.array([[[-3.0]], [[1.0]], [[5.0]]], np.float32)
    # min-max replaces the range (here 0-255, which would divide by 255)
    record = TensorContract(normalize=OutputNormalize.MINMAX, range=(0.0, 255.0), colour=ColorMode.LINEAR)
    np.testing.assert_allclose(decode(values, record)[:, 0, 0], [0.0, 0.5, 1.0])
    assert np.all(decode(np.full((2, 2, 1), 7.0, np.float32), record) == 0)  # a constant output gives 0


def test_an_8_bit_png_reports_no_clipping_that_only_resampling_made(tmp_path):
    """Issue 27: a white 8-bit PNG decodes to exactly 1.0, but a filter whose weights sum to 1 in float32 gives
    1.0000001; counted after resampling, that read as HDR clipped by the sRGB transform."""
    import OpenImageIO as oiio

    from engine.image.files import read_image

    rgb = np.full((45, 61, 3), 255, np.uint8)
    rgb[:, :20] = 40
    out = oiio.ImageOutput.create(str(tmp_path / "white.png"))
    out.open(str(tmp_path / "white.png"), oiio.ImageSpec(61, 45, 3, "uint8"))
    out.write_image(rgb)
    out.close()
    picture = read_image(tmp_path / "white.png")
    assert picture.max() <= 1.0
    srgb = {"input": {"colour": "srgb"}, "resize": {"multiple": 32}}  # 45x61 -> 32x64: rounding above 1
    result = _run(tmp_path, models.conv_chain(), picture, srgb)
    assert result.tiling.resized_to == (32, 64) and result.clipped_pixels == 0
    assert not any("clipped by the sRGB transform" in n for n in result.notes)
    # Real HDR values are still counted, on the picture given: 12 pixels, whatever the resampling makes of them.
    picture[5:8, 30:34] = 3.0
    result = _run(tmp_path / "hdr", models.conv_chain(), picture, srgb)
    assert result.clipped_pixels == 12 and "12 pixels were outside [0, 1]" in " ".join(result.notes)


def _fixed_matte(size: int = 32):
    """mask_net with its input fixed to size x size, as a salient-object export (U2-Net at 320x320) is."""
    model = models.mask_net()
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = size
    return model


def test_a_fixed_size_matte_is_normalised_at_the_model_size_then_resized_back(tmp_path):
    """rembg's order: resize to the model, im / max(im), run, min-max at the model's size, resize the mask back."""
    from engine.inference.resize_fit import resample

    model = _fixed_matte()
    picture = 0.6 * synthetic_image(50, 70, seed=5)
    result = _run(tmp_path, model, picture, {**REMBG_LIKE, "fit": "resize"})
    assert result.tiling.resized_to == (32, 32)
    expected = resample(_rembg_way(model, resample(picture, 32, 32))[:, :, None], 50, 70)
    np.testing.assert_allclose(result.image, expected, atol=2e-5)
