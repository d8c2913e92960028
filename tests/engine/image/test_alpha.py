"""Straight-alpha files: premultiplied on the way in (engine/image/alpha.py), straight again on the way out."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from engine.image.files import read_image, write_image
from tests import models
from tests.helpers import ROOT

MAGENTA = (1.0, 0.0, 1.0)


def straight_png(path, size=32):
    """An 8-bit RGBA PNG as paint programs write it: magenta hidden under alpha 0 in the outer ring, an
    opaque orange centre and a soft (alpha 0.5) ring between them."""
    import OpenImageIO as oiio

    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[:, :, :3] = np.array(MAGENTA) * 255
    rgba[8:-8, 8:-8] = (255, 128, 0, 128)  # soft ring: straight orange at alpha 0.5
    rgba[12:-12, 12:-12] = (255, 128, 0, 255)
    out = oiio.ImageOutput.create(str(path))
    spec = oiio.ImageSpec(size, size, 4, "uint8")
    spec.attribute("oiio:UnassociatedAlpha", 1)
    assert out.open(str(path), spec) and out.write_image(rgba)
    out.close()
    return path


def test_straight_png_is_premultiplied_on_read_and_straight_on_write(tmp_path):
    image = read_image(straight_png(tmp_path / "a.png"))
    assert np.all(image[0, 0] == 0.0)  # hidden magenta is gone: (0,0,0,0), as Blender's PNG->EXR gives
    alpha = image[10, 10, 3]
    assert abs(alpha - 128 / 255) < 1e-6
    np.testing.assert_allclose(image[10, 10, 0], alpha, atol=1e-6)  # colour 1.0 premultiplied by alpha
    write_image(tmp_path / "b.png", image)
    import OpenImageIO as oiio

    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(str(tmp_path / "b.png"), config)
    stored = np.asarray(inp.read_image("uint8"))
    inp.close()
    assert tuple(stored[10, 10]) == (255, 128, 0, 128)  # straight again in the file
    np.testing.assert_allclose(read_image(tmp_path / "b.png"), image, atol=2e-3)


def test_cli_upscale_of_straight_png_has_no_colour_under_alpha_zero(tmp_path):
    model = models.save(models.blur_x2(), tmp_path / "blur.onnx")
    src = straight_png(tmp_path / "a.png")
    out = tmp_path / "up.exr"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(model), str(src), str(out), "--cache-dir", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    result = read_image(out)
    assert result.shape == (64, 64, 4)
    np.testing.assert_allclose(result[:10, :10], 0.0, atol=1e-6)  # no magenta glow in the transparent corner
    # Just inside the soft ring, next to transparent pixels: no colour is brighter than its alpha allows
    # (premultiplied), and no blue from the hidden magenta came in.
    edge = result[16:20, 24:40]
    assert np.all(edge[:, :, :3] <= edge[:, :, 3:4] + 1e-5)
    assert np.all(edge[:, :, 2] < 1e-6)
