"""What a model is, as the rest of the product needs to know it: image inputs, layout, channels, scale."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import onnx
from numpy.typing import NDArray

from ..errors import ModelError
from ..options import Layout
from .constant_bounds import check_constant_sizes
from .cpu_session import cpu_session
from .records import Constants, Dim, ModelInfo, TensorInfo, constant_feed, is_float

__all__ = ["Constants", "Dim", "ModelInfo", "TensorInfo", "constant_feed", "describe_model"]

if TYPE_CHECKING:
    import onnxruntime

_NP_TYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.DOUBLE: "float64",
}
_PROBE_BASE = 64
_MULTIPLES = (1, 2, 4, 8, 16, 32)


def _dims(value_info: onnx.ValueInfoProto) -> list[Dim]:
    dims: list[Dim] = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or None)
    return dims


def _channels(d: Dim) -> int | None:
    """The dimension as an image's channel count (1-4), or None when it cannot be one."""
    return d if isinstance(d, int) and 1 <= d <= 4 else None


def _transposed_to_nchw(model: onnx.ModelProto, name: str) -> bool:
    """True when the input goes straight into Transpose(perm=[0,3,1,2]): the graph's own NHWC adapter."""
    for node in model.graph.node:
        if node.op_type == "Transpose" and name in node.input:
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            return perm == [0, 3, 1, 2]
    return False


def _tensor_info(model: onnx.ModelProto, vi: onnx.ValueInfoProto) -> TensorInfo:
    elem = vi.type.tensor_type.elem_type
    dtype = _NP_TYPES.get(elem) or (onnx.helper.tensor_dtype_to_np_dtype(elem).name if elem else "unknown")
    shape = _dims(vi)
    info = TensorInfo(name=vi.name, shape=tuple(shape), dtype=dtype)
    if len(shape) != 4 or not dtype.startswith("float"):
        return info
    nchw, nhwc = _channels(shape[1]), _channels(shape[3])
    if nhwc and (not nchw or _transposed_to_nchw(model, vi.name)):
        return replace(info, layout=Layout.NHWC, channels=nhwc)
    if nchw:
        return replace(info, layout=Layout.NCHW, channels=nchw)
    return info


def _batch(images: list[TensorInfo]) -> int:
    batches = {t.shape[0] for t in images if isinstance(t.shape[0], int) and t.shape[0] > 1}
    if len(batches) > 1:
        raise ModelError(f"model's image inputs disagree on the batch size: {sorted(batches)}")
    return batches.pop() if batches else 1


def _feeds(
    images: list[TensorInfo], others: list[TensorInfo], constants: Constants, h: int, w: int, batch: int = 1
) -> dict[str, NDArray[np.generic]]:
    rng = np.random.default_rng(0)
    feeds = {}
    for t in images:
        c = t.channels or 1
        shape = (batch, c, h, w) if t.layout == Layout.NCHW else (batch, h, w, c)
        feeds[t.name] = rng.random(shape, dtype=np.float32).astype(t.dtype)
    for t in others:
        # Sizes only: a missing constant is a zero here, and an error when a picture is run.
        feeds[t.name] = constant_feed(t, tuple(constants.get(t.name, (0.0,))))
    return feeds


def _out_hw(out: NDArray[np.generic], layout: Layout | None) -> tuple[int, int]:
    return (out.shape[2], out.shape[3]) if layout == "NCHW" else (out.shape[1], out.shape[2])


def _resolve_output(t: TensorInfo, value: NDArray[np.generic]) -> TensorInfo:
    """Symbolic dimensions: `t` with the layout and channels as the probe run gave them."""
    if t.is_image or value.ndim != 4 or not is_float(t):
        return t
    shape = [int(d) for d in value.shape]
    nchw, nhwc = _channels(shape[1]), _channels(shape[3])
    if nchw and not nhwc:
        return replace(t, layout=Layout.NCHW, channels=nchw)
    if nhwc and not nchw:
        return replace(t, layout=Layout.NHWC, channels=nhwc)
    return t


_CANDIDATES = [(layout, c) for c in (3, 1, 4) for layout in (Layout.NCHW, Layout.NHWC)]


