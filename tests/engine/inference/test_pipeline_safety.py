"""Wrong values refused rather than passed on (issue 16, item 10)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ImageError
from engine.inference.pipeline import run_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings

CPU = SessionSettings(provider="cpu")


def test_nan_in_alpha_is_refused(model_file, cache_dir):
    prepared = prepare_model(model_file("sr_x2"), "fp32", settings=CPU, cache_dir=cache_dir)
    image = np.random.default_rng(0).random((8, 8, 4), np.float32)
    image[2, 3, 3] = np.nan
    with pytest.raises(ImageError, match="alpha.*NaN or Inf|NaN or Inf.*alpha"):
        run_image(prepared, image)


def test_amp_handles_an_output_above_fp16_range(model_file, cache_dir):
    """fp16 refuses this model and recommends AMP; AMP must then give the fp32 result."""
    path = model_file("overflow_output")
    image = np.random.default_rng(1).random((16, 16, 3), np.float32)
    reference = run_image(prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir), image).image
    assert np.abs(reference).max() > 65504  # beyond fp16: this is the case in question
    amp = prepare_model(path, "amp", settings=CPU, cache_dir=cache_dir, sample=image)
    out = run_image(amp, image).image
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, reference, rtol=1e-2, atol=1e-2)
