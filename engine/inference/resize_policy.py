"""The contract's resize rules (`"resize": {...}`): how the `resize` fit sizes an image the way a model's own
package does. Text detectors run at "short side at least 736, each side a multiple of 32" or "long side at most
960, multiple of 32"; fixed-size models are letterboxed (scaled to fit, aspect ratio kept, the rest padded, the
result cropped back). Pure arithmetic on sizes: a plan made from a rule depends on the model, the image size and
the contract, never on memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..model.contract import ResizeRule


@dataclass(frozen=True, kw_only=True)
class Letterbox:
    """Where a letterboxed picture sits in the model's fixed-size input."""

    scaled: tuple[int, int]
    """Height and width the picture is resized to (its aspect ratio kept, within a pixel)."""
    offset: tuple[int, int]
    """Top and left of the picture in the input: centred, the odd pixel of padding at the bottom and right."""
    canvas: tuple[int, int]
    """The model's fixed input size."""
    pad: float
    """The padding's value in the model's input tensor (after range and mean/std)."""

    def to_json(self) -> list[int]:
        """[top, left, height, width] of the picture in the model's input."""
        return [*self.offset, *self.scaled]


def rule_size(rule: ResizeRule, h: int, w: int) -> tuple[int, int]:
    """The size an `h` x `w` image is resized to, with the packages' arithmetic (PaddleOCR's DetResizeForTest):
    ratio = short_side_min / short side when the short side is below it (long_side_max / long side when the long
    side is above it), else 1; each side int(side * ratio), then rounded to the nearest multiple (Python's round:
    halves to even), at least one multiple. Rounding may take a side up to multiple/2 past the limit, as theirs
    does."""
    ratio = 1.0
    if rule.short_side_min and min(h, w) < rule.short_side_min:
        ratio = rule.short_side_min / min(h, w)
    if rule.long_side_max and max(h, w) > rule.long_side_max:
        ratio = rule.long_side_max / max(h, w)
    m = rule.multiple
    return max(m, round(int(h * ratio) / m) * m), max(m, round(int(w * ratio) / m) * m)


def letterbox(rule: ResizeRule, canvas: tuple[int, int], h: int, w: int) -> Letterbox:
    """The picture scaled by r = min(canvas_h / h, canvas_w / w) (up or down) to (round(h r), round(w r)), centred:
    top = (canvas_h - scaled_h) // 2, left = (canvas_w - scaled_w) // 2."""
    ch, cw = canvas
    r = min(ch / h, cw / w)
    sh, sw = min(ch, max(1, round(h * r))), min(cw, max(1, round(w * r)))
    return Letterbox(scaled=(sh, sw), offset=((ch - sh) // 2, (cw - sw) // 2), canvas=canvas, pad=rule.pad)


def place(values: NDArray[np.float32], box: Letterbox, pad: float) -> NDArray[np.float32]:
    """HxWxC `values` (the scaled picture) on a canvas of the model's size filled with `pad`."""
    (top, left), (sh, sw) = box.offset, box.scaled
    canvas = np.full((*box.canvas, values.shape[2]), pad, np.float32)
    canvas[top : top + sh, left : left + sw] = values
    return canvas


def crop(values: NDArray[np.float32], box: Letterbox, scale: float) -> NDArray[np.float32]:
    """The part of a model output (`scale` x its input) that the picture's pixels made."""
    (top, left), (sh, sw) = box.offset, box.scaled
    return values[round(top * scale) : round((top + sh) * scale), round(left * scale) : round((left + sw) * scale)]
