"""Pass names (Blender 4.2 and 5.x), mappings, input selection, default output patterns, batch summaries."""

from __future__ import annotations

import numpy as np
import pytest

from engine.batch.frames import frame_path, sibling_output_pattern
from engine.batch.sequence import SequenceSummary
from engine.cli import build_parser
from engine.cli import pass_mapping as cli_passes
from engine.errors import EngineError, ImageError
from engine.image import files as imageio
from engine.image.files import read_layers, write_image
from engine.image.passes import (
    combined_layer,
    data_inputs,
    find_pass,
    is_data_pass,
    mapping_warning,
    normalize,
    parse_mapping,
    select_inputs,
)


def layers_50(view="ViewLayer"):
    """As engine.image.files reads a Blender 5 multi-part EXR: full layer names."""
    return {
        f"{view}.Combined": np.full((2, 2, 4), 1, np.float32),
        f"{view}.Diffuse Color": np.full((2, 2, 3), 2, np.float32),
        f"{view}.Normal": np.full((2, 2, 3), 3, np.float32),
        f"{view}.Denoising Albedo": np.full((2, 2, 3), 4, np.float32),
    }


def test_parse_mapping():
    assert parse_mapping("albedo=Diffuse Color, normal = Normal,") == {"albedo": "Diffuse Color", "normal": "Normal"}
    assert parse_mapping(["albedo=DiffCol", "normal=Normal,depth=Depth"]) == {
        "albedo": "DiffCol",
        "normal": "Normal",
        "depth": "Depth",
    }
    assert parse_mapping("") == {}
    for bad in ("albedo", "=Normal", "albedo="):
        with pytest.raises(ValueError, match="needs the form input=Pass Name"):
            parse_mapping(bad)


def test_find_pass_spellings_and_prefix():
    layers = layers_50()
    assert normalize("DiffCol") == normalize("diffuse color") == "diffuse color"
    for name in ("Diffuse Color", "DiffCol", "diffcol", "ViewLayer.Diffuse Color", "ViewLayer.DiffCol"):
        assert find_pass(layers, name)[0, 0, 0] == 2, name
    assert find_pass(layers, "Normal")[0, 0, 0] == 3
    assert find_pass(layers, "Glossy Color") is None
    # 4.2 files use the 4.2 names; 5.x spellings find them too.
    layers_42 = {"ViewLayer.DiffCol": np.zeros((1, 1, 3)), "ViewLayer.Combined": np.ones((1, 1, 4))}
    assert find_pass(layers_42, "Diffuse Color") is layers_42["ViewLayer.DiffCol"]
    # The first view layer wins; a plain image's unnamed layer is Combined.
    two = {**layers_50("A"), **layers_50("B")}
    assert find_pass(two, "Normal") is two["A.Normal"] and find_pass(two, "B.Normal") is two["B.Normal"]
    plain = {"": np.ones((1, 1, 3))}
    assert find_pass(plain, "Combined") is plain[""] and combined_layer(plain) is plain[""]
    assert combined_layer(layers_50())[0, 0, 0] == 1
    # engine.image.files uses the same lookup.
    assert imageio.find_pass is find_pass and imageio.combined_layer is combined_layer


def test_select_inputs_defaults_mapping_and_errors():
    layers = layers_50()
    first, extra = select_inputs(layers, ["x", "albedo", "normal"])
    assert first[0, 0, 0] == 1
    assert extra["albedo"][0, 0, 0] == 4 and extra["normal"][0, 0, 0] == 3  # Denoising Albedo before Diffuse Color
    first, extra = select_inputs(layers, ["x", "Albedo"], mapping={"albedo": "DiffCol", "X": "Normal"})
    assert first[0, 0, 0] == 3 and extra["Albedo"][0, 0, 0] == 2  # input names ignore case, as in the pipeline
    with pytest.raises(ImageError, match=r"model input 'albedo' needs 'GlossCol'; available passes: .*Diffuse Color"):
        select_inputs(layers, ["x", "albedo"], mapping={"albedo": "GlossCol"})
    with pytest.raises(ImageError, match="model input 'mask' needs a pass"):
        select_inputs(layers, ["x", "mask"])
    with pytest.raises(ImageError, match="model input 'x' needs 'Depth'"):
        select_inputs(layers, ["x"], mapping={"x": "Depth"})


def test_data_inputs_are_the_ones_given_data_passes():
    """Normals, depth, positions... are data: a working-space conversion must not touch them (both spellings)."""
    layers = layers_50()
    assert data_inputs(layers, ["x", "albedo", "normal"]) == {"normal"}
    assert data_inputs(layers, ["x", "albedo"], mapping={"x": "Normal", "albedo": "DiffCol"}) == {"x"}
    assert data_inputs({"": np.zeros((1, 1, 4))}, ["x"]) == frozenset()  # a plain image is colour
    for name in ("ViewLayer.Depth", "Depth", "ViewLayer.IndexOB", "ViewLayer.Object Index", "ViewLayer.CryptoObject00"):
        assert is_data_pass(name), name
    for name in ("ViewLayer.Combined", "", "ViewLayer.DiffCol", "ViewLayer.Denoising Albedo", "ViewLayer.Emit"):
        assert not is_data_pass(name), name
    with pytest.raises(ImageError, match="model input 'mask' needs a pass"):
        data_inputs(layers, ["x", "mask"])


