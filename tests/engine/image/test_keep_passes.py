"""Post-processed multilayer frames keep their passes: a multi-part EXR shaped like Blender 5's (part 0
Combined, each pass its own part, a half-float pass among float ones) goes through `sequence`."""

import json
import subprocess
import sys

import numpy as np
import pytest

from engine.image.files import read_image
from tests import models
from tests.helpers import ROOT

H, W = 12, 16
# (part name, channel names, pixel type): Blender 5's layout, one part per pass.
PARTS = [
    (
        "ViewLayer.Combined",
        ("ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B", "ViewLayer.Combined.A"),
        "float",
    ),
    ("ViewLayer.Depth", ("ViewLayer.Depth.Z",), "float"),
    ("ViewLayer.Normal", ("ViewLayer.Normal.X", "ViewLayer.Normal.Y", "ViewLayer.Normal.Z"), "float"),
    (
        "ViewLayer.Diffuse Color",
        ("ViewLayer.Diffuse Color.R", "ViewLayer.Diffuse Color.G", "ViewLayer.Diffuse Color.B"),
        "half",
    ),
]


def _write_multipart(path, seed):
    import OpenImageIO as oiio

    rng = np.random.default_rng(seed)
    pixels, specs = [], []
    for name, channels, fmt in PARTS:
        data = rng.uniform(0, 1, (H, W, len(channels))).astype(np.float32)
        if fmt == "half":
            data = data.astype(np.float16).astype(np.float32)  # what the file can hold, to compare exactly
        spec = oiio.ImageSpec(W, H, len(channels), fmt)
        spec.channelnames = channels
        spec.attribute("name", name)
        spec.attribute("compression", "piz")
        specs.append(spec)
        pixels.append(data)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), specs)
    for i, (spec, data) in enumerate(zip(specs, pixels, strict=True)):
        assert i == 0 or out.open(str(path), spec, "AppendSubimage")
        assert out.write_image(data)
    assert out.close()


def _parts(path):
    """[(part name, channel names, pixel type, compression, HxWxC)] of every part."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    found, part = [], 0
    while inp.seek_subimage(part, 0):
        spec = inp.spec()
        data = np.asarray(inp.read_image(part, 0, 0, spec.nchannels, "float")).reshape(spec.height, spec.width, -1)
        found.append(
            (
                spec.getattribute("name"),
                tuple(spec.channelnames),
                str(spec.format),
                spec.getattribute("compression"),
                data,
            )
        )
        part += 1
    inp.close()
    return found


def _sequence(tmp_path, model, out, *extra):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "sequence",
            str(model),
            "--input",
            str(tmp_path / "in/####.exr"),
            "--output",
            str(out),
            "--frames",
            "1-2",
            "--provider",
            "cpu",
            "--precision",
            "fp32",
            "--cache-dir",
            str(tmp_path / "c"),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["done"] == [1, 2]


@pytest.mark.parametrize("model,scale", [(models.conv_stack, 1), (models.sr_x2, 2)])
def test_sequence_keeps_every_pass_of_a_multipart_exr(tmp_path, model, scale):
    models.save(model(), tmp_path / "m.onnx")
    (tmp_path / "in").mkdir()
    for frame in (1, 2):
        _write_multipart(tmp_path / f"in/{frame:04d}.exr", seed=frame)
    _sequence(tmp_path, tmp_path / "m.onnx", tmp_path / "kept/####.exr")
    _sequence(tmp_path, tmp_path / "m.onnx", tmp_path / "plain/####.exr", "--no-keep-passes")
    for frame in (1, 2):
        source = _parts(tmp_path / f"in/{frame:04d}.exr")
        kept = _parts(tmp_path / f"kept/{frame:04d}.exr")
        plain = _parts(tmp_path / f"plain/{frame:04d}.exr")
        # --no-keep-passes writes only the processed image, which is what the Combined layer must hold.
        assert len(plain) == 1 and plain[0][1] == ("R", "G", "B", "A")
        engine_result = read_image(tmp_path / f"plain/{frame:04d}.exr")
        assert engine_result.shape[:2] == (H * scale, W * scale)
        assert [p[:4] for p in kept] == [p[:4] for p in source]  # names, channels, pixel types, codec
        np.testing.assert_array_equal(kept[0][4], engine_result)
        for (_, _, _, _, before), (_, _, _, _, after) in zip(source[1:], kept[1:], strict=True):
            # An upscaled frame's passes are repeated pixel for pixel (nearest), never interpolated.
            np.testing.assert_array_equal(after, before.repeat(scale, axis=0).repeat(scale, axis=1))
