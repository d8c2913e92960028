"""`output.as: alpha` (issue 28 item 5): the source's colour with the model's one-channel output as its alpha,
premultiplied inside the engine (image/alpha.py), straight in the files that store it straight (PNG), premultiplied
in EXR."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from engine.errors import ModelError
from engine.image.colour import linear_to_srgb
from engine.image.files import read_image, write_image
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT, run_with_contract

CPU = SessionSettings(provider="cpu")
AS_ALPHA = {"output": {"as": "alpha"}}


def _mask(model, rgb: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], np.float32)})[0][0, 0]


_run = run_with_contract


def test_the_source_colour_gets_the_matte_as_alpha(tmp_path):
    model = models.mask_net()
    source = 2.0 * synthetic_image(24, 32, seed=1)  # HDR colour is kept: only the matte comes from the model
    matte = _mask(model, source)
    out = _run(tmp_path, model, source, AS_ALPHA).image
    assert out.shape == (24, 32, 4) and matte.std() > 0.05
    np.testing.assert_allclose(out[:, :, 3], matte, atol=1e-5)
    np.testing.assert_allclose(out[:, :, :3], source * matte[:, :, None], rtol=1e-5, atol=1e-5)


def test_a_source_with_alpha_keeps_its_own_transparency(tmp_path):
    model = models.mask_net()
    rgb = synthetic_image(16, 16, seed=2)
    alpha = np.linspace(0.2, 1.0, 16 * 16, dtype=np.float32).reshape(16, 16)
    source = np.concatenate([rgb * alpha[:, :, None], alpha[:, :, None]], axis=2)  # premultiplied, as the engine's
    matte = _mask(model, rgb * alpha[:, :, None])
    out = _run(tmp_path, model, source, AS_ALPHA).image
    np.testing.assert_allclose(out[:, :, 3], alpha * matte, atol=1e-5)
    np.testing.assert_allclose(out[:, :, :3], source[:, :, :3] * matte[:, :, None], atol=1e-5)


def test_blender_rgba_is_rows_bottom_up_with_the_matte(tmp_path):
    model, source = models.mask_net(), synthetic_image(12, 20, seed=3)
    out = _run(tmp_path, model, source, AS_ALPHA, blender_rgba=True).image
    matte = _mask(model, source)
    np.testing.assert_allclose(out[::-1, :, 3], matte, atol=1e-5)
    np.testing.assert_allclose(out[::-1, :, :3], source * matte[:, :, None], atol=1e-5)


def test_a_colour_output_cannot_be_alpha(tmp_path):
    with pytest.raises(ModelError, match=r"output\.as alpha needs a one-channel output; 'y' has 3 channels"):
        _run(tmp_path, models.conv_chain(), synthetic_image(8, 8), AS_ALPHA)


def test_cli_writes_straight_alpha_png_and_premultiplied_exr(tmp_path):
    import OpenImageIO as oiio

    model = models.mask_net()
    path = models.save(model, tmp_path / "m.onnx")
    source = synthetic_image(20, 28, seed=4)
    write_image(tmp_path / "in.exr", source)
    matte = _mask(model, source)
    for name in ("out.png", "out.exr"):
        args = ["run", path, tmp_path / "in.exr", tmp_path / name, "--provider", "cpu", "--cache-dir", tmp_path / "c"]
        done = subprocess.run(
            [sys.executable, "-m", "engine", *map(str, args), "--output-as", "alpha"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["output"].endswith(name)
    exr = read_image(tmp_path / "out.exr")
    np.testing.assert_allclose(exr[:, :, :3], source * matte[:, :, None], atol=1e-5)
    np.testing.assert_allclose(exr[:, :, 3], matte, atol=1e-5)
    # The PNG as stored: the source's display colour, straight, and the matte (16-bit codes).
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)  # as stored, not premultiplied on reading
    stored = oiio.ImageInput.open(str(tmp_path / "out.png"), config)
    raw = stored.read_image(0, 0, 0, 4, "float")
    stored.close()
    np.testing.assert_allclose(raw[:, :, 3], matte, atol=1e-4)
    np.testing.assert_allclose(raw[:, :, :3], linear_to_srgb(source), atol=2e-3)
