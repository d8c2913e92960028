"""Frames from a Blender file whose working space is not Rec.709: `--working-space` on `run` and `sequence`. EXR
colour is in that space; PNG frames hold display sRGB whatever it is; data passes are never converted."""

import json
import subprocess
import sys

import numpy as np

from engine.batch.sequence import process_frame
from engine.image.colour import from_rec709, to_rec709
from engine.image.files import read_image, read_layers, write_image
from engine.inference.settings import RunSettings
from engine.options import WorkingSpace
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT, write_passes


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def _picture() -> np.ndarray:
    """Saturated and HDR linear Rec.709 colour, opaque."""
    rgb = np.random.default_rng(6).uniform(0.0, 2.0, (10, 12, 3)).astype(np.float32)
    rgb[:2, :2] = (1.0, 0.0, 0.0)
    return np.concatenate([rgb, np.ones((10, 12, 1), np.float32)], axis=2)


def test_run_working_space_acescg_gives_the_rec709_picture(tmp_path):
    path = models.save(models.square(), tmp_path / "square.onnx")
    picture = _picture()
    write_image(tmp_path / "acescg.exr", from_rec709(picture, WorkingSpace.ACESCG))  # as an ACEScg file renders it
    common = ["--provider", "cpu", "--cache-dir", tmp_path / "cache"]
    done = _cli("run", path, tmp_path / "acescg.exr", tmp_path / "out.exr", "--working-space", "acescg", *common)
    assert done.returncode == 0, done.stderr
    out = read_image(tmp_path / "out.exr")
    np.testing.assert_allclose(to_rec709(out, WorkingSpace.ACESCG)[:, :, :3], picture[:, :, :3] ** 2, atol=1e-4)
    # Without the flag the ACEScg values are taken for Rec.709 ones: another picture (the check above can fail).
    assert _cli("run", path, tmp_path / "acescg.exr", tmp_path / "plain.exr", *common).returncode == 0
    plain = read_image(tmp_path / "plain.exr")
    assert np.abs(to_rec709(plain, WorkingSpace.ACESCG)[:, :, :3] - picture[:, :, :3] ** 2).max() > 0.05


