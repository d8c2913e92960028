"""`make demo`: the main job end to end on the bundled sample model (or, until it ships, the generated
x2 upscaler): inspect, convert to fp16, offline-optimize into the cache, upscale an image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.imageio import write_image  # noqa: E402
from engine.samples import synthetic_image  # noqa: E402


def engine(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"demo step failed: python -m engine {' '.join(args)}\n{done.stderr}")
    return done.stdout


def main() -> None:
    out = ROOT / "demo_output"
    out.mkdir(exist_ok=True)
    model = ROOT / "samples" / "upscaler_x2.onnx"
    if not model.exists():
        from tests.models import save, sr_x2

        model = save(sr_x2(), out / "generated_x2.onnx")
    image = out / "input.exr"
    write_image(image, synthetic_image(540, 960, 4))
    cache = str(out / "cache")
    info = json.loads(engine("info", str(model)))
    print(f"model {model.name}: x{info['scale']:g}, inputs {[(t['name'], t['layout']) for t in info['inputs']]}")
    report = json.loads(engine("convert", str(model), "--precision", "fp16", "--out", str(out / "model_fp16.onnx")))
    print(f"fp16 conversion: {report['status']}, max abs error {report['max_abs_error']:.2e}, PSNR {report['psnr_db']}")
    for attempt in ("first", "second"):
        opt = json.loads(engine("optimize", str(model), "--precision", "fp16", "--cache-dir", cache))
        print(f"{attempt} start-up: cache hit {opt['cache_hit']}, {opt['startup_seconds']} s on {opt['provider']}")
    if opt["fallback_reason"]:
        print(f"note: {opt['fallback_reason']}")
    result = out / "upscaled.exr"
    engine("run", str(model), str(image), str(result), "--precision", "fp16", "--cache-dir", cache)
    print(f"result: {result}")


if __name__ == "__main__":
    main()
