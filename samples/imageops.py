"""Numpy image operations shared by the sample model's training, evaluation and test.

Images are float32 arrays (H, W, 3), scene-linear, rows top-down. No scipy or PIL: the resamplers and
metrics here are the reference ones quoted in samples/README.md.
"""

from __future__ import annotations

import numpy as np


def box_downsample(image: np.ndarray, factor: int = 2) -> np.ndarray:
    """Average each factor x factor block (scene-linear): how the low-resolution inputs are made."""
    h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    blocks = image[:h, :w].reshape(h // factor, factor, w // factor, factor, -1)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """sRGB transfer function on [0, 1] (inputs are clipped first): the display encoding the metrics use."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def _keys_cubic(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    t = np.abs(t)
    t2, t3 = t * t, t * t * t
    near = (a + 2) * t3 - (a + 3) * t2 + 1
    far = a * t3 - 5 * a * t2 + 8 * a * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _weights(n_in: int, scale: int, kernel, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights (n_out, taps) for one axis; pixel centres aligned (align_corners=False),
    edges clamped (replicate)."""
    centre = (np.arange(n_in * scale) + 0.5) / scale - 0.5
    first = np.floor(centre).astype(int) - radius + 1
    taps = first[:, None] + np.arange(2 * radius)[None, :]
    w = kernel(centre[:, None] - taps)
    w = w / w.sum(axis=1, keepdims=True)
    return np.clip(taps, 0, n_in - 1), w


def _resize(image: np.ndarray, scale: int, kernel, radius: int) -> np.ndarray:
    x = image.astype(np.float64)
    idx, w = _weights(x.shape[0], scale, kernel, radius)
    x = np.einsum("ot,otwc->owc", w, x[idx])
    idx, w = _weights(x.shape[1], scale, kernel, radius)
    x = np.einsum("ot,hotc->hoc", w, x[:, idx])
    return x.astype(np.float32)


def bicubic_upsample(image: np.ndarray, scale: int = 2) -> np.ndarray:
    """Separable Keys cubic convolution (a = -0.5), replicate edges."""
    return _resize(image, scale, _keys_cubic, 2)


def bilinear_upsample(image: np.ndarray, scale: int = 2) -> np.ndarray:
    """Separable linear interpolation (triangle kernel), replicate edges."""
    return _resize(image, scale, lambda t: np.maximum(0.0, 1.0 - np.abs(t)), 1)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB of the sRGB-encoded, [0, 1]-clipped images (peak 1)."""
    mse = float(np.mean((linear_to_srgb(reference).astype(np.float64) - linear_to_srgb(test)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def _gaussian_blur(x: np.ndarray, size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """'valid' separable Gaussian filter over the first two axes."""
    k = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    k /= k.sum()
    h, w = x.shape[0] - size + 1, x.shape[1] - size + 1
    rows = sum(k[i] * x[i : i + h] for i in range(size))
    return sum(k[j] * rows[:, j : j + w] for j in range(size))


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, L 1) of the
    sRGB-encoded, [0, 1]-clipped images, computed per channel and averaged; 'valid' windows only."""
    x = linear_to_srgb(reference).astype(np.float64)
    y = linear_to_srgb(test).astype(np.float64)
    c1, c2 = 0.01**2, 0.03**2
    mx, my = _gaussian_blur(x), _gaussian_blur(y)
    sxx = _gaussian_blur(x * x) - mx * mx
    syy = _gaussian_blur(y * y) - my * my
    sxy = _gaussian_blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def to_nchw(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


def from_nchw(tensor: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(tensor[0].transpose(1, 2, 0), dtype=np.float32)
