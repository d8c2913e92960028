"""The second half of the accuracy gate: the first full output of a reduced-precision model compared
with fp32 on the same image, where running fp32 once more is recheck_affordable.

The conversion is validated on crops (and cached for later runs, possibly validated on another image);
this check judges the whole image actually being processed before anything is written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConversionError
from ..inference.pipeline import RunSettings, run_image
from ..precision.accuracy import compare

if TYPE_CHECKING:
    from ..runtime.prepare import PreparedModel

RECHECK_PIXELS = 4_000_000
"""Images up to this size (about 2560x1560) are re-run in fp32 for the check; larger ones are not."""
RTOL = ATOL = 1e-2
"""ConversionOptions' default tolerance: the one the conversion was validated with."""


def recheck_affordable(image: np.ndarray) -> bool:
    return image.shape[0] * image.shape[1] <= RECHECK_PIXELS


def recheck_against_fp32(
    reference: PreparedModel,
    image: np.ndarray,
    extra: dict[str, np.ndarray] | None,
    output: np.ndarray,
    settings: RunSettings,
    precision: str,
) -> None:
    """Raise ConversionError when `output` (the reduced-precision result for `image`) is outside the
    tolerance of the fp32 model `reference` on the same image."""
    expected = run_image(reference, image, extra, settings).image
    acc = compare(expected, output)
    if not acc.within(RTOL, ATOL, expected, output):
        raise ConversionError(
            f"the {precision} model's output on this image differs from fp32 by up to {acc.max_abs_error:.3g} "
            f"(tolerance rtol {RTOL}, atol {ATOL}; PSNR {acc.psnr_db:.1f} dB): nothing was written; "
            "use fp32, or amp validated on this image"
        )
