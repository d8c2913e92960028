"""The command line's default path as processes, against a plain read-run-write script (issue 24): CPU time
(user + system of the child) of `python -m engine run` with its defaults, with `--precision fp32`, and of a
script a user would write with OpenImageIO and onnxruntime's defaults. Rounds are interleaved and rotated, so
every command sees the same background load; ratios of medians. Also `prepare_model(path)` with its default
precision against a raw session, timed in this process.

`python -m bench.cli_process [--rounds N] [--sizes 1080p,4k] [--overwrite]` prints one JSON line per row."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"1080p": (1080, 1920), "4k": (2160, 3840)}

PLAIN = """
import sys
import numpy as np, onnxruntime as ort, OpenImageIO as oiio
model, source, target = sys.argv[1:4]
image = oiio.ImageBuf(source).get_pixels(oiio.FLOAT)[:, :, :3]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
x = np.ascontiguousarray(image.transpose(2, 0, 1)[None])
y = session.run(None, {session.get_inputs()[0].name: x})[0][0].transpose(1, 2, 0)
out = oiio.ImageOutput.create(target)
out.open(target, oiio.ImageSpec(y.shape[1], y.shape[0], y.shape[2], oiio.FLOAT))
out.write_image(np.ascontiguousarray(y))
out.close()
"""


_INSTALLED = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
"""The children's environment: Python as installed, with compiled bytecode (pip compiles a wheel's modules when it
installs them; Blender writes them on an extension's first import). A shell with PYTHONDONTWRITEBYTECODE set would
have every run compile the engine's 80 modules from source again (0.05 s of CPU, measured), which no user pays;
the warm-up run writes them."""


def cpu_seconds(command: list[str]) -> float:
    """User + system CPU time of one child process (and its children), which a busy machine's other work
    does not add to the way it adds to wall time."""
    before = os.times()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=_INSTALLED)
    after = os.times()
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed: {done.stderr.strip()[-400:]}")
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def process_row(
    name: str, model: Path, size: tuple[int, int], work: Path, rounds: int, overwrite: bool = False
) -> dict:
    """The three commands' median CPU times on one image. Each command writes a new file, as a render or a farm
    frame does: its earlier output is removed (outside the timing) before every run. With `overwrite` each writes
    over its earlier output instead (the plain script truncates its file in place; the engine keeps the old file
    whole until the new one replaces it), which is how this bench ran before run H (docs/benchmarks.md)."""
    from engine import write_image

    source = work / f"in_{size[0]}.exr"
    write_image(source, np.random.default_rng(0).random((*size, 3), dtype=np.float32))
    cache = work / "cache"
    python = sys.executable

    def engine_run(output: str, *options: str) -> list[str]:
        return [
            python,
            "-m",
            "engine",
            "run",
            str(model),
            str(source),
            str(work / output),
            *options,
            "--cache-dir",
            str(cache),
        ]

    commands = {
        "plain": [python, "-c", PLAIN, str(model), str(source), str(work / "plain.exr")],
        "default": engine_run("d.exr"),
        "fp32": engine_run("f.exr", "--precision", "fp32"),
    }
    outputs = {"plain": work / "plain.exr", "default": work / "d.exr", "fp32": work / "f.exr"}

    def timed(key: str) -> float:
        if not overwrite:
            outputs[key].unlink(missing_ok=True)
        return cpu_seconds(commands[key])

    for key in commands:  # warm-up: fills the cache, as a second run of the same job finds it
        timed(key)
    times: dict[str, list[float]] = {key: [] for key in commands}
    order = list(commands)
    for round_ in range(rounds):
        for key in order[round_ % len(order) :] + order[: round_ % len(order)]:
            times[key].append(timed(key))
    median = {key: statistics.median(values) for key, values in times.items()}
    return {
        "model": name,
        "size": f"{size[1]}x{size[0]}",
        "rounds": rounds,
        "outputs": "overwritten" if overwrite else "new",
        "plain_cpu_s": round(median["plain"], 3),
        "default_cpu_s": round(median["default"], 3),
        "fp32_cpu_s": round(median["fp32"], 3),
        "default_vs_plain": round(median["default"] / median["plain"], 3),
        "default_vs_fp32": round(median["default"] / median["fp32"], 3),
    }


def prepare_row(name: str, model: Path, size: tuple[int, int], work: Path, rounds: int) -> dict:
    """prepare_model(path) with its default precision, against a raw session, on one image: run time alone."""
    from bench.raw_baseline import raw_feeds, raw_session
    from bench.timing import paired
    from engine import prepare_model

    image = np.random.default_rng(0).random((*size, 3), dtype=np.float32)
    prepared = prepare_model(model, cache_dir=work / "cache")
    raw = raw_session(model, "cpu")
    ours_feeds, raw_inputs = prepared.session_feeds(image), raw_feeds(raw, image)
    ours, plain = paired(
        lambda: prepared.session.run(None, ours_feeds), lambda: raw.run(None, raw_inputs), max(5, rounds)
    )
    return {
        "model": name,
        "size": f"{size[1]}x{size[0]}",
        "default_precision": str(prepared.precision),
        "prepare_default_ms": round(ours * 1e3, 1),
        "raw_ms": round(plain * 1e3, 1),
        "prepare_default_vs_raw": round(ours / plain, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_process")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="1080p,4k")
    parser.add_argument(
        "--overwrite", action="store_true", help="each command writes over its earlier output (default: a new file)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests import models

    work = Path(tempfile.mkdtemp())
    found = {
        "upscaler_x2 (sample)": ROOT / "samples" / "upscaler_x2.onnx",
        "conv_chain 3-16-16-3 (generated)": models.save(models.conv_chain((3, 16, 16, 3)), work / "chain.onnx"),
    }
    started = time.perf_counter()
    for name, model in found.items():
        for size in args.sizes.split(","):
            print(json.dumps(process_row(name, model, SIZES[size], work, args.rounds, args.overwrite)), flush=True)
        print(json.dumps(prepare_row(name, model, SIZES["1080p"], work, args.rounds)), flush=True)
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
