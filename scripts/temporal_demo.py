"""Temporal stability on the sample scene (issue 29): a short camera move rendered with the Vector pass, then
post-processed by the sample upscaler with and without the temporal blend.

    python scripts/temporal_demo.py [--frames 8] [--blend 0.6] [--out demo_output/temporal]

Blender (the `bpy` module) renders `samples/scene.blend` at half resolution as multilayer EXRs with the Vector
and Depth passes (motion blur off, as Cycles needs for the Vector pass), the camera panning a little each frame,
with Cycles' seed animated so that render noise changes from frame to frame as it does in production. The engine
then runs `sequence` twice and prints the flicker figures of both runs (input, output, ratio). It writes
`strip.png`: one crop over time, a row per frame, columns input (nearest x2), output, blended output. The
.blend is never saved over.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL = ROOT / "samples" / "upscaler_x2.onnx"
SCENE = ROOT / "samples" / "scene.blend"
CROP = (190, 110, 128, 90)  # x, y, width, height at the output's size: Suzanne's face and the torus


def render(out: Path, frames: int) -> str:
    import bpy

    bpy.ops.wm.open_mainfile(filepath=str(SCENE))
    scene = bpy.context.scene
    scene.render.use_motion_blur = False
    layer = scene.view_layers[0]
    layer.use_pass_vector = layer.use_pass_z = True
    settings = scene.render.image_settings
    settings.media_type = "MULTI_LAYER_IMAGE"
    settings.color_depth = "32"
    scene.cycles.use_animated_seed = True
    camera = scene.camera
    camera.animation_data_clear()  # the scene's own 3-frame move: replaced by a slow pan
    start = camera.location.copy()
    scene.frame_start, scene.frame_end = 1, frames
    for frame in (1, frames):
        camera.location = start + camera.matrix_world.to_3x3().col[0] * (0.012 * (frame - 1))  # a slow pan right
        camera.keyframe_insert("location", frame=frame)
    scene.render.filepath = str(out / "render" / "####")
    bpy.ops.render.render(animation=True)
    return str(out / "render" / "####.exr")


def sequence(pattern: str, out: Path, frames: int, blend: float) -> dict:
    target = out / f"blend_{blend:g}" / "####.exr"
    command = [sys.executable, "-m", "engine", "sequence", str(MODEL), "--input", pattern, "--output", str(target)]
    command += ["--frames", f"1-{frames}", "--temporal-blend", str(blend), "--cache-dir", str(out / "cache")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"sequence failed:\n{done.stderr}")
    return json.loads(done.stdout)["temporal"]


def strip(pattern: str, out: Path, frames: int, blend: float) -> Path:
    from engine import read_image
    from samples.contact_sheet import nearest_upsample, write_png
    from samples.imageops import linear_to_srgb

    x, y, w, h = CROP
    rows = []
    for frame in range(1, frames + 1):
        name = f"{frame:04d}.exr"
        source = nearest_upsample(read_image(pattern.replace("####.exr", name))[:, :, :3])
        plain = read_image(out / "blend_0" / name)[:, :, :3]
        blended = read_image(out / f"blend_{blend:g}" / name)[:, :, :3]
        rows.append(np.concatenate([img[y : y + h, x : x + w] for img in (source, plain, blended)], axis=1))
    sheet = np.clip(linear_to_srgb(np.concatenate(rows, axis=0)), 0.0, 1.0)
    path = out / "strip.png"
    write_png(path, sheet)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--blend", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=ROOT / "demo_output" / "temporal")
    args = parser.parse_args(argv)
    pattern = render(args.out, args.frames)
    for blend in (0.0, args.blend):
        found = sequence(pattern, args.out, args.frames, blend)
        print(
            f"temporal blend {blend:g}: flicker of the input {found['input']:.5f}, of the output {found['output']:.5f},"
            f" ratio {found['ratio']:.3f} ({found['method']}, {len(found['frames'])} frame pairs, "
            f"{len(found['blended'])} frames blended)"
        )
    sheet = strip(pattern, args.out, args.frames, args.blend)
    print(f"strip of crops over time (input x2 nearest | output | blended): {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
