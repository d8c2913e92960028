"""Give a model channels-last (NHWC) image inputs and outputs by adding Transpose nodes to its graph.

Images arrive HxWxC. Transposing them to NCHW in numpy costs a single-threaded pass over every
pixel on the way in and again on the way out (about 90 ms for a 4K float output on our CPU);
inside the graph, ONNX Runtime does the same work with its optimized, multi-threaded (or GPU)
Transpose, and the output lands directly in the array we return.
"""

from __future__ import annotations

import onnx
from onnx import helper

from .records import ModelInfo

_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _nhwc_dims(vi: onnx.ValueInfoProto) -> None:
    dims = list(vi.type.tensor_type.shape.dim)
    if len(dims) == 4:
        reordered = [dims[0], dims[2], dims[3], dims[1]]
        copies = [onnx.TensorShapeProto.Dimension() for _ in reordered]
        for copy, dim in zip(copies, reordered, strict=True):
            copy.CopyFrom(dim)
        del vi.type.tensor_type.shape.dim[:]
        vi.type.tensor_type.shape.dim.extend(copies)


def _rename_uses(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for vi in graph.value_info:
        if vi.name == old:
            vi.name = new


def to_channels_last(model: onnx.ModelProto, info: ModelInfo) -> onnx.ModelProto:
    """A copy whose NCHW image inputs and outputs are NHWC; NHWC ones are left as they are."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    nchw_in = {t.name for t in info.image_inputs if t.layout == "NCHW"}
    nchw_out = {t.name for t in info.outputs if t.layout == "NCHW"}
    front, back = [], []
    for vi in graph.input:
        if vi.name in nchw_in:
            inner = f"{vi.name}__nchw"
            _rename_uses(graph, vi.name, inner)
            front.append(helper.make_node("Transpose", [vi.name], [inner], name=f"{inner}_in", perm=_TO_NCHW))
            _nhwc_dims(vi)
    for vi in graph.output:
        if vi.name in nchw_out:
            inner = f"{vi.name}__nchw"
            _rename_uses(graph, vi.name, inner)
            back.append(helper.make_node("Transpose", [inner], [vi.name], name=f"{inner}_out", perm=_TO_NHWC))
            _nhwc_dims(vi)
    nodes = front + list(graph.node) + back
    del graph.node[:]
    graph.node.extend(nodes)
    return model
