"""How one image meets the model: whole, in tiles or resized (the `fit`), the tile shape and the overlap.

The overlap follows the model's measured receptive radius: with twice the radius, each tile's output is cut
in the middle of its overlaps (tiling.py's `axis_cuts`), so every kept pixel lies at least `radius` pixels
inside the tile that computed it and tiled equals whole-image with no tile covering more than it must.
Tiles are shaped to the image: per axis
the number of tiles is chosen first, then the smallest tile side covering the axis with that overlap, so
a 1080p frame is not covered 1.5 times by square tiles. Every tile of a run has one shape."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..json_values import Json
from ..model.contract import ContractError, ResizeRule
from ..model.records import ModelInfo
from ..options import Fit, FitChoice
from .resize_policy import Letterbox, letterbox, rule_size
from .tiling import round_up, tile_starts

UNMEASURED_OVERLAP = 32
"""The overlap for a model whose receptive radius was not measured (a description cached before it was)."""


@dataclass(frozen=True, kw_only=True)
class TilingReport:
    """What a run did with the image: the fit chosen and why, the tiles, and what they cost."""

    fit: FitChoice
    requested: Fit
    reason: str
    tiles: int
    grid: tuple[int, int]
    """Rows and columns of tiles."""
    tile_shape: tuple[int, int]
    """Height and width of each model run's input."""
    overlap: int
    covered_ratio: float
    """Pixels the model ran on / pixels of the image (1.0 for a whole-image run of an unpadded size)."""
    receptive_radius: int | str | None
    exact: bool
    """Tiled equals whole-image (within float rounding) by the windowing rule; True for one tile."""
    resized_to: tuple[int, int] | None = None
    """Height and width the image was resized to (the `resize` fit)."""
    seam_difference: float | None = None
    """Measured on a small crop when tiling is not exact: largest tiled vs whole-image difference."""
    letterbox: Letterbox | None = None
    """Where the resized picture sat in a letterboxed model input (the contract's `resize.letterbox`)."""

    def to_json(self) -> Json:
        return {
            "fit": str(self.fit),
            "requested_fit": str(self.requested),
            "reason": self.reason,
            "tiles": self.tiles,
            "grid": list(self.grid),
            "tile_shape": list(self.tile_shape),
            "overlap": self.overlap,
            "covered_ratio": round(self.covered_ratio, 4),
            "receptive_radius": self.receptive_radius,
            "exact": self.exact,
            "resized_to": None if self.resized_to is None else list(self.resized_to),
            "seam_difference": self.seam_difference,
            "letterbox": None if self.letterbox is None else self.letterbox.to_json(),
        }

    def text(self) -> str:
        """One line for a report or a log."""
        h, w = self.tile_shape
        if self.fit == FitChoice.RESIZE:
            rh, rw = self.resized_to or self.tile_shape
            shape = f"resized to {rw}x{rh}"
            if self.letterbox is not None:
                top, left = self.letterbox.offset
                shape += f" in a {w}x{h} letterbox at x {left}, y {top}"
        elif self.tiles == 1:
            shape = f"whole image ({w}x{h})"
        else:
            shape = f"{self.tiles} tiles of {w}x{h} ({self.grid[0]}x{self.grid[1]}), overlap {self.overlap} px"
        return f"fit {self.fit}: {shape}, {self.covered_ratio:.2f}x the image's area; {self.reason}"


@dataclass(frozen=True)
class Plan:
    fit: FitChoice
    reason: str
    tile: tuple[int, int]
    overlap: int
    exact: bool
    resize_to: tuple[int, int] | None = None
    letterbox: Letterbox | None = None
    """Set when the resized picture is padded into a fixed-size input (the contract's letterbox rule)."""
    by_rule: bool = False
    """The size came from the contract's resize rule (the package's word), not from memory or the model's size."""


def needed_overlap(radius: int | str | None) -> int | None:
    """Overlap that makes tiling exact for `radius`; None when no overlap can (a global model)."""
    if radius is None:
        return UNMEASURED_OVERLAP
    if isinstance(radius, str):
        return None
    return exact_overlap(radius)


def exact_overlap(radius: int) -> int:
    """Both tiles' invalid margins, the radius each: cut in the middle, each side keeps only pixels that saw
    their whole neighbourhood. The radius is measured to a relative change of 1e-6 (receptive_field.py), so a
    model that reaches a little further changes a kept pixel by less than that."""
    return 2 * radius


def stitches_exactly(radius: int | str | None, overlap: int) -> bool:
    """Tiles are cut and stitched (exact) when the overlap covers both margins; otherwise they are blended with
    soft windows, the least visible seam when exactness is out of reach (a global model, an unmeasured radius, a
    user's smaller overlap)."""
    return isinstance(radius, int) and overlap >= exact_overlap(radius)


def axis_tiles(length: int, max_tile: int, overlap: int, multiple: int = 1) -> tuple[int, int]:
    """(tile count, tile side) along one axis of `length` (a multiple of `multiple`): the fewest tiles of
    at most `max_tile`, then the smallest side (a multiple of `multiple`) that covers the axis with them."""
    if max_tile >= length:
        return 1, length
    count = len(tile_starts(length, max_tile, overlap, multiple))
    side = min(max_tile, round_up(math.ceil((length + (count - 1) * overlap) / count), multiple))
    # Windows need the tile to hold both of its ramps (see the clamp in the pipeline).
    side = max(side, min(max_tile, round_up(2 * overlap, multiple)))
    while len(tile_starts(length, side, overlap, multiple)) > count and side + multiple <= max_tile:
        side += multiple
    return len(tile_starts(length, side, overlap, multiple)), side


