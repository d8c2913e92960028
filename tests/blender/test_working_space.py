"""Blender 5's per-file working colour space: float pixels and renders are in it, and the model still gets the
linear Rec.709 colour its contract means. The same colours give the same picture in a Rec.709, a Rec.2020 and an
ACEScg file; Non-Color data and data passes are never converted; byte images keep their own decoding."""

from __future__ import annotations

import numpy as np
import pytest

from tests import models
from tests.helpers import write_passes

# Blender's names for its working spaces -> the engine's.
SPACES = {"Linear Rec.709": "REC709", "Linear Rec.2020": "REC2020", "ACEScg": "ACESCG"}
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def _use_space(bpy, name: str) -> None:
    bpy.ops.wm.set_working_color_space(working_space=name)
    assert bpy.data.colorspace.working_space == name


def _pixels(img) -> np.ndarray:
    w, h = img.size
    buf = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(buf)
    return buf.reshape(h, w, 4)[::-1]


def _blender_matrix(convert) -> np.ndarray:
    """A conversion of mathutils.Color as a 3x3 matrix: its results for the unit colours are the columns."""
    from mathutils import Color

    return np.array([tuple(convert(Color(unit))) for unit in np.eye(3)]).T


def _to_rec709_by_blender(rgba: np.ndarray) -> np.ndarray:
    """Working-space pixels -> linear Rec.709 by Blender's own conversion (OCIO), not the engine's matrices."""
    from mathutils import Color

    rgb = np.array([tuple(Color(p).from_scene_linear_to_rec709_linear()) for p in rgba[:, :, :3].reshape(-1, 3)])
    return rgb.reshape(*rgba.shape[:2], 3)


def test_the_engine_matrices_are_blenders_conversions_and_the_setting_follows_the_file(clean_file):
    bpy = clean_file
    from onnx_image_runtime.engine import WorkingSpace
    from onnx_image_runtime.engine.image.colour import FROM_REC709, TO_REC709
    from onnx_image_runtime.operators.settings import run_settings, working_space

    assert bpy.data.colorspace.working_space_interop_id == "lin_rec709_scene"  # a new file: Rec.709
    for name, member in SPACES.items():
        _use_space(bpy, name)
        space = WorkingSpace[member]
        assert working_space() is space
        assert run_settings(bpy.context.scene.onnx_image_runtime).working_space is space
        to = _blender_matrix(lambda c: c.from_scene_linear_to_rec709_linear())
        back = _blender_matrix(lambda c: c.from_rec709_linear_to_scene_linear())
        np.testing.assert_allclose(np.array(TO_REC709[space]), to, atol=1e-4)
        np.testing.assert_allclose(np.array(FROM_REC709[space]), back, atol=1e-4)
    assert not np.allclose(to, np.eye(3), atol=0.1)  # ACEScg, last: the comparison above can fail


def _picture() -> np.ndarray:
    """Saturated and HDR linear Rec.709 colour, opaque: values the wide spaces store differently."""
    rgb = np.random.default_rng(8).uniform(0.0, 2.0, (6, 8, 3)).astype(np.float32)
    rgb[:2, :2] = (1.0, 0.0, 0.0)
    return np.concatenate([rgb, np.ones((6, 8, 1), np.float32)], axis=2)


def _source_files(tmp_path) -> dict[str, tuple[str, np.ndarray]]:
    """The same picture as a float EXR (linear Rec.709) and an 8-bit sRGB PNG: {kind: (path, linear Rec.709)}."""
    from onnx_image_runtime.engine import read_image, write_image

    picture = _picture()
    write_image(tmp_path / "picture.exr", picture)
    write_image(tmp_path / "display.jpg", np.clip(picture, 0.0, 1.0))  # 8 bits, sRGB encoded
    return {
        "float": (str(tmp_path / "picture.exr"), picture),
        "byte": (str(tmp_path / "display.jpg"), read_image(tmp_path / "display.jpg")),
    }


def _run(bpy, img, model: str):
    assert bpy.ops.onnx.run_image(image=img.name, model=model, precision="FP32", provider="CPU") == {"FINISHED"}
    return bpy.data.images[f"{img.name} ONNX"]


