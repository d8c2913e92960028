"""Issue 29 in real Blender: the Vector pass's layout taken from a Cycles render of a moving plane (the engine's
reading of it is what batch/temporal.py documents), and the render post-process measuring and blending."""

from __future__ import annotations

import numpy as np

W, H = 40, 20
PX_PER_FRAME = 2  # an orthographic camera 20 units wide over 40 px: 2 px a unit; the plane moves 1 unit a frame right
UP_PER_FRAME = 1  # and half a unit a frame up (Blender's y): both signs of the Vector pass are checked


def moving_plane_scene(bpy, folder):
    """A plane moving right by 1 unit (2 px) and up by half a unit (1 px) a frame in front of an orthographic camera,
    rendered as multilayer
    EXR frames with the Vector and Depth passes (motion blur off: Cycles then writes the Vector pass)."""
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = W, H, 100
    scene.render.use_motion_blur = False
    for thing in list(scene.objects):  # the startup cube would hide part of the plane
        bpy.data.objects.remove(thing)
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    scene.collection.objects.link(sun)
    bpy.ops.mesh.primitive_plane_add(size=4)
    plane = bpy.context.object
    camera = bpy.data.objects.new("ortho", bpy.data.cameras.new("ortho"))
    camera.data.type, camera.data.ortho_scale = "ORTHO", 20
    camera.location, camera.rotation_euler = (0, 0, 10), (0, 0, 0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    for frame, x, y in ((1, -2.0, -1.0), (5, 2.0, 1.0)):
        plane.location = (x, y, 0)
        plane.keyframe_insert("location", frame=frame)
    scene.frame_set(1)
    layer = scene.view_layers[0]
    layer.use_pass_vector = layer.use_pass_z = True
    image = scene.render.image_settings
    image.media_type = "MULTI_LAYER_IMAGE"
    image.color_depth = "32"
    scene.render.filepath = str(folder / "render" / "####")
    scene.frame_start, scene.frame_end = 1, 4
    return scene, plane


def _linear(plane) -> None:
    """Linear keys: the plane moves the same distance every frame (Blender 4.4+ keeps f-curves in channelbags)."""
    action = plane.animation_data.action
    curves = list(getattr(action, "fcurves", []) or [])
    for layer in getattr(action, "layers", []):
        for strip in layer.strips:
            for bag in strip.channelbags:
                curves.extend(bag.fcurves)
    for curve in curves:
        for key in curve.keyframe_points:
            key.interpolation = "LINEAR"


def test_the_vector_pass_layout_from_a_real_render(clean_file, tmp_path):
    bpy = clean_file
    from onnx_image_runtime.engine.batch.temporal import Motion, consistent, warp
    from onnx_image_runtime.engine.image.files import read_layers
    from onnx_image_runtime.engine.image.passes import combined_layer, find_pass

    scene, plane = moving_plane_scene(bpy, tmp_path)
    _linear(plane)
    assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    layers = {f: read_layers(tmp_path / "render" / f"{f:04d}.exr") for f in (2, 3)}
    vectors = {f: find_pass(layers[f], "Vector") for f in (2, 3)}
    assert all(v is not None and v.shape[2] == 4 for v in vectors.values())
    moving = np.abs(vectors[3]).max(axis=2) > 0
    assert moving.any() and not moving.all()  # the plane moves, the background does not
    # X, Y = previous - now; Z, W = now - next, pixels, y up: a plane moving right and up gives X = Z = -2 and
    # Y = W = -1.
    want = [[-PX_PER_FRAME, -UP_PER_FRAME, -PX_PER_FRAME, -UP_PER_FRAME]] * int(moving.sum())
    np.testing.assert_allclose(vectors[3][moving], want, atol=1e-3)
    motion = {f: Motion.from_vector_pass(vectors[f]) for f in (2, 3)}
    # Its previous point: 2 columns left and, rows going down the array, 1 row lower.
    np.testing.assert_allclose(
        motion[3].to_previous[moving], [[UP_PER_FRAME, -PX_PER_FRAME]] * int(moving.sum()), atol=1e-3
    )
    previous, current = combined_layer(layers[2]), combined_layer(layers[3])
    warped, _ = warp(previous, motion[3].to_previous)
    ok = consistent(motion[3], motion[2], find_pass(layers[3], "Depth"), find_pass(layers[2], "Depth"))
    assert ok[moving].mean() > 0.5
    warped_error = np.abs(warped - current)[:, :, :3].mean(axis=2)[ok & moving].mean()
    still_error = np.abs(previous - current)[:, :, :3].mean(axis=2)[ok & moving].mean()
    assert warped_error < 0.25 * still_error, (warped_error, still_error)


def test_the_render_post_process_measures_and_blends(clean_file, models_dir, tmp_path, capsys):
    bpy = clean_file
    scene, plane = moving_plane_scene(bpy, tmp_path)
    _linear(plane)
    settings = scene.onnx_image_runtime
    settings.model_path = str(models_dir / "sr_x2.onnx")
    settings.precision, settings.provider = "FP32", "CPU"
    settings.postprocess = True
    settings.postprocess_temporal_blend = 0.5
    assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    summary = settings.postprocess_summary
    assert summary.startswith("done 4, skipped 0, failed 0; flicker x") and "(vector, 3 frames)" in summary
    assert sorted(p.name for p in (tmp_path / "render_onnx").iterdir()) == [f"{f:04d}.exr" for f in range(1, 5)]
