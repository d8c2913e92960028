"""The advice's records are the contract (issue 23): frozen, keyword-only, checked when made, read back from JSON
exactly as written."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.advice.advisor import Advice, LayoutAdvice, NodeAdvice
from engine.advice.records import CastAdvice, CastReason, LayoutConversion
from engine.options import Device, Precision


def _node(name="conv", **changes) -> NodeAdvice:
    values = {
        "name": name,
        "op_type": "Conv",
        "in_channels": 32,
        "out_channels": 64,
        "dtype": "fp16",
        "macs": 1000,
        "eligible": True,
        "verdict": "Conv 32->64: Tensor Core eligible",
    }
    return NodeAdvice(**{**values, **changes})


def _advice(**changes) -> Advice:
    nodes = (_node(), _node("head", in_channels=3, eligible=False, macs=24, verdict="Conv 3->64: pad channels"))
    values = {
        "nodes": nodes,
        "eligible_mac_share": 1000 / 1024,
        "total_macs": 1024,
        "input_size": (1080, 1920),
        "casts": (CastAdvice(name="c", to="float16", after="x", before=("conv",), why=CastReason.GRAPH_IO),),
        "layout": LayoutAdvice(
            provider="cuda",
            conversions=(LayoutConversion(name="t", op_type="Transpose", after="x", before=("conv", "head")),),
            time_share=0.25,
        ),
        "precision": Precision.FP16,
        "requested": Precision.AUTO,
        "provider": Device.CUDA,
        "precision_note": "fp16 passed",
    }
    return Advice(**{**values, **changes})


def test_the_records_are_frozen_and_keyword_only():
    advice = _advice()
    with pytest.raises(dataclasses.FrozenInstanceError):
        advice.layout = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        advice.nodes[0].eligible = False
    for make in (
        lambda: NodeAdvice("n", "Conv", 8, 8, "fp16", 1, True, "ok"),
        lambda: LayoutAdvice("cpu"),
        lambda: Advice((), 0.0, 0, (8, 8)),
        lambda: CastAdvice("c", "float16", "x", (), CastReason.ORIGINAL),
        lambda: LayoutConversion("t", "Transpose", "x", ()),
    ):
        with pytest.raises(TypeError):
            make()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _node(dtype="fp32"), "not Tensor Core eligible"),
        (lambda: _node(in_channels=12), "not Tensor Core eligible"),
        (lambda: _node(out_channels=None), "not Tensor Core eligible"),
        (lambda: _node(dtype="int4", eligible=False), "weight type"),
        (lambda: _node(macs=-1), "not 0 or more"),
        (lambda: _advice(total_macs=5), "nodes'"),
        (lambda: _advice(eligible_mac_share=1.5), "share"),
        (lambda: _advice(precision=Precision.AUTO), "never auto"),
        (lambda: _advice(input_size=(0, 1920)), "input_size"),
        (lambda: LayoutAdvice(provider="cpu", time_share=2.0), "share"),
        (lambda: CastAdvice(name="c", to="", after="x", before=(), why=CastReason.ORIGINAL), "type it casts to"),
        (lambda: CastAdvice(name="c", to="float", after="x", before=(), why="because"), "because"),
        (lambda: LayoutConversion(name="t", op_type="", after="x", before=()), "op type"),
    ],
)
def test_a_record_that_breaks_an_invariant_is_never_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layout", ["profiled", "unprofiled", "none"])
def test_the_advice_round_trips_through_strict_json(layout):
    advice = _advice()
    if layout == "unprofiled":
        advice = dataclasses.replace(advice, layout=dataclasses.replace(advice.layout, time_share=None))
    elif layout == "none":
        advice = dataclasses.replace(advice, layout=None, casts=())
    data = json.loads(json.dumps(advice.to_json(), allow_nan=False))
    again = Advice.from_json(data)
    assert again == advice and again.to_json() == advice.to_json()
    assert data["advice_for"] == advice.scope()  # written for readers, derived again on reading


def test_advice_read_from_json_is_checked():
    data = _advice().to_json()
    with pytest.raises(ValueError):
        Advice.from_json({**data, "total_macs": 7})
    with pytest.raises(TypeError):
        Advice.from_json({**data, "nodes": [{**data["nodes"][0], "macs": "many"}]})
