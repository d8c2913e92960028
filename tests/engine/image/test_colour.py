"""The working-space matrices: derived again from the standard primaries, inverse pairs, white kept; and the
conversion of images (colour through the matrix, alpha and grey as they are)."""

import numpy as np
import pytest

from engine.image.colour import FROM_REC709, TO_REC709, from_rec709, to_rec709
from engine.options import WorkingSpace

D65 = (0.3127, 0.3290)
ACES_WHITE = (0.32168, 0.33767)
PRIMARIES = {
    WorkingSpace.REC709: (((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), D65),
    WorkingSpace.REC2020: (((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)), D65),
    WorkingSpace.ACESCG: (((0.713, 0.293), (0.165, 0.830), (0.128, 0.044)), ACES_WHITE),
}
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def _xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def _rgb_to_xyz(space: WorkingSpace) -> np.ndarray:
    """RGB -> XYZ from the primaries, scaled so that RGB white is the space's white (Y = 1)."""
    primaries, white = PRIMARIES[space]
    columns = np.stack([_xyz(*p) for p in primaries], axis=1)
    return columns * np.linalg.solve(columns, _xyz(*white))


def _adapt_to_d65(white: tuple[float, float]) -> np.ndarray:
    """Bradford chromatic adaptation from `white` to D65 (the CAT of Blender's ACEScg transform)."""
    source, target = BRADFORD @ _xyz(*white), BRADFORD @ _xyz(*D65)
    return np.linalg.inv(BRADFORD) @ np.diag(target / source) @ BRADFORD


@pytest.mark.parametrize("space", list(WorkingSpace))
def test_the_constants_are_the_standard_primaries_conversion(space):
    derived = np.linalg.inv(_rgb_to_xyz(WorkingSpace.REC709)) @ _adapt_to_d65(PRIMARIES[space][1]) @ _rgb_to_xyz(space)
    np.testing.assert_allclose(np.array(TO_REC709[space]), derived, atol=1e-9)
    np.testing.assert_allclose(np.array(FROM_REC709[space]), np.linalg.inv(derived), atol=1e-9)


@pytest.mark.parametrize("space", list(WorkingSpace))
def test_each_pair_is_inverse_and_keeps_white(space):
    to, back = np.array(TO_REC709[space]), np.array(FROM_REC709[space])
    np.testing.assert_allclose(to @ back, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(back @ to, np.eye(3), atol=1e-9)
    # White (and so every grey) is the same triple in every space: rows sum to one.
    np.testing.assert_allclose(to.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(back.sum(axis=1), 1.0, atol=1e-9)


def test_acescg_red_is_the_value_blender_gives():
    """Measured in bpy 5.0.1: Color((1, 0, 0)).from_scene_linear_to_rec709_linear() in an ACEScg file."""
    red = np.array([[[1.0, 0.0, 0.0]]], np.float32)
    np.testing.assert_allclose(to_rec709(red, WorkingSpace.ACESCG)[0, 0], (1.705051, -0.130256, -0.024003), atol=1e-5)


def test_images_convert_colour_and_keep_alpha_and_grey():
    rng = np.random.default_rng(0)
    rgba = rng.uniform(-0.5, 4.0, (5, 7, 4)).astype(np.float32)
    view = rgba[::-1]  # Blender's bottom-up rows come as a reversed view
    linear = to_rec709(view, WorkingSpace.REC2020)
    assert linear.dtype == np.float32 and linear.shape == view.shape and linear.flags.c_contiguous
    expected = np.einsum("ij,hwj->hwi", np.array(TO_REC709[WorkingSpace.REC2020]), view[:, :, :3])
    np.testing.assert_allclose(linear[:, :, :3], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(linear[:, :, 3], view[:, :, 3])  # alpha is not colour: copied as it is
    assert not np.allclose(linear[:, :, :3], view[:, :, :3], atol=1e-2)
    np.testing.assert_allclose(from_rec709(linear, WorkingSpace.REC2020), view, rtol=1e-5, atol=1e-5)
    assert to_rec709(view, WorkingSpace.REC709) is view  # nothing to do: no copy
    grey = rgba[:, :, :2]
    assert to_rec709(grey, WorkingSpace.ACESCG) is grey  # grey is grey in every space
