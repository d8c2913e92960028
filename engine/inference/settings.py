"""How one image is run (tiles, colour, binding): a light record that the Blender layer can import without
loading onnx or onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass

from ..model.contract import ModelContract, TensorContract
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
    fit: Fit | None = None
    """Whole, tiles or resize when the image does not fit (see tile_plan.py); None follows the contract's
    `fit` (auto unless the model says otherwise)."""
    color: ColorMode = ColorMode.LINEAR
    """The input's colour when no contract is given (with a contract, its `input.colour` rules)."""
    contract: ModelContract | None = None
    """What the model expects and returns (model/contract.py); None: 0-1 values in `color`, RGB."""
    use_binding: bool = True
    blender_rgba: bool = False
    """Return the result as Blender stores image pixels: RGBA, rows bottom-up, contiguous. The
    flip and the alpha channel then cost no pass of their own (they join the final copy)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "color", ColorMode(self.color))
        if self.fit is not None:
            object.__setattr__(self, "fit", Fit(self.fit))
        if self.tile < 0:
            raise ValueError(f"tile size must be 0 (automatic) or positive, not {self.tile}")
        if self.overlap is not None and self.overlap < 0:
            raise ValueError(f"tile overlap must be 0 or more, not {self.overlap}")

    def effective_contract(self) -> ModelContract:
        """The contract this run applies: the given one, or the defaults with `color`."""
        if self.contract is not None:
            return self.contract
        return ModelContract(input=TensorContract(colour=self.color))

    def effective_fit(self) -> Fit:
        """How the image is fitted to the model: this run's choice, else the contract's."""
        return self.fit if self.fit is not None else self.effective_contract().fit
