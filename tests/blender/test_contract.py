"""The model contract in Blender: the scene's overrides change the run's pixels, "Save Next to Model" writes
a sidecar that a later run picks up, the panel shows the effective contract, precision Auto is the default."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from tests import models
from tests.blender.layout import draw
from tests.blender.test_operators import make_image, pixels

CONTRACT_KEYS = (
    "contract_range",
    "contract_order",
    "color_mode",
    "contract_fit",
    "model_output",
    "precision",
    "contract_input_scale",
    "contract_hdr",
    "contract_output_normalize",
    "contract_output_as",
    "contract_resize",
    "contract_resize_side",
    "contract_resize_multiple",
    "contract_size",
    "contract_batch",
    "contract_constants",
)


@pytest.fixture
def contract_scene(bpy_data, tmp_path):
    bpy = bpy_data
    settings = bpy.context.scene.onnx_image_runtime
    model = models.conv_chain()
    path = models.save(model, tmp_path / "chain.onnx")
    settings.model_path = str(path)
    yield bpy, settings, model, path
    for key in CONTRACT_KEYS:
        settings.property_unset(key)


def _raw(model, hwc):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(hwc.transpose(2, 0, 1)[None], np.float32)
    return session.run(None, {"x": x})[0][0].transpose(1, 2, 0)


def _run(bpy, src, name):
    result = bpy.ops.onnx.run_image(image=src.name, output_name=name, provider="CPU")
    assert result == {"FINISHED"}
    return pixels(bpy.data.images[name])


def _expected_0_255_bgr(model, rgb):
    raw = _raw(model, rgb[:, :, ::-1] * 255.0)
    return (raw / 255.0)[:, :, ::-1]


def test_edited_contract_changes_the_run_and_the_saved_sidecar_is_picked_up(contract_scene):
    bpy, settings, model, path = contract_scene
    src, top_down = make_image(bpy)
    rgb = top_down[:, :, :3]
    assert settings.precision == "AUTO"
    plain = _run(bpy, src, "plain")
    np.testing.assert_allclose(plain[:, :, :3], _raw(model, rgb), atol=1e-5)

    settings.contract_range, settings.contract_order = "0_255", "BGR"
    edited = _run(bpy, src, "edited")
    np.testing.assert_allclose(edited[:, :, :3], _expected_0_255_bgr(model, rgb), rtol=1e-4, atol=1e-4)
    assert not np.allclose(edited[:, :, :3], plain[:, :, :3], atol=1e-3)
    assert "fp32" in settings.last_report and "CPU" in settings.last_report  # auto says what ran and why

    assert bpy.ops.onnx.save_contract() == {"FINISHED"}
    sidecar = path.with_name("chain.onnx.contract.json")
    assert sidecar.is_file()
    settings.property_unset("contract_range")
    settings.property_unset("contract_order")
    later = _run(bpy, src, "later")
    np.testing.assert_allclose(later, edited, atol=1e-6)


def test_imagenet_preset_and_model_output_setting(bpy_data, tmp_path):
    bpy = bpy_data
    settings = bpy.context.scene.onnx_image_runtime
    model = models.three_outputs()
    settings.model_path = str(models.save(model, tmp_path / "three.onnx"))
    src, top_down = make_image(bpy)
    try:
        settings.contract_range, settings.model_output = "IMAGENET", "mask"
        out = _run(bpy, src, "mask out")
        mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        x = ((top_down[:, :, :3] - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
        mask = session.run(["mask"], {"x": x})[0][0, 0]
        # A one-channel mask is shown grey: the same values in R, G and B, with its range left as it is.
        np.testing.assert_allclose(out[:, :, 0], mask, atol=1e-5)
        np.testing.assert_allclose(out[:, :, 1], mask, atol=1e-5)
    finally:
        for key in CONTRACT_KEYS:
            settings.property_unset(key)


def test_panel_shows_the_effective_contract_with_its_sources_and_the_save_button(bpy_data, tmp_path):
    bpy = bpy_data
    from onnx_image_runtime import panels

    settings = bpy.context.scene.onnx_image_runtime
    path = models.save(models.bgr_255(), tmp_path / "bgr.onnx")
    settings.model_path = str(path)
    try:
        assert bpy.ops.onnx.inspect_model() == {"FINISHED"}
        drawn = draw(panels.ONNX_PT_model, bpy.context)
        assert {"contract_range", "contract_order", "color_mode", "contract_fit", "model_output"} <= set(drawn.props())
        assert "onnx.save_contract" in drawn.operators()
        assert "In: 0, 255 (metadata), BGR (metadata), linear (default)" in drawn.texts()
        settings.contract_order = "RGB"
        assert "In: 0, 255 (metadata), RGB (scene), linear (default)" in draw(panels.ONNX_PT_model, bpy.context).texts()
        path.with_name("bgr.onnx.contract.json").write_text('{"input": {"mean": [1, 2]}}')
        texts = draw(panels.ONNX_PT_model, bpy.context).texts()
        assert any("input.mean needs 1 value or one per channel" in t for t in texts)
    finally:
        for key in CONTRACT_KEYS:
            settings.property_unset(key)


def test_bad_sidecar_makes_the_run_fail_with_the_key_named(contract_scene):
    bpy, settings, model, path = contract_scene
    src, _ = make_image(bpy)
    path.with_name("chain.onnx.contract.json").write_text('{"input": {"std": 0}}')
    with pytest.raises(RuntimeError, match=r"input\.std has a 0"):
        bpy.ops.onnx.run_image(image=src.name, output_name="never", provider="CPU")
    assert "never" not in bpy.data.images


ROUND_TWO = (
    "contract_input_scale",
    "contract_hdr",
    "contract_output_normalize",
    "contract_output_as",
    "contract_resize",
    "model_output",
    "contract_size",
    "contract_batch",
    "contract_constants",
)


def test_round_two_settings_flow_into_the_contract_and_the_panel(contract_scene):
    """Each new scene setting becomes the contract's key, with 'scene' as its source, and the panel shows it."""
    bpy, settings, _model, path = contract_scene
    from onnx_image_runtime import panels
    from onnx_image_runtime.engine import HdrMode, InputScale, OutputAs, OutputNormalize, ResizeRule
    from onnx_image_runtime.operators.settings import model_contract

    settings.contract_input_scale, settings.contract_hdr = "IMAGE_MAX", "COMPRESS"
    settings.contract_output_normalize, settings.contract_output_as = "MINMAX", "ALPHA"
    settings.contract_resize = "SHORT_SIDE_MIN"
    settings.contract_resize_side, settings.contract_resize_multiple = 64, 16
    settings.contract_size, settings.contract_batch = "DYNAMIC", 1
    settings.contract_constants = "noise_level=0.25; style=1,2,3"
    contract = model_contract(settings, str(path))
    assert (contract.input.scale, contract.input.hdr) == (InputScale.IMAGE_MAX, HdrMode.COMPRESS)
    assert contract.output_for(3, 1).normalize == OutputNormalize.MINMAX and contract.output_as == OutputAs.ALPHA
    assert contract.resize == ResizeRule(short_side_min=64, multiple=16)
    assert (str(contract.size), contract.batch) == ("dynamic", 1)
    assert contract.constant_values == {"noise_level": (0.25,), "style": (1.0, 2.0, 3.0)}
    sources = contract.source_map()
    assert {sources[k] for k in ("input.scale", "output.as", "resize", "size", "batch", "constants.style")} == {"scene"}

    assert bpy.ops.onnx.inspect_model() == {"FINISHED"}
    drawn = draw(panels.ONNX_PT_model, bpy.context)
    assert set(ROUND_TWO) | {"contract_resize_side", "contract_resize_multiple"} <= set(drawn.props())
    texts = drawn.texts()
    assert "Resize rule: short side at least 64, each side a multiple of 16 (scene)" in texts
    assert any("scale image-max (scene), HDR compress (scene)" in t for t in texts)
    assert any(t.startswith("Out: min-max") and "as alpha (scene)" in t for t in texts)
    assert "Input size: dynamic (scene), batch 1 (scene)" in texts
    settings.contract_resize = "LETTERBOX"  # the letterbox takes no side or multiple: they are not drawn
    assert "contract_resize_side" not in draw(panels.ONNX_PT_model, bpy.context).props()
    assert model_contract(settings, str(path)).resize == ResizeRule(letterbox=True)
    settings.contract_constants = "noise_level"
    texts = draw(panels.ONNX_PT_model, bpy.context).texts()
    assert any("Constants: 'noise_level' is not name=value" in t for t in texts)


