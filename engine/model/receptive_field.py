"""How far a model sees: its receptive radius, measured once and stored with the model's description.

Two views, cross-checked:
- the graph: kernel sizes, dilations and strides give an upper bound on the reach, and some operators see
  the whole image (global pooling, normalization over space, attention over pixels, resizing to a fixed
  size, flattening space);
- a probe: the model runs on a small random input, then on the same input with a block of pixels changed
  at its centre; the output pixels that move show how far a change travels.

The radius is the probe's measurement; it is "global" when the graph has a whole-image operator or the
response reaches the probe's borders (then the graph's bound is used where it has one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import numpy_helper

from ..options import Layout

GLOBAL: Literal["global"] = "global"
Radius = int | Literal["global"]
"""Pixels of input on each side that an output pixel depends on, or "global" (the whole image)."""

# Operators that mix every pixel of their input into each output.
_WHOLE_IMAGE_OPS = {
    "GlobalAveragePool",
    "GlobalMaxPool",
    "GlobalLpPool",
    "InstanceNormalization",
    "GroupNormalization",
    "MeanVarianceNormalization",
}
_REDUCE_OPS = {
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceSum",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceSumSquare",
}
_KERNEL_OPS = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "ConvInteger"}
_PROBE_MIN, _PROBE_MAX = 64, 256
# Output changes below this (relative to the output's magnitude) are float noise, not a dependency.
_THRESHOLD = 1e-6


@dataclass(frozen=True)
class GraphReach:
    whole_image_ops: tuple[str, ...]
    """Names (or op types) of the nodes that see the whole image."""
    bound: int | None
    """Upper bound on the radius in input pixels from kernels and strides; None when an operator's
    reach cannot be read from the graph (a resize by computed scales, say)."""


def _ints(node: onnx.NodeProto, name: str) -> list[int] | None:
    return next((list(a.ints) for a in node.attribute if a.name == name), None)


def _int(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


def _string(node: onnx.NodeProto, name: str, default: str) -> str:
    return next((a.s.decode() for a in node.attribute if a.name == name), default)


def _constants(model: onnx.ModelProto) -> dict[str, NDArray[np.generic]]:
    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _kernel(node: onnx.NodeProto, constants: dict[str, NDArray[np.generic]]) -> list[int] | None:
    shape = _ints(node, "kernel_shape")
    if shape is None and len(node.input) > 1 and node.input[1] in constants:
        shape = list(constants[node.input[1]].shape[2:])
    return shape


def _kernel_reach(node: onnx.NodeProto, constants: dict[str, NDArray[np.generic]]) -> tuple[float, float] | None:
    """(reach in the node's input pixels, stride factor) of a kernel operator, or None if unreadable."""
    kernel = _kernel(node, constants)
    if not kernel:
        return None
    dilations = _ints(node, "dilations") or [1] * len(kernel)
    strides = _ints(node, "strides") or [1] * len(kernel)
    pads = _ints(node, "pads") or [0] * (2 * len(kernel))
    auto_pad = _string(node, "auto_pad", "NOTSET")
    reach = 0.0
    for axis, (k, d) in enumerate(zip(kernel, dilations, strict=False)):
        span = (k - 1) * d
        if auto_pad.startswith("SAME"):
            begin = math.ceil(span / 2)
        else:
            begin = pads[axis] if auto_pad == "NOTSET" else 0
        reach = max(reach, begin, span - begin)
    stride = float(max(strides))
    if node.op_type == "ConvTranspose":
        # Each output pixel gathers the inputs whose kernel footprint covers it: span / stride of them.
        return math.ceil(reach / stride) + 1, 1.0 / stride
    return reach, stride


def _reduces_space(node: onnx.NodeProto, constants: dict[str, NDArray[np.generic]]) -> bool:
    axes = _ints(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        value = constants.get(node.input[1])
        if value is None:
            return True  # computed axes: assume the worst
        axes = [int(a) for a in value.ravel()]
    if not axes:
        return not _int(node, "noop_with_empty_axes", 0)
    # Axis 2 (or -2) is spatial in both NCHW and NHWC; two or more axes means space for an image tensor.
    return bool({2, -2} & set(axes)) or len(axes) > 1


def _resize_factor(node: onnx.NodeProto, constants: dict[str, NDArray[np.generic]]) -> float | Literal["fixed"] | None:
    """Output size / input size of a Resize or Upsample; "fixed" for a constant target size."""
    inputs = list(node.input)
    if len(inputs) > 3 and inputs[3]:
        return "fixed" if inputs[3] in constants else None
    name = inputs[2] if len(inputs) > 2 and inputs[2] else (inputs[1] if node.op_type == "Upsample" else "")
    scales = constants.get(name)
    if scales is None or scales.size < 4:
        return None
    return float(max(scales.ravel()[2:]))


def graph_reach(model: onnx.ModelProto, image_inputs: list[str], output: str) -> GraphReach:
    """Walk the graph in order, tracking for each tensor computed from the image its reach (input pixels)
    and its stride (input pixels per tensor pixel)."""
    constants = _constants(model)
    reach: dict[str, tuple[float, float] | None] = {name: (0.0, 1.0) for name in image_inputs}
    whole: list[str] = []
    for node in model.graph.node:
        sources = [reach[name] for name in node.input if name in reach]
        if not sources:
            continue
        known = [s for s in sources if s is not None]
        here: tuple[float, float] | None = None
        if len(known) == len(sources):
            r_in = max(s[0] for s in known)
            stride_in = known[0][1]
            here = (r_in, stride_in)
        op, label = node.op_type, node.name or node.op_type
        activations = [name for name in node.input if name in reach]
        if op in _WHOLE_IMAGE_OPS or (op in _REDUCE_OPS and _reduces_space(node, constants)):
            whole.append(label)
        elif op == "LayerNormalization" and _int(node, "axis", -1) not in (-1, 3):
            whole.append(label)
        elif op in ("MatMul", "Einsum", "Gemm") and len(activations) >= 2:
            whole.append(label)  # attention: pixels weighted by other pixels
        elif op == "Flatten" and _int(node, "axis", 1) <= 2:
            whole.append(label)
        elif op == "Reshape" and len(node.input) > 1 and node.input[1] in constants:
            if constants[node.input[1]].size <= 2:
                whole.append(label)  # everything into one row: a fully connected head follows
        elif here is not None and op in _KERNEL_OPS:
            kernel = _kernel_reach(node, constants)
            here = None if kernel is None else (here[0] + kernel[0] * here[1], here[1] * kernel[1])
        elif here is not None and op in ("Resize", "Upsample"):
            factor = _resize_factor(node, constants)
            if factor == "fixed":
                whole.append(label)
            elif factor is None:
                here = None
            else:
                interpolation = 2.0 if _string(node, "mode", "nearest") == "cubic" else 1.0
                here = (here[0] + interpolation * here[1], here[1] / factor)
        elif here is not None and op in ("DepthToSpace", "SpaceToDepth"):
            block = _int(node, "blocksize", 1)
            if op == "DepthToSpace":
                here = (here[0], here[1] / block)
            else:
                here = (here[0] + (block - 1) * here[1], here[1] * block)
        for name in node.output:
            reach[name] = here
    final = reach.get(output)
    bound = None if final is None else math.ceil(final[0] + max(final[1], 1.0) - 1.0)
    return GraphReach(tuple(whole), bound)


@dataclass(frozen=True)
class ProbeModel:
    """What the probe needs to know about the model: its image inputs and output."""

    inputs: list[tuple[str, Layout, int, str]]
    """(name, layout, channels, dtype) of each image input."""
    output_index: int
    output_layout: Layout
    scale: float
    fixed_size: tuple[int, int] | None
    size_multiple: int


def _feed(spec: ProbeModel, images: list[NDArray[np.float32]]) -> dict[str, NDArray[np.generic]]:
    feeds = {}
    for (name, layout, _, dtype), image in zip(spec.inputs, images, strict=True):
        tensor = image.transpose(2, 0, 1) if layout == Layout.NCHW else image
        feeds[name] = np.ascontiguousarray(tensor[None]).astype(dtype)
    return feeds


def _hw_first(out: NDArray[np.generic], layout: Layout) -> NDArray[np.float64]:
    """Output as HxWxC float64."""
    array = out[0].transpose(1, 2, 0) if layout == Layout.NCHW else out[0]
    return np.asarray(array, np.float64)


def probe_reach(
    run: Callable[[dict[str, NDArray[np.generic]]], NDArray[np.generic]], spec: ProbeModel, size: tuple[int, int]
) -> int:
    """Measured radius in input pixels, or -1 when the response reaches the probe's borders.

    A block as large as the size multiple (every phase of a strided model) is changed at the centre, on two
    random backgrounds (a ReLU can hide a path on one); the distance is taken to the block's far side, so a
    strided model's worst phase is covered."""
    h, w = size
    m = spec.size_multiple
    block = max(1, min(m, h // 4, w // 4))
    top, left = (h // 2 // m) * m, (w // 2 // m) * m
    changed = np.zeros((round(h * spec.scale), round(w * spec.scale)), bool)
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        images = [rng.random((h, w, c), dtype=np.float32) for _, _, c, _ in spec.inputs]
        base = _hw_first(run(_feed(spec, images)), spec.output_layout)
        for image in images:
            image[top : top + block, left : left + block] += rng.choice([-0.5, 0.5], (block, block, image.shape[2]))
        moved = _hw_first(run(_feed(spec, images)), spec.output_layout)
        if moved.shape[:2] != changed.shape:
            changed = np.zeros(moved.shape[:2], bool)
        limit = _THRESHOLD * max(1.0, float(np.abs(base).max()))
        changed |= (np.abs(moved - base) > limit).any(axis=2)
    rows, cols = np.nonzero(changed)
    if rows.size == 0:
        return 0
    oh, ow = changed.shape
    if rows.min() == 0 and rows.max() == oh - 1 and cols.min() == 0 and cols.max() == ow - 1:
        return -1
    # Output pixel -> the input pixel it sits on; distance to the far side of the block.
    in_rows = np.floor((rows + 0.5) / spec.scale)
    in_cols = np.floor((cols + 0.5) / spec.scale)
    far_rows = np.maximum(np.abs(in_rows - top), np.abs(in_rows - (top + block - 1)))
    far_cols = np.maximum(np.abs(in_cols - left), np.abs(in_cols - (left + block - 1)))
    return int(max(far_rows.max(), far_cols.max()))


def _probe_size(spec: ProbeModel, bound: int | None) -> tuple[int, int]:
    if spec.fixed_size:
        return spec.fixed_size
    m = spec.size_multiple
    want = _PROBE_MAX if bound is None else min(_PROBE_MAX, max(_PROBE_MIN, 2 * bound + 4 * m + 8))
    side = -(-want // m) * m
    return side, side


def receptive_radius(
    model: onnx.ModelProto,
    run: Callable[[dict[str, NDArray[np.generic]]], NDArray[np.generic]],
    spec: ProbeModel,
    output: str,
) -> Radius:
    """The model's receptive radius: measured by the probe, cross-checked against the graph."""
    graph = graph_reach(model, [name for name, *_ in spec.inputs], output)
    if graph.whole_image_ops:
        return GLOBAL
    measured = probe_reach(run, spec, _probe_size(spec, graph.bound))
    if measured < 0:
        # Reached the probe's borders: the graph's bound when it is larger than the probe could show.
        size = _probe_size(spec, graph.bound)
        if graph.bound is not None and graph.bound >= min(size) // 2 and not spec.fixed_size:
            return graph.bound
        return GLOBAL
    return measured
