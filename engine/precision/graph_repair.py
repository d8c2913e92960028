"""Repairs applied before a precision conversion, each for a way real exported models break fp16 converters."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ..model.cpu_session import cpu_session
from ..model.onnx_io import parse_model

# onnxconverter-common clamps initializers to this magnitude; values beyond it change the model's maths.
FP16_SAFE_MAX = 1e4


def drop_initializer_inputs(model: onnx.ModelProto) -> int:
    """Old (opset <= 9) exports list initializers as graph inputs; a converted initializer then
    disagrees with its fp32 input declaration and the model fails to load."""
    names = {init.name for init in model.graph.initializer}
    keep = [vi for vi in model.graph.input if vi.name not in names]
    dropped = len(model.graph.input) - len(keep)
    if dropped:
        del model.graph.input[:]
        model.graph.input.extend(keep)
        if model.ir_version < 4:
            model.ir_version = 4
    return dropped


def name_nodes(model: onnx.ModelProto) -> int:
    """Mixed precision addresses nodes by name, so every node needs a unique one."""
    seen: set[str] = set()
    renamed = 0
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{index}"
            renamed += 1
        seen.add(node.name)
    return renamed


def fold_with_ort_basic(model: onnx.ModelProto, workdir: str) -> onnx.ModelProto:
    """ONNX Runtime's basic (provider-independent) optimizations fold BatchNormalization into the
    preceding Conv and Constant nodes into initializers, which removes the classic fp16 overflow of
    running variances."""
    path = f"{workdir}/basic.onnx"
    cpu_session(model, "basic", save_to=path)
    with open(path, "rb") as fh:
        return parse_model(fh.read(), "pre-optimized model")


def oversized_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes fed by float initializers that fp16 conversion would clamp: keep them fp32."""
    big = set()
    for init in model.graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            values = numpy_helper.to_array(init)
            if values.size and float(np.abs(values).max()) > FP16_SAFE_MAX:
                big.add(init.name)
    return [node.name for node in model.graph.node if big.intersection(node.input)]


def prepare_for_fp16(model: onnx.ModelProto, workdir: str) -> tuple[onnx.ModelProto, list[str]]:
    """Return a repaired copy and the notes on what was repaired."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    notes = []
    if dropped := drop_initializer_inputs(model):
        notes.append(f"removed {dropped} initializers listed as graph inputs")
    model = fold_with_ort_basic(model, workdir)
    if renamed := name_nodes(model):
        notes.append(f"named {renamed} unnamed or duplicate nodes")
    return model, notes
