"""The tiling report where people read it: the CLI's `run` JSON (with --fit) and a sequence's first log line."""

import json
import logging

import numpy as np
import pytest

from engine.batch.sequence import process_sequence
from engine.cli import USAGE_EXIT, main
from engine.image.files import read_image, write_image
from engine.inference.settings import RunSettings
from engine.inference.tile_plan import exact_overlap
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models


def _run(tmp_path, capsys, *extra):
    model = models.save(models.fixed_global(64), tmp_path / "fixed_global.onnx")
    source = tmp_path / "in.exr"
    write_image(source, synthetic_image(90, 150, channels=4, seed=1))
    out = tmp_path / f"out{len(extra)}.exr"
    args = ["run", str(model), str(source), str(out), "--provider", "cpu", "--cache-dir", str(tmp_path / "c")]
    assert main([*args, *extra]) == 0
    return json.loads(capsys.readouterr().out), read_image(out)


def test_cli_run_json_reports_the_fit_and_takes_fit(tmp_path, capsys):
    auto, image = _run(tmp_path, capsys)
    assert image.shape == (90, 150, 4)
    tiling = auto["tiling"]
    assert tiling["fit"] == "resize" and tiling["requested_fit"] == "auto" and tiling["tiles"] == 1
    assert tiling["resized_to"] == [64, 64] and tiling["receptive_radius"] == "global" and tiling["exact"]
    assert "sees the whole image" in tiling["reason"] and not any("seams" in n for n in auto["notes"])
    tiled, _ = _run(tmp_path, capsys, "--fit", "tile", "--overlap", "16")
    report = tiled["tiling"]
    assert report["fit"] == "tile" and report["overlap"] == 16 and not report["exact"]
    assert report["grid"] == [2, 3] and report["covered_ratio"] > 1 and report["seam_difference"] > 0
    assert any("may show seams" in note for note in tiled["notes"])


def test_cli_refuses_an_unknown_fit(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "m.onnx", "a.exr", "b.exr", "--fit", "stretch"])
    assert exit_.value.code == USAGE_EXIT and "--fit" in capsys.readouterr().err


def test_a_sequence_logs_its_tiling_first_and_keeps_it_in_the_summary(tmp_path, caplog):
    model = models.save(models.conv_stack(3), tmp_path / "stack.onnx")
    (tmp_path / "in").mkdir()
    for f in (1, 2):
        write_image(tmp_path / f"in/{f:04d}.exr", synthetic_image(150, 190, channels=3, seed=f))
    prepared = prepare_model(model, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "c")
    with caplog.at_level(logging.INFO, logger="engine"):
        summary = process_sequence(
            prepared,
            str(tmp_path / "in/####.exr"),
            output_pattern=str(tmp_path / "out/####.exr"),
            frames=[1, 2],
            settings=RunSettings(tile=64),
        )
    assert summary.done == (1, 2) and summary.to_json()["tiling"] == summary.tiling
    first = caplog.records[0].getMessage()
    overlap = exact_overlap(prepared.info.receptive_radius)  # 3 stacked 3x3 convolutions: radius 3
    assert prepared.info.receptive_radius == 3
    assert first.startswith("sequence of 2 frames: fit tile: ") and f"overlap {overlap} px" in first
    assert np.isfinite(read_image(tmp_path / "out/0001.exr")).all()
