"""What an artist sees: straight-alpha images, the Render Result through run_image, the sidebar's truth."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.image.test_alpha import straight_png


@pytest.fixture(scope="module")
def blur_model(tmp_path_factory):
    from tests import models

    return str(models.save(models.blur_x2(), tmp_path_factory.mktemp("blur") / "blur_x2.onnx"))


def pixels(img) -> np.ndarray:
    w, h = img.size
    buf = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(buf)
    return buf.reshape(h, w, 4)[::-1]


def test_straight_png_gives_premultiplied_result_without_glow(bpy_data, blur_model, tmp_path):
    bpy = bpy_data
    img = bpy.data.images.load(str(straight_png(tmp_path / "paint.png")))
    assert not img.is_float and img.alpha_mode == "STRAIGHT"
    result = bpy.ops.onnx.run_image(image=img.name, model=blur_model, precision="FP32", provider="CPU")
    assert result == {"FINISHED"}
    out = bpy.data.images[f"{img.name} ONNX"]
    assert out.alpha_mode == "PREMUL"
    got = pixels(out)
    np.testing.assert_allclose(got[:10, :10], 0.0, atol=1e-6)  # (0,0,0,0) where alpha is 0: no magenta
    edge = got[16:20, 24:40]  # soft ring next to transparent pixels
    assert np.all(edge[:, :, :3] <= edge[:, :, 3:4] + 1e-5)  # not brighter than its alpha allows
    assert np.all(edge[:, :, 2] < 1e-6)  # no blue bled in from the hidden magenta
    assert abs(float(got[40, 40, 3]) - 128 / 255) < 1e-6
