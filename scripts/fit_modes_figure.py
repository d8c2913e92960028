"""Writes docs/fit_modes.png: one real-world-like picture through a fixed-size (128x128) global-context model
that the repository generates (tests/models.py `fixed_global`, shaped like a salient-object export: every
output pixel depends on the whole input). Left: the picture. Middle: `--fit tile`, each tile sees only its
own part of the picture, so neighbouring tiles disagree and the mask shows seams. Right: `--fit auto`, which
picks `resize` for such a model: one run on the whole picture, no seams.

Run: `.venv/bin/python scripts/fit_modes_figure.py` (a few seconds on a CPU)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import Fit, RunSettings, SessionSettings, prepare_model, run_image, write_image  # noqa: E402
from tests import models  # noqa: E402

HEIGHT, WIDTH = 288, 432


def landscape(height: int = HEIGHT, width: int = WIDTH, seed: int = 3) -> np.ndarray:
    """A procedural outdoor scene in linear light: sky gradient, sun, hills, a house, trees, grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    v, u = y / height, x / width
    image = np.empty((height, width, 3), np.float32)
    image[:] = np.stack([0.25 + 0.3 * v, 0.45 + 0.3 * v, 0.9 - 0.2 * v], axis=2)  # sky
    sun = (u - 0.8) ** 2 + ((v - 0.18) * height / width) ** 2 < 0.0035
    image[sun] = (3.0, 2.6, 1.8)
    hills = v > 0.62 + 0.08 * np.sin(u * 7.0) + 0.04 * np.sin(u * 17.0 + 1.0)
    image[hills] = np.stack([0.12 + 0.05 * u, 0.32 - 0.1 * v, 0.08 + 0 * u], axis=2)[hills]
    house = (np.abs(u - 0.32) < 0.09) & (v > 0.5) & (v < 0.72)
    image[house] = (0.7, 0.55, 0.4)
    roof = (v < 0.5) & (v > 0.5 - (0.09 - np.abs(u - 0.32)) * 0.9) & (np.abs(u - 0.32) < 0.1)
    image[roof] = (0.45, 0.1, 0.08)
    for cx, cy, r in ((0.08, 0.6, 0.07), (0.6, 0.63, 0.06), (0.93, 0.66, 0.08)):
        tree = (u - cx) ** 2 + ((v - cy) * height / width) ** 2 < (r * 0.6) ** 2
        image[tree] = (0.04, 0.18, 0.05)
    image *= 1.0 + 0.06 * rng.standard_normal((height, width, 1)).astype(np.float32)
    return np.clip(image, 0.0, None)


def _display(image: np.ndarray) -> np.ndarray:
    """Linear light to sRGB for an 8-bit picture."""
    image = np.clip(image, 0.0, 1.0)
    return np.where(image <= 0.0031308, image * 12.92, 1.055 * np.power(image, 1 / 2.4) - 0.055)


def main(out: Path = ROOT / "docs" / "fit_modes.png") -> Path:
    work = Path(tempfile.mkdtemp())
    model = models.save(models.fixed_global(128), work / "fixed_global.onnx")
    prepared = prepare_model(model, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=work / "cache")
    picture = landscape()
    tiled = run_image(prepared, picture, settings=RunSettings(fit=Fit.TILE))
    auto = run_image(prepared, picture, settings=RunSettings(fit=Fit.AUTO))
    for name, result in (("tile", tiled), ("auto", auto)):
        assert result.tiling is not None
        print(f"{name}: {result.tiling.text()}")
    gap = np.ones((HEIGHT, 8, 3), np.float32)
    panels = [_display(picture), gap, tiled.image, gap, auto.image]
    write_image(out, np.concatenate(panels, axis=1))
    return out


if __name__ == "__main__":
    print(main())
