"""Create samples/scene.blend: a small procedural Cycles scene for trying the add-on.

Three objects and a ground plane with procedural materials, a sun and an area light, a camera that moves
over frames 1-3; Cycles on the CPU, 640x360 at 50% (320x180), 32 samples, denoised; Diffuse Color and
Normal passes; output as multilayer EXR to //render/. No images are packed or referenced.

    .venv/bin/python -m samples.make_scene [--out samples/scene.blend] [--render]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import bpy
import numpy as np

from samples.scenes import add_primitive, look_at, quiet_stdout, random_material, setup_render

SEED = 6


def build_scene():
    rng = np.random.default_rng(SEED)
    with quiet_stdout():
        bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.name = "Sample"
    setup_render(scene, 640, 360, samples=32, denoise=True)
    scene.render.resolution_percentage = 50
    scene.frame_start, scene.frame_end = 1, 3

    world = bpy.data.worlds.new("World")
    scene.world = world
    if bpy.app.version < (5, 0, 0):
        world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.35, 0.45, 0.6, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.4

    bpy.ops.mesh.primitive_plane_add(size=30, location=(0, 0, -1))
    ground = bpy.context.active_object
    ground.name = "Ground"
    ground.data.materials.append(random_material("Ground", rng))
    for name, kind, location, scale in [
        ("Monkey", "monkey", (0.0, 0.0, 0.0), 0.9),
        ("Torus", "torus", (-2.2, 0.8, -0.4), 0.7),
        ("Cube", "cube", (2.0, -0.6, -0.3), 0.6),
    ]:
        obj = add_primitive(kind, location, scale, rng)
        obj.name = name
        obj.data.materials.append(random_material(name, rng))
    bpy.data.objects["Monkey"].rotation_euler = (0.2, 0.0, 0.5)

    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = 3.0
    sun.location = (4, -3, 6)
    look_at(sun)
    area = bpy.data.objects.new("Fill", bpy.data.lights.new("Fill", "AREA"))
    area.data.energy, area.data.size = 400.0, 2.0
    area.location = (-4, -4, 3)
    look_at(area)
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens = 35
    for obj in (sun, area, camera):
        scene.collection.objects.link(obj)
    scene.camera = camera
    for frame, x in zip((1, 2, 3), (-1.0, 0.0, 1.0), strict=True):
        camera.location = (x, -7.5, 2.5)
        look_at(camera, (x * 0.3, 0.0, 0.0))
        camera.keyframe_insert("location", frame=frame)
        camera.keyframe_insert("rotation_euler", frame=frame)

    layer = scene.view_layers[0]
    layer.use_pass_diffuse_color = True
    layer.use_pass_normal = True
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5.0
        settings.media_type = "MULTI_LAYER_IMAGE"
    else:
        settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "16"
    settings.exr_codec = "ZIP"
    scene.render.filepath = "//render/frame_"
    return scene


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("scene.blend"))
    parser.add_argument("--render", action="store_true", help="also render the animation next to the .blend")
    args = parser.parse_args(argv)
    scene = build_scene()
    out = args.out.resolve()
    bpy.context.preferences.filepaths.save_version = 0  # no scene.blend1 backup next to it
    with quiet_stdout():
        bpy.ops.wm.save_as_mainfile(filepath=str(out), compress=True)
    print(f"saved {out} ({out.stat().st_size / 1024:.0f} KiB)")
    if args.render:
        bpy.ops.render.render(animation=True, scene=scene.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
