"""`python -m bench` (or `make bench`): the benchmark suite. Every comparison is a ratio of medians
measured interleaved in the same run. Writes bench/results/latest.md and latest.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import SessionSettings  # noqa: E402
from tests import models  # noqa: E402

from .engine_suite import PRECISIONS, latency_rows, memory_row, overhead_row, sequence_row, startup_row  # noqa: E402
from .report import markdown  # noqa: E402
from .tiling_suite import tiling_models, tiling_row  # noqa: E402

SIZES = {"512": (512, 512), "1080p": (1080, 1920), "4k": (2160, 3840)}


def _models(work: Path) -> dict[str, Path]:
    found = {
        "sr_x2 (generated)": models.save(models.sr_x2(hidden=32), work / "sr_x2.onnx"),
        "unet (generated)": models.save(models.unet(), work / "unet.onnx"),
    }
    sample = ROOT / "samples" / "upscaler_x2.onnx"
    if sample.exists():
        found["upscaler_x2 (sample)"] = sample
    return found


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--sizes", default="512,1080p,4k")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-blender", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    settings = SessionSettings(provider=args.provider)
    work = Path(tempfile.mkdtemp())
    cache = work / "cache"
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    last = [started]

    def keep(section: str) -> None:
        # What is measured so far survives a failure later in the suite (it takes minutes); each part's time
        # shows where the suite's minutes go.
        now = time.perf_counter()
        results.setdefault("section_seconds", {})[section] = round(now - last[0], 1)
        last[0] = now
        (out / "partial.json").write_text(json.dumps(results, indent=2, default=str))

    found = _models(work)
    results: dict = {"machine": machine(), "provider": args.provider, "repeats": args.repeats}
    # 4K on a CPU takes seconds a run (16 s for the sample model in fp16): bound runs only, one repeat, and only
    # fp32 and the default precision (fp16 and mixed run slower on a CPU, as 512 and 1080p show), to keep the
    # suite under 10 minutes.
    cpu_4k = args.provider != "cuda"
    results["latency"] = [
        row
        for name, path in found.items()
        for size in args.sizes.split(",")
        for row in latency_rows(
            name,
            path,
            SIZES[size],
            settings,
            cache,
            1 if size == "4k" and cpu_4k else args.repeats,
            compare_plain=not (size == "4k" and cpu_4k),
            precisions=("fp32", "auto") if size == "4k" and cpu_4k else PRECISIONS,
        )
    ]
    keep("latency")
    results["startup"] = [
        startup_row(name, path, precision, settings, cache, max(5, args.repeats))
        for name, path in found.items()
        for precision in ("fp32", "fp16")
    ]
    keep("startup")
    results["overhead"] = [
        overhead_row(name, path, SIZES["1080p"], settings, cache, args.repeats) for name, path in found.items()
    ]
    keep("overhead")
    # At least 5 pairs: the lightest net's tiled/whole ratio sits near its goal, where 3 pairs swing by 0.05.
    results["tiling"] = [
        tiling_row(name, path, settings, cache, max(5, args.repeats)) for name, path in tiling_models(work).items()
    ]
    keep("tiling")
    sample = found.get("upscaler_x2 (sample)", found["sr_x2 (generated)"])
    sample_name = next(name for name, path in found.items() if path == sample)
    results["sequence"] = [
        sequence_row(sample_name, sample, settings, cache, 10, (540, 960), 1, codec)
        for codec in (None, "piz", "dwaa", "none")
    ]
    keep("sequence")
    from .temporal_cost import section_rows

    results["temporal"] = section_rows(sample_name, sample, settings, work, args.repeats)
    keep("temporal")
    chain = models.save(models.conv_chain((3, 16, 16, 3)), work / "conv_chain.onnx")
    results["memory"] = [
        memory_row("conv_chain 3-16-16-3 (generated)", chain, size, args.provider, cache)
        for size in ((2160, 3840), (4320, 7680))
    ]
    keep("memory")
    if args.provider == "cpu":
        from .int8_suite import cpu_row, int8_models, int8_row

        # INT8 where the CPU runs it faster (issue 30): 1080p, interleaved, with the rule's figures and auto's choice.
        results["cpu"] = cpu_row()
        results["int8"] = [int8_row(name, path, cache, args.repeats) for name, path in int8_models(work).items()]
        keep("int8")
    if args.provider == "cpu":
        from .cli_process import SIZES as PROCESS_SIZES
        from .cli_process import prepare_row, process_row

        # The command line's default path as processes against a plain read-run-write script (issue 24).
        results["cli_process"] = [
            process_row(name, path, PROCESS_SIZES[size], work, max(3, args.repeats))
            for name, path in (("upscaler_x2 (sample)", sample), ("conv_chain 3-16-16-3 (generated)", chain))
            for size in ("1080p", "4k")
        ] + [
            prepare_row(name, path, SIZES["1080p"], work, args.repeats)
            for name, path in (("upscaler_x2 (sample)", sample), ("conv_chain 3-16-16-3 (generated)", chain))
        ]
        keep("cli_process")
    if not args.skip_blender:
        from .blender_pixels import operator_row, pixel_path_row

        results["pixels"] = [
            pixel_path_row(name, found[name], SIZES["1080p"], settings, cache, args.repeats)
            for name in ("unet (generated)", "sr_x2 (generated)")
        ]
        results["operator"] = [
            operator_row(name, found[name], SIZES["1080p"], args.provider, max(3, args.repeats))
            for name in ("sr_x2 (generated)", sample_name)
        ]
    if not args.skip_blender:
        keep("blender")
    results["seconds"] = time.perf_counter() - started
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    (out / "latest.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
