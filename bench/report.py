"""Markdown tables from the suite's results."""

from __future__ import annotations


def _table(headers: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return lines + [""]


def _fmt(value) -> str:
    if isinstance(value, float):
        if value == float("inf"):
            return "inf"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def markdown(results: dict) -> str:
    lines = [
        f"Machine: {results['machine']}; provider {results['provider']}; medians of {results['repeats']} runs "
        f"after warm-up, comparisons interleaved; suite took {results['seconds']:.0f} s"
        + (
            " (" + ", ".join(f"{k} {v:.0f} s" for k, v in results["section_seconds"].items()) + ")."
            if results.get("section_seconds")
            else "."
        ),
        "",
        "### Latency and accuracy (accuracy against fp32 on the same synthetic image)",
        "",
    ]
    lat = results["latency"]
    lines += _table(
        ["model", "size", "precision", "bound ms", "plain ms", "bound/plain", "max abs err", "PSNR dB"],
        [
            [
                r["model"],
                r["size"],
                r["precision"],
                r["bound_ms"],
                r["plain_ms"],
                r["bound_ms"] / r["plain_ms"],
                r["max_abs_error"],
                r["psnr_db"],
            ]
            for r in lat
        ],
    )
    fp32 = {(r["model"], r["size"]): r["bound_ms"] for r in lat if r["precision"] == "fp32"}
    lines += ["### Precision speed-ups (bound, against fp32 bound)", ""]
    lines += _table(
        ["model", "size", "precision", "latency / fp32"],
        [
            [r["model"], r["size"], r["precision"], r["bound_ms"] / fp32[(r["model"], r["size"])]]
            for r in lat
            if r["precision"] != "fp32"
        ],
    )
    lines += ["### Session start-up: online optimization vs the cached offline model", ""]
    lines += _table(
        [
            "model",
            "precision",
            "session online ms",
            "session cached ms",
            "cached / online",
            "prepare, cache miss ms",
            "prepare, cache hit ms",
            "hit / miss",
        ],
        [
            [
                r["model"],
                r["precision"],
                r["online_ms"],
                r["cached_ms"],
                r["cached_ms"] / r["online_ms"],
                r["prepare_miss_ms"],
                r["prepare_hit_ms"],
                r["prepare_hit_ms"] / r["prepare_miss_ms"],
            ]
            for r in results["startup"]
        ],
    )
    lines += [
        "### Engine against plain onnxruntime, and tiling (1920x1080, fp32)",
        "",
        "Raw: `InferenceSession(path)` with onnxruntime's defaults on the original model (goal: session / raw",
        "<= 1.02).",
        "",
    ]
    lines += _table(
        [
            "model",
            "raw session.run ms",
            "engine session ms",
            "session / raw",
            "run_image ms",
            "run_image / raw",
            "tiled 512 ms",
            "tiled throughput / whole",
            "tiles",
            "tiled area / image area",
        ],
        [
            [
                r["model"],
                r["raw_ms"],
                r["session_ms"],
                r["session_ratio"],
                r["engine_ms"],
                r["overhead_ratio"],
                r["tiled_ms"],
                r["tiled_throughput_ratio"],
                r["tiles"],
                r["tiled_area_ratio"],
            ]
            for r in results["overhead"]
        ],
    )
    if "tiling" in results:
        lines += [
            "### Tiles shaped to the image (1920x1080, tiles of at most 512 px, automatic overlap, fp32, "
            "medians of at least 5 pairs)",
            "",
        ]
        lines += _table(
            [
                "model",
                "receptive radius px",
                "whole ms",
                "tiled ms",
                "tiled throughput / whole",
                "tiles (grid, shape)",
                "overlap px",
                "covered area / image area",
                "max abs tiled - whole",
            ],
            [
                [
                    r["model"],
                    r["receptive_radius"],
                    r["whole_ms"],
                    r["tiled_ms"],
                    r["tiled_throughput_ratio"],
                    f"{r['tiles']} ({r['grid']}, {r['tile_shape']})",
                    r["overlap"],
                    r["covered_ratio"],
                    r["max_abs_tiled_vs_whole"],
                ]
                for r in results["tiling"]
            ],
        )
    if "sequence" in results:
        lines += ["### Frame sequence post-processing (EXR on disk to EXR on disk, fp32)", ""]
        lines += _table(
            [
                "model",
                "frames",
                "size",
                "output codec",
                "raw model fps",
                "sequence fps",
                "sequence / raw",
                "read ms",
                "run ms",
                "write ms",
            ],
            [
                [
                    r["model"],
                    r["frames"],
                    r["size"],
                    r["output_codec"],
                    r["raw_fps"],
                    r["sequence_fps"],
                    r["throughput_ratio"],
                    r["read_ms"],
                    r["run_ms"],
                    r["write_ms"],
                ]
                for r in results["sequence"]
            ],
        )
    if "temporal" in results:
        lines += ["### Temporal measure and blend, per frame, against the model's run on it", ""]
        lines += _table(
            ["model", "size", "timed", "motion", "run ms", "measure ms", "blend ms", "measure / run", "blend / run"],
            [
                [r["model"], r["size"], r.get("timed", "sequence"), r.get("motion", "pan 2 px"), r["run_ms"],
                 r["measure_ms"], r["blend_ms"], r["measure_share"], r["blend_share"]]
                for r in results["temporal"]
            ],
        )  # fmt: skip
    if "pixels" in results:
        lines += [
            "### Blender pixel path (image datablock to datablock, fp32)",
            "",
            "Round trip: reading the source datablock and writing the result datablock, exactly the work",
            "the operator adds to the engine's run. Naive: `pixels[:]` both ways and a plain `session.run`.",
            "",
        ]
        lines += _table(
            [
                "model",
                "input",
                "output",
                "round trip ms",
                "pixels[:] round trip ms",
                "speed-up",
                "ours end-to-end ms",
                "naive end-to-end ms",
                "speed-up",
            ],
            [
                [
                    r["model"],
                    r["size"],
                    r["output_size"],
                    r["round_trip_ms"],
                    r["naive_io_ms"],
                    r["io_speedup"],
                    r["datablock_ms"],
                    r["naive_end_to_end_ms"],
                    r["end_to_end_speedup"],
                ]
                for r in results["pixels"]
            ],
        )
    if "memory" in results:
        lines += ["### Peak memory of one run (fresh process each; engine tiles within its budget)", ""]
        lines += _table(
            ["model", "size", "engine peak MB", "raw whole-image peak MB", "engine / raw"],
            [[r["model"], r["size"], r["engine_peak_mb"], r["raw_peak_mb"], r["ratio"]] for r in results["memory"]],
        )
    if "int8" in results:
        cpu = results.get("cpu", {})
        lines += [
            "### INT8 against fp32 on this CPU (`run_image`, whole image, int8 calibrated on it)",
            "",
            f"Vector extensions: {cpu.get('extensions', 'unknown')}; int8 dot product: "
            f"{cpu.get('int8_dot_product', 'unknown')}. Figures in display units against fp32 on the whole image "
            "(the rule: PSNR at least 40 dB, 99.9th percentile error at most 0.0157); `--precision int8` judges the "
            "image's richest crops and extremes; auto times int8 once at its size class (512x1024 for 1080p).",
            "",
        ]
        lines += _table(
            [
                "model",
                "size",
                "fp32 ms",
                "int8 ms",
                "int8 / fp32",
                "PSNR dB",
                "p99.9 err",
                "max err",
                "rule, whole image",
                "rule, --precision int8",
                "auto",
            ],
            [
                [r["model"], r["size"], r["fp32_ms"], r["int8_ms"], r["int8_over_fp32"], r["psnr_db"],
                 r["p999_abs_error"], r["max_abs_error"], r["rule_on_whole_image"], r["rule_on_crops"], r["auto"]]
                for r in results["int8"]
            ],
        )  # fmt: skip
    if "cli_process" in results:
        rows = results["cli_process"]
        lines += ["### `python -m engine run` as a process: CPU time against a plain read-run-write script", ""]
        lines += _table(
            [
                "model",
                "size",
                "plain s",
                "default s",
                "--precision fp32 s",
                "default / plain (goal <= 1.05)",
                "default / fp32 (goal <= 1.02)",
            ],
            [
                [
                    r["model"],
                    r["size"],
                    r["plain_cpu_s"],
                    r["default_cpu_s"],
                    r["fp32_cpu_s"],
                    r["default_vs_plain"],
                    r["default_vs_fp32"],
                ]
                for r in rows
                if "plain_cpu_s" in r
            ],
        )
        lines += ["", "`prepare_model(path)` with its default precision against a raw session (run time):", ""]
        lines += _table(
            ["model", "size", "default precision", "prepare_model ms", "raw ms", "ratio (goal <= 1.02)"],
            [
                [
                    r["model"],
                    r["size"],
                    r["default_precision"],
                    r["prepare_default_ms"],
                    r["raw_ms"],
                    r["prepare_default_vs_raw"],
                ]
                for r in rows
                if "raw_ms" in r
            ],
        )
        lines.append("")
    if "operator" in results:
        lines += [
            "### `bpy.ops.onnx.run_image` against a plain bpy script (foreach_get, plain onnxruntime, foreach_set)",
            "",
        ]
        lines += _table(
            ["model", "size", "operator ms", "plain script ms", "operator / script (goal <= 1.05)"],
            [[r["model"], r["size"], r["operator_ms"], r["plain_script_ms"], r["ratio"]] for r in results["operator"]],
        )
    return "\n".join(lines)
