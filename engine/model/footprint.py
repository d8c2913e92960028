"""How much memory a model needs per input pixel: with the memory budget, this sets the automatic tile size."""

from __future__ import annotations

import numpy as np
import onnx

from .intermediates import intermediate_values


def bytes_per_pixel(model: onnx.ModelProto, feeds: dict[str, np.ndarray], pixels: int) -> float:
    """Bytes of every tensor the model computes (plus its inputs) per input pixel. An upper bound:
    onnxruntime reuses buffers whose tensors are dead."""
    values = intermediate_values(model, feeds)
    total = sum(v.nbytes for v in values.values()) + sum(v.nbytes for v in feeds.values())
    return total / pixels
