"""How one image is run (tiles, colour, binding): a light record that the Blender layer can import without
loading onnx or onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass

from ..model.contract import ModelContract, TensorContract
from ..options import ColorMode, Fit, WorkingSpace


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
    working_space: WorkingSpace = WorkingSpace.REC709
    """The colour space of the scene-linear pixels given and returned (Blender 5's working space, or the file's for
    the command line). Colour is converted from it to linear Rec.709, what the contract's `linear` and `srgb` mean,
    before the contract's mapping, and the result back into it after; `data_inputs` are never converted."""
    working_space_from_files: bool = False
    """True where nobody said the working space (the command line without --working-space): each EXR frame's own
    `colorInteropID` header rules, `working_space` stands for frames without one. False: `working_space` was said
    (Blender reads it from the open file, or the flag), and a frame whose header names another space is refused."""
    data_inputs: frozenset[str] = frozenset()
    """Model inputs given data, not colour (normal, position, depth passes; a Non-Color image): never converted
    between colour spaces. When the first image input is one, the result is data too."""
    use_binding: bool = True
    blender_rgba: bool = False
    """Return the result as Blender stores image pixels: RGBA, rows bottom-up, contiguous. The
    flip and the alpha channel then cost no pass of their own (they join the final copy)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "color", ColorMode(self.color))
        object.__setattr__(self, "working_space", WorkingSpace(self.working_space))
        object.__setattr__(self, "data_inputs", frozenset(self.data_inputs))
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

    def converts(self, input_name: str) -> bool:
        """Whether the image given to model input `input_name` (and, for the first input, the result) is moved
        between the working space and linear Rec.709: colour in a file whose working space is not Rec.709."""
        return self.working_space != WorkingSpace.REC709 and input_name not in self.data_inputs

    def effective_fit(self) -> Fit:
        """How the image is fitted to the model: this run's choice, else the contract's."""
        return self.fit if self.fit is not None else self.effective_contract().fit