def _unresolved_images(inputs: list[TensorInfo], constants: Constants | None = None) -> list[TensorInfo]:
    """4-D float inputs whose channel dimension is symbolic: images whose channels a run must tell (an input the
    contract gives a constant is never a picture)."""
    return [
        t
        for t in inputs
        if not t.is_image
        and t.name not in (constants or {})
        and is_float(t)
        and len(t.shape) == 4
        and not isinstance(t.shape[1], int)
        and not isinstance(t.shape[3], int)
    ]


def _resolve_inputs(
    session: onnxruntime.InferenceSession, inputs: list[TensorInfo], constants: Constants
) -> list[TensorInfo]:
    """`inputs`, the symbolic-channel 4-D ones given the first layout and channel count the model runs with (left
    as they are, not images, when it runs with none)."""
    unresolved = {t.name for t in _unresolved_images(inputs, constants)}
    if not unresolved:
        return inputs
    for layout, channels in _CANDIDATES:
        tried = [replace(t, layout=layout, channels=channels) if t.name in unresolved else t for t in inputs]
        images = [t for t in tried if t.is_image]
        others = [t for t in tried if not t.is_image]
        try:
            session.run(None, _feeds(images, others, constants, _PROBE_BASE, _PROBE_BASE, _batch(images)))
            return tried
        except Exception:  # noqa: BLE001 - a refused layout is the answer we are probing for
            continue
    return inputs


def _no_image_input(inputs: list[TensorInfo]) -> ModelError:
    described = ", ".join(f"{t.name} {list(t.shape)}" for t in inputs) or "none"
    return ModelError(
        f"model has no image-like input (a 4-D float tensor with 1-4 channels, NCHW or NHWC); inputs: {described}"
    )


def _first_run(
    run: Callable[[int, int], list[NDArray[np.generic]] | None], fixed: tuple[int, int] | None, batch: int
) -> tuple[int, int, list[NDArray[np.generic]]]:
    """The model run once: at its fixed size, else at 64x64 (or 256x256 for a model that needs more)."""
    if fixed:
        results = run(*fixed)
        if results is None:
            raise ModelError(f"model fails to run on its own fixed input size {fixed[0]}x{fixed[1]} (batch {batch})")
        return fixed[0], fixed[1], results
    for side in (_PROBE_BASE, 256):
        results = run(side, side)
        if results is not None:
            return side, side, results
    raise ModelError("model fails to run on 64x64 and 256x256 test inputs")


def _resolve_outputs(
    declared: list[TensorInfo], results: list[NDArray[np.generic]], base_h: int
) -> tuple[list[TensorInfo], int]:
    """The outputs with their layouts, channels and scales from a run; the index of the first image-like one."""
    outputs = []
    for t, value in zip(declared, results, strict=True):
        t = _resolve_output(t, value)
        outputs.append(replace(t, scale=_out_hw(value, t.layout)[0] / base_h) if t.is_image else t)
    if not any(t.is_image for t in outputs):
        described = ", ".join(f"{t.name} {list(v.shape)}" for t, v in zip(outputs, results, strict=True))
        raise ModelError(f"model has no image-like output (4-D float tensor with 1-4 channels); outputs: {described}")
    return outputs, next(i for i, t in enumerate(outputs) if t.is_image)


