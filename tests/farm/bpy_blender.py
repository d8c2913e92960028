"""A stand-in for the `blender` command on this machine, which has the `bpy` module but no Blender binary.

    python bpy_blender.py -b FILE.blend [-o PATH -x 1] -s START -e END [-j STEP] -a     # what the Render step runs
    python bpy_blender.py --make-scene FILE.blend RENDER_DIR             # a tiny Cycles scene for the tests

Renders with Blender itself (`bpy.ops.render.render(animation=True)`), so the frames, the `Saved:` lines
and the exit status are Blender's.
"""

from __future__ import annotations

import argparse
import sys


def tiny_cycles(scene) -> None:
    """A 32x24 Cycles render on the CPU with one sample: what every farm test renders."""
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 32, 24
    scene.render.resolution_percentage = 100


def make_scene(blend: str, render_dir: str) -> None:
    import bpy

    scene = bpy.context.scene
    tiny_cycles(scene)
    image = scene.render.image_settings
    image.media_type = "IMAGE"
    image.file_format = "OPEN_EXR"
    image.color_depth, image.exr_codec = "32", "ZIP"
    scene.render.filepath = f"{render_dir}/####"
    scene.render.use_file_extension = False  # the .blend's own output: no extension (the Render step overrides it)
    bpy.ops.wm.save_as_mainfile(filepath=blend)


def render(blend: str, start: int, end: int, step: int, output: str | None, extension: int | None) -> None:
    import bpy

    bpy.ops.wm.open_mainfile(filepath=blend)
    scene = bpy.context.scene
    if output is not None:  # Blender's -o and -x: the output path and whether it adds the file extension
        scene.render.filepath = output
    if extension is not None:
        scene.render.use_file_extension = bool(extension)
    scene.frame_start, scene.frame_end, scene.frame_step = start, end, step
    bpy.ops.render.render(animation=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--make-scene"]:
        make_scene(argv[1], argv[2])
        return 0
    parser = argparse.ArgumentParser(prog="bpy_blender.py")
    parser.add_argument("-b", dest="blend", required=True)
    parser.add_argument("-o", dest="output")
    parser.add_argument("-x", dest="extension", type=int)
    parser.add_argument("-s", dest="start", type=int, required=True)
    parser.add_argument("-e", dest="end", type=int, required=True)
    parser.add_argument("-j", dest="step", type=int, default=1)
    parser.add_argument("-a", dest="animation", action="store_true", required=True)
    args = parser.parse_args(argv)
    render(args.blend, args.start, args.end, args.step, args.output, args.extension)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
