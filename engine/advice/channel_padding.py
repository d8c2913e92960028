"""Zero-pad convolution channels to a multiple of 8 or 32 so GPUs can use Tensor Cores.

A padded output channel has zero weights and zero bias, so it is exactly zero; ops that keep zero at
zero (Relu, LeakyRelu, Identity) pass it on; the next convolution reads it with zero weights. The
original channels' values are unchanged.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

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


class NotPadded(StrEnum):
    """Why a Conv's output channels were left as they are (said when padding changes less than asked)."""

    ALIGNED = "already a multiple"
    GROUPED = "grouped or depthwise"
    COMPUTED = "weights computed in the graph, not stored"
    SHARED = "weights shared with another node"
    READERS = "read by an op other than Conv, Relu, LeakyRelu or Identity, or a graph output"


def _verdict(node: onnx.NodeProto, index: GraphIndex, multiple: int) -> tuple[NotPadded | None, list[onnx.NodeProto]]:
    """Whether a Conv can be padded (None) or why not, and the Convs that read its output."""
    inits = index.initializers
    if _group(node) != 1:
        return NotPadded.GROUPED, []
    if node.input[1] not in inits:
        return NotPadded.COMPUTED, []
    cout = inits[node.input[1]].dims[0]
    if _round_up(cout, multiple) == cout:
        return NotPadded.ALIGNED, []
    convs = _downstream_convs(node.output[0], index.readers, index.outputs)
    if not convs:
        return NotPadded.READERS, []
    if any(n.input[1] not in inits or index.reader_count(n.input[1]) != 1 for n in convs):
        return NotPadded.SHARED, []
    if index.reader_count(node.input[1]) != 1:
        return NotPadded.SHARED, []
    return None, convs


@dataclass(frozen=True)
class Padding:
    """What pad_channels did: the padded Conv nodes, and how many were left for each reason."""

    padded: tuple[str, ...]
    not_padded: tuple[tuple[NotPadded, int], ...]

    def summary(self) -> str:
        why = "; ".join(f"{count} {reason}" for reason, count in self.not_padded)
        return f"padded {len(self.padded)} Conv nodes" + (f" (not padded: {why})" if why else "")


def _pad(node: onnx.NodeProto, convs: list[onnx.NodeProto], inits: dict[str, onnx.TensorProto], multiple: int) -> None:
    weight = numpy_helper.to_array(inits[node.input[1]])
    extra = _round_up(weight.shape[0], multiple) - weight.shape[0]
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


def padding(model: onnx.ModelProto, multiple: int) -> tuple[onnx.ModelProto, Padding]:
    """A copy with Conv output channels (and their readers' input channels) padded to `multiple`, and what was
    padded and why the rest was not."""
    if multiple not in (8, 16, 32):
        raise ValueError("pad to a multiple of 8, 16 or 32")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    index = GraphIndex.of(graph)
    padded: list[str] = []
    skipped: Counter[NotPadded] = Counter()
    for node in list(graph.node):
        if node.op_type != "Conv":
            continue
        reason, convs = _verdict(node, index, multiple)
        if reason is not None:
            skipped[reason] += 1
            continue
        _pad(node, convs, index.initializers, multiple)
        padded.append(node.name)
    if padded:
        # Intermediate shapes changed; let the runtime infer them again.
        del graph.value_info[:]
    return model, Padding(tuple(padded), tuple(sorted(skipped.items(), key=lambda item: -item[1])))


def pad_channels(model: onnx.ModelProto, multiple: int) -> tuple[onnx.ModelProto, list[str]]:
    """A copy with Conv output channels (and their readers' input channels) padded to `multiple`.
    Returns the model and the names of the padded Conv nodes."""
    padded, done = padding(model, multiple)
    return padded, list(done.padded)


def pad_channels_file(model_path: str | os.PathLike[str], multiple: int, *, out: str | os.PathLike[str]) -> Padding:
    """`padding` on a model file, saved to `out`.

    Raises: ModelError when the model file cannot be read or loaded, or written at an IR version onnxruntime
    accepts."""
    from ..model.onnx_io import clamp_ir_version, load_model, save_model

    model = load_model(model_path)
    clamp_ir_version(model)
    padded, done = padding(model, multiple)
    save_model(padded, out)
    return done
