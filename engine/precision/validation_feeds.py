"""Validation inputs for conversions: a small crop of the user's image, or a fixed synthetic one."""

from __future__ import annotations

import numpy as np

from ..image.channels import split_alpha, to_tensor
from ..image.normalize import encode
from ..model.contract import ModelContract
from ..model.describe import ModelInfo, TensorInfo, constant_feed

SAMPLE_SIZE = 64


def synthetic_image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus texture in [0, 1]: closer to a render than white noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = [0.5 + 0.4 * np.sin(x / (7 + 3 * c) + y / (11 + 2 * c) + c) for c in range(channels)]
    image = np.stack(base, axis=2) + 0.1 * rng.random((h, w, channels), dtype=np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _sample_size(info: ModelInfo) -> tuple[int, int]:
    if info.fixed_size:
        return info.fixed_size[0], info.fixed_size[1]
    m = info.size_multiple
    side = max(m, (SAMPLE_SIZE // m) * m)
    return side, side


def _random_feed(t: TensorInfo, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """Any other input: its declared shape (symbolic dimensions 1, spatial ones the sample size), uniform in
    [low, high); integer inputs get zeros."""
    shape = t.fixed_shape()
    if not t.dtype.startswith("float"):
        return np.zeros(shape, np.dtype(t.dtype) if t.dtype != "unknown" else np.int64)
    return (low + (high - low) * rng.random(shape)).astype(t.dtype)


def sample_feeds(
    info: ModelInfo, image: np.ndarray | None = None, contract: ModelContract | None = None
) -> dict[str, np.ndarray]:
    """Feeds for every input. Image inputs: the centre crop of `image` (reflect-padded when smaller), or the
    synthetic image, mapped the contract's way for the first one; the validation is only as good as this input
    is typical. Other inputs: the contract's constant, else random values in the contract's input range."""
    contract = contract or ModelContract()
    h, w = _sample_size(info)
    feeds: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(0)
    constants = contract.constant_values
    for t in info.other_inputs:
        feeds[t.name] = (
            constant_feed(t, constants[t.name]) if t.name in constants else _random_feed(t, *contract.input.range, rng)
        )
    images = info.image_inputs
    for t in images:
        if image is None:
            crop = synthetic_image(h, w, t.channels or 1)
        else:
            src = image if image.ndim == 3 else image[:, :, None]
            pad_h, pad_w = max(0, h - src.shape[0]), max(0, w - src.shape[1])
            if pad_h or pad_w:
                src = np.pad(src, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect" if src.shape[0] > 1 else "edge")
            top, left = (src.shape[0] - h) // 2, (src.shape[1] - w) // 2
            crop, _, _ = split_alpha(src[top : top + h, left : left + w], t.channels or 1)
        if t is images[0]:
            crop, _ = encode(crop, contract.input)
        if info.batch > 1:
            crop = np.concatenate([to_tensor(crop, t)] * info.batch)
            feeds[t.name] = crop
            continue
        feeds[t.name] = to_tensor(crop, t)
    return feeds
