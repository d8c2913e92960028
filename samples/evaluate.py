"""Measure the sample x2 upscaler on held-out Cycles renders against bilinear and bicubic upscaling.

Renders `--scenes` random scenes with seeds the training never used (samples.train_upscaler.EVAL_SEED...),
2x2 box-downsamples each (scene-linear), upscales the result back with every method and compares it with the
full-resolution render. The model runs in onnxruntime (CPU) as exported (fp32) and after the engine's fp16
and mixed-precision (amp) conversions. Prints a Markdown table.

    .venv/bin/python -m samples.evaluate --scenes 16

PSNR and SSIM are computed on the sRGB-encoded image clipped to [0, 1] (what a viewer sees); SSIM uses
the Gaussian window of Wang et al. (11 x 11, sigma 1.5), per channel, averaged. Bicubic is Keys' cubic
convolution (a = -0.5) and bilinear the triangle kernel, both separable, pixel centres aligned, edges
replicated (samples/imageops.py). The images of each method are averaged per metric over the scenes.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from samples.imageops import bicubic_upsample, bilinear_upsample, box_downsample, from_nchw, psnr, ssim, to_nchw
from samples.train_upscaler import DEFAULT_CACHE, EVAL_SEED, render_set

MODEL = Path(__file__).with_name("upscaler_x2.onnx")


def onnx_upscaler(model: Path):
    """A function HWC scene-linear -> HWC, running an ONNX model file in onnxruntime on the CPU."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda image: from_nchw(session.run(None, {name: to_nchw(image)})[0])


def converted(model: Path, precision: str, sample: np.ndarray, folder: Path):
    """The engine's fp16 / amp conversion of the model file, validated on crops of `sample` (a held-out
    low-resolution render), saved in `folder`: (the converted file, the conversion's report)."""
    from engine import ConversionOptions, Status, convert_model_file

    out = folder / f"{model.stem}_{precision}.onnx"
    report = convert_model_file(model, ConversionOptions(precision=precision), sample=sample, out=out)
    if report.status != Status.OK:
        raise RuntimeError(f"{precision} conversion failed: {report.reason}")
    return out, report


def evaluate(images: np.ndarray, methods: dict) -> dict[str, tuple[float, float]]:
    scores = {name: ([], []) for name in methods}
    for hr in images:
        low = box_downsample(hr)
        for name, upscale in methods.items():
            out = upscale(low)
            scores[name][0].append(psnr(hr, out))
            scores[name][1].append(ssim(hr, out))
    return {name: (float(np.mean(p)), float(np.mean(s))) for name, (p, s) in scores.items()}


def table(results: dict[str, tuple[float, float]], baseline: str = "bicubic") -> str:
    base = results[baseline][0]
    lines = ["| Method | PSNR (dB) | SSIM | PSNR vs bicubic |", "|---|---:|---:|---:|"]
    for name, (p, s) in results.items():
        lines.append(f"| {name} | {p:.2f} | {s:.4f} | {p - base:+.2f} dB |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--scenes", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    images = render_set(args.scenes, EVAL_SEED, args.size, args.samples, args.cache)
    fp32, work = args.model, Path(tempfile.mkdtemp())
    sample = box_downsample(images[0])
    fp16, fp16_report = converted(fp32, "fp16", sample, work)
    amp, amp_report = converted(fp32, "amp", sample, work)
    methods = {
        "bilinear": bilinear_upsample,
        "bicubic": bicubic_upsample,
        "model fp32": onnx_upscaler(fp32),
        "model fp16": onnx_upscaler(fp16),
        "model amp": onnx_upscaler(amp),
    }
    results = evaluate(images, methods)
    text = table(results)
    header = (
        f"{len(images)} held-out scenes (seeds {EVAL_SEED}-{EVAL_SEED + len(images) - 1}), "
        f"{args.size}x{args.size} Cycles renders at {args.samples} samples (denoised), inputs "
        f"{args.size // 2}x{args.size // 2} by 2x2 box average; metrics on sRGB-encoded [0, 1] images.\n"
        f"Conversion check on a held-out crop: fp16 PSNR vs fp32 output {fp16_report.psnr_db:.1f} dB, "
        f"amp {amp_report.psnr_db:.1f} dB ({len(amp_report.fp32_nodes)} nodes kept fp32).\n"
        f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores, "
        f"Python {sys.version.split()[0]}; command: python -m samples.evaluate {' '.join(argv or sys.argv[1:])}\n"
    )
    print(header)
    print(text)
    print(f"\n({time.perf_counter() - start:.0f} s)")
    if args.markdown:
        args.markdown.write_text(header + "\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
