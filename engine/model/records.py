"""What a model is, as a record the rest of the product reads (no onnx here: a cached description is read
back, and images are laid out, without loading the ONNX library). model.describe fills these from a graph."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError
from ..json_values import (
    Json,
    float_from_json,
    float_to_json,
    int_from_json,
    ints_from_json,
    list_from_json,
    number_from_json,
    object_from_json,
    optional_int_from_json,
    str_from_json,
    strs_from_json,
)
from ..options import Layout

Dim = int | str | None
Constants = Mapping[str, tuple[float, ...]]
GLOBAL = "global"
"""A receptive radius that is the whole image."""


def _dim_from_json(value: object, key: str) -> Dim:
    if value is None or isinstance(value, str):
        return value
    return int_from_json(value, key)


@dataclass(frozen=True, kw_only=True)
class TensorInfo:
    name: str
    shape: tuple[Dim, ...]
    """Each dimension: its size, the name of a symbolic one, or None for an unnamed one."""
    dtype: str
    layout: Layout | None = None
    """Set for image tensors, None for anything else."""
    channels: int | None = None
    scale: float | None = None
    """For image outputs: output size divided by input size (from a probe run)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(self.shape))
        if self.layout is not None:
            object.__setattr__(self, "layout", Layout(self.layout))  # ValueError for a layout that is none
        if not all(d is None or isinstance(d, str) or (type(d) is int and d >= 0) for d in self.shape):
            raise ValueError(f"tensor {self.name!r}: shape {list(self.shape)} has a dimension that is no size or name")
        if (self.layout is None) != (self.channels is None):
            raise ValueError(f"tensor {self.name!r}: an image has a layout and a channel count, anything else neither")
        # An output whose shape the graph does not declare (no dimensions) is an image when a run shows one.
        if self.layout is not None and (len(self.shape) not in (0, 4) or not 1 <= (self.channels or 0) <= 4):
            raise ValueError(
                f"tensor {self.name!r}: an image is 4-D with 1-4 channels, not shape {list(self.shape)} with "
                f"{self.channels} channels"
            )
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"tensor {self.name!r}: scale {self.scale} is not a positive number")

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

    def to_json(self) -> Json:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "layout": None if self.layout is None else str(self.layout),
            "channels": self.channels,
            "scale": float_to_json(self.scale),
        }

    @classmethod
    def from_json(cls, data: object) -> TensorInfo:
        """What to_json wrote; layout, channels and scale may be missing (a non-image tensor)."""
        values = object_from_json(data, "tensor")
        name = str_from_json(values["name"], "tensor name")
        shape = list_from_json(values["shape"], f"{name}.shape")
        layout = values.get("layout")
        return cls(
            name=name,
            shape=tuple(_dim_from_json(d, f"{name}.shape[{i}]") for i, d in enumerate(shape)),
            dtype=str_from_json(values["dtype"], f"{name}.dtype"),
            layout=None if layout is None else Layout(str_from_json(layout, f"{name}.layout")),
            channels=optional_int_from_json(values.get("channels"), f"{name}.channels"),
            scale=float_from_json(values.get("scale"), f"{name}.scale"),
        )


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    scale: float
    """Output size divided by input size along height and width (2.0 for an x2 upscaler), of the first
    image-like output (each image output has its own `scale`)."""
    fixed_size: tuple[int, int] | None
    """(height, width) when the model only takes one size, else None."""
    size_multiple: int
    """Height and width must be multiples of this (1 when any size works)."""
    warnings: tuple[str, ...] = ()
    bytes_per_pixel: float = 0.0
    """Memory of every tensor the model computes, per input pixel (an upper bound; 0 if unknown)."""
    receptive_radius: int | str | None = None
    """Input pixels on each side an output pixel depends on, GLOBAL ("global") for the whole image, None if not
    measured (a description cached before it was)."""
    batch: int = 1
    """Images per run: the fixed batch of the image inputs (1 when the batch is dynamic)."""

    def __post_init__(self) -> None:
        for name in ("inputs", "outputs", "warnings"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.fixed_size is not None:
            object.__setattr__(self, "fixed_size", tuple(self.fixed_size))
        self._check()

    def _check(self) -> None:
        """The invariants: a description that breaks one would crop or misplace pixels, so it is never made (a
        cached one that breaks one is discarded and rebuilt)."""
        if isinstance(self.scale, bool) or not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale {self.scale!r} is not a positive number")
        fixed = self.fixed_size
        if fixed is not None and not (len(fixed) == 2 and all(type(d) is int and d > 0 for d in fixed)):
            raise ValueError(f"fixed_size {fixed!r} is not (height, width) in pixels")
        if type(self.size_multiple) is not int or self.size_multiple < 1:
            raise ValueError(f"size_multiple {self.size_multiple!r} is not a positive integer")
        if type(self.batch) is not int or self.batch < 1:
            raise ValueError(f"batch {self.batch!r} is not a positive integer")
        if not (math.isfinite(self.bytes_per_pixel) and self.bytes_per_pixel >= 0):
            raise ValueError(f"bytes_per_pixel {self.bytes_per_pixel!r} is not 0 or more")
        radius = self.receptive_radius
        if not (radius is None or radius == GLOBAL or (type(radius) is int and radius >= 0)):
            raise ValueError(f"receptive_radius {radius!r} is not pixels (0 or more), {GLOBAL!r} or None")
        names = [t.name for t in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"input names repeat: {names}")

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
            raise ModelError(f"output {name!r} is not image-like (shape {list(found.shape)}); its outputs: {listed}")
        return found

    def output_scale(self, t: TensorInfo) -> float:
        return self.scale if t.scale is None else t.scale

    def to_json(self) -> Json:
        return {
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "scale": float_to_json(self.scale),
            "fixed_size": None if self.fixed_size is None else list(self.fixed_size),
            "size_multiple": self.size_multiple,
            "warnings": list(self.warnings),
            "bytes_per_pixel": float_to_json(self.bytes_per_pixel),
            "receptive_radius": self.receptive_radius,
            "batch": self.batch,
        }

    @classmethod
    def from_json(cls, data: object) -> ModelInfo:
        """What to_json wrote. Keys newer than the first cached descriptions (warnings, bytes_per_pixel,
        receptive_radius, batch) may be missing: such a description reads with their defaults."""
        values = object_from_json(data, "model description")
        fixed = values["fixed_size"]
        radius = values.get("receptive_radius")
        return cls(
            inputs=tuple(TensorInfo.from_json(t) for t in list_from_json(values["inputs"], "inputs")),
            outputs=tuple(TensorInfo.from_json(t) for t in list_from_json(values["outputs"], "outputs")),
            scale=number_from_json(values["scale"], "scale"),
            fixed_size=None if fixed is None else _pair(ints_from_json(fixed, "fixed_size")),
            size_multiple=int_from_json(values["size_multiple"], "size_multiple"),
            warnings=strs_from_json(values.get("warnings", []), "warnings"),
            bytes_per_pixel=number_from_json(values.get("bytes_per_pixel", 0.0), "bytes_per_pixel"),
            receptive_radius=radius if radius is None or isinstance(radius, str) else int_from_json(radius, "radius"),
            batch=int_from_json(values.get("batch", 1), "batch"),
        )


def _pair(values: tuple[int, ...]) -> tuple[int, int]:
    if len(values) != 2:
        raise ValueError(f"fixed_size {list(values)} is not [height, width]")
    return values[0], values[1]


def is_float(t: TensorInfo) -> bool:
    return t.dtype.startswith("float")


def constant_feed(t: TensorInfo, value: tuple[float, ...]) -> NDArray[np.generic]:
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
