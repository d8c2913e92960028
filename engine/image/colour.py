"""Scene-linear <-> sRGB transfer functions, and moving linear colour between the working spaces (the contract's
value mapping is in normalize.py)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..options import WorkingSpace

Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
"""A 3x3 matrix, rows applied to a column (r, g, b)."""

_IDENTITY: Matrix = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))

# RGB -> XYZ from each space's primaries and white, then XYZ -> Rec.709, as Blender's OCIO config defines them
# (datafiles/colormanagement/config.ocio): Rec.709 and Rec.2020 share D65 white; ACEScg's ACES white
# (0.32168, 0.33767) is Bradford-adapted to D65 ("ACES-AP1_to_CIE-XYZ-D65_BFD"). tests/engine/image/test_colour.py
# derives them again from the primaries; tests/blender/test_working_space.py checks them against Blender's own
# conversion.
TO_REC709: dict[WorkingSpace, Matrix] = {
    WorkingSpace.REC709: _IDENTITY,
    WorkingSpace.REC2020: (
        (1.6604910021, -0.5876411388, -0.0728498633),
        (-0.1245504745, 1.1328998971, -0.0083494226),
        (-0.0181507634, -0.1005788980, 1.1187296614),
    ),
    WorkingSpace.ACESCG: (
        (1.7050509927, -0.6217921207, -0.0832588720),
        (-0.1302564175, 1.1408047366, -0.0105483191),
        (-0.0240033568, -0.1289689761, 1.1529723329),
    ),
}
"""Linear colour in a working space -> linear Rec.709."""
FROM_REC709: dict[WorkingSpace, Matrix] = {
    WorkingSpace.REC709: _IDENTITY,
    WorkingSpace.REC2020: (
        (0.6274038959, 0.3292830384, 0.0433130657),
        (0.0690972894, 0.9195403951, 0.0113623156),
        (0.0163914389, 0.0880133079, 0.8955952532),
    ),
    WorkingSpace.ACESCG: (
        (0.6130974024, 0.3395231462, 0.0473794514),
        (0.0701937225, 0.9163538791, 0.0134523985),
        (0.0206155929, 0.1095697729, 0.8698146342),
    ),
}
"""Linear Rec.709 -> linear colour in a working space (each the inverse of its TO_REC709)."""


def linear_to_srgb(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055).astype(
        np.float32
    )


def srgb_to_linear(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.where(x <= 0.04045, x / 12.92, np.power((np.maximum(x, 0.04045) + 0.055) / 1.055, 2.4)).astype(np.float32)


def to_rec709(image: NDArray[np.float32], space: WorkingSpace) -> NDArray[np.float32]:
    """HxWxC scene-linear pixels in `space` -> linear Rec.709 (see `_convert`)."""
    return _convert(image, TO_REC709[WorkingSpace(space)])


def from_rec709(image: NDArray[np.float32], space: WorkingSpace) -> NDArray[np.float32]:
    """HxWxC linear Rec.709 pixels -> scene-linear in `space` (see `_convert`)."""
    return _convert(image, FROM_REC709[WorkingSpace(space)])


def _convert(image: NDArray[np.float32], matrix: Matrix) -> NDArray[np.float32]:
    """The first three channels through `matrix`, the others (alpha) kept, in a new float32 array. `image` itself
    comes back when nothing would change: the identity (Rec.709 to Rec.709), and grey images (1 or 2 channels),
    which every working space keeps as they are, since they all share one white."""
    if matrix == _IDENTITY or image.ndim != 3 or image.shape[2] < 3:
        return image
    out = np.empty(image.shape, np.float32)
    # One matrix product per row of pixels; alpha is premultiplied colour's scale, which a linear map keeps.
    np.matmul(image[:, :, :3], np.asarray(matrix, np.float32).T, out=out[:, :, :3])
    out[:, :, 3:] = image[:, :, 3:]
    return out
