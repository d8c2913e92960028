"""A contract's word over the graph's declared input shapes: `"size": "dynamic"` and `"batch": N`.

Real exports often declare a fixed input that is an artefact of the export, not of the network: a fully
convolutional face detector exported at 10x3x32x32 whose package rewrites the input dimensions on load. Read as
declared, every picture is squeezed to 32x32. The contract can say so; the graph's image inputs and image outputs
are then re-declared (height and width symbolic, the batch as given) before anything describes or runs the model,
and the re-declared graph is run at two sizes to prove it: a graph that is really fixed (a Reshape to the export
size, a fully connected head) is refused with onnxruntime's reason.
"""

from __future__ import annotations

from dataclasses import replace

import onnx

from ..errors import ModelError
from ..options import Layout
from .contract import ContractError, DeclaredSize, ModelContract
from .cpu_session import cpu_session
from .describe import _feeds, _tensor_info
from .records import Constants, Dim, TensorInfo

_OTHER_SIZE = 32
"""Pixels added to each side for the second proving run: a multiple of every stride a real net uses."""


def _image_like(model: onnx.ModelProto, vi: onnx.ValueInfoProto, constants: Constants) -> TensorInfo | None:
    info = _tensor_info(model, vi)
    return info if info.is_image and vi.name not in constants else None


def _set(dim: onnx.TensorShapeProto.Dimension, value: int | str) -> None:
    if isinstance(value, int):
        dim.dim_value = value
    else:
        dim.dim_param = value


def _redeclare(vi: onnx.ValueInfoProto, info: TensorInfo, contract: ModelContract, prefix: str) -> None:
    dims = vi.type.tensor_type.shape.dim
    h, w = (2, 3) if info.layout == Layout.NCHW else (1, 2)
    if contract.size == DeclaredSize.DYNAMIC:
        _set(dims[h], f"{prefix}height")
        _set(dims[w], f"{prefix}width")
    if contract.batch:
        _set(dims[0], contract.batch)


def _declared(info: TensorInfo) -> str:
    return "x".join(str(d) if d is not None else "?" for d in info.shape)


def _declared_batch(images: list[TensorInfo]) -> int:
    """The batch the graph declares for its image inputs (kept when the contract re-declares only the size)."""
    first = images[0].shape[0] if images and images[0].shape else None
    return first if isinstance(first, int) and first > 0 else 1


def _prove(
    model: onnx.ModelProto,
    images: list[TensorInfo],
    others: list[TensorInfo],
    contract: ModelContract,
    base: tuple[Dim, Dim],
) -> None:
    """Run the re-declared graph at the export's size (`base`, as declared) and at another one; refuse it when
    only the first runs."""
    h0 = base[0] if isinstance(base[0], int) else 64
    w0 = base[1] if isinstance(base[1], int) else 64
    try:
        session = cpu_session(model, log_severity=4)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelError(f"onnxruntime cannot load the model with the contract's shapes: {exc}") from exc
    batch = contract.batch or _declared_batch(images)
    sizes = [(h0, w0)]
    if contract.size == DeclaredSize.DYNAMIC:
        sizes.append((h0 + _OTHER_SIZE, w0 + 2 * _OTHER_SIZE))
    for h, w in sizes:
        try:
            session.run(None, _feeds(images, others, contract.constant_values, h, w, batch))
        except Exception as exc:  # noqa: BLE001 - the refusal is the answer
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            said = ", ".join(f"{k} {v}" for k, v in (("size", contract.size), ("batch", contract.batch)) if v)
            raise ContractError(
                f"contract {said}: the model does not run as {batch}x{h}x{w} (its graph is fixed to the declared "
                f"shape, not only its inputs): {first[:300]}"
            ) from None


def apply_declarations(model: onnx.ModelProto, contract: ModelContract) -> list[str]:
    """Re-declare `model`'s image inputs and outputs in place as `contract` says (nothing when it says nothing)
    and prove the result runs; returns a note for each input changed."""
    if not contract.redeclares:
        return []
    constants = contract.constant_values
    initializers = {init.name for init in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in initializers]
    images = [(vi, info) for vi in inputs if (info := _image_like(model, vi, constants)) is not None]
    if not images:
        raise ContractError("contract size/batch: the model has no image input to re-declare")
    notes = []
    base = images[0][1].spatial()
    for vi, info in images:
        before = _declared(info)
        _redeclare(vi, info, contract, "")
        notes.append(f"input {vi.name} declared {before}, run as {_declared(_tensor_info(model, vi))} (contract)")
    for vi in model.graph.output:
        if (info := _image_like(model, vi, {})) is not None:
            _redeclare(vi, info, contract, "out_")
    # Intermediate shapes recorded at the export's size would contradict the new ones: onnxruntime infers them.
    del model.graph.value_info[:]
    redeclared = [_tensor_info(model, vi) for vi, _ in images]
    names = {info.name for info in redeclared}
    # Fed as constants, never as pictures.
    others = [replace(_tensor_info(model, vi), layout=None, channels=None) for vi in inputs if vi.name not in names]
    _prove(model, redeclared, others, contract, base)
    return notes