def _alpha_over(bpy, image, background) -> np.ndarray:
    """Blender's own compositor: `image` over a flat colour (Alpha Over), written to an EXR and read back."""
    import tempfile

    from onnx_image_runtime.engine import read_image

    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.render.resolution_x, scene.render.resolution_y = image.size
    scene.render.resolution_percentage = 100
    tree = bpy.data.node_groups.new("Comp", "CompositorNodeTree")
    scene.compositing_node_group = tree
    scene.render.use_compositing = True
    node = tree.nodes.new("CompositorNodeImage")
    node.image = image
    over = tree.nodes.new("CompositorNodeAlphaOver")
    over.inputs["Background"].default_value = (*background, 1.0)
    tree.links.new(node.outputs["Image"], over.inputs["Foreground"])
    folder = tempfile.mkdtemp()
    out = tree.nodes.new("CompositorNodeOutputFile")
    out.directory, out.file_name = folder + "/", "over"
    out.format.media_type = "IMAGE"
    out.format.file_format, out.format.color_depth = "OPEN_EXR", "32"
    if not out.file_output_items:
        out.file_output_items.new("RGBA", "Image")
    tree.links.new(over.outputs[0], out.inputs[0])
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    tree.links.new(over.outputs[0], tree.nodes.new("NodeGroupOutput").inputs[0])
    bpy.ops.render.render()
    (written,) = __import__("pathlib").Path(folder).glob("over*.exr")
    return read_image(written)


