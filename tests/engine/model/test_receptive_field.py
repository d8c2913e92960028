"""The receptive radius: measured by the probe, cross-checked against the graph, stored with the description."""

import json

import pytest

from engine.cli import main
from engine.model.describe import ModelInfo, describe_model
from engine.model.receptive_field import graph_reach
from tests import models


@pytest.mark.parametrize(
    "model,radius",
    [
        (models.conv_stack(2), 2),
        (models.conv_stack(5), 5),
        (models.dilated((1, 2, 4)), 7),
        (models.dilated((2, 3)), 5),
        (models.sr_x2(), 2),  # in input pixels, although the output is twice the size
        (models.multi_input(), 1),
        (models.nhwc(), 1),
    ],
)
def test_known_radii_are_measured_exactly(model, radius):
    info = describe_model(model)
    assert info.receptive_radius == radius
    assert graph_reach(model, [i.name for i in model.graph.input], model.graph.output[0].name).bound == radius


@pytest.mark.parametrize("levels", [2, 3, 4])
def test_a_unet_reaches_further_with_each_level_and_within_its_graph_bound(levels):
    model = models.unet_deep(levels)
    radius = describe_model(model).receptive_radius
    bound = graph_reach(model, ["x"], "y").bound
    assert isinstance(radius, int) and bound is not None
    # Each level doubles the reach of the level below; the probe never exceeds what the kernels allow.
    assert 2 ** (levels + 1) < radius <= bound


@pytest.mark.parametrize("model", [models.global_pool(), models.fixed_global(64)])
def test_global_operators_make_the_radius_global(model):
    reach = graph_reach(model, ["x"], "y")
    assert reach.whole_image_ops == ("context",)
    assert describe_model(model).receptive_radius == "global"


def test_info_json_has_the_radius_and_old_descriptions_still_load(tmp_path, capsys):
    path = models.save(models.dilated(), tmp_path / "dilated.onnx")
    assert main(["info", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["receptive_radius"] == 7
    del data["receptive_radius"]  # a description cached before the radius was measured
    assert ModelInfo.from_json(data).receptive_radius is None
    global_path = models.save(models.global_pool(), tmp_path / "global.onnx")
    assert main(["info", str(global_path)]) == 0
    assert json.loads(capsys.readouterr().out)["receptive_radius"] == "global"
