"""Images on disk, the command line and frame sequences."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from engine.batch.frames import frame_path, parse_frames
from engine.errors import ImageError
from engine.image.files import read_image, read_layers, write_image
from engine.precision.validation_feeds import synthetic_image
from tests import models
from tests.helpers import ROOT


@pytest.mark.parametrize("ext,tol", [("exr", 0.0), ("tif", 1e-4), ("png", 1e-4)])
def test_round_trip_formats_keep_colour_and_alpha(tmp_path, ext, tol):
    # Arrays are premultiplied (engine/image/alpha.py); PNG and TIFF store them straight and give them back.
    image = synthetic_image(20, 30, channels=4)
    image[:, :, :3] *= image[:, :, 3:]
    write_image(tmp_path / f"a.{ext}", image)
    back = read_image(tmp_path / f"a.{ext}")
    np.testing.assert_allclose(back, image, atol=tol)


def test_exr_keeps_hdr_values(tmp_path):
    image = synthetic_image(8, 8) * 50
    write_image(tmp_path / "hdr.exr", image)
    assert read_image(tmp_path / "hdr.exr").max() > 40


def test_truncated_exr_is_a_clear_error(tmp_path):
    write_image(tmp_path / "a.exr", synthetic_image(64, 64, channels=4))
    data = (tmp_path / "a.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="truncated or damaged"):
        read_layers(tmp_path / "cut.exr")


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    from engine import atomic

    def broken_replace(*_a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "publish", broken_replace)
    with pytest.raises(OSError):
        write_image(tmp_path / "x.exr", synthetic_image(8, 8))
    assert list(tmp_path.iterdir()) == []


def test_frame_patterns_and_ranges():
    assert frame_path("render/####.exr", 7) == "render/0007.exr"
    assert frame_path("r/shot_##_v1.png", 3) == "r/shot_03_v1.png"
    assert frame_path("r/frame.exr", 12) == "r/frame0012.exr"
    assert parse_frames("1-10x3,20,2") == [1, 2, 4, 7, 10, 20]
    with pytest.raises(ValueError, match="bad frame range"):
        parse_frames("5-1")


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_cli_info_convert_optimize(tmp_path):
    model = models.save(models.unet(), tmp_path / "u.onnx")
    info = json.loads(_cli("info", model).stdout)
    assert info["size_multiple"] == 2 and info["inputs"][0]["layout"] == "NCHW"
    assert {"inputs", "outputs", "scale", "fixed_size", "size_multiple"} <= set(info)
    done = _cli(
        "convert", model, "--precision", "fp16", "--out", tmp_path / "u16.onnx", "--report", tmp_path / "r.json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "ok"
    opt = [_cli("optimize", model, "--provider", "cpu", "--cache-dir", tmp_path / "c") for _ in range(2)]
    first, second = (json.loads(o.stdout) for o in opt)
    assert (first["cache_hit"], second["cache_hit"]) == (False, True)
    assert {"startup_seconds", "optimized_model", "provider", "fallback_reason"} <= set(first)


def test_cli_bad_input_exits_nonzero_with_one_line_reason(tmp_path):
    bad = models.write_not_onnx(tmp_path / "bad.onnx")
    done = _cli("info", bad)
    assert done.returncode == 1 and done.stderr.startswith("error:") and "not" in done.stderr
    overflow = models.save(models.overflow(), tmp_path / "o.onnx")
    done = _cli("convert", overflow, "--out", tmp_path / "o16.onnx")
    assert done.returncode == 2 and "beyond fp16" in done.stderr
    assert not (tmp_path / "o16.onnx").exists()


def test_cli_run_refuses_to_overwrite_its_input(tmp_path):
    model = models.save(models.sr_x2(), tmp_path / "m.onnx")
    write_image(tmp_path / "a.exr", synthetic_image(8, 8))
    done = _cli("run", model, tmp_path / "a.exr", tmp_path / "a.exr", "--cache-dir", tmp_path / "c")
    assert done.returncode == 1 and "overwrite" in done.stderr


def _sequence(tmp_path, *extra):
    model = tmp_path / "m.onnx"
    return _cli(
        "sequence",
        model,
        "--input",
        tmp_path / "in/####.exr",
        "--output",
        tmp_path / "out/####.exr",
        "--frames",
        "1-6",
        "--provider",
        "cpu",
        "--cache-dir",
        tmp_path / "c",
        *extra,
    )


def test_sequence_resume_with_skip_existing_matches_an_uninterrupted_run(tmp_path):
    models.save(models.sr_x2(), tmp_path / "m.onnx")
    (tmp_path / "in").mkdir()
    for f in range(1, 7):
        write_image(tmp_path / f"in/{f:04d}.exr", synthetic_image(24, 32, channels=4, seed=f))
    assert _sequence(tmp_path).returncode == 0
    reference = {f: read_image(tmp_path / f"out/{f:04d}.exr") for f in range(1, 7)}
    for f in (4, 5, 6):  # an interrupted run got as far as frame 3
        os.remove(tmp_path / f"out/{f:04d}.exr")
    before = os.stat(tmp_path / "out/0001.exr").st_mtime_ns
    done = _sequence(tmp_path, "--skip-existing")
    summary = json.loads(done.stdout)
    assert summary["skipped"] == [1, 2, 3] and summary["done"] == [4, 5, 6]
    assert os.stat(tmp_path / "out/0001.exr").st_mtime_ns == before
    for f in range(1, 7):  # identical pixels; EXR headers differ only in their capture date
        np.testing.assert_array_equal(read_image(tmp_path / f"out/{f:04d}.exr"), reference[f])


def test_sequence_reports_a_failing_frame_and_finishes_the_rest(tmp_path):
    models.save(models.sr_x2(), tmp_path / "m.onnx")
    (tmp_path / "in").mkdir()
    for f in range(1, 7):
        image = synthetic_image(16, 16, channels=3, seed=f)
        if f == 3:
            image[0, 0, 0] = np.inf
        write_image(tmp_path / f"in/{f:04d}.exr", image)
    done = _sequence(tmp_path)
    summary = json.loads(done.stdout)
    assert done.returncode == 3
    assert summary["done"] == [1, 2, 4, 5, 6] and "NaN or Inf" in summary["failed"]["3"]
    assert not (tmp_path / "out/0003.exr").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{f:04d}.exr" for f in (1, 2, 4, 5, 6)]


def test_exr_outputs_are_stored_like_their_source_frames(tmp_path):
    from engine.image.files import ExrOptions, exr_options_of

    models.save(models.sr_x2(), tmp_path / "m.onnx")
    (tmp_path / "in").mkdir()
    for f in (1, 2):
        write_image(
            tmp_path / f"in/{f:04d}.exr",
            synthetic_image(16, 16, channels=4, seed=f),
            exr=ExrOptions(half=True, codec="piz"),
        )
    assert _sequence(tmp_path, "--frames", "1-2").returncode == 0
    assert exr_options_of(tmp_path / "out/0001.exr") == ExrOptions(half=True, codec="piz")
    done = _sequence(tmp_path, "--frames", "1-2", "--exr-codec", "zip", "--exr-depth", "32")
    assert done.returncode == 0, done.stderr
    assert exr_options_of(tmp_path / "out/0002.exr") == ExrOptions(half=False, codec="zip")


def test_exr_options_given_override_only_their_own_field(tmp_path):
    from engine.image.files import ExrOptions, exr_options_of

    models.save(models.sr_x2(), tmp_path / "m.onnx")
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in/0001.exr", synthetic_image(16, 16, channels=4), exr=ExrOptions(half=True, codec="piz"))
    assert _sequence(tmp_path, "--frames", "1", "--exr-codec", "rle").returncode == 0
    assert exr_options_of(tmp_path / "out/0001.exr") == ExrOptions(half=True, codec="rle")


def test_channel_order_of_uv_and_a_lone_depth_channel(tmp_path):
    import OpenImageIO as oiio

    data = np.arange(2 * 2 * 8, dtype=np.float32).reshape(2, 2, 8)
    names = ("R", "G", "B", "A", "Z", "ViewLayer.UV.U", "ViewLayer.UV.V", "ViewLayer.UV.A")
    out = oiio.ImageOutput.create(str(tmp_path / "l.exr"))
    spec = oiio.ImageSpec(2, 2, 8, "float")
    spec.channelnames = names
    out.open(str(tmp_path / "l.exr"), spec)
    out.write_image(data)
    out.close()
    layers = read_layers(tmp_path / "l.exr")
    by_name = {name: data[:, :, i] for i, name in enumerate(names)}
    assert set(layers) == {"", "Depth", "ViewLayer.UV"}
    np.testing.assert_array_equal(layers["Depth"][:, :, 0], by_name["Z"])
    for i, channel in enumerate(("U", "V", "A")):
        np.testing.assert_array_equal(layers["ViewLayer.UV"][:, :, i], by_name[f"ViewLayer.UV.{channel}"])
    assert layers[""].shape == (2, 2, 4)


def test_float_tiff_is_read_as_linear(tmp_path):
    import OpenImageIO as oiio

    data = np.full((4, 4, 3), 0.5, np.float32)
    out = oiio.ImageOutput.create(str(tmp_path / "f.tif"))
    out.open(str(tmp_path / "f.tif"), oiio.ImageSpec(4, 4, 3, "float"))
    out.write_image(data)
    out.close()
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif"), data)


def test_output_pattern_without_extension_takes_the_input_one():
    from engine.batch.frames import with_extension

    assert with_extension("//post/shot_####", "//render/####.exr") == "//post/shot_####.exr"
    assert with_extension("post/####", "render/f_####.png") == "post/####.png"
    assert with_extension("post/####.tif", "render/####.exr") == "post/####.tif"
    assert with_extension("post/v1.2/shot_", "render/shot_") == "post/v1.2/shot_.exr"


@pytest.mark.parametrize("command", ["run", "sequence", "convert", "optimize", "advise"])
def test_cli_help_describes_every_option_with_its_default(command):
    import re

    text = _cli(command, "--help").stdout
    options = text[text.index("options:") :]
    # One entry per option: its flags at two spaces in, then its description (same line or the next ones).
    entries = re.split(r"\n(?=  -)", options)[1:]
    assert len(entries) > 3
    for entry in entries:
        flags, _, rest = entry.strip().partition("  ")
        description = " ".join((rest + " " + " ".join(entry.splitlines()[1:])).split())
        if flags.startswith("-h"):
            continue
        assert description, f"{command}: {flags} has no description"
        assert "(default:" in description or "--out " in flags or flags.startswith("--input") or "required" in flags, (
            f"{command}: {flags} does not say its default: {description}"
        )
    if command == "run":
        # The help says what tile_plan does: exact cuts in the middle of a sufficient overlap, blending otherwise.
        assert "cut in the middle when they cover the receptive field" in " ".join(text.split())
        assert "blended where they cannot" in " ".join(text.split())


def test_a_link_planted_at_a_temporary_name_is_never_written_through(tmp_path, monkeypatch):
    """Issue 25: temporary names are unpredictable and created exclusively; even a link planted at the very name
    the engine draws (the random token forced here) is left alone and another name is used."""
    import itertools
    import os

    from engine import atomic

    tokens = itertools.chain(["deadbeef"], (f"{n:08x}" for n in itertools.count(1)))
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda _n: next(tokens))
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours")
    out = tmp_path / "out"
    out.mkdir()
    planted = out / f".frame.{atomic.HOST}.{os.getpid()}.deadbeef.tmp.exr"
    planted.symlink_to(victim)
    write_image(out / "frame.exr", synthetic_image(8, 8))
    assert victim.read_text() == "not yours" and planted.is_symlink()
    assert read_image(out / "frame.exr").shape == (8, 8, 3)
    assert sorted(p.name for p in out.iterdir()) == sorted(["frame.exr", planted.name])


def test_temporary_names_differ_every_time(tmp_path):
    from engine import atomic

    names = {atomic.temp_name(tmp_path / "frame.exr", ".tmp.exr").name for _ in range(50)}
    assert len(names) == 50


def test_values_beyond_half_range_never_become_inf(tmp_path):
    """Issue 25: a half EXR output of values above 65504 became Inf with exit 0. Asked-for half clamps (and says
    so); half that only follows the source frame is written as float (and says so)."""
    from engine.batch.sequence import _write_like
    from engine.image.files import ExrOptions, exr_options_of

    bright = synthetic_image(16, 24) * 2e5  # up to 200000: beyond half's 65504
    over = int((bright > 65504).sum())
    notes = write_image(tmp_path / "asked.exr", bright, exr=ExrOptions(half=True))
    back = read_image(tmp_path / "asked.exr")
    assert np.isfinite(back).all() and back.max() == 65504 and exr_options_of(tmp_path / "asked.exr").half
    assert notes == [f"{over} values beyond half float's range (65504) were clamped to it: half was asked for"]

    write_image(tmp_path / "source.exr", synthetic_image(16, 24), exr=ExrOptions(half=True))  # a half render
    notes = _write_like(str(tmp_path / "source.exr"), str(tmp_path / "followed.exr"), bright, None)
    back = read_image(tmp_path / "followed.exr")
    assert not exr_options_of(tmp_path / "followed.exr").half and np.allclose(back, bright)
    assert notes == [f"{over} values beyond half float's range (65504): written as 32-bit float, not half"]
    assert write_image(tmp_path / "fine.exr", bright / 1e5, exr=ExrOptions(half=True)) == []  # in range: half, no note
