"""Fit modes and tiles planned from the measured receptive field: tiled equals whole at the default overlap,
global-context and fixed-size models are resized under `auto` and warned about under `tile`."""

import numpy as np
import pytest

from engine.inference.pipeline import run_image
from engine.inference.resize_fit import resample
from engine.inference.settings import RunSettings
from engine.inference.tile_plan import axis_tiles, exact_overlap
from engine.inference.tiling import tile_starts
from engine.options import Fit, FitChoice
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings

CPU = SessionSettings(provider="cpu")


@pytest.fixture
def prepared(model_file, cache_dir):
    def make(name, *args):
        return prepare_model(model_file(name, *args), "fp32", settings=CPU, cache_dir=cache_dir)

    return make


@pytest.mark.parametrize(
    "name,args,tile,size,multiple",
    [
        ("conv_stack", (), 64, (151, 223), 1),
        ("dilated", (), 64, (149, 201), 1),
        ("unet_deep", (3,), 256, (517, 389), 8),
        ("unet_deep", (4,), 512, (1037, 581), 16),
    ],
)
def test_tiled_equals_whole_at_the_default_overlap(prepared, name, args, tile, size, multiple):
    prep = prepared(name, *args)
    assert prep.info.size_multiple == multiple and isinstance(prep.info.receptive_radius, int)
    image = synthetic_image(*size, seed=3)
    whole = run_image(prep, image, settings=RunSettings(tile=0))
    tiled = run_image(prep, image, settings=RunSettings(tile=tile))
    report = tiled.tiling
    assert whole.tiles == 1 and report is not None and report.tiles > 2 and report.fit == FitChoice.TILE
    assert report.exact and report.overlap >= exact_overlap(prep.info.receptive_radius) and not tiled.notes
    assert max(report.tile_shape) <= tile and all(v % multiple == 0 for v in report.tile_shape)
    np.testing.assert_allclose(tiled.image, whole.image, atol=1e-4)


def test_a_too_small_overlap_is_honoured_and_seams_are_reported(prepared):
    prep = prepared("dilated")
    image = synthetic_image(149, 201, seed=3)
    whole = run_image(prep, image).image
    tiled = run_image(prep, image, settings=RunSettings(tile=64, overlap=4, fit=Fit.TILE))
    assert tiled.tiling is not None and not tiled.tiling.exact and tiled.tiling.overlap == 4
    assert np.abs(tiled.image - whole).max() > 1e-3
    (note,) = [n for n in tiled.notes if "not exact" in n]
    assert "receptive radius of 7 px" in note and tiled.tiling.seam_difference > 0


@pytest.mark.parametrize("name", ["global_pool", "fixed_global"])
def test_global_context_is_resized_under_auto_and_warned_about_under_tile(prepared, name):
    prep = prepared(name)
    assert prep.info.receptive_radius == "global"
    image = synthetic_image(150, 190, seed=4)
    limit = RunSettings(tile=64) if name == "global_pool" else RunSettings()
    auto = run_image(prep, image, settings=limit)
    assert auto.tiling is not None and auto.tiling.fit == FitChoice.RESIZE and auto.tiles == 1
    assert auto.image.shape == (150, 190, 3) and "sees the whole image" in auto.tiling.reason
    # No seam warning (it was resized, not tiled); a model that takes any size has the resize said, with the size
    # used; a fixed-size model is resized to its size as always.
    said = ["fit auto resized the image from 190x150 to 72x5"] if name == "global_pool" else []
    assert [n[:47] for n in auto.notes] == said
    tiled = run_image(prep, image, settings=RunSettings(tile=limit.tile, fit=Fit.TILE))
    assert tiled.tiling is not None and tiled.tiling.fit == FitChoice.TILE and not tiled.tiling.exact
    (note,) = [n for n in tiled.notes if "not exact" in n]
    assert "seams" in note and tiled.tiling.seam_difference is not None and tiled.tiling.seam_difference > 1e-3


def test_a_local_fixed_size_model_is_still_tiled_under_auto(prepared):
    prep = prepared("fixed_size", 4, 64)
    result = run_image(prep, synthetic_image(150, 190))
    assert result.tiling is not None and result.tiling.fit == FitChoice.TILE and result.tiling.exact
    assert result.tile_size == (64, 64) and not result.notes


