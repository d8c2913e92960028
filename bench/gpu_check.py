"""The CUDA path on a lent GPU, as one prepared run (bench/gpu.sh): CUDA results against the CPU
provider, then fp32 / fp16 / mixed precision with and without IO binding at 1080p and 4K, start-up
online vs cached, cudnn_conv_algo_search variants, prefer_nhwc, channel padding for Tensor Cores, and the
temporal blend's cost against a model of real weight run on the device. The results are written after each step.

`--allow-cpu` runs every step on the CPU provider instead, so the script is tested where no GPU is.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import (  # noqa: E402
    OutputKind,
    RunSettings,
    SessionSettings,
    compare_images,
    gpu,
    load_model,
    pad_channels,
    prepare_model,
    release_model,
    run_image,
    save_model,
    synthetic_image,
)
from tests import models  # noqa: E402

from .engine_suite import startup_row  # noqa: E402
from .temporal_cost import tracker_row  # noqa: E402
from .timing import paired  # noqa: E402

SIZES = {"1080p": (1080, 1920), "4k": (2160, 3840)}
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "amp": 2e-2}


def log(line: str) -> None:
    print(line, flush=True)


def correctness(found, provider: str, cache: Path) -> list[dict]:
    """Each model and precision on `provider` against fp32 on the CPU provider, same image."""
    image = synthetic_image(256, 384, seed=3)
    rows = []
    for name, path in found.items():
        cpu = prepare_model(path, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=cache)
        reference = run_image(cpu, image).image
        release_model(cpu)  # each model and precision below gets a session of its own
        for precision in ("fp32", "fp16", "amp"):
            prepared = prepare_model(
                path, precision, settings=SessionSettings(provider=provider), cache_dir=cache, sample=image
            )
            acc = compare_images(reference, run_image(prepared, image).image, kind=OutputKind.VALUES)
            release_model(prepared)
            ok = acc.nonfinite_count == 0 and acc.max_abs_error <= TOLERANCE[precision]
            rows.append(
                {
                    "model": name,
                    "precision": precision,
                    "provider": prepared.provider,
                    "ok": ok,
                    "max_abs_error": acc.max_abs_error,
                    "psnr_db": acc.psnr_db,
                }
            )
            log(
                f"correctness {name} {precision} on {prepared.provider}: max abs {acc.max_abs_error:.3g} "
                f"PSNR {acc.psnr_db:.1f} {'OK' if ok else 'FAIL'}"
            )
    return rows


def timings(path: Path, name: str, provider: str, cache: Path, sizes, repeats: int, extra=None) -> list[dict]:
    rows = []
    for size_name in sizes:
        image = synthetic_image(*SIZES[size_name])
        for precision in ("fp32", "fp16", "amp"):
            settings = SessionSettings(provider=provider, **(extra or {}))
            prepared = prepare_model(path, precision, settings=settings, cache_dir=cache, sample=image[:256, :256])
            bound, plain = paired(
                lambda p=prepared, i=image: run_image(p, i, settings=RunSettings(use_binding=True)),
                lambda p=prepared, i=image: run_image(p, i, settings=RunSettings(use_binding=False)),
                repeats,
            )
            release_model(prepared)  # the next precision's session is its own, never this one handed out again
            row = {
                "model": name,
                "size": size_name,
                "precision": precision,
                "bound_ms": bound * 1e3,
                "plain_ms": plain * 1e3,
                "options": extra or {},
            }
            rows.append(row)
            log(
                f"timing {name} {size_name} {precision} {extra or ''}: bound {bound * 1e3:.1f} ms, "
                f"plain {plain * 1e3:.1f} ms"
            )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check")
    parser.add_argument("--out", required=True)
    parser.add_argument("--allow-cpu", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (CPU self-test)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reason = gpu.cuda_unavailable_reason()
    if reason and not args.allow_cpu:
        log(f"no CUDA: {reason}")
        return 4
    provider = "cpu" if reason else "cuda"
    if args.quick:
        SIZES.update({"1080p": (96, 128), "4k": (128, 192)})
    repeats = 2 if args.quick else 5
    work = Path(tempfile.mkdtemp())
    cache = work / "cache"
    found = {"sr_x2": models.save(models.sr_x2(hidden=32), work / "sr_x2.onnx")}
    sample = ROOT / "samples" / "upscaler_x2.onnx"
    if sample.exists():
        found["sample"] = sample
    main_name = "sample" if "sample" in found else "sr_x2"
    started = time.perf_counter()
    results = {"provider": provider, "cuda_reason": reason}
    import onnxruntime as ort

    def keep() -> None:
        # Written after every step: a run stopped by its time limit still brings back what it measured.
        results["seconds"] = time.perf_counter() - started
        (out / "gpu_results.json").write_text(json.dumps(results, indent=2))

    results["onnxruntime"] = ort.__version__
    results["correctness"] = correctness(found, provider, cache)
    keep()
    results["timings"] = timings(found[main_name], main_name, provider, cache, ("1080p", "4k"), repeats)
    keep()
    results["startup"] = [
        startup_row(main_name, found[main_name], p, SessionSettings(provider=provider), cache, repeats)
        for p in ("fp32", "fp16")
    ]
    keep()
    if provider == "cuda":
        variants = [{"cudnn_conv_algo_search": s} for s in ("HEURISTIC", "DEFAULT")] + [{"prefer_nhwc": True}]
        for variant in variants:
            try:
                results["timings"] += timings(
                    found[main_name], main_name, provider, cache, ("1080p",), repeats, variant
                )
            except Exception as exc:  # noqa: BLE001 - an option this build lacks is a finding, not a crash
                log(f"variant {variant} failed: {exc}")
                results.setdefault("variant_errors", []).append({"options": variant, "error": str(exc)})
    # Channel padding for Tensor Cores on a model whose widths (20) are not multiples of 8.
    narrow = models.save(models.conv_chain((3, 20, 20, 20, 3)), work / "narrow.onnx")
    padded, names = pad_channels(load_model(narrow), 8)
    save_model(padded, work / "narrow_pad8.onnx")
    results["padding"] = {"padded_nodes": names}
    for path, label in ((narrow, "narrow"), (work / "narrow_pad8.onnx", "narrow+pad8")):
        results["timings"] += timings(path, label, provider, cache, ("1080p",), repeats)
    keep()
    # The temporal blend (issue 29) runs on the CPU whatever the model's device: its cost per frame against an
    # upscaler of real weight run on this device, the figure that says whether the blend must move to the GPU.
    compact = models.save(models.compact_sr_x2(), work / "compact_sr_x2.onnx")
    settings = SessionSettings(provider=provider)
    results["temporal"] = [tracker_row("compact_sr_x2 64x16", compact, settings, cache, SIZES["1080p"], 3)]
    log(f"temporal: {results['temporal']}")
    keep()
    log(f"done in {results['seconds']:.0f} s")
    return 0 if all(r["ok"] for r in results["correctness"]) else 5


if __name__ == "__main__":
    sys.exit(main())
