"""A model file as `info` prints it and Blender shows it: loaded, its IR version lowered where onnxruntime needs it,
the contract's declarations applied (model.declared_shape), then described (model.describe)."""

from __future__ import annotations

import os
from dataclasses import replace

from .contract import ModelContract
from .declared_shape import apply_declarations
from .describe import describe_model
from .records import ModelInfo


def inspect_model(path: str | os.PathLike[str], contract: ModelContract | None = None) -> ModelInfo:
    """Load, declare and describe a model file; the IR and declaration notes join the description's warnings.

    Raises: ModelError when the file cannot be read, loaded or run on images (ContractError: the contract's
    shapes do not fit it)."""
    from .onnx_io import clamp_ir_version, load_model

    contract = contract or ModelContract()
    model = load_model(path)
    warnings = clamp_ir_version(model) + apply_declarations(model, contract)
    info = describe_model(model, contract.constant_values)
    return replace(info, warnings=(*info.warnings, *warnings))
