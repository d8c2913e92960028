"""What a model is, as a record the rest of the product reads (no onnx here: a cached description is read
back, and images are laid out, without loading the ONNX library). model.describe fills these from a graph."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ModelError
from ..options import Layout

Dim = int | str | None
Constants = Mapping[str, tuple[float, ...]]


@dataclass
class TensorInfo:
    name: str
    shape: list[Dim]
    dtype: str
    layout: Layout | None = None
    """Set for image tensors, None for anything else."""
    channels: int | None = None
    scale: float | None = None
    """For image outputs: output size divided by input size (from a probe run)."""

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

    def fixed_shape(self) -> tuple[int, ...]:
        """The shape with every symbolic dimension as 1: how a constant is fed to a non-image input."""
        return tuple(d if isinstance(d, int) and d > 0 else 1 for d in self.shape)


@dataclass
class ModelInfo:
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    scale: float
    """Output size divided by input size along height and width (2.0 for an x2 upscaler), of the first
    image-like output (each image output has its own `scale`)."""
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
    batch: int = 1
    """Images per run: the fixed batch of the image inputs (1 when the batch is dynamic)."""

    @property
    def image_inputs(self) -> list[TensorInfo]:
        return [t for t in self.inputs if t.is_image]

    @property
    def other_inputs(self) -> list[TensorInfo]:
        """Inputs that are not images: they are fed the contract's constants."""
        return [t for t in self.inputs if not t.is_image]

    @property
    def image_output(self) -> TensorInfo:
        return next(t for t in self.outputs if t.is_image)

    def output_named(self, name: str = "") -> TensorInfo:
        """The output that is the result: `name`, or the first image-like one when empty."""
        if not name:
            return self.image_output
        found = next((t for t in self.outputs if t.name == name), None)
        listed = ", ".join(f"{t.name}{' (image)' if t.is_image else ''}" for t in self.outputs)
        if found is None:
            raise ModelError(f"model has no output {name!r}; its outputs: {listed}")
        if not found.is_image:
            raise ModelError(f"output {name!r} is not image-like (shape {found.shape}); its outputs: {listed}")
        return found

    def output_scale(self, t: TensorInfo) -> float:
        return self.scale if t.scale is None else t.scale

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
            "batch",
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
            batch=int(data.get("batch", 1)),
        )


def is_float(t: TensorInfo) -> bool:
    return t.dtype.startswith("float")


def constant_feed(t: TensorInfo, value: tuple[float, ...]) -> np.ndarray:
    """A non-image input filled with a contract constant (one value, or one per element of the last axis)."""
    shape = t.fixed_shape()
    if len(value) == 1:
        return np.full(shape, value[0], dtype=np.dtype(t.dtype) if is_float(t) else np.float32).astype(t.dtype)
    last = shape[-1] if shape else 1
    if len(value) != last:
        raise ModelError(
            f"constant for '{t.name}' has {len(value)} values; the input's shape is {list(t.shape)}: give one value, "
            f"or {last} (one per element of its last axis)"
        )
    return np.broadcast_to(np.asarray(value), shape).astype(t.dtype)