def test_a_matte_as_alpha_composites_over_a_colour_in_blenders_compositor(clean_file, tmp_path):
    bpy = clean_file
    if not hasattr(bpy.context.scene, "compositing_node_group"):
        pytest.skip("Blender 5's compositor node group (4.2 composites through scene.node_tree)")
    settings = bpy.context.scene.onnx_image_runtime
    model = models.mask_net()
    settings.model_path = str(models.save(model, tmp_path / "matte.onnx"))
    settings.contract_output_as = "ALPHA"
    src, top_down = make_image(bpy)  # premultiplied float colour, alpha 0.25 to 1
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(top_down[:, :, :3].transpose(2, 0, 1)[None], np.float32)
    matte = session.run(None, {"x": x})[0][0, 0]
    result = bpy.data.images[_run_name(bpy, src, "matte")]
    out = pixels(result)
    assert result.alpha_mode == "PREMUL" and matte.std() > 0.05
    np.testing.assert_allclose(out[:, :, 3], top_down[:, :, 3] * matte, atol=1e-5)
    np.testing.assert_allclose(out[:, :, :3], top_down[:, :, :3] * matte[:, :, None], atol=1e-5)
    background = (0.2, 0.5, 0.8)
    composite = _alpha_over(bpy, result, background)
    alpha = (top_down[:, :, 3] * matte)[:, :, None]
    expected = top_down[:, :, :3] * matte[:, :, None] + np.array(background, np.float32) * (1 - alpha)
    np.testing.assert_allclose(composite[:, :, :3], expected, atol=1e-5)


def _run_name(bpy, src, name: str) -> str:
    assert bpy.ops.onnx.run_image(image=src.name, output_name=name, provider="CPU") == {"FINISHED"}
    return name