def test_resize_fit_output_size_and_alpha(prepared):
    prep = prepared("sr_x2")  # x2: the result comes back at twice the image's size
    image = synthetic_image(90, 130, channels=4, seed=2)
    image[:, :, 3] = np.linspace(0.0, 1.0, 130)[None, :]
    result = run_image(prep, image, settings=RunSettings(tile=64, fit=Fit.RESIZE))
    report = result.tiling
    assert report is not None and report.fit == FitChoice.RESIZE and report.resized_to is not None
    rh, rw = report.resized_to  # the image's aspect, in no more pixels than a 64x64 tile
    assert rh * rw <= 64 * 64 and abs(rw / rh - 130 / 90) < 0.05 and report.covered_ratio < 1
    assert result.image.shape == (180, 260, 4)
    # Alpha is a ramp along x: carried through the same resize, it stays the same ramp.
    np.testing.assert_allclose(result.image[:, :, 3], resample(image[:, :, 3], 180, 260), atol=1e-6)
    assert np.abs(result.image[0, :, 3] - np.linspace(0, 1, 260)).max() < 0.01


def test_resize_fit_averages_colour_in_linear_light(prepared):
    prep = prepared("nhwc")  # a 3x3 convolution: a flat image gives a flat result away from the borders
    checker = np.zeros((128, 128, 3), np.float32)
    checker[::2, ::2] = checker[1::2, 1::2] = 1.0  # half the pixels lit: 0.5 in linear light
    settings = RunSettings(tile=64, fit=Fit.RESIZE, color="srgb")  # 64x64: 2x2 pixels per pixel
    resized = run_image(prep, checker, settings=settings)
    assert resized.tiling is not None and resized.tiling.resized_to == (64, 64)
    grey = run_image(prep, np.full((128, 128, 3), 0.5, np.float32), settings=RunSettings(color="srgb")).image
    inner = (slice(16, -16), slice(16, -16))
    np.testing.assert_allclose(resized.image[inner], grey[inner], atol=1e-5)
    # Averaged in sRGB instead, the grey would be 0.5 encoded (0.214 linear): far from the result.
    srgb_grey = run_image(prep, np.full((128, 128, 3), 0.214, np.float32), settings=RunSettings(color="srgb")).image
    assert np.abs(resized.image[inner] - srgb_grey[inner]).max() > 10 * np.abs(resized.image[inner] - grey[inner]).max()


def test_resample_area_down_keeps_the_mean_and_tent_up_keeps_the_range():
    rng = np.random.default_rng(0)
    image = rng.random((60, 90, 3), dtype=np.float32)
    down = resample(image, 20, 30)
    np.testing.assert_allclose(down[0, 0], image[:3, :3].reshape(-1, 3).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(down.mean(axis=(0, 1)), image.mean(axis=(0, 1)), rtol=1e-5)
    up = resample(image, 121, 177)
    assert up.shape == (121, 177, 3) and up.min() >= image.min() and up.max() <= image.max()


@pytest.mark.parametrize(
    "length,max_tile,overlap,multiple",
    [(1080, 512, 8, 1), (1920, 512, 8, 1), (1088, 512, 120, 8), (300, 128, 16, 1), (1040, 512, 248, 16)],
)
def test_tiles_are_shaped_to_the_axis(length, max_tile, overlap, multiple):
    count, side = axis_tiles(length, max_tile, overlap, multiple)
    starts = tile_starts(length, side, overlap, multiple)
    assert len(starts) == count and side <= max_tile and side % multiple == 0
    # Covers the axis with at least `overlap` between neighbours ...
    assert starts[-1] + side == length and all(
        b - a <= side - overlap for a, b in zip(starts, starts[1:], strict=False)
    )
    # ... and one `multiple` less would need another tile (the fewest tiles, the smallest side).
    assert side - multiple < 2 * overlap or len(tile_starts(length, side - multiple, overlap, multiple)) > count


def test_1080p_in_512_tiles_covers_little_more_than_the_frame(prepared):
    prep = prepared("conv_stack")
    report = run_image(prep, synthetic_image(1080, 1920), settings=RunSettings(tile=512)).tiling
    assert report is not None and report.grid == (3, 4) and report.covered_ratio < 1.15
