"""Tiling figures at 1920x1080: tiled (tiles of at most 512 px, automatic overlap) against whole-image
throughput, interleaved, for generated nets of known receptive radius and the sample model; with the
tiled-vs-whole difference and covered area / image area. `python -m bench.tiling_suite` runs this part alone."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine import RunSettings, SessionSettings, prepare_model, run_image, synthetic_image  # noqa: E402
from tests import models  # noqa: E402

from .timing import paired  # noqa: E402

SIZE = (1080, 1920)


def tiling_models(work: Path) -> dict[str, Path]:
    found = {
        "conv_stack(4) (generated)": models.save(models.conv_stack(4), work / "conv_stack.onnx"),
        "dilated(1,2,4) (generated)": models.save(models.dilated(), work / "dilated.onnx"),
        "unet_deep(3) (generated)": models.save(models.unet_deep(3), work / "unet3.onnx"),
        "sr_x2 (generated)": models.save(models.sr_x2(hidden=32), work / "sr_x2.onnx"),
    }
    sample = ROOT / "samples" / "upscaler_x2.onnx"
    if sample.exists():
        found["upscaler_x2 (sample)"] = sample
    return found


def tiling_row(name: str, model: Path, settings: SessionSettings, cache: Path, repeats: int, size=SIZE) -> dict:
    image = synthetic_image(*size)
    prepared = prepare_model(model, "fp32", settings=settings, cache_dir=cache)
    whole, tiles = RunSettings(tile=0), RunSettings(tile=512)
    whole_s, tiled_s = paired(
        lambda: run_image(prepared, image, settings=whole), lambda: run_image(prepared, image, settings=tiles), repeats
    )
    tiled = run_image(prepared, image, settings=tiles)
    reference = run_image(prepared, image, settings=whole)
    report = tiled.tiling
    assert report is not None
    return {
        "model": name,
        "size": f"{size[1]}x{size[0]}",
        "receptive_radius": prepared.info.receptive_radius,
        "whole_ms": whole_s * 1e3,
        "tiled_ms": tiled_s * 1e3,
        "tiled_throughput_ratio": whole_s / tiled_s,
        "tiles": report.tiles,
        "grid": f"{report.grid[0]}x{report.grid[1]}",
        "tile_shape": f"{report.tile_shape[1]}x{report.tile_shape[0]}",
        "overlap": report.overlap,
        "covered_ratio": report.covered_ratio,
        "max_abs_tiled_vs_whole": float(np.abs(tiled.image - reference.image).max()),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tiling_suite")
    parser.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="1080x1920", help="HEIGHTxWIDTH")
    args = parser.parse_args(argv)
    height, _, width = args.size.partition("x")
    work = Path(tempfile.mkdtemp())
    settings = SessionSettings(provider=args.provider)
    rows = [
        tiling_row(name, path, settings, work / "cache", args.repeats, (int(height), int(width)))
        for name, path in tiling_models(work).items()
    ]
    print(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
