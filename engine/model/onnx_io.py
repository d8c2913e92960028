"""Reading and writing ONNX files with errors a person can act on, at an IR version the runtime accepts."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import onnx

from .. import atomic
from ..errors import ModelError

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def max_ir_version() -> int:
    """Highest IR version the installed onnxruntime loads, found by probing a one-node model."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    for ir in range(onnx.IR_VERSION, 3, -1):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = ir
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            return ir
        except Exception:  # noqa: BLE001 - any refusal means "too new", try the next one down
            continue
    raise ModelError("onnxruntime accepts no IR version this onnx package can write")


def clamp_ir_version(model: onnx.ModelProto) -> list[str]:
    """Lower the IR version to what onnxruntime accepts; returns a warning when it changed."""
    limit = max_ir_version()
    if model.ir_version > limit:
        old = model.ir_version
        model.ir_version = limit
        return [f"model IR version {old} is newer than onnxruntime accepts; rewritten at IR {limit}"]
    return []


def serialize(model: onnx.ModelProto) -> bytes:
    clamp_ir_version(model)
    data: bytes = model.SerializeToString()  # untyped in onnx's protobuf stubs
    return data


def load_model(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Load and sanity-check a model file. External weights are read from the model's folder.

    Raises: ModelError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    data = path.read_bytes()
    return parse_model(data, str(path), path.parent)


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of a graph and its subgraphs (initializers and Constant/attribute tensors)."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def _external_files(model: onnx.ModelProto, base_dir: Path, name: str) -> list[Path]:
    """The external-data files a model's tensors name, resolved against the model's folder (never the
    current directory); a location outside that folder or a missing file is a ModelError."""
    base = base_dir.resolve()
    files: list[Path] = []
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
        target = (base / location).resolve()
        if not location or not target.is_relative_to(base):
            raise ModelError(f"{name}: external data {location!r} of '{tensor.name}' is outside the model's folder")
        if not target.is_file():
            raise ModelError(f"{name}: external data file {location!r} of '{tensor.name}' not found beside the model")
        if target not in files:
            files.append(target)
    return files


def parse_model(data: bytes, name: str = "model", base_dir: str | os.PathLike[str] | None = None) -> onnx.ModelProto:
    """Parse and check a serialized model; external weights are loaded from `base_dir` (the model's
    folder), so the returned model is self-contained."""
    if not data:
        raise ModelError(f"{name} is empty")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for bad bytes
        raise ModelError(f"{name} is not a readable ONNX model (truncated or not ONNX): {exc}") from exc
    if model.ir_version <= 0 or not model.graph.node or not model.opset_import:
        raise ModelError(f"{name} is not an ONNX model (no graph, IR version or opset found)")
    if base_dir is not None and _external_files(model, Path(base_dir), name):
        from onnx.external_data_helper import load_external_data_for_model

        try:
            load_external_data_for_model(model, str(Path(base_dir).resolve()))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{name}: cannot read its external data: {exc}") from exc
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(f"{name} is not a valid ONNX model: {first}") from exc
    return model


def save_model(model: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Write atomically: a reader never sees half a model.

    Raises: ModelError when onnxruntime accepts no IR version the model can be written at."""
    atomic.write_bytes(Path(path), serialize(model))
