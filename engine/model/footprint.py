"""How much memory a model needs per input pixel: with the device's memory budget, this sets the plan (whole
image or tiles, and the automatic tile size).

The need is the peak of the tensors alive at once as the graph runs in its order (a tensor is born with the
node that makes it and dies after its last reader), which is how onnxruntime's memory planner reuses buffers.
Taken on the graph the session runs (onnxruntime's optimized graph, with the CPU's blocked channel layouts),
it is within 1.25x of the peak resident memory a plain session adds for the sample model and the generated
models at 1080p (tests/engine/model/test_footprint.py measures it); the sum of every tensor, used before, was
up to 12x the peak. It depends on the model and on the graph the device runs, never on the memory free now."""

from __future__ import annotations

import numpy as np
import onnx
from numpy.typing import NDArray

from .intermediates import intermediate_values


def live_peak_bytes(model: onnx.ModelProto, feeds: dict[str, NDArray[np.generic]]) -> int:
    """Largest number of bytes held by the graph's inputs and computed tensors at any one node, running the
    nodes in their stored (topological) order."""
    values = intermediate_values(model, feeds)
    sizes = {name: array.nbytes for name, array in values.items()}
    sizes.update({name: array.nbytes for name, array in feeds.items()})
    last_use: dict[str, int] = {}
    for index, node in enumerate(model.graph.node):
        for name in node.input:
            last_use[name] = index
    outputs = {o.name for o in model.graph.output}
    live = peak = sum(array.nbytes for array in feeds.values())
    for index, node in enumerate(model.graph.node):
        live += sum(sizes.get(name, 0) for name in node.output if name)
        peak = max(peak, live)
        for name in set(node.input):
            if name in sizes and last_use.get(name) == index and name not in outputs:
                live -= sizes[name]
    return peak


def bytes_per_pixel(model: onnx.ModelProto, feeds: dict[str, NDArray[np.generic]], pixels: int) -> float:
    """Peak live tensor bytes per input pixel (see the module docstring)."""
    return live_peak_bytes(model, feeds) / pixels
