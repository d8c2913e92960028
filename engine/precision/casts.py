"""Cast nodes around a precision conversion: counting, repairing and removing redundant pairs."""

from __future__ import annotations

import onnx
from onnx import TensorProto

from ..model.graph_index import GraphIndex, attribute

_FLOATS = {TensorProto.FLOAT, TensorProto.FLOAT16}


def count_casts(model: onnx.ModelProto) -> int:
    return sum(node.op_type == "Cast" for node in model.graph.node)


def _cast_to(node: onnx.NodeProto) -> int:
    return attribute(node, "to")


def repair_cast_targets(model: onnx.ModelProto) -> int:
    """onnxconverter-common 1.15+ can declare a Cast's output fp16 while leaving `to` at float;
    the declaration is what the rest of the converted graph was built for, so follow it."""
    declared = GraphIndex.of(model.graph).declared
    fixed = 0
    for node in model.graph.node:
        if node.op_type != "Cast":
            continue
        want = declared.get(node.output[0])
        if want in _FLOATS and _cast_to(node) in _FLOATS and want != _cast_to(node):
            for attr in node.attribute:
                if attr.name == "to":
                    attr.i = want
            fixed += 1
    return fixed


def remove_redundant_pairs(model: onnx.ModelProto) -> int:
    """Remove Cast(a->b) whose every reader is a Cast(b->a): readers take the source directly.
    Besides the wasted work, a float32->float16->float32 round trip turns large values into inf
    (onnxconverter-common inserts such trips between two nodes it keeps fp32)."""
    graph = model.graph
    index = GraphIndex.of(graph)
    declared, outputs, readers = index.declared, index.outputs, index.readers

    removed, drop = 0, set()
    for first in graph.node:
        if first.op_type != "Cast" or first.output[0] in outputs:
            continue
        source = first.input[0]
        seconds = readers.get(first.output[0], [])
        if not seconds or any(
            r.op_type != "Cast" or _cast_to(r) != declared.get(source) or r.output[0] in outputs for r in seconds
        ):
            continue
        for second in seconds:
            for reader in readers.get(second.output[0], []):
                reader.input[:] = [source if name == second.output[0] else name for name in reader.input]
            drop.add(id(second))
            removed += 1
        drop.add(id(first))
    if removed:
        keep = [node for node in graph.node if id(node) not in drop]
        del graph.node[:]
        graph.node.extend(keep)
    return removed
