"""Zero-pad convolution channels to a multiple of 8 or 32 so GPUs can use Tensor Cores.

A padded output channel has zero weights and zero bias, so it is exactly zero; ops that keep zero at
zero (Relu, LeakyRelu, Identity) pass it on; the next convolution reads it with zero weights. The
original channels' values are unchanged.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper

from ..model.graph_index import GraphIndex, attribute

_ZERO_PRESERVING = ("Relu", "LeakyRelu", "Identity")


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _group(node: onnx.NodeProto) -> int:
    return attribute(node, "group", 1)


def _downstream_convs(
    name: str, readers: dict[str, list[onnx.NodeProto]], outputs: frozenset[str]
) -> list[onnx.NodeProto] | None:
    """The Convs that read `name` (through zero-preserving ops), or None when anything else does."""
    if name in outputs:
        return None
    convs = []
    for reader in readers.get(name, []):
        if reader.op_type in _ZERO_PRESERVING:
            more = _downstream_convs(reader.output[0], readers, outputs)
            if more is None:
                return None
            convs.extend(more)
        elif reader.op_type == "Conv" and _group(reader) == 1 and reader.input[0] == name:
            convs.append(reader)
        else:
            return None
    return convs or None


def pad_channels(model: onnx.ModelProto, multiple: int) -> tuple[onnx.ModelProto, list[str]]:
    """A copy with Conv output channels (and their readers' input channels) padded to `multiple`.
    Returns the model and the names of the padded Conv nodes."""
    if multiple not in (8, 16, 32):
        raise ValueError("pad to a multiple of 8, 16 or 32")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    index = GraphIndex.of(graph)
    inits, readers, outputs = index.initializers, index.readers, index.outputs
    padded = []
    for node in list(graph.node):
        if node.op_type != "Conv" or _group(node) != 1 or node.input[1] not in inits:
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        cout = weight.shape[0]
        target = _round_up(cout, multiple)
        convs = _downstream_convs(node.output[0], readers, outputs)
        shared = [n.input[1] for n in convs or [] if n.input[1] not in inits or index.reader_count(n.input[1]) != 1]
        if target == cout or not convs or shared or index.reader_count(node.input[1]) != 1:
            continue
        extra = target - cout
        inits[node.input[1]].CopyFrom(
            numpy_helper.from_array(np.pad(weight, [(0, extra)] + [(0, 0)] * (weight.ndim - 1)), node.input[1])
        )
        if len(node.input) > 2 and node.input[2] in inits:
            bias = numpy_helper.to_array(inits[node.input[2]])
            inits[node.input[2]].CopyFrom(numpy_helper.from_array(np.pad(bias, (0, extra)), node.input[2]))
        for conv in convs:
            w = numpy_helper.to_array(inits[conv.input[1]])
            pad = [(0, 0), (0, extra)] + [(0, 0)] * (w.ndim - 2)
            inits[conv.input[1]].CopyFrom(numpy_helper.from_array(np.pad(w, pad), conv.input[1]))
        padded.append(node.name)
    if padded:
        # Intermediate shapes changed; let the runtime infer them again.
        del graph.value_info[:]
    return model, padded


def pad_channels_file(model_path: str | os.PathLike[str], multiple: int, out: str | os.PathLike[str]) -> list[str]:
    """pad_channels on a model file, saved to `out`; returns the padded nodes' names."""
    from ..model.onnx_io import clamp_ir_version, load_model, save_model

    model = load_model(model_path)
    clamp_ir_version(model)
    padded, names = pad_channels(model, multiple)
    save_model(padded, out)
    return names
