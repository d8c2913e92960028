"""Validation inputs for conversions: a small crop of the user's image, or a fixed synthetic one."""

from __future__ import annotations

import numpy as np

from ..image.channels import split_alpha, to_tensor
from ..model.describe import ModelInfo

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


def sample_feeds(info: ModelInfo, image: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Feeds for every image input: the centre crop of `image` (reflect-padded when smaller),
    or the synthetic image; the validation is only as good as this input is typical."""
    h, w = _sample_size(info)
    feeds = {}
    for t in info.image_inputs:
        if image is None:
            crop = synthetic_image(h, w, t.channels or 1)
        else:
            src = image if image.ndim == 3 else image[:, :, None]
            pad_h, pad_w = max(0, h - src.shape[0]), max(0, w - src.shape[1])
            if pad_h or pad_w:
                src = np.pad(src, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect" if src.shape[0] > 1 else "edge")
            top, left = (src.shape[0] - h) // 2, (src.shape[1] - w) // 2
            crop, _, _ = split_alpha(src[top : top + h, left : left + w], t.channels or 1)
        feeds[t.name] = to_tensor(crop, t)
    return feeds
