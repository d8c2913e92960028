"""Pictures to model tensors and back, the contract's way: highlights (clipped or compressed), colour
(scene-linear or sRGB), the picture's own scale, value range, mean/std and channel order (see model/contract.py).

Input: tensor = ((encode(shoulder(picture)) / scale) scaled to range - mean) / std, channels in order.
Output: picture = shoulder^-1(decode((value * std + mean) scaled back from range, or min-max normalised)).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..model.contract import HdrMode, InputScale, OutputNormalize, TensorContract
from ..options import ChannelOrder, ColorMode
from .colour import linear_to_srgb, srgb_to_linear

HDR_KNEE = 0.8
"""Where `hdr: compress` starts rolling highlights off (scene-linear; 0.906 once sRGB-encoded). Below it a picture
reaches the model unchanged; above it the shoulder maps (0.8, inf) onto (0.8, 1), the 20% of the linear range (the
top 9% of sRGB codes) that a display-referred model sees as near-white."""


def compress_highlights(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """A fixed highlight shoulder for putting errors in display units (precision/accuracy.py): x below the knee k
    as it is; above it k + (1 - k) t / (1 + t) with t = (x - k) / (1 - k) (Reinhard's x / (1 + x) moved to the knee,
    slope 1 there), under 1 for every finite x. The same for every picture, so every model is judged alike; the
    `hdr: compress` mode fits its shoulder to each picture instead (`roll_off`)."""
    k = np.float32(HDR_KNEE)
    t = np.maximum(x - k, 0.0) / (1 - k)
    return np.where(x > k, k + (1 - k) * (t / (1 + t)), x).astype(np.float32)


def _shoulder_rate(ceiling: float) -> float:
    """The rate a of the shoulder that reaches 1 exactly at `ceiling` with slope 1 at the knee: a = ln(1 + a T),
    T = (ceiling - k) / (1 - k) (Newton's method; 0 when T <= 1: nothing above 1 to fold in, the curve is x)."""
    top = (max(ceiling, 1.0) - HDR_KNEE) / (1 - HDR_KNEE)
    if top <= 1.0 + 1e-6:
        return 0.0
    a = 2.0 * np.log(top)
    for _ in range(60):
        step = (a - np.log1p(a * top)) / (1 - top / (1 + a * top))
        a -= step
        if abs(step) < 1e-12:
            break
    return float(a)


def roll_off(x: NDArray[np.float32], ceiling: float) -> NDArray[np.float32]:
    """`hdr: compress` as encoded: x below the knee k as it is; above it k + (1 - k) ln(1 + a t) / a with
    t = (x - k) / (1 - k), the rate a chosen per picture so that its brightest value `ceiling` lands on 1 and the
    slope at the knee is 1 (`_shoulder_rate`). Logarithmic, the shoulder keeps the same relative resolution from the
    knee to the ceiling: rounded to fp16 (a GPU's reduced precision), a highlight of 150 comes back within 1 %,
    where a Reinhard shoulder over (0.8, 1) returned the ceiling (review finding)."""
    a = _shoulder_rate(ceiling)
    if a == 0.0:
        return np.asarray(x, np.float32)
    k = np.float32(HDR_KNEE)
    t = np.maximum(x - k, 0.0) / (1 - k)
    return np.where(x > k, k + (1 - k) * (np.log1p(np.float32(a) * t) / np.float32(a)), x).astype(np.float32)


def roll_back(y: NDArray[np.float32], ceiling: float) -> NDArray[np.float32]:
    """`roll_off` undone (in float64, on the pixels above the knee), held at most at `ceiling` (a model's 1.0 never
    comes back brighter than the brightest input)."""
    a = _shoulder_rate(ceiling)
    above = y > HDR_KNEE
    if a == 0.0 or not above.any():
        return np.minimum(np.asarray(y, np.float32), np.float32(max(ceiling, 1.0)))
    s = np.minimum((y[above].astype(np.float64) - HDR_KNEE) / (1 - HDR_KNEE), 1.0)
    out = np.array(y, np.float32, copy=True)
    out[above] = HDR_KNEE + (1 - HDR_KNEE) * np.expm1(a * s) / a
    return out


def out_of_range(picture: NDArray[np.float32], contract: TensorContract, tolerance: float = 0.0) -> int:
    """Pixels the input encoding will clip: outside [0, 1] (by more than `tolerance`) for an sRGB model, below 0
    only when highlights are compressed (the shoulder keeps every value under 1), none for a linear model."""
    if contract.colour != ColorMode.SRGB:
        return 0
    low = picture < -tolerance
    return int((low if contract.hdr == HdrMode.COMPRESS else low | (picture > 1.0 + tolerance)).any(axis=2).sum())


def _per_channel(values: tuple[float, ...]) -> NDArray[np.float32]:
    return np.asarray(values, np.float32)


def encode(
    picture: NDArray[np.float32], contract: TensorContract, count_clipped: bool = True, ceiling: float = 1.0
) -> tuple[NDArray[np.float32], int]:
    """HxWxC scene-linear picture -> HxWxC model values; returns (array, pixels clipped by the sRGB transform, or 0
    when not `count_clipped`: the pipeline counts on the picture given, before resampling). `ceiling`: the whole
    picture's brightest value, where compressed highlights reach 1 (`roll_off`)."""
    clipped = 0
    x = picture
    if contract.hdr == HdrMode.COMPRESS:
        x = roll_off(x, ceiling)
    if contract.colour == ColorMode.SRGB:
        # sRGB models were trained on display-referred [0, 1]; HDR values cannot be represented (unless compressed).
        clipped = out_of_range(picture, contract) if count_clipped else 0
        x = linear_to_srgb(np.clip(x, 0.0, 1.0))
    if contract.scale == InputScale.IMAGE_MAX:
        # The whole picture's largest value (encode sees the whole image, before tiling), as `im / max(im)`.
        peak = float(x.max())
        x = x / np.float32(peak) if peak > 0 else x
    if contract.order == ChannelOrder.BGR and x.shape[2] >= 3:
        x = np.concatenate([x[:, :, 2::-1], x[:, :, 3:]], axis=2)
    lo, hi = contract.range
    if (lo, hi) != (0.0, 1.0):
        x = x * np.float32(hi - lo) + np.float32(lo)
    if contract.mean != (0.0,) or contract.std != (1.0,):
        x = (x - _per_channel(contract.mean)) / _per_channel(contract.std)
    return np.asarray(x, np.float32), clipped


def decode(values: NDArray[np.float32], contract: TensorContract, ceiling: float = 1.0) -> NDArray[np.float32]:
    """HxWxC model values -> HxWxC scene-linear picture: `encode` undone with the output's record. `values` must be
    the whole output (min-max normalisation takes the extremes of what it is given); `ceiling` is the brightest
    input value, where compressed highlights stop (`roll_back`)."""
    x = values
    if contract.mean != (0.0,) or contract.std != (1.0,):
        x = x * _per_channel(contract.std) + _per_channel(contract.mean)
    lo, hi = contract.range
    if contract.normalize == OutputNormalize.MINMAX:
        lo, hi = float(x.min()), float(x.max())
        x = (x - np.float32(lo)) / np.float32(hi - lo) if hi > lo else np.zeros_like(x)
    elif (lo, hi) != (0.0, 1.0):
        x = (x - np.float32(lo)) / np.float32(hi - lo)
    if contract.order == ChannelOrder.BGR and x.shape[2] >= 3:
        x = np.concatenate([x[:, :, 2::-1], x[:, :, 3:]], axis=2)
    if contract.colour == ColorMode.SRGB:
        x = srgb_to_linear(x)
    if contract.hdr == HdrMode.COMPRESS:
        x = roll_back(x, ceiling)
    return np.asarray(x, np.float32)
