"""Images too large for this machine are refused before decoding (issue 16, item 12)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ImageError
from engine.image import limits
from engine.image.files import read_layers, write_image


def test_image_larger_than_the_decode_budget_is_refused_with_the_size_it_needs(tmp_path, monkeypatch):
    write_image(tmp_path / "big.png", np.zeros((256, 512, 3), np.float32))
    needed = limits.decode_bytes(512, 256, 3)
    monkeypatch.setattr(limits, "decode_budget", lambda: needed - 1)
    with pytest.raises(ImageError, match=r"too large to read here: decoding it needs 9 MB, more than the 9 MB"):
        read_layers(tmp_path / "big.png")
    monkeypatch.setattr(limits, "decode_budget", lambda: needed)
    assert read_layers(tmp_path / "big.png")[""].shape == (256, 512, 3)


def test_a_16k_png_is_refused_before_decoding_on_a_machine_of_less_than_50_gb(tmp_path, monkeypatch):
    """Issue 25: a 16384x16384 8-bit PNG was estimated at 6.4 GB and passed 13.8 GB while decoding. The estimate
    now counts the copies reading makes (measured 5.4 at 4K) against half of a (here: 24 GB) machine's memory."""
    import OpenImageIO as oiio

    path = str(tmp_path / "huge.png")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, oiio.ImageSpec(16384, 16384, 4, "uint8"))
    row = np.zeros((16384, 4), np.uint8)
    for y in range(16384):  # a valid file without holding 1 GB of pixels here
        assert out.write_scanline(y, 0, row)
    out.close()
    monkeypatch.setattr(limits, "total_memory", lambda: 24 << 30)
    assert limits.decode_bytes(16384, 16384, 4) > limits.decode_budget()
    with pytest.raises(
        ImageError, match=r"huge.png is too large to read here: decoding it needs 24.0 GB, more than the 12.0 GB"
    ):
        read_layers(path)
