"""A multilayer EXR from a real Cycles render (Blender 5 writes one part per pass), read by the engine
pass by pass, with values checked against what the scene makes them."""

from __future__ import annotations

import numpy as np

BASE = (0.8, 0.25, 0.1)


def test_engine_reads_each_pass_of_a_multipart_cycles_exr(clean_file, tmp_path):
    bpy = clean_file

    from onnx_image_runtime.engine.image.files import combined_layer, read_layers
    from onnx_image_runtime.engine.image.passes import find_pass

    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 1, False
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 24, 16, 100
    bpy.ops.mesh.primitive_plane_add(size=50)
    material = bpy.data.materials.new("flat")
    if material.node_tree is None:  # Blender 4.x; 5.x materials always have nodes
        material.use_nodes = True
    nodes = material.node_tree.nodes
    # A plain Diffuse BSDF: its Diffuse Color pass is exactly its colour (Principled mixes in layers).
    diffuse_bsdf = nodes.new("ShaderNodeBsdfDiffuse")
    diffuse_bsdf.inputs["Color"].default_value = (*BASE, 1.0)
    output = next(n for n in nodes if n.type == "OUTPUT_MATERIAL")
    material.node_tree.links.new(diffuse_bsdf.outputs["BSDF"], output.inputs["Surface"])
    bpy.context.object.data.materials.append(material)
    bpy.ops.object.camera_add(location=(0, 0, 5))
    scene.camera = bpy.context.object
    layer = scene.view_layers[0]
    layer.use_pass_diffuse_color = layer.use_pass_normal = layer.use_pass_z = True
    settings = scene.render.image_settings
    settings.media_type = "MULTI_LAYER_IMAGE"
    settings.color_depth = "32"
    scene.render.filepath = str(tmp_path / "frame_")
    scene.frame_set(1)
    bpy.ops.render.render(write_still=True)
    path = next(tmp_path.glob("frame_*.exr"))

    layers = read_layers(path)
    combined = combined_layer(layers)
    diffuse = find_pass(layers, "Diffuse Color")
    normal = find_pass(layers, "Normal")
    depth = find_pass(layers, "Depth")
    assert combined.shape == (16, 24, 4) and diffuse.shape == (16, 24, 3) and normal.shape == (16, 24, 3)
    assert depth.shape == (16, 24, 1)
    np.testing.assert_allclose(diffuse, np.broadcast_to(BASE, diffuse.shape), atol=1e-3)
    np.testing.assert_allclose(normal, np.broadcast_to((0.0, 0.0, 1.0), normal.shape), atol=1e-3)
    np.testing.assert_allclose(depth, 5.0, atol=1e-3)  # the camera is 5 units above the plane
    assert find_pass(layers, "DiffCol") is diffuse  # the Blender 4.2 name finds the same pass
