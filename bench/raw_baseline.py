"""The baseline every ratio is against: plain onnxruntime with its defaults, as a user with three lines would
run it (`InferenceSession(path)`: ORT_ENABLE_ALL, default threads) on the original model in its own layout; and
onnxruntime built the way the engine builds its sessions, for figures of session creation itself."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from engine import OptLevel, SessionSettings


def raw_session(model: Path, provider: str):
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if provider == "cuda":
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(model), providers=providers)


def engine_like_session(model: bytes | str | Path, settings: SessionSettings, level: OptLevel):
    """onnxruntime directly, with the session options the engine gives its own sessions (engine/runtime/sessions.py:
    the provider `settings` resolve to and its options, threads, log level, no spinning after a run) at optimization
    `level`: what the engine's start-up costs, without the engine around it."""
    import onnxruntime as ort

    from engine import Device, OptLevel, resolve_provider  # here: the raw baseline's process loads no engine

    levels = {
        OptLevel.DISABLED: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        OptLevel.BASIC: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        OptLevel.EXTENDED: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        OptLevel.ALL: ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[OptLevel(level)]
    options.log_severity_level = settings.log_severity
    options.add_session_config_entry("session.force_spinning_stop", "1")
    if settings.intra_op_threads:
        options.intra_op_num_threads = settings.intra_op_threads
    providers: list = ["CPUExecutionProvider"]
    if resolve_provider(settings).name == Device.CUDA:
        providers.insert(0, ("CUDAExecutionProvider", settings.cuda_options()))
    return ort.InferenceSession(str(model) if isinstance(model, Path) else model, options, providers=providers)


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
