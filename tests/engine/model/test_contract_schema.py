"""docs/contract.schema.json (issue 28 item 6): it is the engine's schema written out, every contract example in the
README validates and parses, the parser and the schema agree on good and bad documents (and the few things only
the parser can check are listed), and `info` reports what the schema would refuse."""

import json
import re
import subprocess
import sys

import pytest

from engine.model.contract import ContractError, parse_layer
from engine.model.contract_schema import contract_schema, schema_problems, schema_text
from tests import models
from tests.helpers import ROOT

GOOD = [
    {},
    {"input": {"range": [0, 255], "mean": [104, 117, 123], "order": "bgr", "colour": "srgb"}},
    {"input": {"mean": 0.5, "std": [0.5, 0.5, 0.5, 1.0], "scale": "image-max", "hdr": "compress"}},
    {"output": {"range": [-1, 1], "normalize": "minmax", "as": "alpha", "colour": "linear"}},
    {"fit": "resize", "resize": {"short_side_min": 736, "multiple": 32}},
    {"resize": {"long_side_max": 960, "multiple": 32.0}},
    {"resize": {"letterbox": True, "pad": 0.447}},
    {"resize": {"letterbox": False}},
    {"resize": {}},
    {"constants": {"noise_level": 0.1, "style": [1, 2.5, -3]}, "output_name": "mask"},
    {"size": "dynamic", "batch": 1},
    {"batch": 0, "size": "model"},
]
BAD = [
    [],
    {"colour": "srgb"},
    {"input": []},
    {"input": {"gamma": 2.2}},
    {"input": {"order": "grb"}},
    {"input": {"range": [0, 1, 2]}},
    {"input": {"range": "0-1"}},
    {"input": {"mean": [1, 2]}},
    {"input": {"mean": [1, 2, 3, 4, 5]}},
    {"input": {"mean": []}},
    {"input": {"std": [0.2, 0.0, 0.2]}},
    {"input": {"std": 0}},
    {"input": {"mean": True}},
    {"input": {"normalize": "minmax"}},
    {"input": {"scale": "max"}},
    {"input": {"hdr": "tonemap"}},
    {"output": {"scale": "image-max"}},
    {"output": {"hdr": "compress"}},
    {"output": {"as": "mask"}},
    {"output": {"normalize": "z-score"}},
    {"fit": "stretch"},
    {"resize": {"short_side_min": 736, "long_side_max": 960}},
    {"resize": {"letterbox": True, "multiple": 32}},
    {"resize": {"letterbox": True, "short_side_min": 32}},
    {"resize": {"pad": 0.5}},
    {"resize": {"letterbox": "yes"}},
    {"resize": {"multiple": 0}},
    {"resize": {"multiple": 4097}},
    {"resize": {"short_side_min": 736.5}},
    {"resize": {"short_side_min": True}},
    {"resize": {"pad": [0.5]}},
    {"resize": {"side": 736}},
    {"resize": 736},
    {"constants": {"noise": "high"}},
    {"constants": {"noise": []}},
    {"constants": {"noise": [[1, 2]]}},
    {"constants": [1]},
    {"output_name": 3},
    {"size": "any"},
    {"batch": -1},
    {"batch": 1.5},
    {"batch": True},
    {"batch": 5000},
]
PARSER_ONLY = [
    ({"input": {"range": [1, 0]}}, "low < high: JSON Schema cannot compare two items"),
    ({"output": {"range": [0.5, 0.5]}}, "low < high"),
]
"""Documents the schema takes and the parser refuses (README, "The model contract")."""


def _parses(document) -> bool:
    try:
        parse_layer(document, "test")
    except ContractError as exc:
        assert "\n" not in str(exc)
        return False
    return True


def test_docs_schema_is_the_engines_schema():
    written = (ROOT / "docs" / "contract.schema.json").read_text()
    assert written == schema_text(), (
        "docs/contract.schema.json is stale: .venv/bin/python -c 'from engine.model.contract_schema import "
        'schema_text; open("docs/contract.schema.json", "w").write(schema_text())\''
    )
    assert json.loads(written)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("document", GOOD, ids=lambda d: json.dumps(d)[:60])
def test_good_documents_parse_and_validate(document):
    assert _parses(document) and schema_problems(document) == []


@pytest.mark.parametrize("document", BAD, ids=lambda d: json.dumps(d)[:60])
def test_bad_documents_are_refused_by_both(document):
    problems = schema_problems(document)
    assert not _parses(document) and problems and all(p.startswith("/") for p in problems)


@pytest.mark.parametrize(("document", "why"), PARSER_ONLY)
def test_what_only_the_parser_checks(document, why):
    assert not _parses(document) and schema_problems(document) == [], why


def test_every_readme_contract_example_validates_and_parses():
    readme = (ROOT / "README.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", readme, flags=re.S)]
    contracts = [b for b in blocks if isinstance(b, dict) and set(b) <= set(contract_schema()["properties"])]
    assert len(contracts) >= 5  # the full example, and one per round-two key
    for contract in contracts:
        assert schema_problems(contract) == [] and _parses(contract), contract


def test_info_reports_what_the_schema_refuses_and_validates_the_effective_contract(tmp_path):
    path = models.save(models.conv_chain(), tmp_path / "m.onnx")
    (tmp_path / "m.onnx.contract.json").write_text(json.dumps({"input": {"colour": "SRGB"}, "batch": 1.0}))

    def info(*flags):
        done = subprocess.run(
            [sys.executable, "-m", "engine", "info", str(path), *flags], capture_output=True, text=True, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    data = info("--resize", "short_side_min=736,multiple=32", "--hdr", "compress")
    # The parser takes any case; the schema (editors, pipeline tools) lists the canonical lowercase.
    assert data["contract_schema_problems"] == ["sidecar: /input/colour: 'SRGB' is not one of linear, srgb, data"]
    assert data["contract"]["resize"] == {"short_side_min": 736, "multiple": 32}
    assert data["contract_sources"]["resize"] == "flags" and data["contract"]["input"]["hdr"] == "compress"
    assert schema_problems(data["contract"]) == []
    (tmp_path / "m.onnx.contract.json").write_text(json.dumps({"input": {"colour": "srgb"}}))
    assert info()["contract_schema_problems"] == []
