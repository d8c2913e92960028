"""What a model is, as the rest of the product needs to know it: image inputs, layout, channels, scale."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np
import onnx

from ..errors import ModelError
from ..options import Layout
from .cpu_session import cpu_session

Dim = int | str | None

_NP_TYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.DOUBLE: "float64",
}
_PROBE_BASE = 64
_MULTIPLES = (1, 2, 4, 8, 16, 32)


@dataclass
class TensorInfo:
    name: str
    shape: list[Dim]
    dtype: str
    layout: Layout | None = None
    """Set for image tensors, None for anything else."""
    channels: int | None = None

    def __post_init__(self) -> None:
        # Read back from a cache entry's JSON as a plain string.
        if self.layout is not None:
            self.layout = Layout(self.layout)

    @property
    def is_image(self) -> bool:
        return self.layout is not None

    def spatial(self) -> tuple[Dim, Dim]:
        if self.layout == "NCHW":
            return self.shape[2], self.shape[3]
        return self.shape[1], self.shape[2]


@dataclass
class ModelInfo:
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    scale: float
    """Output size divided by input size along height and width (2.0 for an x2 upscaler)."""
    fixed_size: list[int] | None
    """[height, width] when the model only takes one size, else None."""
    size_multiple: int
    """Height and width must be multiples of this (1 when any size works)."""
    warnings: list[str] = field(default_factory=list)
    bytes_per_pixel: float = 0.0
    """Memory of every tensor the model computes, per input pixel (an upper bound; 0 if unknown)."""
    receptive_radius: int | str | None = None
    """Input pixels on each side an output pixel depends on, "global" for the whole image, None if not
    measured (a description cached before it was)."""

    @property
    def image_inputs(self) -> list[TensorInfo]:
        return [t for t in self.inputs if t.is_image]

    @property
    def image_output(self) -> TensorInfo:
        return next(t for t in self.outputs if t.is_image)

    def to_json(self) -> dict:
        data = asdict(self)
        keys = (
            "inputs",
            "outputs",
            "scale",
            "fixed_size",
            "size_multiple",
            "warnings",
            "bytes_per_pixel",
            "receptive_radius",
        )
        return {key: data[key] for key in keys}

    @classmethod
    def from_json(cls, data: dict) -> ModelInfo:
        return cls(
            inputs=[TensorInfo(**t) for t in data["inputs"]],
            outputs=[TensorInfo(**t) for t in data["outputs"]],
            scale=data["scale"],
            fixed_size=data["fixed_size"],
            size_multiple=data["size_multiple"],
            warnings=list(data.get("warnings", [])),
            bytes_per_pixel=float(data.get("bytes_per_pixel", 0.0)),
            receptive_radius=data.get("receptive_radius"),
        )


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
    info = TensorInfo(vi.name, shape, dtype)
    if len(shape) != 4 or not dtype.startswith("float"):
        return info
    nchw, nhwc = _channels(shape[1]), _channels(shape[3])
    if nhwc and (not nchw or _transposed_to_nchw(model, vi.name)):
        info.layout, info.channels = Layout.NHWC, nhwc
    elif nchw:
        info.layout, info.channels = Layout.NCHW, nchw
    return info


def _feeds(inputs: list[TensorInfo], h: int, w: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for t in inputs:
        c = t.channels or 1
        shape = (1, c, h, w) if t.layout == Layout.NCHW else (1, h, w, c)
        feeds[t.name] = rng.random(shape, dtype=np.float32).astype(t.dtype)
    return feeds


def _out_hw(out: np.ndarray, layout: Layout | None) -> tuple[int, int]:
    return (out.shape[2], out.shape[3]) if layout == "NCHW" else (out.shape[1], out.shape[2])


def describe_model(model: onnx.ModelProto) -> ModelInfo:
    """Describe a loaded model; runs it on tiny inputs when shapes do not tell the scale or size rules."""

    initializers = {init.name for init in model.graph.initializer}
    inputs = [_tensor_info(model, vi) for vi in model.graph.input if vi.name not in initializers]
    outputs = [_tensor_info(model, vi) for vi in model.graph.output]
    images = [t for t in inputs if t.is_image]
    if not images:
        described = ", ".join(f"{t.name} {t.shape}" for t in inputs) or "none"
        raise ModelError(
            f"model has no image-like input (a 4-D float tensor with 1-4 channels, NCHW or NHWC); inputs: {described}"
        )
    if len(images) != len(inputs):
        others = [t.name for t in inputs if not t.is_image]
        raise ModelError(f"model needs non-image inputs this runtime cannot fill: {', '.join(others)}")
    if not any(t.is_image for t in outputs):
        raise ModelError("model has no image-like output (4-D float tensor with 1-4 channels)")

    sizes = {tuple(t.spatial()) for t in images}
    fixed = [(s[0], s[1]) for s in sizes if isinstance(s[0], int) and isinstance(s[1], int)]
    if fixed and len(sizes) > 1:
        raise ModelError("model's image inputs disagree on size; cannot feed them one picture")

    try:
        session = cpu_session(model, log_severity=4)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelError(f"onnxruntime cannot load the model: {exc}") from exc
    out = next(t for t in outputs if t.is_image)
    out_index = outputs.index(out)

    def probe(h: int, w: int) -> tuple[int, int] | None:
        try:
            result = session.run(None, _feeds(images, h, w))[out_index]
        except Exception:  # noqa: BLE001 - a refused size is the answer we are probing for
            return None
        return _out_hw(result, out.layout)

    def memory(h: int, w: int) -> float:
        from .footprint import bytes_per_pixel

        return bytes_per_pixel(model, _feeds(images, h, w), h * w)

    if fixed:
        h, w = fixed[0]
        got = probe(h, w)
        if got is None:
            raise ModelError(f"model fails to run on its own fixed input size {h}x{w}")
        info = ModelInfo(inputs, outputs, got[0] / h, [h, w], 1, bytes_per_pixel=memory(h, w))
        return _with_radius(model, session, info, out_index)

    base = probe(_PROBE_BASE, _PROBE_BASE)
    if base is None:
        base_size = 256
        base = probe(base_size, base_size)
        if base is None:
            raise ModelError("model fails to run on 64x64 and 256x256 test inputs")
    else:
        base_size = _PROBE_BASE
    scale = base[0] / base_size
    multiple = next(
        (m for m in _MULTIPLES if probe(base_size + m, base_size + m) == (round(scale * (base_size + m)),) * 2),
        base_size,
    )
    info = ModelInfo(inputs, outputs, scale, None, multiple, bytes_per_pixel=memory(base_size, base_size))
    return _with_radius(model, session, info, out_index)


def _with_radius(model: onnx.ModelProto, session, info: ModelInfo, out_index: int) -> ModelInfo:
    """`info` with its receptive radius measured (see receptive_field.py)."""
    from .receptive_field import ProbeModel, receptive_radius

    out = info.image_output
    spec = ProbeModel(
        inputs=[(t.name, Layout(str(t.layout)), t.channels or 1, t.dtype) for t in info.image_inputs],
        output_index=out_index,
        output_layout=Layout(str(out.layout)),
        scale=info.scale,
        fixed_size=(info.fixed_size[0], info.fixed_size[1]) if info.fixed_size else None,
        size_multiple=info.size_multiple,
    )
    info.receptive_radius = receptive_radius(model, lambda feeds: session.run(None, feeds)[out_index], spec, out.name)
    return info


def inspect_model(path: str | os.PathLike[str]) -> ModelInfo:
    """Load a model file, lower its IR version where onnxruntime needs it, and describe it: what `info` prints
    and what Blender shows. The IR note joins the description's warnings."""
    from .onnx_io import clamp_ir_version, load_model

    model = load_model(path)
    warnings = clamp_ir_version(model)
    info = describe_model(model)
    info.warnings.extend(warnings)
    return info
