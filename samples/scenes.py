"""Random procedural Cycles scenes rendered headless with the `bpy` module (Blender as a Python module).

Used to make the training data of the sample x2 upscaler, its held-out evaluation set and its test.
Every scene is a pure function of its seed: random primitives with procedural-texture materials
(noise, voronoi, checker, brick, wave, magic), random lights, world colour and camera.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile

import bpy
import numpy as np

TEXTURES = ("NOISE", "VORONOI", "CHECKER", "BRICK", "WAVE", "MAGIC")
PRIMITIVES = ("cube", "uv_sphere", "ico_sphere", "cylinder", "cone", "torus", "monkey")


def _clear() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _texture_node(nodes, kind: str, rng: np.random.Generator):
    if kind == "NOISE":
        tex = nodes.new("ShaderNodeTexNoise")
        tex.inputs["Scale"].default_value = rng.uniform(2, 25)
        tex.inputs["Detail"].default_value = rng.uniform(1, 10)
        tex.inputs["Distortion"].default_value = rng.uniform(0, 2)
    elif kind == "VORONOI":
        tex = nodes.new("ShaderNodeTexVoronoi")
        tex.feature = str(rng.choice(["F1", "F2", "SMOOTH_F1", "DISTANCE_TO_EDGE"]))
        tex.inputs["Scale"].default_value = rng.uniform(3, 30)
    elif kind == "CHECKER":
        tex = nodes.new("ShaderNodeTexChecker")
        tex.inputs["Scale"].default_value = rng.uniform(2, 30)
    elif kind == "BRICK":
        tex = nodes.new("ShaderNodeTexBrick")
        tex.inputs["Scale"].default_value = rng.uniform(2, 15)
        tex.inputs["Mortar Size"].default_value = rng.uniform(0.005, 0.05)
    elif kind == "WAVE":
        tex = nodes.new("ShaderNodeTexWave")
        tex.wave_type = str(rng.choice(["BANDS", "RINGS"]))
        tex.inputs["Scale"].default_value = rng.uniform(2, 20)
        tex.inputs["Distortion"].default_value = rng.uniform(0, 10)
    else:
        tex = nodes.new("ShaderNodeTexMagic")
        tex.inputs["Scale"].default_value = rng.uniform(2, 15)
    return tex


def random_colour(rng: np.random.Generator) -> tuple[float, float, float, float]:
    r, g, b = rng.uniform(0.0, 1.0, 3) ** 2.2
    return float(r), float(g), float(b), 1.0


def random_material(name: str, rng: np.random.Generator) -> bpy.types.Material:
    """Principled BSDF whose colour is a procedural texture through a two-colour ramp, with random
    roughness, sometimes metallic, sometimes bump-mapped by the same texture."""
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes.get("Principled BSDF")
    coords = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    mapping.inputs["Rotation"].default_value = tuple(rng.uniform(0, math.pi, 3))
    links.new(coords.outputs[str(rng.choice(["Object", "Generated"]))], mapping.inputs["Vector"])
    tex = _texture_node(nodes, str(rng.choice(TEXTURES)), rng)
    links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
    factor = tex.outputs["Fac"] if "Fac" in tex.outputs else tex.outputs["Distance"]
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = random_colour(rng)
    ramp.color_ramp.elements[1].color = random_colour(rng)
    ramp.color_ramp.elements[0].position = float(rng.uniform(0.0, 0.4))
    ramp.color_ramp.elements[1].position = float(rng.uniform(0.6, 1.0))
    if rng.random() < 0.3:
        ramp.color_ramp.interpolation = "CONSTANT"
    links.new(factor, ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = float(rng.uniform(0.05, 1.0))
    bsdf.inputs["Metallic"].default_value = float(rng.random() < 0.2)
    if rng.random() < 0.4:
        bump = nodes.new("ShaderNodeBump")
        bump.inputs["Strength"].default_value = float(rng.uniform(0.1, 0.6))
        links.new(factor, bump.inputs["Height"])
        links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    return mat


def add_primitive(kind: str, location, scale: float, rng: np.random.Generator) -> bpy.types.Object:
    rotation = tuple(rng.uniform(0, 2 * math.pi, 3))
    add = getattr(bpy.ops.mesh, f"primitive_{kind}_add")
    add(location=tuple(location), rotation=rotation)
    obj = bpy.context.active_object
    obj.scale = (scale,) * 3
    if kind in ("uv_sphere", "ico_sphere", "torus", "monkey") and rng.random() < 0.7:
        obj.data.shade_smooth()
    return obj


def look_at(obj: bpy.types.Object, target=(0.0, 0.0, 0.0)) -> None:
    from mathutils import Vector

    direction = Vector(target) - obj.location
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def setup_render(scene: bpy.types.Scene, width: int, height: int, samples: int, denoise: bool) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = denoise
    scene.cycles.max_bounces = 4
    scene.cycles.seed = 0
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.threads_mode = "FIXED"
    scene.render.threads = 2
    scene.view_settings.view_transform = "Standard"


def build_random_scene(seed: int, width: int = 128, height: int = 128, samples: int = 32, denoise: bool = True):
    """Replace the current file with a random scene; returns the scene."""
    rng = np.random.default_rng(seed)
    with quiet_stdout():
        _clear()
    scene = bpy.context.scene
    setup_render(scene, width, height, samples, denoise)
    scene.cycles.seed = seed

    world = bpy.data.worlds.new("World")
    scene.world = world
    if bpy.app.version < (5, 0, 0):
        world.use_nodes = True
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = random_colour(rng)
    background.inputs["Strength"].default_value = float(rng.uniform(0.05, 1.0))

    if rng.random() < 0.6:
        bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 0, float(rng.uniform(-2.0, -0.8))))
        bpy.context.active_object.data.materials.append(random_material("Ground", rng))

    for i in range(int(rng.integers(2, 7))):
        location = rng.uniform(-1.8, 1.8, 3) * (1.0, 1.0, 0.6)
        obj = add_primitive(str(rng.choice(PRIMITIVES)), location, float(rng.uniform(0.3, 1.1)), rng)
        obj.data.materials.append(random_material(f"Mat{i}", rng))

    for i in range(int(rng.integers(1, 4))):
        kind = str(rng.choice(["POINT", "AREA", "SUN", "SPOT"]))
        light = bpy.data.lights.new(f"Light{i}", kind)
        light.color = tuple(0.6 + 0.4 * rng.random(3))
        energies = {"SUN": rng.uniform(1, 6), "AREA": rng.uniform(200, 1500), "other": rng.uniform(300, 2000)}
        light.energy = float(energies.get(kind, energies["other"]))
        if kind == "AREA":
            light.size = float(rng.uniform(0.5, 3))
        obj = bpy.data.objects.new(f"Light{i}", light)
        scene.collection.objects.link(obj)
        obj.location = tuple(rng.uniform(-6, 6, 3) * (1, 1, 0.5) + (0, 0, 5))
        look_at(obj, tuple(rng.uniform(-1, 1, 3)))

    cam_data = bpy.data.cameras.new("Camera")
    cam_data.lens = float(rng.uniform(24, 70))
    cam = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(cam)
    distance = float(rng.uniform(3.5, 8.0)) * cam_data.lens / 40
    azimuth, elevation = rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 1.1)
    cam.location = (
        distance * math.cos(elevation) * math.cos(azimuth),
        distance * math.cos(elevation) * math.sin(azimuth),
        distance * math.sin(elevation),
    )
    look_at(cam, tuple(rng.uniform(-0.5, 0.5, 3)))
    scene.camera = cam
    return scene


@contextlib.contextmanager
def quiet_stdout():
    """Silence Blender's per-render log lines, which its C code writes straight to file descriptor 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def render_to_array(scene, path: str | None = None) -> np.ndarray:
    """Render the scene's camera with Cycles; returns scene-linear float32 RGB (H, W, 3), rows top-down."""
    import OpenImageIO as oiio

    settings = scene.render.image_settings
    settings.file_format = "OPEN_EXR"
    settings.color_depth = "32"
    settings.color_mode = "RGB"
    with tempfile.TemporaryDirectory() as tmp:
        scene.render.filepath = path or os.path.join(tmp, "render.exr")
        with quiet_stdout():
            bpy.ops.render.render(write_still=True, scene=scene.name)
        image = oiio.ImageBuf(bpy.path.abspath(scene.render.filepath))
        pixels = image.get_pixels(oiio.FLOAT)
    return np.ascontiguousarray(pixels[:, :, :3], dtype=np.float32)


def normalise_exposure(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale a render so its mean luminance is in a typical range (an exposure change, done in linear)."""
    luminance = float((image @ np.array([0.2126, 0.7152, 0.0722], np.float32)).mean())
    target = float(rng.uniform(0.05, 0.25))
    return (image * (target / max(luminance, 1e-4))).astype(np.float32)


def render_random_scene(seed: int, size: int = 128, samples: int = 32, denoise: bool = True) -> np.ndarray:
    """One random scene as a scene-linear float32 (size, size, 3) array, exposure-normalised."""
    scene = build_random_scene(seed, size, size, samples, denoise)
    image = render_to_array(scene)
    return normalise_exposure(image, np.random.default_rng(seed + 7919))
