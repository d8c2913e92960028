"""The contract's layers, sources and one-line errors."""

import json

import pytest

from engine.model.contract import ContractError, load_contract, sidecar_path, write_sidecar
from engine.options import ChannelOrder, ColorMode, Fit


def test_defaults_when_nothing_is_given(model_file):
    contract = load_contract(model_file("conv_chain"))
    assert contract.input.range == (0.0, 1.0) and contract.input.order == ChannelOrder.RGB
    assert contract.fit == Fit.AUTO and contract.sources == () and contract.output_name == ""


def test_layers_override_key_by_key_and_each_part_names_its_source(model_file, tmp_path):
    path = model_file("bgr_255")  # metadata: range 0-255, bgr, mean
    sidecar_path(path).write_text(json.dumps({"input": {"order": "rgb"}, "fit": "tile"}))
    file = tmp_path / "c.json"
    file.write_text(json.dumps({"fit": "resize", "constants": {"noise_level": 0.1}}))
    contract = load_contract(path, contract_file=file, overrides={"output_name": "mask"})
    assert contract.input.range == (0.0, 255.0) and contract.input.order == ChannelOrder.RGB
    assert contract.fit == Fit.RESIZE and contract.constant_values == {"noise_level": (0.1,)}
    assert contract.source_map() == {
        "input.range": "metadata",
        "input.mean": "metadata",
        "input.order": "sidecar",
        "fit": "file",
        "constants.noise_level": "file",
        "output_name": "flags",
    }


def test_output_follows_the_input_for_same_channels_and_defaults_for_masks():
    from engine.model.contract import build_contract

    contract = build_contract([("file", {"input": {"range": [-1, 1], "colour": "srgb"}})])
    assert contract.output_for(3, 3).range == (-1.0, 1.0) and contract.output_for(3, 3).colour == ColorMode.SRGB
    mask = contract.output_for(3, 1)
    assert mask.range == (0.0, 1.0) and mask.colour == ColorMode.LINEAR and mask.mean == (0.0,)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"input": {"std": [0.2, 0.0, 0.2]}}, r"input\.std has a 0"),
        ({"input": {"mean": [1, 2]}}, r"input\.mean needs 1 value or one per channel"),
        ({"input": {"gamma": 2.2}}, r"unknown key 'input\.gamma'"),
        ({"colour": "srgb"}, r"unknown key 'colour'"),
        ({"input": {"range": [1, 0]}}, r"input\.range must be \[low, high\]"),
        ({"input": {"order": "grb"}}, r"input\.order must be one of rgb, bgr"),
        ({"fit": "stretch"}, r"fit must be one of auto, tile, resize"),
        ({"constants": {"noise": "high"}}, r"constants\.noise must be a number"),
        ({"output": {"scale": "image-max"}}, r"unknown key 'output\.scale'; known: .*normalize, as"),
        ({"input": {"hdr": "tonemap"}}, r"input\.hdr must be one of clip, compress"),
        ({"output": {"as": "mask"}}, r"output\.as must be one of image, alpha"),
        ({"resize": {"multiple": 0}}, r"resize\.multiple must be a whole number from 1 to 4096, not 0"),
        ({"resize": {"short_side_min": 736, "long_side_max": 960}}, r"short_side_min or long_side_max, not both"),
        ({"resize": {"letterbox": True, "multiple": 32}}, r"resize\.letterbox fills a fixed-size input; it takes no"),
        ({"resize": {"pad": 0.5}}, r"resize\.pad is the letterbox's padding"),
    ],
)
def test_bad_contracts_are_one_line_errors_naming_the_key(tmp_path, data, message):
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(data))
    with pytest.raises(ContractError, match=message) as caught:
        load_contract(None, contract_file=file)
    assert "\n" not in str(caught.value) and "contract file" in str(caught.value)


def test_bad_contract_in_metadata_names_the_layer(model_file):
    with pytest.raises(ContractError, match=r"contract metadata: input\.std has a 0"):
        load_contract(model_file("bad_contract"))


def test_invalid_json_sidecar_is_a_clear_error(model_file):
    path = model_file("conv_chain")
    sidecar_path(path).write_text("{not json")
    with pytest.raises(ContractError, match="sidecar contract .* is not valid JSON"):
        load_contract(path)


def test_write_sidecar_checks_and_is_read_back(model_file):
    path = model_file("conv_chain")
    with pytest.raises(ContractError, match="unknown key"):
        write_sidecar(path, {"inputs": {}})
    assert not sidecar_path(path).exists()
    written = write_sidecar(path, {"input": {"range": [0, 255]}})
    assert written.name == "conv_chain.onnx.contract.json"
    assert load_contract(path).source_map() == {"input.range": "sidecar"}


def test_metadata_is_read_off_the_wire_as_onnx_reads_it_and_a_cut_file_is_refused(tmp_path):
    """The contract's metadata layer is read without the ONNX library (start-up on a cache hit, issue 24)."""
    import onnx

    from engine.errors import ModelError
    from engine.model.contract import metadata_props, model_metadata
    from tests import models

    model = models.with_contract(models.sr_x2(), {"input": {"range": [0, 255]}})
    model.metadata_props.add(key="author", value="Zoë")
    data = model.SerializeToString()
    expected = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert metadata_props(data) == expected and len(expected) == 2
    assert metadata_props(models.sr_x2().SerializeToString()) == {}
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) - 7])
    with pytest.raises(ModelError, match="truncated or not ONNX"):
        model_metadata(tmp_path / "cut.onnx")


def test_an_absurdly_deep_or_non_utf8_contract_is_one_line_naming_the_file(tmp_path):
    """Issue 25: a 100000-deep JSON gave a RecursionError traceback; a non-UTF-8 file named neither file nor layer."""
    from engine.model.contract import MAX_JSON_DEPTH, metadata_layer, read_json_file

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ContractError, match=rf"deep.json is nested more than {MAX_JSON_DEPTH} levels deep"):
        read_json_file(deep, "contract file")
    with pytest.raises(ContractError, match="contract metadata: .* nested more than"):
        metadata_layer({"onnx_image_runtime.contract": '{"a": ' * 1000 + "1" + "}" * 1000})
    # Brackets inside strings are text, not nesting; a real contract reads as before.
    assert read_json_file_text(
        tmp_path, '{"note": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "input": {"range": [0, 255]}}'
    )
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"note": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(ContractError, match="latin.json is not UTF-8 text"):
        read_json_file(latin, "contract file")


def read_json_file_text(folder, text):
    from engine.model.contract import read_json_file

    path = folder / "ok.json"
    path.write_text(text)
    return read_json_file(path, "contract file")["input"]["range"] == [0, 255]


def test_a_resize_rule_is_replaced_as_a_whole_and_an_empty_one_removes_it():
    from engine.model.contract import ResizeRule, build_contract

    sidecar = ("sidecar", {"resize": {"short_side_min": 736, "multiple": 32}})
    replaced = build_contract([sidecar, ("flags", {"resize": {"long_side_max": 960}})])
    assert replaced.resize == ResizeRule(long_side_max=960) and replaced.source_map()["resize"] == "flags"
    assert build_contract([sidecar, ("flags", {"resize": {}})]).resize is None
    assert build_contract([sidecar]).to_json()["resize"] == {"short_side_min": 736, "multiple": 32}
