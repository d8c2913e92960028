"""How one image is run (tiles, colour, binding): a light record that the Blender layer can import without
loading onnx or onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass

from ..image.colour import Normalization
from ..options import ColorMode, Fit


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """How one image is run: tiles, colour, binding. Checked on construction, so a bad value from a script or
    the command line is an error here, never a wrong image later."""

    tile: int = 0
    """Largest tile side in pixels; 0 chooses from the model and provider. Tiles are shaped to the image
    (never larger than this)."""
    overlap: int | None = None
    """Pixels shared by neighbouring tiles; None (automatic) follows the model's receptive radius so that
    tiled equals whole-image."""
    fit: Fit = Fit.AUTO
    """Whole, tiles or resize when the image does not fit (see tile_plan.py)."""
    color: ColorMode = ColorMode.LINEAR
    normalization: Normalization | None = None
    use_binding: bool = True
    blender_rgba: bool = False
    """Return the result as Blender stores image pixels: RGBA, rows bottom-up, contiguous. The
    flip and the alpha channel then cost no pass of their own (they join the final copy)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "color", ColorMode(self.color))
        object.__setattr__(self, "fit", Fit(self.fit))
        if self.tile < 0:
            raise ValueError(f"tile size must be 0 (automatic) or positive, not {self.tile}")
        if self.overlap is not None and self.overlap < 0:
            raise ValueError(f"tile overlap must be 0 or more, not {self.overlap}")
