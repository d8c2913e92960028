"""Images too large for this machine are refused before decoding (issue 16, item 12)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ImageError
from engine.image import limits
from engine.image.files import read_layers, write_image


def test_image_larger_than_available_memory_is_refused_with_the_size_it_needs(tmp_path, monkeypatch):
    write_image(tmp_path / "big.png", np.zeros((256, 512, 3), np.float32))
    needed = limits.decode_bytes(512, 256, 3)
    monkeypatch.setattr(limits, "available_memory", lambda: needed - 1)
    with pytest.raises(ImageError, match=r"too large to read here: decoding it needs 3 MB, 3 MB is available"):
        read_layers(tmp_path / "big.png")
    monkeypatch.setattr(limits, "available_memory", lambda: needed)
    assert read_layers(tmp_path / "big.png")[""].shape == (256, 512, 3)
