"""How far a converted model's output is from the fp32 reference on the same input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Accuracy:
    max_abs_error: float
    mean_abs_error: float
    psnr_db: float
    """Peak is max(1, largest reference magnitude), so HDR outputs are not flattered."""
    nonfinite_count: int

    def within(self, rtol: float, atol: float, reference: np.ndarray, output: np.ndarray) -> bool:
        return self.nonfinite_count == 0 and bool(np.allclose(output, reference, rtol=rtol, atol=atol))


def compare(reference: np.ndarray, output: np.ndarray) -> Accuracy:
    reference = reference.astype(np.float64)
    output = output.astype(np.float64)
    finite = np.isfinite(output)
    nonfinite = int(output.size - finite.sum())
    diff = np.abs(np.where(finite, output, 0.0) - reference)
    if nonfinite:
        return Accuracy(float("inf"), float("inf"), 0.0, nonfinite)
    mse = float(np.mean(diff**2))
    peak = max(1.0, float(np.abs(reference).max(initial=0.0)))
    psnr = float("inf") if mse == 0 else 10.0 * np.log10(peak**2 / mse)
    return Accuracy(float(diff.max(initial=0.0)), float(diff.mean()) if diff.size else 0.0, psnr, 0)
