"""Describing exports shaped like real ones: symbolic dimensions, a fixed batch, several outputs, non-image
inputs."""

import pytest

from engine.errors import ModelError
from engine.model.describe import describe_inputs, describe_model
from tests import models


def test_symbolic_input_and_output_dimensions_are_resolved_by_running_the_model():
    info = describe_model(models.symbolic_dims())
    (x,), (y,) = info.inputs, info.outputs
    assert (x.layout, x.channels) == ("NCHW", 3)
    assert (y.layout, y.channels, y.scale) == ("NCHW", 3, 1.0)
    assert info.scale == 1.0 and info.batch == 1


def test_mask_output_with_symbolic_dims_is_a_one_channel_image():
    out = describe_model(models.mask_net()).image_output
    assert (out.name, out.layout, out.channels) == ("mask", "NCHW", 1)


def test_fixed_batch_is_probed_at_its_batch():
    info = describe_model(models.fixed_batch(batch=4, size=32))
    assert info.batch == 4 and info.fixed_size == (32, 32) and info.scale == 1.0


def test_several_outputs_first_image_by_default_and_picked_by_name():
    info = describe_model(models.three_outputs())
    assert [(t.name, t.is_image) for t in info.outputs] == [("features", False), ("image", True), ("mask", True)]
    assert info.output_named().name == "image"
    assert info.output_named("mask").channels == 1
    with pytest.raises(ModelError, match=r"no output 'alpha'; its outputs: features, image \(image\), mask"):
        info.output_named("alpha")
    with pytest.raises(ModelError, match="'features' is not image-like"):
        info.output_named("features")


def test_scalar_input_is_a_non_image_input_fed_its_constant_while_probing():
    info = describe_model(models.scalar_input(), {"noise_level": (0.5,)})
    assert [t.name for t in info.image_inputs] == ["x"]
    assert [(t.name, t.shape) for t in info.other_inputs] == [("noise_level", (1,))]


def test_model_without_image_input_is_still_described_for_conversion():
    with pytest.raises(ModelError, match="no image-like input"):
        describe_model(models.no_image_input())
    info = describe_inputs(models.no_image_input())
    assert [t.name for t in info.other_inputs] == ["x"] and not info.image_inputs
