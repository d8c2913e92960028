"""A quiet CPU session for the engine's own work on a model: validation runs, size probes, intermediate
values and pre-optimization. User-facing sessions (any provider, cached) are runtime.sessions'."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..options import OptLevel

if TYPE_CHECKING:
    import onnx
    import onnxruntime


def ort_level(level: OptLevel | str) -> onnxruntime.GraphOptimizationLevel:
    import onnxruntime as ort

    levels = {
        OptLevel.DISABLED: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        OptLevel.BASIC: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        OptLevel.EXTENDED: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        OptLevel.ALL: ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    return levels[OptLevel(level)]


def cpu_session(
    model: onnx.ModelProto, level: OptLevel | str = OptLevel.ALL, save_to: str | None = None, log_severity: int = 3
) -> onnxruntime.InferenceSession:
    """`model` is written at an IR version onnxruntime accepts (see onnx_io.serialize)."""
    import onnxruntime as ort

    from .onnx_io import serialize  # the ONNX library: only where a graph is at hand (ort_level needs none)

    options = ort.SessionOptions()
    options.graph_optimization_level = ort_level(level)
    options.log_severity_level = log_severity
    if save_to:
        options.optimized_model_filepath = save_to
    return ort.InferenceSession(serialize(model), options, providers=["CPUExecutionProvider"])
