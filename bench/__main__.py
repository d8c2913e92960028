"""`python -m bench`: the engine's CPU figures, every comparison a ratio measured in the same run.

Medians over repeated runs after one warm-up. Writes bench/results/latest.md and latest.json.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.accuracy import compare  # noqa: E402
from engine.pipeline import RunSettings, run_image  # noqa: E402
from engine.prepare import prepare_model  # noqa: E402
from engine.samples import synthetic_image  # noqa: E402
from engine.sessions import SESSIONS, SessionSettings, create_session, resolve_provider  # noqa: E402
from tests.models import save, sr_x2  # noqa: E402

REPEATS = 5
CPU = SessionSettings(provider="cpu")


def median_seconds(fn, repeats=REPEATS) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired(fn_a, fn_b, repeats=REPEATS) -> tuple[float, float]:
    """Medians of two alternating timings: on a shared, noisy machine both see the same load."""
    fn_a(), fn_b()
    a, b = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, a), (fn_b, b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def startup(model_path: Path, cache: Path, precision: str) -> tuple[float, float]:
    """Online (optimize while loading) vs offline (load the cached optimized model, optimizations off)."""
    prepared = prepare_model(model_path, precision, CPU, cache)
    choice = resolve_provider(CPU)
    source = model_path.read_bytes()
    return paired(
        lambda: create_session(source, CPU, choice, "extended"),
        lambda: create_session(prepared.optimized_model, CPU, choice, "disabled"),
    )


def main() -> None:
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    model = save(sr_x2(hidden=32), work / "sr_x2.onnx")
    cache = work / "cache"
    image = synthetic_image(1080, 1920)
    rows, data = [], {"machine": f"{platform.processor() or platform.machine()}, {platform.platform()}"}

    reference = None
    whole = RunSettings(tile=0)
    for precision in ("fp32", "fp16", "amp"):
        SESSIONS.clear()
        prepared = prepare_model(model, precision, CPU, cache, sample=image)
        seconds = median_seconds(lambda p=prepared: run_image(p, image, settings=whole))
        output = run_image(prepared, image, settings=whole).image
        reference = output if reference is None else reference
        acc = compare(reference, output)
        online, offline = startup(model, cache, precision)
        data[precision] = {
            "latency_s": seconds,
            "max_abs_error": acc.max_abs_error,
            "psnr_db": acc.psnr_db,
            "startup_online_s": online,
            "startup_offline_s": offline,
        }
        rows.append(
            f"| {precision} | {seconds * 1000:.0f} | {acc.max_abs_error:.2e} | {acc.psnr_db:.1f} | "
            f"{online * 1000:.1f} | {offline * 1000:.1f} | {offline / online:.2f} |"
        )
    fp32 = data["fp32"]["latency_s"]

    prepared = prepare_model(model, "fp32", CPU, cache)
    raw_session, _ = create_session(model.read_bytes(), CPU, resolve_provider(CPU), "extended")
    tensor = np.ascontiguousarray(image.transpose(2, 0, 1)[None])
    whole = RunSettings(tile=0)
    raw, ours = paired(lambda: raw_session.run(None, {"x": tensor}), lambda: run_image(prepared, image, settings=whole))
    tiles = RunSettings(tile=512, overlap=32)
    ours_t, tiled = paired(
        lambda: run_image(prepared, image, settings=whole), lambda: run_image(prepared, image, settings=tiles)
    )
    plain_settings = RunSettings(tile=0, use_binding=False)
    ours_p, plain = paired(
        lambda: run_image(prepared, image, settings=whole), lambda: run_image(prepared, image, settings=plain_settings)
    )
    data["pipeline"] = {
        "raw_session_run_s": raw,
        "engine_run_s": ours,
        "tiled_512_s": tiled,
        "whole_vs_tiled_s": ours_t,
        "plain_run_s": plain,
        "bound_vs_plain_s": ours_p,
    }

    lines = [
        f"Machine: {data['machine']}, {__import__('os').cpu_count()} cores; model: generated x2 net (hidden 32); "
        f"image 1920x1080 RGB; median of {REPEATS} after warm-up; onnxruntime CPU provider.",
        "",
        "| precision | latency ms | max abs err vs fp32 | PSNR dB "
        "| start-up online ms | start-up cached ms | cached/online |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "| comparison | ratio |",
        "|---|---|",
        f"| fp16 / fp32 latency | {data['fp16']['latency_s'] / fp32:.2f} |",
        f"| amp / fp32 latency | {data['amp']['latency_s'] / fp32:.2f} |",
        f"| engine run_image / raw session.run (goal <= 1.05) | {ours / raw:.3f} |",
        f"| tiled 512 px / whole-image throughput (goal >= 0.85) | {ours_t / tiled:.3f} |",
        f"| IO binding / plain session.run latency in the engine | {ours_p / plain:.3f} |",
    ]
    table = "\n".join(lines)
    (out_dir / "latest.md").write_text(table + "\n")
    (out_dir / "latest.json").write_text(json.dumps(data, indent=2))
    print(table)


if __name__ == "__main__":
    main()
