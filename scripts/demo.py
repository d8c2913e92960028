"""`make demo`: the main job end to end on the bundled sample model and scene.

1. The engine's command line inspects `samples/upscaler_x2.onnx`, converts it to fp16 (with its accuracy
   report) and offline-optimizes it into the cache (twice: the second start is a cache hit).
2. Blender (the `bpy` module) opens `samples/scene.blend`, turns on the extension's ONNX post-process
   with the sample model, and renders the 3-frame animation at half resolution: every frame is upscaled
   x2 as soon as Blender writes it. The sample .blend is never saved over.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = ROOT / "samples" / "upscaler_x2.onnx"
SCENE = ROOT / "samples" / "scene.blend"
OUT = ROOT / "demo_output"


def engine(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"demo step failed: python -m engine {' '.join(args)}\n{done.stderr}")
    return json.loads(done.stdout)


def prepare(cache: Path) -> None:
    info = engine("info", str(MODEL))
    inputs = ", ".join(f"{t['name']} {t['layout']} {t['channels']} ch" for t in info["inputs"])
    print(f"model {MODEL.name}: x{info['scale']:g} upscaler, input {inputs}")
    report = engine("convert", str(MODEL), "--precision", "fp16", "--out", str(OUT / "upscaler_x2_fp16.onnx"))
    print(
        f"fp16 conversion {report['status']}: max abs error {report['max_abs_error']:.1e}, "
        f"PSNR {report['psnr_db']:.1f} dB against fp32, kept fp32: {', '.join(report['fp32_nodes']) or 'none'}"
    )
    for attempt in ("first", "second"):
        opt = engine("optimize", str(MODEL), "--precision", "fp16", "--cache-dir", str(cache))
        hit = "cache hit" if opt["cache_hit"] else "optimized and cached"
        print(
            f"{attempt} start-up: {hit}, session ready in {opt['startup_seconds'] * 1000:.1f} ms on {opt['provider']}"
        )
    if opt["fallback_reason"]:
        print(f"note: {opt['fallback_reason']}")


def render_with_postprocess(cache: Path) -> Path:
    import os

    os.environ["ONNX_IMAGE_RUNTIME_CACHE"] = str(cache)
    import bpy

    from scripts.as_extension import import_extension

    bpy.ops.wm.open_mainfile(filepath=str(SCENE))
    extension = import_extension()
    extension.register()
    scene = bpy.context.scene
    scene.render.filepath = str(OUT / "render" / "frame_####")
    settings = scene.onnx_image_runtime
    settings.model_path = str(MODEL)
    settings.precision = "FP16"
    settings.postprocess = True
    settings.postprocess_output = str(OUT / "upscaled" / "frame_####.exr")
    width = scene.render.resolution_x * scene.render.resolution_percentage // 100
    height = scene.render.resolution_y * scene.render.resolution_percentage // 100
    print(f"rendering {SCENE.name} frames {scene.frame_start}-{scene.frame_end} at {width}x{height} (Cycles, CPU)")
    started = time.perf_counter()
    bpy.ops.render.render(animation=True)
    print(f"rendered and post-processed in {time.perf_counter() - started:.1f} s: {settings.postprocess_summary}")
    extension.unregister()
    return OUT / "upscaled"


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    cache = OUT / "cache"
    prepare(cache)
    upscaled = render_with_postprocess(cache)
    from engine.image.files import read_image

    frames = sorted(upscaled.glob("*.exr"))
    if not frames:
        sys.exit("demo failed: no post-processed frames were written")
    h, w = read_image(frames[0]).shape[:2]
    print(f"result: {len(frames)} frames at {w}x{h} in {upscaled}")
    print(f"(renders as Blender wrote them: {OUT / 'render'})")


if __name__ == "__main__":
    main()
