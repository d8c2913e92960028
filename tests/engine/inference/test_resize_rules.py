"""The contract's resize rules (issue 28 item 3): each size is worked out here by hand with the packages' arithmetic
(PaddleOCR's DetResizeForTest: ratio, int(), Python's round to the multiple; a centred letterbox), and each run's
pixels equal a plain onnxruntime session fed the package's way: resized to that size (with the engine's documented
filters), letterboxed where asked, and the output cropped and resized back."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from engine.image.files import write_image
from engine.inference.resize_fit import resample
from engine.inference.resize_policy import letterbox, rule_size
from engine.inference.tile_plan import plan_fit
from engine.model.contract import ContractError, ResizeRule
from engine.options import Fit, FitChoice
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT, run_with_contract

CPU = SessionSettings(provider="cpu")


def _raw(model, hwc: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(hwc.transpose(2, 0, 1)[None], np.float32)
    return session.run(None, {"x": x})[0][0].transpose(1, 2, 0)


_run = run_with_contract


@pytest.mark.parametrize(
    ("rule", "size", "expected"),
    [
        # ratio 736/300; 300 * ratio = 736 -> 736/32 = 23 -> 736; int(500 * 2.4533) = 1226 -> 38.31 -> 38 * 32
        ({"short_side_min": 736, "multiple": 32}, (300, 500), (736, 1216)),
        # short side 800 >= 736: ratio 1; 1000/32 = 31.25 -> 31 * 32; 800/32 = 25
        ({"short_side_min": 736, "multiple": 32}, (1000, 800), (992, 800)),
        # ratio 960/1920 = 0.5; 540/32 = 16.875 -> 17 * 32; 960/32 = 30
        ({"long_side_max": 960, "multiple": 32}, (1080, 1920), (544, 960)),
        # long side 600 <= 960: ratio 1; 600/32 = 18.75 -> 19 * 32; 400/32 = 12.5 -> 12 (half to even) * 32
        ({"long_side_max": 960, "multiple": 32}, (600, 400), (608, 384)),
        # round(10/32) = 0: at least one multiple
        ({"multiple": 32}, (10, 70), (32, 64)),
    ],
)
def test_rule_sizes_follow_the_packages_arithmetic(rule, size, expected):
    assert rule_size(ResizeRule(**rule), *size) == expected


@pytest.mark.parametrize(
    ("size", "scaled", "offset"),
    [
        ((48, 96), (32, 64), (16, 0)),  # r = min(64/48, 64/96) = 2/3: 32x64, centred vertically
        ((20, 10), (64, 32), (0, 16)),  # r = min(64/20, 64/10) = 3.2: scaled up to 64x32
        ((30, 70), (27, 64), (18, 0)),  # r = 64/70: round(27.43) = 27; (64 - 27) // 2 = 18, the odd row at the bottom
    ],
)
def test_letterbox_geometry(size, scaled, offset):
    box = letterbox(ResizeRule(letterbox=True), (64, 64), *size)
    assert (box.scaled, box.offset, box.canvas) == (scaled, offset, (64, 64))


def test_a_rule_plan_depends_on_the_rule_and_the_image_not_on_memory(model_file):
    from engine.model.inspect import inspect_model

    info = inspect_model(model_file("conv_chain"))
    rule = ResizeRule(long_side_max=96, multiple=16)
    plans = {plan_fit(info, 150, 230, Fit.AUTO, None, limit, rule) for limit in ((64, 64), (4096, 4096))}
    assert len(plans) == 1
    (plan,) = plans
    # ratio 96/230: int(150 * 0.417) = 62 -> 3.875 -> 4 * 16; int(96.0) = 96 (or 95 -> 5.94 -> 6 * 16 either way)
    assert plan.fit == FitChoice.RESIZE and plan.resize_to == (64, 96) and plan.by_rule
    # Tiles asked for are tiles: the rule is the resize fit's.
    assert plan_fit(info, 150, 230, Fit.TILE, None, (64, 64), rule).fit == FitChoice.TILE


def test_short_side_rule_runs_at_the_rule_size_like_the_package(tmp_path):
    model, image = models.conv_chain(), synthetic_image(50, 70, seed=4)
    result = _run(tmp_path, model, image, {"resize": {"short_side_min": 64, "multiple": 16}})
    # ratio 64/50 = 1.28: 64 -> 64; int(70 * 1.28) = 89 -> 89/16 = 5.56 -> 6 * 16 = 96
    fed = resample(image, 64, 96)
    expected = resample(_raw(model, fed), 50, 70)
    assert result.tiling.resized_to == (64, 96) and result.tiling.fit == FitChoice.RESIZE
    assert "short side at least 64, each side a multiple of 16" in result.tiling.reason
    assert not any("fit auto resized" in n for n in result.notes)  # the package's rule, not a memory fallback
    np.testing.assert_allclose(result.image, expected, atol=1e-5)


def test_long_side_rule_shrinks_a_large_image(tmp_path):
    model, image = models.conv_chain(), synthetic_image(120, 200, seed=5)
    result = _run(tmp_path, model, image, {"resize": {"long_side_max": 96, "multiple": 32}})
    # ratio 96/200 = 0.48: int(57.6) = 57 -> 1.78 -> 2 * 32 = 64; int(96.0) = 96
    expected = resample(_raw(model, resample(image, 64, 96)), 120, 200)
    assert result.tiling.resized_to == (64, 96)
    np.testing.assert_allclose(result.image, expected, atol=1e-5)


def test_letterbox_pads_keeps_the_aspect_and_crops_back(tmp_path):
    model, image = models.fixed_size(size=64), synthetic_image(48, 96, seed=6)
    result = _run(tmp_path, model, image, {"resize": {"letterbox": True, "pad": 0.5}})
    canvas = np.full((64, 64, 3), 0.5, np.float32)
    canvas[16:48, 0:64] = resample(image, 32, 64)  # scaled by 2/3 to 32x64, 16 rows of padding above and below
    expected = resample(_raw(model, canvas)[16:48, 0:64], 48, 96)
    assert result.tiling.to_json()["letterbox"] == [16, 0, 32, 64] and result.tiling.resized_to == (32, 64)
    assert result.image.shape == (48, 96, 3)
    np.testing.assert_allclose(result.image, expected, atol=1e-5)
    # The padding is the contract's: the 3x3 convolution sees it at the picture's top and bottom rows.
    zero_pad = _run(tmp_path / "zero", model, image, {"resize": {"letterbox": True}})
    assert np.abs(zero_pad.image - result.image)[[0, -1]].max() > 1e-3


def test_a_rule_for_the_wrong_kind_of_model_is_one_line(tmp_path):
    with pytest.raises(ContractError, match=r"letterbox fills a fixed-size input; this model takes any size"):
        _run(tmp_path / "a", models.conv_chain(), synthetic_image(20, 20), {"resize": {"letterbox": True}})
    with pytest.raises(ContractError, match=r"needs a model that takes any size; this one takes only 64x64"):
        _run(tmp_path / "b", models.fixed_size(size=64), synthetic_image(20, 20), {"resize": {"multiple": 32}})


def test_run_json_reports_the_size_used(tmp_path):
    path = models.save(models.conv_chain(), tmp_path / "m.onnx")
    write_image(tmp_path / "in.exr", synthetic_image(50, 70))
    args = [sys.executable, "-m", "engine", "run", path, tmp_path / "in.exr", tmp_path / "out.exr"]
    args += ["--provider", "cpu", "--cache-dir", tmp_path / "c", "--resize", "short_side_min=64,multiple=16"]
    done = subprocess.run(list(map(str, args)), capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    tiling = json.loads(done.stdout)["tiling"]
    assert tiling["fit"] == "resize" and tiling["resized_to"] == [64, 96] and tiling["letterbox"] is None
    bad = subprocess.run([*map(str, args[:-1]), "short_side_min=a"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "--resize takes KEY=NUMBER" in bad.stderr


def test_a_rule_that_keeps_the_size_never_returns_the_runners_buffer(tmp_path):
    """Review finding: a rule whose size is the image's own left the result in the runner's reused output buffer, so
    the next frame's run changed a frame still being written. Each result is its own array."""
    from engine.inference.pipeline import run_image
    from engine.inference.settings import RunSettings
    from engine.model.contract import build_contract
    from engine.runtime.prepare import prepare_model
    from engine.runtime.sessions import SessionSettings

    path = models.save(models.luminance(), tmp_path / "luma.onnx")
    contract = build_contract([("file", {"resize": {"short_side_min": 32, "multiple": 32}})])
    prepared = prepare_model(
        path, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache", contract=contract
    )
    settings = RunSettings(contract=contract)
    first = run_image(prepared, np.full((32, 64, 3), 0.25, np.float32), settings=settings).image
    kept = first.copy()
    second = run_image(prepared, np.full((32, 64, 3), 0.75, np.float32), settings=settings).image
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)
