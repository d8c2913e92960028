"""Runs in a working space other than Rec.709 (Blender 5): the model gets linear Rec.709 colour, as its contract
says, and the result comes back in the working space; data inputs are never converted."""

from dataclasses import replace

import numpy as np
import pytest

from engine.image.colour import from_rec709, to_rec709
from engine.inference.pipeline import run_image
from engine.inference.settings import RunSettings
from engine.model.contract import ModelContract, TensorContract
from engine.options import ColorMode, WorkingSpace
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings

CPU = SessionSettings(provider="cpu")
WIDE = [WorkingSpace.REC2020, WorkingSpace.ACESCG]


@pytest.fixture
def prepared(model_file, cache_dir):
    return lambda name: prepare_model(model_file(name), "fp32", settings=CPU, cache_dir=cache_dir)


def _picture(alpha: bool = True) -> np.ndarray:
    """Saturated and HDR Rec.709 colour (values a wide space holds differently), half-transparent in places."""
    rng = np.random.default_rng(3)
    rgb = rng.uniform(0.0, 2.0, (12, 10, 3)).astype(np.float32)
    rgb[:3, :3] = (1.0, 0.0, 0.0)
    if not alpha:
        return rgb
    a = np.where(np.arange(12)[:, None] < 6, 1.0, 0.5) * np.ones((12, 10))
    return np.concatenate([rgb * a[:, :, None], a[:, :, None]], axis=2).astype(np.float32)


@pytest.mark.parametrize("space", WIDE)
@pytest.mark.parametrize("colour", [ColorMode.LINEAR, ColorMode.SRGB])
def test_a_model_not_linear_in_colour_gives_the_rec709_picture(prepared, space, colour):
    square = prepared("square")
    contract = ModelContract(input=TensorContract(colour=colour))
    picture = _picture()
    if colour == ColorMode.SRGB:
        picture = np.clip(picture, 0.0, 1.0)  # an sRGB model takes [0, 1]: no clipping to tell apart
    in_rec709 = run_image(square, picture, settings=RunSettings(contract=contract)).image
    same_colours = from_rec709(picture, space)
    wide = run_image(square, same_colours, settings=RunSettings(contract=contract, working_space=space)).image
    np.testing.assert_allclose(to_rec709(wide, space), in_rec709, atol=1e-4)
    np.testing.assert_allclose(wide[:, :, 3], picture[:, :, 3], atol=1e-6)  # alpha carried as it was
    # Unconverted, the model would have squared the wide space's values: another picture.
    unconverted = run_image(square, same_colours, settings=RunSettings(contract=contract)).image
    assert np.abs(to_rec709(unconverted, space) - in_rec709).max() > 0.05


@pytest.mark.parametrize("space", WIDE)
def test_luminance_is_the_rec709_luminance_of_the_same_colours(prepared, space):
    """A one-channel result is grey, the same in every space: it is compared as it is."""
    luminance = prepared("luminance")
    picture = _picture(alpha=False)
    in_rec709 = run_image(luminance, picture).image
    np.testing.assert_allclose(in_rec709[:, :, 0], picture @ np.array([0.2126, 0.7152, 0.0722]), atol=1e-5)
    wide = run_image(luminance, from_rec709(picture, space), settings=RunSettings(working_space=space)).image
    np.testing.assert_allclose(wide, in_rec709, atol=1e-4)


def test_a_data_input_reaches_the_model_as_stored(prepared):
    returns_normal = prepared("returns_normal")
    colour = from_rec709(_picture(alpha=False), WorkingSpace.ACESCG)
    normal = np.random.default_rng(4).uniform(-1.0, 1.0, colour.shape).astype(np.float32)
    settings = RunSettings(working_space=WorkingSpace.ACESCG, data_inputs=frozenset({"normal"}))
    result = run_image(returns_normal, colour, extra={"normal": normal}, settings=settings).image
    # The model returns what it got; the result (colour, like the first input) goes back into ACEScg.
    np.testing.assert_allclose(to_rec709(result, WorkingSpace.ACESCG), normal, atol=1e-5)
    # Taken for colour, the normal would have reached the model converted (and come back as it was).
    as_colour = run_image(returns_normal, colour, extra={"normal": normal}, settings=replace(settings, data_inputs=()))
    assert np.abs(to_rec709(as_colour.image, WorkingSpace.ACESCG) - normal).max() > 0.05


def test_an_output_declared_data_is_not_moved_into_the_working_space(prepared):
    """Review finding: a model that takes colour and gives data (normals, positions) had its output multiplied by the
    Rec.709 -> ACEScg matrix. `output.colour: data` leaves it as the model gave it."""
    from engine.model.contract import build_contract

    returns_normal = prepared("returns_normal")
    colour = from_rec709(_picture(alpha=False), WorkingSpace.ACESCG)
    normal = np.random.default_rng(5).uniform(-1.0, 1.0, colour.shape).astype(np.float32)
    contract = build_contract([("file", {"output": {"colour": "data"}})])
    settings = RunSettings(working_space=WorkingSpace.ACESCG, data_inputs=frozenset({"normal"}), contract=contract)
    result = run_image(returns_normal, colour, extra={"normal": normal}, settings=settings).image
    np.testing.assert_allclose(result, normal, atol=1e-6)  # as the model gave it: no matrix
    as_colour = run_image(returns_normal, colour, extra={"normal": normal}, settings=replace(settings, contract=None))
    assert np.abs(as_colour.image - normal).max() > 0.05  # without the key, the output went back into ACEScg


def test_a_data_image_passes_through_untouched(prepared):
    """A Non-Color image (first input data): neither it nor the result is converted."""
    square = prepared("square")
    data = np.random.default_rng(5).uniform(-1.0, 1.0, (8, 8, 3)).astype(np.float32)
    settings = RunSettings(working_space=WorkingSpace.ACESCG, data_inputs=frozenset({"x"}))
    np.testing.assert_allclose(run_image(square, data, settings=settings).image, data * data, atol=1e-6)


def test_settings_parse_the_working_space_and_say_what_converts():
    settings = RunSettings(working_space="acescg", data_inputs={"normal"})  # type: ignore[arg-type]
    assert settings.working_space is WorkingSpace.ACESCG and settings.data_inputs == frozenset({"normal"})
    assert settings.converts("x") and not settings.converts("normal")
    assert not RunSettings().converts("x")  # Rec.709: nothing to convert
    with pytest.raises(ValueError):
        RunSettings(working_space="p3")  # type: ignore[arg-type]
