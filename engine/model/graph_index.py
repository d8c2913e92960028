"""One index over a graph: who produces each tensor, who reads it, which tensors are initializers and graph
outputs, and the declared element types. Repairs, cast passes, channel padding and the advisor all walk
graphs through this instead of rebuilding the maps each time."""

from __future__ import annotations

from dataclasses import dataclass

import onnx


@dataclass(frozen=True)
class GraphIndex:
    producers: dict[str, onnx.NodeProto]
    """Tensor name -> the node that writes it."""
    readers: dict[str, list[onnx.NodeProto]]
    """Tensor name -> the nodes that read it, in graph order."""
    initializers: dict[str, onnx.TensorProto]
    outputs: frozenset[str]
    """Names of the graph's outputs."""
    io: frozenset[str]
    """Names of the graph's inputs and outputs."""
    declared: dict[str, int]
    """Tensor name -> declared element type (value_info, inputs, outputs, initializers)."""

    @classmethod
    def of(cls, graph: onnx.GraphProto) -> GraphIndex:
        """Built once per pass: a pass that rewires nodes builds a new one afterwards."""
        producers: dict[str, onnx.NodeProto] = {}
        readers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in node.output:
                producers[name] = node
            for name in node.input:
                readers.setdefault(name, []).append(node)
        declared = {vi.name: vi.type.tensor_type.elem_type for vi in [*graph.value_info, *graph.input, *graph.output]}
        declared.update({init.name: init.data_type for init in graph.initializer})
        outputs = frozenset(o.name for o in graph.output)
        return cls(
            producers=producers,
            readers=readers,
            initializers={init.name: init for init in graph.initializer},
            outputs=outputs,
            io=outputs | {i.name for i in graph.input},
            declared=declared,
        )

    def reader_count(self, name: str) -> int:
        return len(self.readers.get(name, ()))


def attribute(node: onnx.NodeProto, name: str, default: int = 0) -> int:
    """An integer attribute of a node (Cast's `to`, Conv's `group`), or `default`."""
    return next((a.i for a in node.attribute if a.name == name), default)