def _declared_inputs(model: onnx.ModelProto, constants: Constants) -> list[TensorInfo]:
    """The graph's inputs; one the contract gives a constant is not a picture, whatever its shape (a style vector
    of [1, 1, 1, 100] reads like a 1x100 one-channel image)."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [_tensor_info(model, vi) for vi in model.graph.input if vi.name not in initializers]
    return [replace(t, layout=None, channels=None) if t.name in constants else t for t in inputs]


def describe_model(model: onnx.ModelProto, constants: Constants | None = None) -> ModelInfo:
    """Describe a loaded model; runs it on tiny inputs when shapes do not tell the channels, layout, scale or
    size rules. `constants` (the contract's) feed non-image inputs during the probe runs."""
    constants = constants or {}
    check_constant_sizes(model)  # before onnxruntime builds anything
    inputs = _declared_inputs(model, constants)
    outputs = [_tensor_info(model, vi) for vi in model.graph.output]
    if not any(t.is_image for t in inputs) and not _unresolved_images(inputs, constants):
        raise _no_image_input(inputs)
    try:
        session = cpu_session(model, log_severity=4)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelError(f"onnxruntime cannot load the model: {exc}") from exc
    inputs = _resolve_inputs(session, inputs, constants)
    images = [t for t in inputs if t.is_image]
    others = [t for t in inputs if not t.is_image]
    if not images:
        raise _no_image_input(inputs)
    batch = _batch(images)

    sizes = {tuple(t.spatial()) for t in images}
    fixed = [(s[0], s[1]) for s in sizes if isinstance(s[0], int) and isinstance(s[1], int)]
    if fixed and len(sizes) > 1:
        raise ModelError("model's image inputs disagree on size; cannot feed them one picture")

    def run(h: int, w: int) -> list[NDArray[np.generic]] | None:
        feeds = _feeds(images, others, constants, h, w, batch)  # a constant that cannot be fed is the user's error
        try:
            outputs: list[NDArray[np.generic]] = session.run(None, feeds)
            return outputs
        except Exception:  # noqa: BLE001 - a refused size is the answer we are probing for
            return None

    def memory(h: int, w: int) -> float:
        from .footprint import bytes_per_pixel

        return bytes_per_pixel(model, _feeds(images, others, constants, h, w, batch), h * w)

    base_h, base_w, results = _first_run(run, fixed[0] if fixed else None, batch)
    outputs, out_index = _resolve_outputs(outputs, results, base_h)
    out = outputs[out_index]
    described = ModelInfo(
        inputs=tuple(inputs), outputs=tuple(outputs), scale=float(out.scale or 1.0), fixed_size=None, size_multiple=1
    )
    if fixed:
        info = replace(described, fixed_size=(base_h, base_w), bytes_per_pixel=memory(base_h, base_w), batch=batch)
        return _with_radius(model, session, info, out_index, others, constants)

    def probe(side: int) -> tuple[int, int] | None:
        got = run(side, side)
        return None if got is None else _out_hw(got[out_index], out.layout)

    multiple = next(
        (m for m in _MULTIPLES if probe(base_h + m) == (round(described.scale * (base_h + m)),) * 2),
        base_h,
    )
    info = replace(described, size_multiple=multiple, bytes_per_pixel=memory(base_h, base_h), batch=batch)
    return _with_radius(model, session, info, out_index, others, constants)


def _with_radius(
    model: onnx.ModelProto,
    session: onnxruntime.InferenceSession,
    info: ModelInfo,
    out_index: int,
    others: list[TensorInfo],
    constants: Constants,
) -> ModelInfo:
    """`info` with its receptive radius measured (see receptive_field.py). The probe feeds one image; a fixed
    batch gets it repeated and non-image inputs get their constants."""
    from .receptive_field import ProbeModel, receptive_radius

    out = info.image_output
    spec = ProbeModel(
        inputs=[(t.name, Layout(str(t.layout)), t.channels or 1, t.dtype) for t in info.image_inputs],
        output_index=out_index,
        output_layout=Layout(str(out.layout)),
        scale=info.scale,
        fixed_size=info.fixed_size,
        size_multiple=info.size_multiple,
    )
    fixed = {t.name: constant_feed(t, tuple(constants.get(t.name, (0.0,)))) for t in others}

    def run(feeds: dict[str, NDArray[np.generic]]) -> NDArray[np.generic]:
        batched = {name: np.repeat(value, info.batch, axis=0) for name, value in feeds.items()}
        first: NDArray[np.generic] = session.run(None, {**batched, **fixed})[out_index][:1]
        return first

    return replace(info, receptive_radius=receptive_radius(model, run, spec, out.name))


def describe_inputs(model: onnx.ModelProto, constants: Constants | None = None) -> ModelInfo:
    """A description for any float model, image model or not (what `convert` needs): the full description
    when the model takes and gives images, else its inputs and outputs as declared."""
    try:
        return describe_model(model, constants)
    except ModelError:
        inputs = _declared_inputs(model, constants or {})
        outputs = [_tensor_info(model, vi) for vi in model.graph.output]
        sizes = [t.spatial() for t in inputs if t.is_image]
        fixed = next(((h, w) for h, w in sizes if isinstance(h, int) and isinstance(w, int)), None)
        batch = _batch([t for t in inputs if t.is_image])
        return ModelInfo(
            inputs=tuple(inputs), outputs=tuple(outputs), scale=1.0, fixed_size=fixed, size_multiple=1, batch=batch
        )
