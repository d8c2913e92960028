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


def _mean_psnr(renders, upscale) -> float:
    from samples.imageops import box_downsample, psnr

    return float(np.mean([psnr(hr, upscale(box_downsample(hr))) for hr in renders]))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_sample_upscaler_beats_bicubic(renders, precision, tmp_path):
    from samples.evaluate import converted, onnx_upscaler
    from samples.imageops import bicubic_upsample, box_downsample

    model = MODEL
    if precision == "fp16":
        model, _ = converted(MODEL, "fp16", box_downsample(renders[0]), tmp_path)
    upscale = onnx_upscaler(model)
    out = upscale(box_downsample(renders[0]))
    assert out.shape == renders[0].shape and np.isfinite(out).all()

    ours, bicubic = _mean_psnr(renders, upscale), _mean_psnr(renders, bicubic_upsample)
    assert ours > bicubic + 0.3, f"{precision} model {ours:.2f} dB vs bicubic {bicubic:.2f} dB"
