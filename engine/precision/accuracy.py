"""The one accuracy rule for every reduced precision (fp16, mixed, int8): how far a converted model's output is
from the fp32 reference on the same input, measured as a viewer sees it, and whether that is close enough.

The figures are taken in *display units*: the output is mapped the contract's way back to picture values, then
put on the scale a display shows (0 black, 1 white, so 1/255 is one 8-bit level). A linear error means little on
its own: 0.004 is invisible in a highlight and thirteen 8-bit levels in the darks, where the sRGB curve is steep
and where reduced precision (int8's 256 levels over an output's range above all) goes wrong first."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..image.colour import linear_to_srgb
from ..image.normalize import compress_highlights, decode
from ..model.contract import TensorContract
from ..options import Layout


class OutputKind(StrEnum):
    """How an output is judged."""

    PICTURE = "picture"
    """Colour (or any several-channel image): compared in display units."""
    MASK = "mask"
    """One channel (a matte, mask or detection map): compared as values, and thresholded masks by IoU."""
    VALUES = "values"
    """Not an image (a vector, a feature map): compared as values."""


@dataclass(frozen=True, kw_only=True)
class AccuracyRule:
    """Thresholds of the rule; a reduced-precision output passes when every figure is within them and no value is
    NaN or Inf. README's "The accuracy rule" gives the reasons; the defaults are the rule."""

    min_psnr_db: float = 40.0
    """PSNR in display units (peak 1): at 40 dB the root-mean-square error is 2.6 8-bit levels, the point where
    differences stop being visible on natural images (a high-quality JPEG sits near it). fp16 gives 70-100 dB."""
    max_p999_error: float = 4 / 255
    """The 99.9th percentile of the absolute error in display units: at most 0.1% of the values (about 2,000
    pixels of a 1080p frame) may be more than four 8-bit levels off. PSNR averages a cluster of wrong pixels away
    (banding in one dark corner, a text edge); this does not."""
    min_mask_iou: float = 0.99
    """For one-channel outputs: IoU of the masks thresholded at `mask_threshold`, fp32's against the other's: a
    matte or detection map whose decisions differ on more than 1% of the selected area cuts differently."""
    mask_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not (self.max_p999_error >= 0 and 0 <= self.min_mask_iou <= 1):
            raise ValueError(f"max_p999_error must be 0 or more and min_mask_iou in [0, 1], not {self}")

    def failures(self, acc: Accuracy) -> list[str]:
        """Each figure outside its threshold, in words; empty when the output passes."""
        if acc.nonfinite_count:
            return [f"{acc.nonfinite_count} output values are NaN or Inf"]
        said = []
        if acc.psnr_db < self.min_psnr_db:
            said.append(f"PSNR {acc.psnr_db:.1f} dB (at least {self.min_psnr_db:g})")
        if acc.p999_abs_error > self.max_p999_error:
            said.append(f"99.9th percentile error {acc.p999_abs_error:.3g} (at most {self.max_p999_error:.3g})")
        if acc.mask_iou is not None and acc.mask_iou < self.min_mask_iou:
            said.append(f"mask IoU {acc.mask_iou:.3f} (at least {self.min_mask_iou:g})")
        return said

    def text(self) -> str:
        return (
            f"PSNR at least {self.min_psnr_db:g} dB and 99.9th percentile error at most {self.max_p999_error:.3g} in "
            f"display units, mask IoU at least {self.min_mask_iou:g}, no NaN or Inf"
        )

    def to_json(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class OutputView:
    """How an output tensor is read as what it delivers: its layout (None: not an image), the contract's mapping
    back to picture values, and how it is judged."""

    name: str = ""
    """The output compared; empty: the first."""
    layout: Layout | None = Layout.NCHW
    contract: TensorContract = field(default_factory=TensorContract)
    kind: OutputKind = OutputKind.PICTURE


def display_units(picture: NDArray[np.float32]) -> NDArray[np.float32]:
    """Scene-linear picture values as a display shows them: the engine's highlight shoulder (values above 1 rolled
    off under 1, so a highlight's error counts as much as a viewer sees of it), then the sRGB encoding (whose steep
    toe is where linear errors show). Negative values are mirrored, so a signed output is judged on both sides."""
    x = np.asarray(picture, np.float32)
    shown: NDArray[np.float32] = np.sign(x) * linear_to_srgb(compress_highlights(np.abs(x)))
    return shown


def delivered(values: NDArray[np.generic], view: OutputView) -> NDArray[np.float64]:
    """An output tensor on the scale it is judged on (see OutputView), float64."""
    array = np.asarray(values, np.float32)
    if array.ndim == 3 and view.layout is not None:
        array = array[None]  # one picture, without its batch axis (run_image's result)
    if view.layout is None or array.ndim != 4:
        return array.astype(np.float64)
    hwc = array.transpose(0, 2, 3, 1) if view.layout == Layout.NCHW else array
    n, h, w, c = hwc.shape
    picture = decode(hwc.reshape(n * h, w, c), view.contract)
    if view.kind == OutputKind.PICTURE:
        picture = display_units(picture)
    return picture.astype(np.float64)


@dataclass(frozen=True, kw_only=True)
class Accuracy:
    """The figures of one comparison, in the units of its kind (display units for pictures)."""

    kind: OutputKind = OutputKind.PICTURE
    max_abs_error: float
    """Display units for pictures; for masks and values, relative to max(1, the reference's largest magnitude)."""
    mean_abs_error: float
    p999_abs_error: float
    """The 99.9th percentile of the absolute error."""
    psnr_db: float
    """Peak 1 on the errors' scale (above)."""
    mask_iou: float | None = None
    """Masks only: IoU of the thresholded masks (1.0 when neither has a pixel above the threshold)."""
    nonfinite_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": str(self.kind)}


def _iou(reference: NDArray[np.float64], output: NDArray[np.float64], threshold: float) -> float:
    a, b = reference > threshold, output > threshold
    union = int((a | b).sum())
    return 1.0 if union == 0 else float((a & b).sum()) / union


def compare(
    reference: NDArray[np.generic],
    output: NDArray[np.generic],
    view: OutputView | None = None,
    rule: AccuracyRule | None = None,
) -> Accuracy:
    """The figures of `output` against `reference` (same shape), both read through `view` (default: an NCHW picture
    with the identity contract); `rule` gives the mask threshold."""
    view = view or OutputView(layout=None, kind=OutputKind.VALUES)
    rule = rule or AccuracyRule()
    nonfinite = int(np.size(output) - np.isfinite(output).sum())
    if nonfinite:
        inf = float("inf")
        return Accuracy(kind=view.kind, max_abs_error=inf, mean_abs_error=inf, p999_abs_error=inf, psnr_db=0.0,
                        nonfinite_count=nonfinite)  # fmt: skip
    ref, out = delivered(reference, view), delivered(output, view)
    diff = np.abs(out - ref)
    if not diff.size:
        return Accuracy(kind=view.kind, max_abs_error=0.0, mean_abs_error=0.0, p999_abs_error=0.0, psnr_db=np.inf)
    if view.kind != OutputKind.PICTURE:
        # Values are judged relative to the reference's largest magnitude when it is beyond 1 (a depth map in
        # metres, a feature map): an error of 0.05 on values of 100 is not one of 0.05 on a 0-1 matte.
        diff = diff / max(1.0, float(np.abs(ref).max()))
    mse = float(np.mean(diff**2))
    return Accuracy(
        kind=view.kind,
        max_abs_error=float(diff.max()),
        mean_abs_error=float(diff.mean()),
        p999_abs_error=float(np.percentile(diff, 99.9)),
        psnr_db=float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse)),
        mask_iou=_iou(ref, out, rule.mask_threshold) if view.kind == OutputKind.MASK else None,
    )


def picture_view(channels: int) -> OutputView:
    """A decoded HxWxC picture (run_image's result, mapped already): judged as a picture, or as a mask when it has
    one channel."""
    kind = OutputKind.MASK if channels == 1 else OutputKind.PICTURE
    return OutputView(layout=Layout.NHWC, kind=kind)


def compare_images(
    reference: NDArray[np.float32],
    output: NDArray[np.float32],
    *,
    kind: OutputKind | None = None,
    rule: AccuracyRule | None = None,
) -> Accuracy:
    """The figures of `output` against `reference`, two HxWxC results of `run_image` of the same shape (one model's
    fp32 and reduced-precision runs, say): judged as the accuracy rule judges a delivered picture, or as a mask when
    it has one channel, unless `kind` says how (VALUES: plain values, for data such as depth or normals).
    `rule.failures(...)` of the result says whether it passes; `rule` here gives the mask threshold."""
    if kind == OutputKind.VALUES:
        view = OutputView(layout=None, kind=kind)
    elif kind is not None:
        view = OutputView(layout=Layout.NHWC, kind=kind)
    else:
        view = picture_view(reference.shape[2] if reference.ndim == 3 else 1)
    return compare(reference, output, view, rule)