def test_sequence_png_frames_are_display_srgb_whatever_the_working_space(tmp_path):
    path = models.save(models.square(), tmp_path / "square.onnx")
    display = np.clip(_picture(), 0.0, 1.0)
    (tmp_path / "in").mkdir()
    for frame in (1, 2):
        write_image(tmp_path / f"in/{frame:04d}.png", display)
    outputs = {}
    for space in ("rec709", "rec2020"):
        done = _cli(
            "sequence",
            path,
            "--input",
            tmp_path / "in/####.png",
            "--output",
            tmp_path / f"{space}/####.png",
            "--frames",
            "1-2",
            "--working-space",
            space,
            "--provider",
            "cpu",
            "--cache-dir",
            tmp_path / "cache",
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["done"] == [1, 2]
        outputs[space] = read_image(tmp_path / f"{space}/0002.png")
    np.testing.assert_allclose(
        outputs["rec709"][:, :, :3], read_image(tmp_path / "in/0001.png")[:, :, :3] ** 2, atol=1e-3
    )
    # 16-bit PNGs: the same picture to the last step or so (the conversion there and back is not bit-exact).
    np.testing.assert_allclose(outputs["rec2020"], outputs["rec709"], atol=3 / 65535)


def test_a_normal_pass_reaches_the_model_as_rendered(tmp_path):
    prepared = prepare_model(
        models.save(models.returns_normal(), tmp_path / "m.onnx"),
        "fp32",
        settings=SessionSettings(provider="cpu"),
        cache_dir=tmp_path,
    )
    normal = np.random.default_rng(7).uniform(-1.0, 1.0, (10, 12, 3)).astype(np.float32)
    src = tmp_path / "frame.exr"
    write_passes(src, {"Combined": ("RGBA", _picture()), "Normal": ("XYZ", normal)})
    settings = RunSettings(working_space=WorkingSpace.ACESCG)
    process_frame(
        prepared, str(src), dst=str(tmp_path / "out.exr"), settings=settings, pass_inputs={"normal": "Normal"}
    )
    layers = read_layers(tmp_path / "out.exr")
    result = layers["ViewLayer.Combined"]
    # The model returned the normal it got; the result, colour like Combined, went back into ACEScg.
    np.testing.assert_allclose(to_rec709(result, WorkingSpace.ACESCG)[:, :, :3], normal, atol=1e-5)
    np.testing.assert_array_equal(layers["ViewLayer.Normal"], normal)  # the pass itself is kept as it was


def test_the_flag_is_on_run_and_sequence_rec709_by_default_and_checked():
    from engine.cli import _run_settings, build_parser

    parser = build_parser()
    seq = parser.parse_args(["sequence", "m.onnx", "--input", "a/####.exr", "--output", "b/", "--frames", "1"])
    assert seq.working_space is None  # not said: each EXR's header, else Rec.709
    unsaid = _run_settings(seq, None)
    assert unsaid.working_space is WorkingSpace.REC709 and unsaid.working_space_from_files
    run = parser.parse_args(["run", "m.onnx", "a.exr", "b.exr", "--working-space", "rec2020"])
    said = _run_settings(run, None)
    assert said.working_space is WorkingSpace.REC2020 and not said.working_space_from_files
    done = _cli("run", "m.onnx", "a.exr", "b.exr", "--working-space", "p3")
    assert done.returncode == 64 and "--working-space" in done.stderr and "p3" in done.stderr


def _tagged(path, image: np.ndarray, interop: str) -> None:
    """An EXR as Blender 5 writes it: its header's colorInteropID names the file's working space."""
    import OpenImageIO as oiio

    h, w, c = image.shape
    spec = oiio.ImageSpec(w, h, c, "float")
    spec.channelnames = tuple("RGBA"[:c])
    spec.attribute("colorInteropID", interop)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(np.ascontiguousarray(image)) and out.close()


def test_an_exr_header_says_its_working_space(tmp_path):
    """Blender 5 writes the working space into each EXR (colorInteropID, `lin_ap1_scene` for ACEScg): without the
    flag the engine follows it, the result carries it, and a flag that says another space is refused."""
    from engine.image.files import exr_options_of

    path = models.save(models.square(), tmp_path / "square.onnx")
    picture = _picture()
    _tagged(tmp_path / "acescg.exr", from_rec709(picture, WorkingSpace.ACESCG), "lin_ap1_scene")
    common = ["--provider", "cpu", "--cache-dir", tmp_path / "cache"]
    done = _cli("run", path, tmp_path / "acescg.exr", tmp_path / "out.exr", *common)
    assert done.returncode == 0, done.stderr
    out = read_image(tmp_path / "out.exr")
    np.testing.assert_allclose(to_rec709(out, WorkingSpace.ACESCG)[:, :, :3], picture[:, :, :3] ** 2, atol=1e-4)
    assert exr_options_of(tmp_path / "out.exr").colour_interop == "lin_ap1_scene"
    refused = _cli("run", path, tmp_path / "acescg.exr", tmp_path / "no.exr", "--working-space", "rec709", *common)
    assert refused.returncode != 0 and not (tmp_path / "no.exr").exists()
    assert "rendered in acescg (its header's colorInteropID lin_ap1_scene), not in rec709" in refused.stderr
    agreed = _cli("run", path, tmp_path / "acescg.exr", tmp_path / "yes.exr", "--working-space", "acescg", *common)
    assert agreed.returncode == 0, agreed.stderr
    np.testing.assert_allclose(read_image(tmp_path / "yes.exr"), out, atol=1e-6)


def test_an_unknown_colour_interop_id_is_refused_unless_the_space_is_given(tmp_path):
    """Review finding: an EXR tagged with a space the engine does not convert ran silently as Rec.709."""
    path = models.save(models.square(), tmp_path / "square.onnx")
    _tagged(tmp_path / "ap0.exr", _picture(), "lin_ap0_scene")
    common = ["--provider", "cpu", "--cache-dir", tmp_path / "cache"]
    refused = _cli("run", path, tmp_path / "ap0.exr", tmp_path / "no.exr", *common)
    assert refused.returncode != 0 and not (tmp_path / "no.exr").exists()
    assert "'lin_ap0_scene' (its header's colorInteropID), a space this engine does not convert" in refused.stderr
    said = _cli("run", path, tmp_path / "ap0.exr", tmp_path / "yes.exr", "--working-space", "rec709", *common)
    assert said.returncode == 0, said.stderr