def _why_not_exact(radius: int | str | None, overlap: int) -> str:
    """Why tiles cannot match the whole image, as the end of a sentence about the model."""
    if isinstance(radius, str):
        return "sees the whole image (global pooling, normalization or attention over pixels)"
    need = exact_overlap(radius or 0)
    return f"has a receptive radius of {radius} px, which needs an overlap of {need} px, more than {overlap}"


def _resize_size(h: int, w: int, limit: tuple[int, int], multiple: int) -> tuple[int, int]:
    """The image's aspect, shrunk to the pixels one run may hold."""
    factor = min(1.0, math.sqrt(limit[0] * limit[1] / (h * w)))
    return (
        max(multiple, int(h * factor) // multiple * multiple),
        max(multiple, int(w * factor) // multiple * multiple),
    )


def plan_fit(
    info: ModelInfo,
    h: int,
    w: int,
    requested: Fit,
    overlap: int | None,
    limit: tuple[int, int],
    rule: ResizeRule | None = None,
) -> Plan:
    """Choose how an `h` x `w` image runs. `limit` is the largest tile one run may take (memory or the
    user's tile size); `overlap` None is automatic (from the receptive radius). A contract's resize `rule` decides
    alone unless tiles were asked for: the package feeds its model that way, whatever the image's size."""
    if rule is not None and requested != Fit.TILE:
        return _rule_plan(info, h, w, rule)
    m = info.size_multiple
    radius = info.receptive_radius
    needed = needed_overlap(radius)
    ph, pw = round_up(h, m), round_up(w, m)
    if info.fixed_size:
        fh, fw = info.fixed_size
        fits = h <= fh and w <= fw
        max_tile = (fh, fw)
    else:
        fits = ph <= limit[0] and pw <= limit[1]
        max_tile = limit
    whole_reason = "the image fits the model's input" if info.fixed_size else "the image fits in memory whole"
    if fits:
        return Plan(
            FitChoice.WHOLE,
            whole_reason,
            (max(ph, max_tile[0]), max(pw, max_tile[1])) if info.fixed_size else (ph, pw),
            0,
            True,
        )
    if requested == Fit.RESIZE:
        return _resize_plan(info, h, w, limit, "resize was asked for")
    half = min(max_tile) // 2
    exact_possible = needed is not None and needed <= half
    if requested == Fit.AUTO and not exact_possible:
        if info.fixed_size:
            why = f"the model takes {info.fixed_size[1]}x{info.fixed_size[0]} only and "
        else:
            limit_text = f"{max_tile[1]}x{max_tile[0]}"
            why = f"the image is too large to run whole and, with tiles of at most {limit_text}, the model "
        return _resize_plan(info, h, w, limit, why + _why_not_exact(radius, half) + ": tiles would show seams")
    used = overlap if overlap is not None else min(needed if needed is not None else half, half)
    used = min(round_up(used, m), half // m * m) if m > 1 else min(used, half)
    if info.fixed_size:
        tile = max_tile
    else:
        rows, tile_h = axis_tiles(ph, max_tile[0], used, m)
        cols, tile_w = axis_tiles(pw, max_tile[1], used, m)
        tile = (tile_h, tile_w)
    used = min(used, tile[0] // 2, tile[1] // 2)
    return Plan(FitChoice.TILE, _tile_reason(radius, needed, used), tile, used, needed is not None and needed <= used)


def _tile_reason(radius: int | str | None, needed: int | None, used: int) -> str:
    """Why a tile plan is (or is not) seamless, in words."""
    if needed is None or needed > used:
        return "tiles were asked for, but the model " + _why_not_exact(radius, used)
    if radius is None:
        return "too large to run whole; receptive field not measured (prepare the model again to measure it)"
    return f"too large to run whole; the model sees {radius} px around each pixel, so {used} px of overlap is seamless"


def _resize_plan(info: ModelInfo, h: int, w: int, limit: tuple[int, int], reason: str) -> Plan:
    if info.fixed_size:
        size = (info.fixed_size[0], info.fixed_size[1])
    else:
        size = _resize_size(h, w, limit, info.size_multiple)
    return Plan(FitChoice.RESIZE, reason, size, 0, True, resize_to=size)


def _rule_plan(info: ModelInfo, h: int, w: int, rule: ResizeRule) -> Plan:
    """The contract's resize rule applied: one run at the rule's size (a multiple of the model's, padded if not),
    or letterboxed into the model's fixed size."""
    reason = f"the contract's resize rule: {rule.text()}"
    if rule.letterbox:
        if not info.fixed_size:
            raise ContractError(
                "contract resize.letterbox fills a fixed-size input; this model takes any size: use "
                "resize.short_side_min, long_side_max or multiple"
            )
        canvas = (info.fixed_size[0], info.fixed_size[1])
        box = letterbox(rule, canvas, h, w)
        return Plan(FitChoice.RESIZE, reason, canvas, 0, True, resize_to=box.scaled, letterbox=box, by_rule=True)
    if info.fixed_size:
        raise ContractError(
            f"contract resize ({rule.text()}) needs a model that takes any size; this one takes only "
            f"{info.fixed_size[1]}x{info.fixed_size[0]}: use resize.letterbox"
        )
    size = rule_size(rule, h, w)
    tile = (round_up(size[0], info.size_multiple), round_up(size[1], info.size_multiple))
    return Plan(FitChoice.RESIZE, reason, tile, 0, True, resize_to=size, by_rule=True)
