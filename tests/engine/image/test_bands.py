import numpy as np
import pytest

from engine.image.bands import PARALLEL_PIXELS, all_finite, contiguous_copy, in_bands

# Large enough to be split into bands on every core.
H, W = 1100, PARALLEL_PIXELS // 1000


def test_bands_cover_every_row_once_in_order():
    rows = in_bands(H, H * W, lambda top, end: (top, end))
    assert len(rows) > 1 and rows[0][0] == 0 and rows[-1][1] == H
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:], strict=False))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_one_bad_value_in_any_band(bad):
    image = np.random.default_rng(0).random((H, W, 3), dtype=np.float32)
    assert all_finite(image)
    for row in (0, H // 2, H - 1):
        broken = image.copy()
        broken[row, W - 1, 2] = bad
        assert not all_finite(broken)
    assert all_finite(np.zeros((0, 4, 3), np.float32))


def test_contiguous_copy_equals_numpy_on_a_flipped_strided_view():
    rgba = np.random.default_rng(1).random((H, W, 4), dtype=np.float32)
    view = rgba[::-1, :, :3]
    copied = contiguous_copy(view, np.dtype(np.float16))
    assert copied.flags.c_contiguous and copied.dtype == np.float16
    np.testing.assert_array_equal(copied, view.astype(np.float16))


def test_copy_channels_in_row_blocks_equals_numpy_from_planes(monkeypatch):
    import engine.image.bands as bands

    monkeypatch.setattr(bands, "BLOCK_BYTES", 3 * 37 * 4 * 5)  # 5 rows a block: blocks end mid-image
    planes = np.random.default_rng(2).random((3, 23, 37), dtype=np.float32)
    view = planes.transpose(1, 2, 0)  # a CPU model's NCHW output, as HxWxC
    out = np.zeros((23, 37, 3), np.float32)
    bands.copy_channels(out, view)
    np.testing.assert_array_equal(out, view)
    assert bands.contiguous_copy(view, np.dtype(np.float32)).flags.c_contiguous
