"""The baseline every ratio is against: plain onnxruntime with its defaults, as a user with three lines would
run it (`InferenceSession(path)`: ORT_ENABLE_ALL, default threads) on the original model in its own layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def raw_session(model: Path, provider: str):
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if provider == "cuda":
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(model), providers=providers)


def raw_feeds(session, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every input gets the image as NCHW float32 (or NHWC where the model declares it), channels cut to fit."""
    feeds = {}
    for i in session.get_inputs():
        shape = i.shape
        nhwc = isinstance(shape[-1], int) and shape[-1] <= 4 and not (isinstance(shape[1], int) and shape[1] <= 4)
        channels = shape[-1] if nhwc else shape[1]
        channels = channels if isinstance(channels, int) else 3
        tensor = image[None, :, :, :channels] if nhwc else image[:, :, :channels].transpose(2, 0, 1)[None]
        feeds[i.name] = np.ascontiguousarray(tensor, np.float32)
    return feeds