@pytest.mark.parametrize("kind", ["float", "byte"])
@pytest.mark.parametrize("model_name", ["square", "luminance"])
def test_the_same_colours_give_the_same_picture_in_every_working_space(clean_file, tmp_path, kind, model_name):
    """A model not linear in colour (squares, luminance) on one image file opened in a Rec.709, a Rec.2020 and an
    ACEScg file: after Blender's own conversion back to Rec.709, the three results are one picture."""
    bpy = clean_file
    model = str(models.save(getattr(models, model_name)(), tmp_path / f"{model_name}.onnx"))
    path, rec709 = _source_files(tmp_path)[kind]
    results = {}
    for name in SPACES:
        _use_space(bpy, name)
        img = bpy.data.images.load(path, check_existing=False)
        img.colorspace_settings.name = "Linear Rec.709" if kind == "float" else "sRGB"
        if kind == "float" and name != "Linear Rec.709":
            # Blender brought the file's colours into the working space as it loaded them.
            assert np.abs(_pixels(img)[:, :, :3] - rec709[:, :, :3]).max() > 0.05
        out = _run(bpy, img, model)
        assert out.colorspace_settings.name == name  # its pixels' space: a packed result reopens unchanged
        results[name] = _to_rec709_by_blender(_pixels(out))
        for image in (out, img):  # Blender changes the working space only of a file without unsaved images
            bpy.data.images.remove(image)
    expected = rec709[:, :, :3] ** 2 if model_name == "square" else np.repeat(rec709[:, :, :3] @ LUMA, 3)
    np.testing.assert_allclose(results["Linear Rec.709"], expected.reshape(results["Linear Rec.709"].shape), atol=1e-4)
    for name in ("Linear Rec.2020", "ACEScg"):
        np.testing.assert_allclose(results[name], results["Linear Rec.709"], atol=1e-4, err_msg=name)


def test_a_non_color_image_is_passed_through_untouched(clean_file, tmp_path):
    bpy = clean_file
    model = str(models.save(models.square(), tmp_path / "square.onnx"))
    _use_space(bpy, "ACEScg")
    data = np.random.default_rng(9).uniform(-1.0, 1.0, (6, 8, 4)).astype(np.float32)
    data[:, :, 3] = 1.0
    img = bpy.data.images.new("Normals", 8, 6, alpha=True, float_buffer=True)
    img.colorspace_settings.name = "Non-Color"  # before the pixels: changing it afterwards clears them
    img.pixels.foreach_set(np.ascontiguousarray(data[::-1]).reshape(-1))
    out = _run(bpy, img, model)
    assert out.colorspace_settings.name == "Non-Color"
    # The model got the stored values and its output was stored as it came: no conversion either way.
    np.testing.assert_allclose(_pixels(out)[:, :, :3], data[:, :, :3] ** 2, atol=1e-6)


def test_a_normal_pass_reaches_the_model_as_rendered(clean_file, tmp_path):
    """Run on a multilayer EXR of an ACEScg file: Combined is colour, the Normal pass routed to the model's
    `normal` input is data, and the model gets it as stored."""
    bpy = clean_file
    model = str(models.save(models.returns_normal(), tmp_path / "returns_normal.onnx"))
    _use_space(bpy, "ACEScg")
    normal = np.random.default_rng(10).uniform(-1.0, 1.0, (6, 8, 3)).astype(np.float32)
    path = write_passes(tmp_path / "frame.exr", {"Combined": ("RGBA", _picture()), "Normal": ("XYZ", normal)})
    done = bpy.ops.onnx.run_render(filepath=str(path), passes="normal=Normal", model=model, provider="CPU")
    assert done == {"FINISHED"}
    out = bpy.data.images["Render Result ONNX"]
    assert out.colorspace_settings.name == "ACEScg"
    # The model returned the normal it got; the result is colour (like Combined), in the working space.
    np.testing.assert_allclose(_to_rec709_by_blender(_pixels(out)), normal, atol=1e-4)


def test_the_render_post_process_gives_the_model_rec709_colour(clean_file, tmp_path):
    """An animation rendered in an ACEScg file writes ACEScg EXRs; the post-process reads the working space from
    the file, so the model squares the frame's Rec.709 colour and the output EXR is ACEScg again."""
    bpy = clean_file
    from onnx_image_runtime.engine import WorkingSpace, read_image, to_rec709

    from tests.blender.test_batch_render import setup_scene

    _use_space(bpy, "ACEScg")
    scene = setup_scene(bpy, tmp_path, models.save(models.square(), tmp_path / "square.onnx"))
    scene.frame_end = scene.frame_start  # one frame tells
    scene.world.node_tree.nodes["Background"].inputs[0].default_value = (1.0, 0.3, 0.05, 1.0)  # saturated sky
    assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    frame = f"{scene.frame_start:04d}.exr"
    rendered, out = read_image(tmp_path / "render" / frame), read_image(tmp_path / "render_onnx" / frame)
    space = WorkingSpace.ACESCG
    np.testing.assert_allclose(to_rec709(out, space)[:, :, :3], to_rec709(rendered, space)[:, :, :3] ** 2, atol=1e-4)
    # Squared as ACEScg values, the frame would have been another picture: the check above can fail.
    assert np.abs(out[:, :, :3] - rendered[:, :, :3] ** 2).max() > 0.01
