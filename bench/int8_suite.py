"""INT8 against fp32 on this CPU (issue 30): `run_image` at 1920x1080 for the sample model, a conv chain and a U-Net,
interleaved, medians; the accuracy rule's figures on the whole 1080p output (int8 calibrated on that image); what
`auto` decides with its own measurement (timed once at its size class, 512x1024 for 1080p); and the CPU's vector
extensions. `python -m bench.int8_suite` runs this part alone."""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine import (  # noqa: E402
    AccuracyRule,
    ConversionError,
    ConversionOptions,
    RunSettings,
    SessionSettings,
    compare_images,
    cpu_features,
    prepare_model,
    run_image,
    synthetic_image,
)
from tests import models  # noqa: E402

from .timing import paired  # noqa: E402

SIZE = (1080, 1920)
CPU = SessionSettings(provider="cpu")
WHOLE = RunSettings(tile=0)
ANY_FINITE = AccuracyRule(min_psnr_db=-math.inf, max_p999_error=math.inf, min_mask_iou=0.0)
"""The rule an int8 model that is only timed is made under, as auto's own timing does: any finite output passes."""


def int8_models(work: Path) -> dict[str, Path]:
    found = {
        "conv_chain 3-16-16-3 (generated)": models.save(models.conv_chain((3, 16, 16, 3)), work / "chain.onnx"),
        "unet (generated)": models.save(models.unet(), work / "unet.onnx"),
    }
    sample = ROOT / "samples" / "upscaler_x2.onnx"
    if sample.exists():
        found = {"upscaler_x2 (sample)": sample, **found}
    return found


def cpu_row() -> dict:
    cpu = cpu_features()
    return {"extensions": " ".join(cpu.extensions), "int8_dot_product": cpu.int8_dot_product or "none"}


def _judged_on_crops(model: Path, image, cache: Path) -> str:
    """What `--precision int8` says: the rule on the image's richest crops and extremes, as the engine judges."""
    try:
        prepare_model(model, "int8", settings=CPU, cache_dir=cache, sample=image)
    except ConversionError as exc:
        return "refused: " + (exc.report.reason if exc.report is not None else str(exc))
    return "passed"


def int8_row(name: str, model: Path, cache: Path, repeats: int, size=SIZE) -> dict:
    """int8 (calibrated on the image, timed whether or not the rule accepts it) against fp32 on one image."""
    image = synthetic_image(*size)
    fp32 = prepare_model(model, "fp32", settings=CPU, cache_dir=cache)
    # The same int8 bytes as `--precision int8` makes (calibration does not depend on the rule), made under
    # ANY_FINITE so a model the rule refuses is still timed and its figures shown.
    timing = ConversionOptions(precision="int8", rule=ANY_FINITE)
    int8 = prepare_model(model, "int8", settings=CPU, cache_dir=cache, sample=image, options=timing)
    reference = run_image(fp32, image, settings=WHOLE).image
    output = run_image(int8, image, settings=WHOLE).image
    fp32_s, int8_s = paired(
        lambda: run_image(fp32, image, settings=WHOLE), lambda: run_image(int8, image, settings=WHOLE), repeats
    )
    rule = AccuracyRule()
    acc = compare_images(reference, output, rule=rule)
    failures = rule.failures(acc)
    auto = prepare_model(model, "auto", settings=CPU, cache_dir=cache.parent / f"auto-{model.stem}", sample=image)
    return {
        "model": name,
        "size": f"{size[1]}x{size[0]}",
        "fp32_ms": fp32_s * 1e3,
        "int8_ms": int8_s * 1e3,
        "int8_over_fp32": int8_s / fp32_s,
        "psnr_db": acc.psnr_db,
        "p999_abs_error": acc.p999_abs_error,
        "max_abs_error": acc.max_abs_error,
        "rule_on_whole_image": "within" if not failures else "outside: " + "; ".join(failures),
        "rule_on_crops": _judged_on_crops(model, image, cache),
        "auto": f"{auto.precision}: {auto.precision_note}",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.int8_suite")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp())
    rows = [int8_row(name, path, work / "cache", args.repeats) for name, path in int8_models(work).items()]
    print(json.dumps({"cpu": cpu_row(), "int8": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
