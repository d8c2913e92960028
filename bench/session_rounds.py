"""The engine's cached session against plain onnxruntime, in shuffled rounds: each round runs both in a random
order, 50 ms apart, so neither always runs second (onnxruntime's threads spin after a run by default, and the
session timed right after another ran 1-3% slower). Longer than the suite's pairs, for ratios near a goal.
`python -m bench.session_rounds --rounds 31` prints one JSON line per model."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine import SessionSettings, prepare_model, synthetic_image  # noqa: E402
from tests import models  # noqa: E402

from .raw_baseline import raw_feeds, raw_session  # noqa: E402
from .timing import after_pause  # noqa: E402


def session_rounds(name: str, model: Path, size, provider: str, cache: Path, rounds: int) -> dict:
    image = synthetic_image(*size)
    prepared = prepare_model(model, "fp32", settings=SessionSettings(provider=provider), cache_dir=cache)
    raw = raw_session(model, provider)
    raw_inputs = raw_feeds(raw, image)
    own = prepared.session_feeds(image)
    runs = {"raw": lambda: raw.run(None, raw_inputs), "engine": lambda: prepared.session.run(None, own)}
    times: dict[str, list[float]] = {key: [] for key in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(rounds):
        for key in random.sample(list(runs), len(runs)):
            times[key].append(after_pause(runs[key]))
    raw_s, engine_s = (statistics.median(times[key]) for key in ("raw", "engine"))
    return {
        "model": name,
        "size": f"{size[1]}x{size[0]}",
        "rounds": rounds,
        "raw_ms": raw_s * 1e3,
        "engine_session_ms": engine_s * 1e3,
        "session_ratio": engine_s / raw_s,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.session_rounds")
    parser.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--size", default="1080x1920", help="HEIGHTxWIDTH")
    parser.add_argument("--models", default="sr_x2,unet,sample", help="comma-separated: sr_x2, unet, sample")
    args = parser.parse_args(argv)
    height, _, width = args.size.partition("x")
    work = Path(tempfile.mkdtemp())
    found = {
        "sr_x2": ("sr_x2 (generated)", lambda: models.save(models.sr_x2(hidden=32), work / "sr_x2.onnx")),
        "unet": ("unet (generated)", lambda: models.save(models.unet(), work / "unet.onnx")),
        "sample": ("upscaler_x2 (sample)", lambda: ROOT / "samples" / "upscaler_x2.onnx"),
    }
    for key in args.models.split(","):
        name, path = found[key]
        row = session_rounds(name, path(), (int(height), int(width)), args.provider, work / "cache", args.rounds)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
