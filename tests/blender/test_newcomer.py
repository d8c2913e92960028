"""Issue 27's newcomer list, in Blender: advice for the precision that runs, pass names the model lacks, what a
prepare really did, the tiling line as information, and a panel without wrapped paths and node-name dumps."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from tests import models
from tests.blender.layout import draw
from tests.helpers import ROOT


def reports(capfd, level: str) -> list[str]:
    """The operator reports of one level printed since the last call (background Blender prints each report)."""
    out = capfd.readouterr().out
    return [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith(f"{level}: ")]


def test_advise_on_auto_is_for_what_auto_runs_and_says_so(bpy_data, tmp_path, capfd):
    """Auto on a CPU runs fp32, where no layer is Tensor Core eligible: the advice says it is for fp32 and why, so
    0% is not read as a verdict on the model; FP16 asked for by name is advised as asked."""
    bpy = bpy_data
    settings = bpy.context.scene.onnx_image_runtime
    settings.model_path = str(models.save(models.conv_chain((3, 16, 16, 3)), tmp_path / "chain.onnx"))
    capfd.readouterr()
    assert bpy.ops.onnx.advise_model(precision="AUTO", provider="CPU", height=32, width=32) == {"FINISHED"}
    first, scope, *_ = settings.last_advice.splitlines()
    assert first.startswith("Tensor Core eligible: 0% of")
    assert scope.startswith("advice for fp32, what auto runs on this CPU (auto chose fp32: ")
    assert "ask for fp16" in scope
    assert reports(capfd, "Info")[-1] == f"{first}; {scope}"  # the report says it too, not only the panel
    assert bpy.ops.onnx.advise_model(precision="FP16", provider="CPU", height=32, width=32) == {"FINISHED"}
    first, scope, *_ = settings.last_advice.splitlines()
    assert scope == "advice for fp16 on CPU, as asked" and not first.startswith("Tensor Core eligible: 0%")


def test_advice_panel_summarises_node_lists_and_the_text_block_keeps_every_name(bpy_data):
    bpy = bpy_data
    panels = importlib.import_module("onnx_image_runtime.panels")
    settings = bpy.context.scene.onnx_image_runtime
    settings.model_path = str(ROOT / "samples" / "upscaler_x2.onnx")  # 6 Convs, four of them 32->32
    assert bpy.ops.onnx.advise_model(precision="FP16", provider="CPU", height=64, width=64) == {"FINISHED"}
    panel = " ".join(draw(panels.ONNX_PT_architecture, bpy.context).texts()[1:])
    assert "4x Conv 32->32: Tensor Core eligible (multiples of 32)" in panel  # counted, not four lines
    assert panel.count("Conv 32->32") == 1
    full = bpy.data.texts["ONNX Advice"].as_string()
    assert full.startswith("\n".join(settings.last_advice.splitlines()))
    assert all(f"{name}: Conv" in full for name in ("/head/Conv", "/body.3/Conv", "/tail/Conv"))
    layout_line = next(line for line in settings.last_advice.splitlines() if line.startswith("layout conversions"))
    kinds, _, nodes = layout_line.split(": ", 1)[1].partition("; nodes: ")
    count = sum(int(kind.split()[0]) for kind in kinds.split(", ")) if kinds != "none" else 0
    # Each conversion is in the text block by name; the panel names at most three, then how many more.
    assert full.count("\n  Reorder") + full.count("\n  Transpose") == count
    names = [name for name in nodes.split(", ") if name and not name.startswith("+")]
    assert len(names) == min(count, 3) and all(f"\n  {name} " in full or f" {name} after" in full for name in names)
    assert nodes.endswith(f", +{count - 3} more") if count > 3 else "more" not in nodes


def test_pass_names_the_model_lacks_are_a_warning_with_its_inputs(bpy_data, models_dir, tmp_path, capfd):
    """README's `passes="albedo=Diffuse Color,normal=Normal"` on a one-input model: said, with the model's inputs."""
    bpy = bpy_data
    from onnx_image_runtime.engine.image.files import write_image

    exr = tmp_path / "plain.exr"
    write_image(exr, np.random.default_rng(0).random((8, 8, 4), np.float32))
    capfd.readouterr()
    assert bpy.ops.onnx.run_render(
        filepath=str(exr),
        model=str(models_dir / "sr_x2.onnx"),
        precision="FP32",
        provider="CPU",
        passes="albedo=Diffuse Color,normal=Normal",
        output_name="Mapped",
    ) == {"FINISHED"}
    assert (
        "pass mapping 'albedo=Diffuse Color', 'normal=Normal' ignored: the model has no image input of that name; "
        "its image inputs: x"
    ) in reports(capfd, "Warning")
    # Names the model has: nothing to say.
    assert bpy.ops.onnx.run_render(
        filepath=str(exr), model=str(models_dir / "sr_x2.onnx"), precision="FP32", passes="x=Combined"
    ) == {"FINISHED"}
    assert not [line for line in reports(capfd, "Warning") if "pass mapping" in line]


def test_render_post_process_says_pass_names_the_model_lacks(clean_file, models_dir, tmp_path, capsys):
    bpy = clean_file
    from tests.blender.test_batch_render import setup_scene

    scene = setup_scene(bpy, tmp_path, models_dir / "sr_x2.onnx")
    scene.frame_end = scene.frame_start  # one frame is enough to prepare the model
    scene.onnx_image_runtime.pass_mapping = "albedo=Diffuse Color"
    assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    out = capsys.readouterr().out
    assert (
        "ONNX post-process: pass mapping 'albedo=Diffuse Color' ignored: the model has no image input of that name; "
        "its image inputs: x"
    ) in out.splitlines()
    assert "ONNX post-process: done 1, skipped 0, failed 0" in out  # said, and the frame still processed


def test_prepare_says_converted_then_reused_in_memory_then_cache_hit(bpy_data, tmp_path, capfd):
    """Issue 27: "converted and cached" was repeated when the model was only reused in memory."""
    bpy = bpy_data
    from onnx_image_runtime.engine import SessionSettings, prepare_model, release_model

    # A model no other test prepares: its first prepare converts, whatever ran before.
    model = str(models.save(models.conv_chain((3, 7, 5, 3), seed=27), tmp_path / "fresh.onnx"))
    capfd.readouterr()
    said = []
    for _ in range(2):
        assert bpy.ops.onnx.prepare_model(model=model, precision="FP16", provider="CPU") == {"FINISHED"}
        said.append(reports(capfd, "Info")[-1])
    assert said[0].startswith("prepared fp16 on CPU (converted and cached, startup "), said
    assert said[1] == "prepared fp16 on CPU (reused in memory, no startup)", said
    # As after a render, the model is let go: the next prepare loads the file cache.
    release_model(prepare_model(model, "fp16", settings=SessionSettings(provider="cpu")))
    assert bpy.ops.onnx.prepare_model(model=model, precision="FP16", provider="CPU") == {"FINISHED"}
    assert reports(capfd, "Info")[-1].startswith("prepared fp16 on CPU (cache hit, startup ")


def test_sequence_tiling_line_is_information_not_a_warning(bpy_data, models_dir, tmp_path, capfd):
    bpy = bpy_data
    from onnx_image_runtime.engine.image.files import write_image

    (tmp_path / "render").mkdir()
    for frame in (1, 2):
        write_image(tmp_path / "render" / f"{frame:04d}.exr", np.random.default_rng(frame).random((8, 8, 4), "f"))
    settings = bpy.context.scene.onnx_image_runtime
    settings.model_path = str(models_dir / "sr_x2.onnx")
    settings.precision, settings.provider = "FP32", "CPU"
    capfd.readouterr()
    try:
        assert bpy.ops.onnx.process_sequence(input_pattern=str(tmp_path / "render" / "####.exr"), frames="1-2") == {
            "FINISHED"
        }
    finally:
        settings.property_unset("precision")
        settings.property_unset("provider")
    out = capfd.readouterr().out.splitlines()
    assert "Info: fit whole: whole image (8x8), 1.00x the image's area; the image fits in memory whole" in out, out
    assert not [line for line in out if line.startswith("Warning: ") and "fit " in line], out


def test_panels_name_files_not_paths(bpy_data, models_dir, tmp_path):
    """A missing model and the benchmark's title by file name; the whole path in a sub-panel opened on request
    (the text block keeps it for copying)."""
    bpy = bpy_data
    panels = importlib.import_module("onnx_image_runtime.panels")
    settings = bpy.context.scene.onnx_image_runtime
    gone = tmp_path / "deep" / "folder" / "gone.onnx"
    settings.model_path = str(gone)
    layout = draw(panels.ONNX_PT_model, bpy.context)
    texts = layout.texts()
    assert texts[0] == "Model file not found: gone.onnx" and str(tmp_path) not in texts[0]
    opened = [kwargs for name, _, kwargs in layout.calls if name == "panel"]
    assert opened == [{"default_closed": True}]  # closed until asked for
    assert texts[1] == "Full Path" and "".join(texts[2:]) == str(gone)
    # A model that cannot be read: its error names the file, not the folders above it.
    settings.model_path = str(models_dir / "not_onnx.onnx")
    with pytest.raises(RuntimeError, match="not a readable ONNX model"):
        bpy.ops.onnx.inspect_model()
    shown = " ".join(draw(panels.ONNX_PT_model, bpy.context).texts())
    assert shown.startswith("not_onnx.onnx is not a readable ONNX model") and str(models_dir) not in shown, shown

    settings.model_path = str(models_dir / "sr_x2.onnx")
    img = bpy.data.images.new("Bench Paths", 16, 16, alpha=True, float_buffer=True)
    assert bpy.ops.onnx.benchmark_model(image=img.name, provider="CPU", precision="FP32", repeats=1) == {"FINISHED"}
    shown = draw(panels.ONNX_PT_precision, bpy.context).texts()
    assert "sr_x2.onnx  16x16  median of 1" in shown and not any(str(models_dir) in t for t in shown), shown
    assert bpy.data.texts["ONNX Benchmark"].as_string().startswith(str(models_dir / "sr_x2.onnx"))


@pytest.fixture(autouse=True)
def _model_path_back(bpy_data):
    yield
    bpy_data.context.scene.onnx_image_runtime.property_unset("model_path")
