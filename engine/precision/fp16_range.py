"""Which nodes produce values fp16 cannot hold, found by running the fp32 model on a real input.

ONNX Runtime's CPU provider runs most fp16 operators in fp32 (it inserts casts around them), so
comparing outputs on the CPU does not reveal overflows a GPU would hit. Measuring the fp32
activations does, whatever the provider.
"""

from __future__ import annotations

import numpy as np
import onnx
from numpy.typing import NDArray

from ..model.intermediates import intermediate_values

FP16_MAX = 65504.0
# Other frames can be brighter than the validation sample; keep nodes that come this close fp32.
HEADROOM = 2.0


def activation_peaks(model: onnx.ModelProto, feeds: dict[str, NDArray[np.generic]]) -> dict[str, float]:
    """Largest magnitude of each node's float inputs and outputs on `feeds`, keyed by node name: a
    node reading a huge value overflows in fp16 as surely as one writing it."""
    tensors = {
        name: float(np.abs(value).max())
        for name, value in intermediate_values(model, feeds).items()
        if np.issubdtype(value.dtype, np.floating) and value.size
    }
    return {
        node.name: max((tensors.get(t, 0.0) for t in list(node.input) + list(node.output)), default=0.0)
        for node in model.graph.node
    }


def nodes_over(peaks: dict[str, float], limit: float) -> list[str]:
    return [name for name, peak in peaks.items() if peak > limit]
