"""Pictures to model tensors and back, the contract's way: colour (scene-linear or sRGB), value range,
mean/std and channel order (see model/contract.py)."""

from __future__ import annotations

import numpy as np

from ..model.contract import TensorContract
from ..options import ChannelOrder, ColorMode
from .colour import linear_to_srgb, srgb_to_linear


def _per_channel(values: tuple[float, ...]) -> np.ndarray:
    return np.asarray(values, np.float32)


def encode(picture: np.ndarray, contract: TensorContract) -> tuple[np.ndarray, int]:
    """HxWxC scene-linear picture -> HxWxC model values; returns (array, pixels clipped by the sRGB transform)."""
    clipped = 0
    x = picture
    if contract.colour == ColorMode.SRGB:
        # sRGB models were trained on display-referred [0, 1]; HDR values cannot be represented.
        clipped = int(((x < 0.0) | (x > 1.0)).any(axis=2).sum())
        x = linear_to_srgb(np.clip(x, 0.0, 1.0))
    if contract.order == ChannelOrder.BGR and x.shape[2] >= 3:
        x = np.concatenate([x[:, :, 2::-1], x[:, :, 3:]], axis=2)
    lo, hi = contract.range
    if (lo, hi) != (0.0, 1.0):
        x = x * np.float32(hi - lo) + np.float32(lo)
    if contract.mean != (0.0,) or contract.std != (1.0,):
        x = (x - _per_channel(contract.mean)) / _per_channel(contract.std)
    return np.asarray(x, np.float32), clipped


def decode(values: np.ndarray, contract: TensorContract) -> np.ndarray:
    """HxWxC model values -> HxWxC scene-linear picture: `encode` undone with the output's record."""
    x = values
    if contract.mean != (0.0,) or contract.std != (1.0,):
        x = x * _per_channel(contract.std) + _per_channel(contract.mean)
    lo, hi = contract.range
    if (lo, hi) != (0.0, 1.0):
        x = (x - np.float32(lo)) / np.float32(hi - lo)
    if contract.order == ChannelOrder.BGR and x.shape[2] >= 3:
        x = np.concatenate([x[:, :, 2::-1], x[:, :, 3:]], axis=2)
    if contract.colour == ColorMode.SRGB:
        x = srgb_to_linear(x)
    return np.asarray(x, np.float32)
