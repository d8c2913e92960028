import numpy as np
import pytest

from engine.image.channels import to_rgba


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("bottom_up", [False, True])
def test_to_rgba_in_row_bands_equals_the_one_pass_reference(channels, bottom_up):
    """A result large enough to be interleaved in parallel row bands (1100 rows: bands do not divide it evenly)
    gives exactly what one whole-image pass gives, with and without a separate alpha."""
    rng = np.random.default_rng(channels)
    colour = rng.random((1100, 1000, channels), dtype=np.float32)
    alpha = rng.random((1100, 1000), dtype=np.float32)
    for given in (None, alpha):
        expected = np.empty((1100, 1000, 4), np.float32)
        expected[:, :, :3] = colour[:, :, :1] if channels < 3 else colour[:, :, :3]
        expected[:, :, 3] = colour[:, :, channels - 1] if channels in (2, 4) else 1.0
        if given is not None:
            expected[:, :, 3] = given
        got = to_rgba(colour, given, bottom_up=bottom_up)
        assert got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected[::-1] if bottom_up else expected)