def test_multilayer_file_round_trip(tmp_path):
    """A file written in parts as Blender 5 does is read back with every pass findable."""

    path = str(tmp_path / "multi.exr")
    write_parts(path, [("Combined", "RGBA", 0.5), ("Diffuse Color", "RGB", 0.25)], "float")
    layers = read_layers(path)
    assert find_pass(layers, "DiffCol").shape == (2, 4, 3) and float(find_pass(layers, "DiffCol")[0, 0, 0]) == 0.25
    first, _ = select_inputs(layers, ["x"])
    assert first.shape == (2, 4, 4) and float(first[0, 0, 0]) == 0.5
    write_image(tmp_path / "plain.exr", np.zeros((2, 2, 3), np.float32))
    assert list(read_layers(tmp_path / "plain.exr")) == [""]


@pytest.mark.parametrize(
    ("render", "expected"),
    [
        ("//render/####", "//render_onnx/####.exr"),
        ("//render/####.png", "//render_onnx/####.exr"),
        ("/farm/shot/render/sh010_", "/farm/shot/render_onnx/sh010_####.exr"),
        ("/farm/shot/render/sh010.####.exr", "/farm/shot/render_onnx/sh010.####.exr"),
        ("/tmp/", "/tmp/onnx/####.exr"),  # Blender's default output: inside it, not at the disk root
        ("/tmp/####.png", "/tmp/onnx/####.exr"),  # what render_pattern makes of it
        ("/proj/shot/render/", "/proj/shot/render/onnx/####.exr"),
        ("//", "//onnx/####.exr"),
        ("####.exr", "onnx/####.exr"),
        ("C:\\renders\\####", "C:/renders/onnx/####.exr"),
        ("C:\\proj\\renders\\####", "C:/proj/renders_onnx/####.exr"),
    ],
)
def test_sibling_output_pattern(render, expected):
    assert sibling_output_pattern(render) == expected
    assert frame_path(sibling_output_pattern(render), 7).endswith("0007.exr")


def test_summary_text():
    summary = SequenceSummary(done=(1, 4), skipped=(5,), failed={2: "bad pixels", 3: "disk full", 7: "x"})
    assert summary.text() == "done 2, skipped 1, failed 3 (frame 2: bad pixels; frames 2-3,7)"
    assert SequenceSummary(done=(1,), cancelled=True).text() == "done 1, skipped 0, failed 0, cancelled"


def test_cli_pass_option():
    args = build_parser().parse_args(
        ["sequence", "m.onnx", "--input", "a/####.exr", "--output", "b/####.exr", "--frames", "1-3"]
        + ["--pass", "albedo=DiffCol", "--pass", "normal=Normal,depth=Depth"]
    )
    assert cli_passes(args) == {"albedo": "DiffCol", "normal": "Normal", "depth": "Depth"}
    args.pass_ = ["albedo"]
    with pytest.raises(EngineError, match="--pass takes INPUT=PASS"):
        cli_passes(args)


def test_a_half_combined_layer_with_values_beyond_half_range_is_written_as_float(tmp_path):
    """Issue 25, multilayer: the combined layer follows the render's half depth unless the result needs float."""

    from engine.image.files import write_layers_like

    path = str(tmp_path / "half_layers.exr")
    write_parts(path, [("Combined", "RGBA", 0.5), ("Depth", "Z", 3.0)], "half")
    bright = np.full((2, 4, 4), 1e5, np.float32)
    notes = write_layers_like(path, tmp_path / "out.exr", bright)
    assert notes == ["32 values beyond half float's range (65504): written as 32-bit float, not half"]
    combined, _ = select_inputs(read_layers(tmp_path / "out.exr"), ["x"])
    assert np.isfinite(combined).all() and float(combined.max()) == 1e5
    assert write_layers_like(path, tmp_path / "calm.exr", np.full((2, 4, 4), 2.0, np.float32)) == []


def write_parts(path: str, passes: list[tuple[str, str, float]], pixel_type: str) -> None:
    """A 4x2 multilayer EXR written in parts as Blender 5 does: (pass name, channel letters, value) each."""
    import OpenImageIO as oiio

    specs = []
    for name, channels, _ in passes:
        spec = oiio.ImageSpec(4, 2, len(channels), pixel_type)
        spec.channelnames = tuple(f"ViewLayer.{name}.{ch}" for ch in channels)
        spec.attribute("oiio:subimagename", f"ViewLayer.{name}")
        specs.append(spec)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, specs)
    for index, ((_, channels, value), spec) in enumerate(zip(passes, specs, strict=True)):
        if index:
            assert out.open(path, spec, "AppendSubimage")
        out.write_image(np.full((2, 4, len(channels)), value, np.float32))
    out.close()


def test_mapping_entries_for_inputs_the_model_lacks_are_named_with_the_inputs_it_has():
    """Issue 27: README's 'albedo=...,normal=...' on a one-input model was ignored without a word."""
    mapping = parse_mapping("albedo=Diffuse Color, normal=Normal")
    assert mapping_warning(mapping, ["input"]) == (
        "pass mapping 'albedo=Diffuse Color', 'normal=Normal' ignored: the model has no image input of that name; "
        "its image inputs: input"
    )
    # Names match ignoring case, as select_inputs matches them: only the entry for no input is named.
    assert mapping_warning(parse_mapping("Albedo=DiffCol,nromal=Normal"), ["color", "albedo", "normal"]) == (
        "pass mapping 'nromal=Normal' ignored: the model has no image input of that name; "
        "its image inputs: color, albedo, normal"
    )
    assert mapping_warning(mapping, ["color", "albedo", "normal"]) is None
    assert mapping_warning({}, ["input"]) is None
