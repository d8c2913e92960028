"""The benchmark scripts run end to end (on the CPU provider, tiny sizes): the GPU script must work
the first time it meets a GPU, and `make bench` must not rot."""

import json

import numpy as np
import pytest

from bench import gpu_check
from engine.gpu import cuda_unavailable_reason

NO_CUDA = cuda_unavailable_reason()


def test_gpu_check_self_test(tmp_path):
    """On the CPU where there is no CUDA (--allow-cpu), on CUDA where there is: the same rows either way."""
    assert gpu_check.main(["--allow-cpu", "--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "gpu_results.json").read_text())
    assert data["provider"] == ("cpu" if NO_CUDA else "cuda") and data["cuda_reason"] == NO_CUDA
    assert {r["precision"] for r in data["correctness"]} == {"fp32", "fp16", "amp"}
    assert all(r["ok"] for r in data["correctness"])
    assert {(r["size"], r["precision"]) for r in data["timings"]} >= {("1080p", "fp16"), ("4k", "amp")}
    assert {r["precision"] for r in data["startup"]} == {"fp32", "fp16"}
    assert data["padding"]["padded_nodes"] == ["conv0", "conv1", "conv2"]
    assert {r["model"] for r in data["timings"]} >= {"narrow", "narrow+pad8"}
    assert [(r["model"], r["size"], r["motion"]) for r in data["temporal"]] == [
        ("compact_sr_x2 64x16", "96x128", "pan 2 px")
    ]


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a working CUDA runtime: nothing to refuse")
def test_gpu_check_refuses_to_pretend_without_cuda(tmp_path):
    assert gpu_check.main(["--out", str(tmp_path)]) == 4
    assert not (tmp_path / "gpu_results.json").exists()


@pytest.mark.skipif(bool(NO_CUDA), reason=f"needs a GPU with the CUDA runtime ({NO_CUDA})")
def test_gpu_check_runs_on_cuda_without_being_allowed_the_cpu(tmp_path):
    assert gpu_check.main(["--quick", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "gpu_results.json").read_text())["provider"] == "cuda"


def test_fit_modes_figure_script_writes_the_three_panels(tmp_path):
    from engine import read_image
    from scripts import fit_modes_figure

    out = fit_modes_figure.main(tmp_path / "fit_modes.png")
    picture = read_image(out)
    h, w = fit_modes_figure.HEIGHT, fit_modes_figure.WIDTH
    assert picture.shape[:2] == (h, 3 * w + 16)
    tiled, resized = picture[:, w + 8 : 2 * w + 8], picture[:, 2 * w + 16 :]

    # Seams: in tile mode neighbouring tiles disagree, so across the sky (left of the sun) the mean colour
    # of each column jumps at tile borders; resized, it changes smoothly.
    def largest_jump(panel):
        columns = panel[20:60, 10 : int(0.6 * w)].mean(axis=0)
        return np.abs(np.diff(columns, axis=0)).max()

    assert largest_jump(tiled) > 5 * largest_jump(resized)


def test_tiling_bench_row_reports_tiles_equal_to_whole(tmp_path):
    from bench.tiling_suite import tiling_row
    from engine import SessionSettings
    from tests import models

    model = models.save(models.conv_stack(3), tmp_path / "stack.onnx")
    row = tiling_row("stack", model, SessionSettings(provider="cpu"), tmp_path / "c", 1, size=(600, 700))
    from engine.inference.tile_plan import exact_overlap

    assert row["tiles"] == 4 and row["grid"] == "2x2" and row["overlap"] == exact_overlap(3)  # 3 stacked 3x3 convs
    assert row["max_abs_tiled_vs_whole"] < 1e-4 and 1.0 <= row["covered_ratio"] < 1.1


def test_session_rounds_times_both_sessions_on_the_same_image(capsys):
    from bench import session_rounds

    assert session_rounds.main(["--rounds", "2", "--size", "64x96", "--models", "sr_x2"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["model"] == "sr_x2 (generated)" and row["rounds"] == 2 and row["size"] == "96x64"
    assert row["raw_ms"] > 0 and row["engine_session_ms"] > 0
    assert row["session_ratio"] == row["engine_session_ms"] / row["raw_ms"]


def test_cli_process_rows_time_the_default_command_against_a_plain_script(tmp_path):
    from bench.cli_process import prepare_row, process_row
    from tests import models

    model = models.save(models.conv_chain((3, 8, 3)), tmp_path / "chain.onnx")
    row = process_row("chain", model, (48, 64), tmp_path, 1)
    assert row["outputs"] == "new" and row["size"] == "64x48" and row["plain_cpu_s"] > 0 and row["default_cpu_s"] > 0
    assert row["default_vs_plain"] > 0 and row["default_vs_fp32"] > 0
    assert (tmp_path / "plain.exr").exists() and (tmp_path / "d.exr").exists() and (tmp_path / "f.exr").exists()
    prepared = prepare_row("chain", model, (48, 64), tmp_path, 1)
    # auto: fp32 on a CPU; on CUDA the fastest precision that passes
    assert prepared["default_precision"] == "fp32" or not NO_CUDA
    assert prepared["raw_ms"] > 0


def test_int8_bench_row_times_both_and_gives_the_rules_figures(tmp_path):
    """Issue 30's bench row: int8 and fp32 timed on one image, the rule's figures on it, auto's choice and the CPU's
    vector extensions (the timings are this machine's and never asserted)."""
    from bench.int8_suite import cpu_row, int8_row
    from engine.precision.accuracy import AccuracyRule
    from tests import models

    rule = AccuracyRule()
    sdr = int8_row("tone", models.save(models.tone_curve(), tmp_path / "tone.onnx"), tmp_path / "c", 1, (192, 256))
    assert sdr["fp32_ms"] > 0 and sdr["int8_ms"] > 0 and sdr["int8_over_fp32"] == sdr["int8_ms"] / sdr["fp32_ms"]
    assert sdr["psnr_db"] >= rule.min_psnr_db and sdr["rule_on_whole_image"] == "within"
    assert sdr["rule_on_crops"] == "passed" and sdr["auto"].startswith("fp32: auto chose fp32: int8 not faster")
    chain = int8_row("chain", models.save(models.conv_chain(), tmp_path / "chain.onnx"), tmp_path / "c", 1, (96, 128))
    assert chain["rule_on_whole_image"].startswith("outside: ") and chain["rule_on_crops"].startswith("refused: ")
    cpu = cpu_row()
    assert set(cpu) == {"extensions", "int8_dot_product"} and cpu["int8_dot_product"]


def test_temporal_bench_row_times_the_measure_and_blend_through_a_sequence(tmp_path):
    """The temporal row's three sequences do what its differences assume (frames apart: neither measured nor
    blended; in order: each after the first measured, and blended with the blend on): it asserts that itself from
    the summaries, so this fails when the public path stops isolating them. The timings are never asserted."""
    from bench.temporal_cost import FRAMES, temporal_row
    from engine import SessionSettings
    from tests import models

    model = models.save(models.sr_x2(), tmp_path / "sr_x2.onnx")
    row = temporal_row("sr_x2", model, SessionSettings(provider="cpu"), tmp_path / "c", (40, 56), 1)
    assert row["size"] == "40x56" and row["frames"] == FRAMES and row["run_ms"] > 0
    assert set(row) >= {"measure_ms", "blend_ms", "measure_share", "blend_share"}


@pytest.mark.parametrize("pan", [2, 0])
def test_temporal_tracker_row_times_the_public_tracker(tmp_path, pan):
    """The direct row steps the public TemporalTracker over the model's outputs: it asserts itself that every frame
    after the first is measured and, with the blend, blended, a pan and a locked-off shot alike. The timings are
    never asserted."""
    from bench.temporal_cost import tracker_row
    from engine import SessionSettings
    from tests import models

    model = models.save(models.compact_sr_x2(features=8, convs=2), tmp_path / "compact.onnx")
    row = tracker_row("compact", model, SessionSettings(provider="cpu"), tmp_path / "c", (40, 56), 1, pan=pan)
    assert row["timed"] == "tracker" and row["size"] == "40x56" and row["run_ms"] > 0 and row["measure_ms"] > 0
    assert row["motion"] == ("still" if pan == 0 else f"pan {pan} px")
