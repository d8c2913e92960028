"""Validation inputs for conversions: the most content-rich crops of the user's image (text, edges,
texture: where reduced precision goes wrong), the whole image for a model that sees the whole image (crops
would hide what its global context does), or a fixed synthetic image when there is none."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError
from ..image.channels import split_alpha, to_tensor
from ..image.normalize import encode
from ..model.contract import ModelContract
from ..model.records import ModelInfo, TensorInfo, constant_feed
from .accuracy import OutputKind, OutputView

SAMPLE_SIZE = 64
MOSAIC = 2
"""A dynamic-size model is validated on MOSAIC x MOSAIC crops side by side."""
GLOBAL_SAMPLE_PIXELS = 512 * 512
"""A model with a global receptive field is judged on the whole image, area-averaged down to about this many
pixels when larger: its output depends on every pixel, so only the whole picture shows the error it delivers
(issue 24: crops reported 0.006 where 1080p measured 0.141). Validation keeps every tensor of the model at
this size once, which bounds its memory."""
SYNTHETIC = "a synthetic image (no sample was given: pass a typical image to judge the model on it)"


def synthetic_image(h: int, w: int, *, channels: int = 3, seed: int = 0) -> NDArray[np.float32]:
    """Smooth gradients plus texture in [0, 1]: closer to a render than white noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = [0.5 + 0.4 * np.sin(x / (7 + 3 * c) + y / (11 + 2 * c) + c) for c in range(channels)]
    image: NDArray[np.float32] = np.stack(base, axis=2) + 0.1 * rng.random((h, w, channels), dtype=np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def sample_size(info: ModelInfo) -> tuple[int, int]:
    """The side of one validation crop: the model's fixed size, else SAMPLE_SIZE cut to its size multiple."""
    if info.fixed_size:
        return info.fixed_size[0], info.fixed_size[1]
    m = info.size_multiple
    side = max(m, (SAMPLE_SIZE // m) * m)
    return side, side


def _pad_to(src: NDArray[np.float32], h: int, w: int) -> NDArray[np.float32]:
    pad_h, pad_w = max(0, h - src.shape[0]), max(0, w - src.shape[1])
    if pad_h or pad_w:
        src = np.pad(src, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect" if src.shape[0] > 1 else "edge")
    return src


def _detail(image: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per-pixel detail: absolute differences to the right and below neighbours, finite values only."""
    grey: NDArray[np.float32] = np.nan_to_num(
        image[:, :, : min(3, image.shape[2])].mean(axis=2), nan=0.0, posinf=0.0, neginf=0.0
    )
    detail = np.zeros_like(grey)
    detail[:, :-1] += np.abs(np.diff(grey, axis=1))
    detail[:-1, :] += np.abs(np.diff(grey, axis=0))
    return detail


def rich_crops(image: NDArray[np.float32], h: int, w: int, count: int) -> list[NDArray[np.float32]]:
    """Up to `count` non-overlapping h x w crops of `image`, the most detailed first (a blank page's
    centre is never chosen over its text). An image smaller than one crop is reflect-padded."""
    src = _pad_to(image if image.ndim == 3 else image[:, :, None], h, w)
    detail = _detail(src)
    # Integral image: the detail of every window on a half-crop grid in one pass.
    total = np.pad(detail.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step_y, step_x = max(1, h // 2), max(1, w // 2)
    tops = sorted({*range(0, src.shape[0] - h + 1, step_y), src.shape[0] - h})
    lefts = sorted({*range(0, src.shape[1] - w + 1, step_x), src.shape[1] - w})
    windows = [
        (total[t + h, left + w] - total[t, left + w] - total[t + h, left] + total[t, left], t, left)
        for t in tops
        for left in lefts
    ]
    windows.sort(key=lambda item: -item[0])
    chosen: list[tuple[int, int]] = []
    for _, t, left in windows:
        if all(abs(t - ct) >= h or abs(left - cl) >= w for ct, cl in chosen):
            chosen.append((t, left))
        if len(chosen) == count:
            break
    return [src[t : t + h, left : left + w] for t, left in chosen]


def _whole_downscaled(image: NDArray[np.float32], multiple: int) -> NDArray[np.float32]:
    """The whole image, area-averaged by a whole factor to at most GLOBAL_SAMPLE_PIXELS, cut to `multiple`."""
    h, w = image.shape[:2]
    factor = max(1, int(np.ceil(np.sqrt(h * w / GLOBAL_SAMPLE_PIXELS))))
    h, w = h // factor * factor, w // factor * factor
    c = image.shape[2]
    small = image[:h, :w].reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3), dtype=np.float64)
    hh, ww = max(multiple, small.shape[0] // multiple * multiple), max(multiple, small.shape[1] // multiple * multiple)
    return _pad_to(small.astype(np.float32), hh, ww)[:hh, :ww]


def judges_whole_image(info: ModelInfo) -> bool:
    """A dynamic-size model that sees the whole image is validated on the whole image, not on crops."""
    return not info.fixed_size and info.receptive_radius == "global"


def validated_on(info: ModelInfo, image: NDArray[np.float32] | None) -> str:
    """What a conversion's accuracy was judged on, for its report (the same choice sample_feeds makes)."""
    if image is None:
        return SYNTHETIC
    if judges_whole_image(info):
        h, w = _whole_downscaled(image if image.ndim == 3 else image[:, :, None], info.size_multiple).shape[:2]
        return f"the whole sample image, at {w}x{h}"
    h, w = sample_size(info)
    count = 1 if info.fixed_size else MOSAIC * MOSAIC
    return f"the {count} most detailed {w}x{h} crops of the sample image"


def _sample_of(image: NDArray[np.float32], h: int, w: int, fixed: bool) -> NDArray[np.float32]:
    """One crop for a fixed-size model; else MOSAIC x MOSAIC of the richest crops (repeated when the
    image has fewer), so the converted model is judged on its text and edges, not its blank areas."""
    if fixed:
        return rich_crops(image, h, w, 1)[0]
    crops = rich_crops(image, h, w, MOSAIC * MOSAIC)
    crops = [crops[i % len(crops)] for i in range(MOSAIC * MOSAIC)]
    rows = [np.concatenate(crops[r * MOSAIC : (r + 1) * MOSAIC], axis=1) for r in range(MOSAIC)]
    return np.concatenate(rows, axis=0)


def _random_feed(t: TensorInfo, low: float, high: float, rng: np.random.Generator) -> NDArray[np.generic]:
    """Any other input: its declared shape (symbolic dimensions 1, spatial ones the sample size), uniform in
    [low, high); integer inputs get zeros."""
    shape = t.fixed_shape()
    if not t.dtype.startswith("float"):
        return np.zeros(shape, np.dtype(t.dtype) if t.dtype != "unknown" else np.int64)
    return (low + (high - low) * rng.random(shape)).astype(t.dtype)


def sample_feeds(
    info: ModelInfo, image: NDArray[np.float32] | None = None, contract: ModelContract | None = None
) -> dict[str, NDArray[np.generic]]:
    """Feeds for every input. Image inputs: the most content-rich crops of `image` (see `rich_crops`), or the
    synthetic image, mapped the contract's way for the first one; the validation is only as good as this input
    is typical. Other inputs: the contract's constant, else random values in the contract's input range."""
    contract = contract or ModelContract()
    h, w = sample_size(info)
    feeds: dict[str, NDArray[np.generic]] = {}
    rng = np.random.default_rng(0)
    constants = contract.constant_values
    for t in info.other_inputs:
        feeds[t.name] = (
            constant_feed(t, constants[t.name]) if t.name in constants else _random_feed(t, *contract.input.range, rng)
        )
    images = info.image_inputs
    if image is None:
        sample = None
    elif judges_whole_image(info):
        sample = _whole_downscaled(image if image.ndim == 3 else image[:, :, None], info.size_multiple)
    else:
        sample = _sample_of(image, h, w, bool(info.fixed_size))
    for t in images:
        if sample is None:
            crop = synthetic_image(h, w, channels=t.channels or 1)
        else:
            crop, _, _ = split_alpha(sample, t.channels or 1)
        if t is images[0]:
            crop, _ = encode(crop, contract.input)
        if info.batch > 1:
            crop = np.concatenate([to_tensor(crop, t)] * info.batch)
            feeds[t.name] = crop
            continue
        feeds[t.name] = to_tensor(crop, t)
    return feeds


def output_view(info: ModelInfo, contract: ModelContract | None = None) -> OutputView:
    """How a conversion's output is judged: the output that is the result, mapped the contract's way back to
    picture values, a picture (or a mask: one channel); the first output as plain values for a model with no
    image output."""
    contract = contract or ModelContract()
    try:
        out = info.output_named(contract.output_name)
    except (ModelError, StopIteration):
        return OutputView(name=info.outputs[0].name if info.outputs else "", layout=None, kind=OutputKind.VALUES)
    channels = out.channels or 1
    inputs = info.image_inputs
    mapping = contract.output_for((inputs[0].channels or 1) if inputs else channels, channels)
    kind = OutputKind.MASK if channels == 1 else OutputKind.PICTURE
    return OutputView(name=out.name, layout=out.layout, contract=mapping, kind=kind)
