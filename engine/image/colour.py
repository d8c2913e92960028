"""Colour and value-range transforms around a model: scene-linear or sRGB, per-model normalization."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

COLOR_MODES = ("linear", "srgb")


@dataclass(frozen=True)
class Normalization:
    """x_model = (x * scale - mean) / std, per channel; outputs get the inverse."""

    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return (x * self.scale - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return (y * np.asarray(self.std, np.float32) + np.asarray(self.mean, np.float32)) / self.scale

    def to_json(self) -> dict:
        return asdict(self)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055).astype(
        np.float32
    )


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, np.power((np.maximum(x, 0.04045) + 0.055) / 1.055, 2.4)).astype(np.float32)


def encode(colour: np.ndarray, mode: str, norm: Normalization | None) -> tuple[np.ndarray, int]:
    """Into the model's space; returns (array, number of pixels clipped by the transform)."""
    if mode not in COLOR_MODES:
        raise ValueError(f"unknown colour mode {mode!r}; choose one of {COLOR_MODES}")
    clipped = 0
    if mode == "srgb":
        # sRGB models were trained on display-referred [0, 1]; HDR values cannot be represented.
        outside = (colour < 0.0) | (colour > 1.0)
        clipped = int(outside.any(axis=2).sum())
        colour = linear_to_srgb(np.clip(colour, 0.0, 1.0))
    if norm is not None:
        colour = norm.forward(colour)
    return colour.astype(np.float32, copy=False), clipped


def decode(colour: np.ndarray, mode: str, norm: Normalization | None) -> np.ndarray:
    if norm is not None:
        colour = norm.inverse(colour)
    if mode == "srgb":
        colour = srgb_to_linear(colour)
    return colour.astype(np.float32, copy=False)
