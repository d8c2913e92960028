"""The second half of the accuracy gate: the first full output of a reduced-precision model compared
with fp32 on the same image, where running fp32 once more is recheck_affordable.

The conversion is validated on crops (and cached for later runs, possibly validated on another image);
this check judges the whole image actually being processed before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..errors import ConversionError
from ..inference.pipeline import run_image
from ..inference.settings import RunSettings
from ..options import Precision
from ..precision.accuracy import AccuracyRule, compare_images

if TYPE_CHECKING:
    from ..runtime.prepare import PreparedModel

RECHECK_PIXELS = 4_000_000
"""Images up to this size (about 2560x1560) are re-run in fp32 for the check; larger ones are not."""
RULE = AccuracyRule()
"""The accuracy rule every conversion is judged by (precision.accuracy), here on the whole delivered picture."""


def recheck_affordable(image: NDArray[np.float32]) -> bool:
    return image.shape[0] * image.shape[1] <= RECHECK_PIXELS


def fp32_reference(
    prepared: PreparedModel, sample: NDArray[np.float32] | None, *, prepare_fp32: Callable[[], PreparedModel]
) -> PreparedModel | None:
    """The one re-check policy (the command line, Blender's operators and the render post-process all call it):
    the first full output is compared with fp32 when the precision that *runs* is fp16 or mixed (the resolved one:
    `auto` that chose fp32 on a CPU runs the model once), the image is at hand and it is small enough to run
    twice. Returns the fp32 model to compare with (made by `prepare_fp32`), or None when nothing is re-checked.

    int8 is not re-checked: it was calibrated and judged on this very image when it was prepared (its cache key
    holds the image), so the reason for the re-check, a conversion cached after being judged on another image,
    does not hold; and running fp32 as well would cost more than int8 saves.

    Raises: what `prepare_fp32` raises (prepare_model's ModelError or ConversionError)."""
    if prepared.precision in (Precision.FP32, Precision.INT8) or sample is None or not recheck_affordable(sample):
        return None
    return prepare_fp32()


def recheck_against_fp32(
    reference: PreparedModel,
    image: NDArray[np.float32],
    extra: dict[str, NDArray[np.float32]] | None,
    output: NDArray[np.float32],
    settings: RunSettings,
    precision: str,
) -> None:
    """Raise ConversionError when `output` (the reduced-precision result for `image`) is outside the accuracy rule
    against the fp32 model `reference` on the same image."""
    expected = run_image(reference, image, extra=extra, settings=settings).image
    acc = compare_images(expected, output, rule=RULE)
    if failures := RULE.failures(acc):
        raise ConversionError(
            f"the {precision} model's output on this image differs from fp32 by up to {acc.max_abs_error:.3g} "
            f"({'; '.join(failures)}): nothing was written; use fp32, or amp validated on this image"
        )
