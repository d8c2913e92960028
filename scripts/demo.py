"""`make demo`: the main job end to end on the bundled sample model and scene.

1. The engine's command line inspects `samples/upscaler_x2.onnx`, converts it to fp16 (with its accuracy
   report) and offline-optimizes it into the cache at the precision `auto` picks here (twice: the second
   start is a cache hit).
2. Blender (the `bpy` module) opens `samples/scene.blend`, turns on the extension's ONNX post-process
   with the sample model, and renders the 3-frame animation at half resolution: every frame is upscaled
   x2 as soon as Blender writes it. The sample .blend is never saved over.
3. Blender renders frame 1 again at full resolution (640x360, few samples) as a reference, and the demo
   writes `demo_output/contact_sheet.png`: the source frame (nearest x2), bicubic x2, the model's x2 and
   the reference side by side, each labelled with its PSNR against the reference.
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
REFERENCE_SAMPLES = 8  # the reference render of frame 1: denoised, so few samples give a clean image
CLOSE_UP = (100, 80, 300, 180)  # x, y, width, height of the 1:1 close-up sheet (Suzanne and the torus)


def engine(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"demo step failed: python -m engine {' '.join(args)}\n{done.stderr}")
    return json.loads(done.stdout)


def prepare(cache: Path) -> str:
    """Inspect, convert and optimize the model with the engine's CLI; returns the CUDA fallback note it
    printed ("" when CUDA ran), so the Blender step does not say it again."""
    info = engine("info", str(MODEL))
    inputs = ", ".join(f"{t['name']} {t['layout']} {t['channels']} ch" for t in info["inputs"])
    print(f"model {MODEL.name}: x{info['scale']:g} upscaler, input {inputs}")
    report = engine("convert", str(MODEL), "--precision", "fp16", "--out", str(OUT / "upscaler_x2_fp16.onnx"))
    print(
        f"fp16 conversion {report['status']}: max abs error {report['max_abs_error']:.1e}, "
        f"PSNR {report['psnr_db']:.1f} dB against fp32, kept fp32: {', '.join(report['fp32_nodes']) or 'none'}"
    )
    for attempt in ("first", "second"):
        # The precision the product would choose here (auto: the fastest that passes the check on this provider).
        opt = engine("optimize", str(MODEL), "--precision", "auto", "--cache-dir", str(cache))
        hit = "cache hit" if opt["cache_hit"] else "optimized and cached"
        print(
            f"{attempt} start-up: {hit}, {opt['precision']} session ready in {opt['startup_seconds'] * 1000:.1f} ms "
            f"on {opt['provider']}"
        )
    if opt.get("precision_note"):
        print(f"precision: {opt['precision_note']}")
    note = opt["fallback_reason"] or ""
    if note:
        print(f"note: {note}")
    return note


def render_with_postprocess(cache: Path, said: str) -> Path:
    import os

    os.environ["ONNX_IMAGE_RUNTIME_CACHE"] = str(cache)
    import bpy

    from scripts.as_extension import import_extension

    bpy.ops.wm.open_mainfile(filepath=str(SCENE))
    extension = import_extension()
    extension.register()
    if said:
        import_extension("operators.jobs").first_time(said)  # the CUDA note: once per demo, already printed
    scene = bpy.context.scene
    scene.render.filepath = str(OUT / "render" / "frame_####")
    settings = scene.onnx_image_runtime
    settings.model_path = str(MODEL)
    settings.precision = "AUTO"
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


def render_reference() -> Path:
    """Frame 1 at the scene's full resolution (no post-process): what the x2 upscales are compared with."""
    import bpy

    bpy.ops.wm.open_mainfile(filepath=str(SCENE))
    scene = bpy.context.scene
    scene.render.resolution_percentage = 100
    scene.cycles.samples = REFERENCE_SAMPLES
    scene.frame_set(scene.frame_start)
    scene.render.filepath = str(OUT / "reference" / f"frame_{scene.frame_start:04d}")
    started = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    path = Path(scene.render.filepath + scene.render.file_extension)
    print(
        f"reference: frame {scene.frame_start} at {scene.render.resolution_x}x{scene.render.resolution_y}, "
        f"{REFERENCE_SAMPLES} samples, in {time.perf_counter() - started:.1f} s"
    )
    return path


def contact_sheet(source: Path, upscaled: Path, reference: Path) -> None:
    from engine import read_image
    from samples.contact_sheet import compose, crop, nearest_upsample, scored_panels, write_png
    from samples.imageops import bicubic_upsample

    low, ref = read_image(source)[:, :, :3], read_image(reference)[:, :, :3]
    panels = scored_panels(
        ref,
        {
            "source x2 (nearest)": nearest_upsample(low),
            "bicubic x2": bicubic_upsample(low),
            "model x2": read_image(upscaled)[:, :, :3],
        },
        reference_name=f"reference ({REFERENCE_SAMPLES} samples)",
    )
    path = OUT / "contact_sheet.png"
    write_png(path, compose(panels))
    close_up = OUT / "contact_sheet_close_up.png"
    write_png(close_up, compose(crop(panels, *CLOSE_UP)))
    scores = ", ".join(f"{p.name} {p.psnr_db:.2f} dB" for p in panels if p.psnr_db is not None)
    print(f"contact sheet: {path} (a 1:1 close-up: {close_up.name})")
    print(f"  PSNR against the full-resolution render of frame 1: {scores}")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    cache = OUT / "cache"
    note = prepare(cache)
    upscaled = render_with_postprocess(cache, note)
    from engine import read_image

    frames = sorted(upscaled.glob("*.exr"))
    if not frames:
        sys.exit("demo failed: no post-processed frames were written")
    h, w = read_image(frames[0]).shape[:2]
    print(f"result: {len(frames)} frames at {w}x{h} in {upscaled}")
    print(f"(renders as Blender wrote them: {OUT / 'render'})")
    contact_sheet(sorted((OUT / "render").glob("*.exr"))[0], frames[0], render_reference())


if __name__ == "__main__":
    main()
