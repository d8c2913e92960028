"""Work a model asks for before any image is fed, bounded: a node that builds a constant from a constant shape
(ConstantOfShape, Expand) is sized from the graph alone and refused above a limit, before onnxruntime runs it
(issue 25: a 1 KB model with a 40000x40000 ConstantOfShape made even `info` take 5 GB)."""

from __future__ import annotations

import math

import onnx
from onnx import numpy_helper

from ..errors import ModelError

MAX_CONSTANT_BYTES = 1 << 30
"""No image model builds a gigabyte before seeing its input; a larger constant is an accident or an attack."""

# Operator -> the input that holds the shape of what it builds.
_SHAPE_INPUT = {"ConstantOfShape": 0, "Expand": 1}
_MAX_SHAPE_RANK = 16


def _shape_constants(graph: onnx.GraphProto) -> dict[str, list[int]]:
    """Small int64 vectors the graph holds as initializers or Constant nodes (the shapes such nodes take); large
    initializers are never decoded here."""
    shapes: dict[str, list[int]] = {}
    for init in graph.initializer:
        if init.data_type == onnx.TensorProto.INT64 and len(init.dims) == 1 and init.dims[0] <= _MAX_SHAPE_RANK:
            shapes[init.name] = [int(v) for v in numpy_helper.to_array(init)]
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensor = node.attribute[0].t
            if (
                tensor.data_type == onnx.TensorProto.INT64
                and len(tensor.dims) == 1
                and tensor.dims[0] <= _MAX_SHAPE_RANK
            ):
                shapes[node.output[0]] = [int(v) for v in numpy_helper.to_array(tensor)]
    return shapes


def _element_bytes(node: onnx.NodeProto) -> int:
    value = next((a.t for a in node.attribute if a.name == "value"), None)
    if value is not None and value.data_type:
        return int(onnx.helper.tensor_dtype_to_np_dtype(value.data_type).itemsize)
    return 4  # ConstantOfShape's default (float32), and Expand's usual


def check_constant_sizes(model: onnx.ModelProto) -> None:
    """Raise ModelError when a node would build a constant over MAX_CONSTANT_BYTES from a shape fixed in the graph."""
    shapes = _shape_constants(model.graph)
    for node in model.graph.node:
        index = _SHAPE_INPUT.get(node.op_type)
        if index is None or len(node.input) <= index or node.input[index] not in shapes:
            continue
        dims = shapes[node.input[index]]
        size = math.prod(max(d, 1) for d in dims) * _element_bytes(node)
        if size > MAX_CONSTANT_BYTES:
            raise ModelError(
                f"node '{node.name or node.output[0]}' ({node.op_type}) builds a tensor of shape {dims} "
                f"({size / (1 << 30):.1f} GB) before any image is fed; refused (the limit is 1 GB)"
            )
