"""The contract's constants as feeds for a model's non-image inputs, and what a tile runner is keyed on."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError
from ..model.contract import ModelContract
from ..model.records import ModelInfo, constant_feed
from .run_state import RunnerKey
from .settings import RunSettings


def constant_feeds(info: ModelInfo, contract: ModelContract) -> dict[str, NDArray[np.generic]]:
    """One array per non-image input, from the contract's constants; an input without one is an error that
    names it."""
    constants = contract.constant_values
    missing = [t for t in info.other_inputs if t.name not in constants]
    if missing:
        t = missing[0]
        raise ModelError(
            f"model input '{t.name}' {list(t.shape)} is not an image and needs a value: set it in the contract's "
            f"constants (--const {t.name}=VALUE on the command line, or in the model panel's contract)"
        )
    return {t.name: constant_feed(t, constants[t.name]) for t in info.other_inputs}


def runner_key(tile: tuple[int, int], settings: RunSettings, output_name: str) -> RunnerKey:
    """Runners hold bound buffers and constants: one per tile, binding, result output and constants."""
    return (tile, settings.use_binding, output_name, settings.effective_contract().constants)
