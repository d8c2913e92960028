"""The shipped sample upscaler (samples/upscaler_x2.onnx) beats bicubic on held-out Cycles renders, in fp32
and after the engine's fp16 conversion. Renders with the `bpy` module (Cycles, CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

MODEL = Path(__file__).resolve().parents[1] / "samples" / "upscaler_x2.onnx"
SCENES = 2
SIZE = 96


@pytest.fixture(scope="module")
def renders():
    from samples.scenes import render_random_scene
    from samples.train_upscaler import TEST_SEED

    return [render_random_scene(TEST_SEED + i, SIZE, samples=16) for i in range(SCENES)]


@pytest.fixture(scope="module")
def fp32_model():
    from engine.model.onnx_io import clamp_ir_version, load_model

    model = load_model(MODEL)
    clamp_ir_version(model)
    return model


def _mean_psnr(renders, upscale) -> float:
    from samples.imageops import box_downsample, psnr

    return float(np.mean([psnr(hr, upscale(box_downsample(hr))) for hr in renders]))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_sample_upscaler_beats_bicubic(renders, fp32_model, precision):
    from engine.model.describe import describe_model
    from engine.precision.convert import ConversionOptions, convert_model
    from engine.precision.validation_feeds import sample_feeds
    from samples.evaluate import onnx_upscaler
    from samples.imageops import bicubic_upsample, box_downsample

    model = fp32_model
    if precision == "fp16":
        feeds = sample_feeds(describe_model(model), box_downsample(renders[0]))
        model, report = convert_model(model, feeds, ConversionOptions(precision="fp16"))
        assert model is not None, report.reason
    upscale = onnx_upscaler(model)
    out = upscale(box_downsample(renders[0]))
    assert out.shape == renders[0].shape and np.isfinite(out).all()

    ours, bicubic = _mean_psnr(renders, upscale), _mean_psnr(renders, bicubic_upsample)
    assert ours > bicubic + 0.3, f"{precision} model {ours:.2f} dB vs bicubic {bicubic:.2f} dB"
