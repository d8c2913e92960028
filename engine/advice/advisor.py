"""Tensor Core eligibility, layout conversions and casts: the architecture report no tool gives artists.

Tensor Cores need fp16 (or int8) data and channel counts that are multiples of 8 (best 32); layout
conversions that the runtime inserts around eligible operations cost time on every run. This module
measures both on a model as it will actually run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto

from ..json_values import (
    Json,
    bool_from_json,
    float_from_json,
    float_to_json,
    int_from_json,
    ints_from_json,
    list_from_json,
    number_from_json,
    object_from_json,
    optional_int_from_json,
    str_from_json,
)
from ..model.graph_index import GraphIndex
from ..model.records import ModelInfo
from ..options import Device, OptLevel, Precision
from ..runtime.prepared import PreparedModel
from .records import CastAdvice, CastReason, LayoutConversion

if TYPE_CHECKING:
    from ..runtime.sessions import SessionSettings

MAC_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
LAYOUT_OPS = ("Transpose", "ReorderInput", "ReorderOutput")


WEIGHT_TYPES = ("fp16", "fp32")


@dataclass(frozen=True, kw_only=True)
class NodeAdvice:
    name: str
    op_type: str
    in_channels: int | None
    out_channels: int | None
    dtype: str
    """The weights' type: "fp16" or "fp32"."""
    macs: int
    eligible: bool
    verdict: str

    def __post_init__(self) -> None:
        if self.dtype not in WEIGHT_TYPES:
            raise ValueError(f"node {self.name!r}: weight type {self.dtype!r} is not one of {WEIGHT_TYPES}")
        channels = (self.in_channels, self.out_channels)
        if self.macs < 0 or any(c is not None and c < 0 for c in channels):
            raise ValueError(f"node {self.name!r}: MACs {self.macs} and channels {channels} are not 0 or more")
        # What _verdict says: Tensor Cores take fp16 with both channel counts known and multiples of 8.
        if self.eligible and (self.dtype != "fp16" or any(c is None or c % 8 for c in channels)):
            raise ValueError(f"node {self.name!r}: {self.dtype} with channels {channels} is not Tensor Core eligible")

    def to_json(self) -> Json:
        return {
            "name": self.name,
            "op_type": self.op_type,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "dtype": self.dtype,
            "macs": self.macs,
            "eligible": self.eligible,
            "verdict": self.verdict,
        }

    @classmethod
    def from_json(cls, data: object) -> NodeAdvice:
        values = object_from_json(data, "node")
        name = str_from_json(values["name"], "node name")
        return cls(
            name=name,
            op_type=str_from_json(values["op_type"], f"{name}.op_type"),
            in_channels=optional_int_from_json(values["in_channels"], f"{name}.in_channels"),
            out_channels=optional_int_from_json(values["out_channels"], f"{name}.out_channels"),
            dtype=str_from_json(values["dtype"], f"{name}.dtype"),
            macs=int_from_json(values["macs"], f"{name}.macs"),
            eligible=bool_from_json(values["eligible"], f"{name}.eligible"),
            verdict=str_from_json(values["verdict"], f"{name}.verdict"),
        )


@dataclass(frozen=True, kw_only=True)
class LayoutAdvice:
    provider: str
    conversions: tuple[LayoutConversion, ...] = ()
    time_share: float | None = None
    """Share of node run time spent in layout conversions, when profiled."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "conversions", tuple(self.conversions))
        if self.time_share is not None and not 0 <= self.time_share <= 1:
            raise ValueError(f"time_share {self.time_share} is not a share (0 to 1)")

    def to_json(self) -> Json:
        return {
            "provider": self.provider,
            "conversions": [c.to_json() for c in self.conversions],
            "time_share": float_to_json(self.time_share),
        }

    @classmethod
    def from_json(cls, data: object) -> LayoutAdvice:
        values = object_from_json(data, "layout")
        conversions = list_from_json(values.get("conversions", []), "conversions")
        return cls(
            provider=str_from_json(values["provider"], "layout provider"),
            conversions=tuple(LayoutConversion.from_json(c) for c in conversions),
            time_share=float_from_json(values.get("time_share"), "time_share"),
        )


@dataclass(frozen=True, kw_only=True)
class Advice:
    nodes: tuple[NodeAdvice, ...]
    eligible_mac_share: float
    total_macs: int
    input_size: tuple[int, int]
    """(height, width) the work is counted at."""
    casts: tuple[CastAdvice, ...] = ()
    layout: LayoutAdvice | None = None
    precision: Precision = Precision.FP32
    """The precision the advice is for: the one that runs (auto resolved as prepare_model resolves it)."""
    requested: Precision = Precision.FP32
    """What was asked for (auto, or a precision by name)."""
    provider: Device = Device.CPU
    """Where that precision runs."""
    precision_note: str = ""
    """Why auto chose `precision` (prepare_model's note); empty when a precision was asked for by name."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "casts", tuple(self.casts))
        object.__setattr__(self, "input_size", tuple(self.input_size))
        object.__setattr__(self, "precision", Precision(self.precision))
        object.__setattr__(self, "requested", Precision(self.requested))
        object.__setattr__(self, "provider", Device(self.provider))
        if self.precision == Precision.AUTO:
            raise ValueError("the advice is for the precision that runs, never auto (auto resolves to one)")
        if not 0 <= self.eligible_mac_share <= 1:
            raise ValueError(f"eligible_mac_share {self.eligible_mac_share} is not a share (0 to 1)")
        if self.total_macs != sum(n.macs for n in self.nodes):
            raise ValueError(f"total_macs {self.total_macs} is not the nodes' {sum(n.macs for n in self.nodes)}")
        if not (len(self.input_size) == 2 and all(type(d) is int and d > 0 for d in self.input_size)):
            raise ValueError(f"input_size {self.input_size} is not (height, width) in pixels")

    def scope(self) -> str:
        """One line: which precision the advice is for and why. Auto on a CPU runs fp32, where no layer is Tensor
        Core eligible: said, with how to see what a GPU would run, so 0% is not read as a verdict on the model."""
        where = self.provider.upper()
        if self.requested != Precision.AUTO:
            return f"advice for {self.precision} on {where}, as asked"
        text = f"advice for {self.precision}, what auto runs on this {where}"
        if self.precision_note:
            text += f" ({self.precision_note})"
        if self.precision == Precision.FP32:
            text += "; ask for fp16 to see what an NVIDIA GPU's Tensor Cores would run"
        return text

    def to_json(self) -> Json:
        """The advice, and `advice_for` (its scope line: derived, from_json does not read it)."""
        return {
            "nodes": [n.to_json() for n in self.nodes],
            "eligible_mac_share": float_to_json(self.eligible_mac_share),
            "total_macs": self.total_macs,
            "input_size": list(self.input_size),
            "casts": [c.to_json() for c in self.casts],
            "layout": None if self.layout is None else self.layout.to_json(),
            "precision": str(self.precision),
            "requested": str(self.requested),
            "provider": str(self.provider),
            "precision_note": self.precision_note,
            "advice_for": self.scope(),
        }

    @classmethod
    def from_json(cls, data: object) -> Advice:
        values = object_from_json(data, "advice")
        height, width = ints_from_json(values["input_size"], "input_size")
        layout = values.get("layout")
        return cls(
            nodes=tuple(NodeAdvice.from_json(n) for n in list_from_json(values["nodes"], "nodes")),
            eligible_mac_share=number_from_json(values["eligible_mac_share"], "eligible_mac_share"),
            total_macs=int_from_json(values["total_macs"], "total_macs"),
            input_size=(height, width),
            casts=tuple(CastAdvice.from_json(c) for c in list_from_json(values.get("casts", []), "casts")),
            layout=None if layout is None else LayoutAdvice.from_json(layout),
            precision=Precision(str_from_json(values["precision"], "precision")),
            requested=Precision(str_from_json(values["requested"], "requested")),
            provider=Device(str_from_json(values["provider"], "provider")),
            precision_note=str_from_json(values.get("precision_note", ""), "precision_note"),
        )


def _initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {init.name: init for init in model.graph.initializer}


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            value: int = onnx.helper.get_attribute_value(a)  # the integer attributes read here (group, transB, to)
            return value
    return default


def _with_input_size(model: onnx.ModelProto, info: ModelInfo, size: tuple[int, int]) -> onnx.ModelProto:
    """A copy whose image inputs have concrete height and width, so shape inference gives every size."""
    fixed = onnx.ModelProto.FromString(model.SerializeToString())
    layouts = {t.name: t for t in info.image_inputs}
    for vi in fixed.graph.input:
        t = layouts.get(vi.name)
        if t is None:
            continue
        dims = vi.type.tensor_type.shape.dim
        hw = (2, 3) if t.layout == "NCHW" else (1, 2)
        dims[0].dim_value = 1
        for axis, value in zip(hw, size, strict=True):
            dims[axis].dim_value = value
    return onnx.shape_inference.infer_shapes(fixed)


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    shapes = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def _channels_and_macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> tuple[int | None, int | None, int]:
    w = shapes.get(node.input[1], []) if len(node.input) > 1 else []
    out = shapes.get(node.output[0], [])
    if node.op_type == "Conv" and len(w) >= 3:
        group = _attr(node, "group", 1)
        cout, cin = w[0], w[1] * group
        macs = int(np.prod(out)) * w[1] * int(np.prod(w[2:])) if all(out) and out else 0
        return cin, cout, macs
    if node.op_type == "ConvTranspose" and len(w) >= 3:
        group = _attr(node, "group", 1)
        cin, cout = w[0], w[1] * group
        x = shapes.get(node.input[0], [])
        macs = int(np.prod(x)) * w[1] * int(np.prod(w[2:])) if x and all(x) else 0
        return cin, cout, macs
    if node.op_type in ("MatMul", "Gemm") and len(w) == 2:
        k, n = (w[1], w[0]) if node.op_type == "Gemm" and _attr(node, "transB", 0) else (w[0], w[1])
        macs = int(np.prod(out)) * k if out and all(out) else 0
        return k, n, macs
    return None, None, 0


def _weight_dtype(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto], float_nodes: set[str]) -> str:
    if node.name in float_nodes:
        return "fp32"
    weight = inits.get(node.input[1]) if len(node.input) > 1 else None
    if weight is not None:
        return "fp16" if weight.data_type == TensorProto.FLOAT16 else "fp32"
    return "fp32"


def _verdict(op: str, cin: int | None, cout: int | None, dtype: str) -> tuple[bool, str]:
    if cin is None or cout is None:
        return False, f"{op}: channel counts unknown (weights are not constant); cannot judge"
    if dtype != "fp16":
        return False, f"{op} {cin}->{cout}: runs in fp32, Tensor Cores need fp16 (convert, or it is kept fp32)"
    bad = [f"{name} {c}" for name, c in (("in", cin), ("out", cout)) if c % 8]
    if bad:
        return False, f"{op} {cin}->{cout}: {' and '.join(bad)} not a multiple of 8; pad channels to use Tensor Cores"
    if cin % 32 or cout % 32:
        return True, f"{op} {cin}->{cout}: Tensor Core eligible; multiples of 32 would be faster still"
    return True, f"{op} {cin}->{cout}: Tensor Core eligible (multiples of 32)"


def advise_nodes(
    model: onnx.ModelProto, info: ModelInfo, size: tuple[int, int] = (1080, 1920), float_nodes: set[str] | None = None
) -> Advice:
    """Per-node Tensor Core verdicts and MACs at `size` for `model` as converted (fp16 or not).
    `float_nodes` names nodes a conversion kept fp32 (the report's fp32_nodes)."""
    sized = _with_input_size(model, info, size)
    shapes = _shapes(sized)
    inits = _initializers(model)
    advice = []
    for node in sized.graph.node:
        if node.op_type not in MAC_OPS:
            continue
        cin, cout, macs = _channels_and_macs(node, shapes)
        dtype = _weight_dtype(node, inits, float_nodes or set())
        eligible, verdict = _verdict(node.op_type, cin, cout, dtype)
        advice.append(
            NodeAdvice(
                name=node.name,
                op_type=node.op_type,
                in_channels=cin,
                out_channels=cout,
                dtype=dtype,
                macs=macs,
                eligible=eligible,
                verdict=verdict,
            )
        )
    total = sum(n.macs for n in advice)
    share = sum(n.macs for n in advice if n.eligible) / total if total else 0.0
    return Advice(nodes=tuple(advice), eligible_mac_share=share, total_macs=total, input_size=size)


def cast_report(model: onnx.ModelProto, float_nodes: set[str]) -> list[CastAdvice]:
    """Each Cast left in a converted model and why it is there."""
    index = GraphIndex.of(model.graph)
    graph_io, producers = index.io, index.producers
    casts = []
    for node in model.graph.node:
        if node.op_type != "Cast":
            continue
        to = TensorProto.DataType.Name(_attr(node, "to", 0)).lower()
        source = producers.get(node.input[0])
        after = source.name if source else node.input[0]
        before = [r.name for r in index.readers.get(node.output[0], [])]
        if node.input[0] in graph_io or node.output[0] in graph_io:
            why = CastReason.GRAPH_IO
        elif (source and source.name in float_nodes) or any(r in float_nodes for r in before):
            why = CastReason.FP32_ISLAND
        else:
            why = CastReason.ORIGINAL
        casts.append(CastAdvice(name=node.name, to=to, after=after, before=tuple(before), why=why))
    return casts


def layout_conversions(optimized: onnx.ModelProto, provider: str) -> LayoutAdvice:
    """Transpose and reorder nodes in a model as optimized for `provider`, with their neighbours.
    The two Transposes at the graph's edge that this runtime adds for channels-last I/O (on CUDA) are counted
    too: they are real per-run work."""
    index = GraphIndex.of(optimized.graph)
    found = [
        LayoutConversion(
            name=node.name,
            op_type=node.op_type,
            after=index.producers[node.input[0]].name if node.input[0] in index.producers else node.input[0],
            before=tuple(r.name for r in index.readers.get(node.output[0], [])),
        )
        for node in optimized.graph.node
        if node.op_type in LAYOUT_OPS
    ]
    return LayoutAdvice(provider=provider, conversions=tuple(found))


def profile_layout_share(trace_path: str) -> float:
    """Share of node time spent in layout conversions, from an onnxruntime profile trace."""
    with open(trace_path) as fh:
        events = json.load(fh)
    total = layout = 0
    for event in events:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        dur = int(event.get("dur", 0))
        total += dur
        if event.get("args", {}).get("op_name") in LAYOUT_OPS:
            layout += dur
    return layout / total if total else 0.0


def advise_model(
    model_path: str,
    precision: Precision | str = Precision.AUTO,
    *,
    settings: SessionSettings | None = None,
    cache_dir: str | Path | None = None,
    size: tuple[int, int] = (1080, 1920),
    profile: bool = False,
    prepared: PreparedModel | None = None,
) -> Advice:
    """The whole report for `model_path` as prepared at `precision` on the chosen provider: auto is advised at the
    precision it resolves to (fp32 on a CPU), and the advice says which. `prepared` is the model already prepared
    at `precision` (the Blender job prepares it first, with the scene's contract): not prepared again.

    Raises: ModelError when the model cannot be read, loaded or run on images (ContractError: its contract is
    wrong); ConversionError when it cannot be prepared at `precision`; ImageError when its inputs cannot be fed."""
    from ..model.onnx_io import load_model
    from ..runtime.prepare import prepare_model
    from ..runtime.sessions import SessionSettings

    settings = settings or (prepared.settings if prepared is not None else SessionSettings())
    prepared = prepared or prepare_model(model_path, precision, settings=settings, cache_dir=cache_dir)
    source = load_model(model_path)
    float_nodes = set(prepared.report.fp32_nodes) if prepared.report else set()
    if prepared.converted_model:
        # The graph prepare_model converted and checked, cached beside the optimized model: no second conversion.
        source = load_model(prepared.converted_model)
    elif prepared.precision != Precision.FP32:
        from ..precision.convert import convert_model
        from ..precision.records import ConversionOptions
        from ..precision.validation_feeds import sample_feeds

        # Only when the cache could not be written.
        options = ConversionOptions(precision=prepared.precision)
        converted, _ = convert_model(source, sample_feeds(prepared.info), options)
        source = converted or source
    layout = None
    if prepared.optimized_model:
        layout = layout_conversions(load_model(prepared.optimized_model), prepared.provider)
        if profile:
            share = _profiled_layout_share(prepared.optimized_model, prepared, settings, size)
            layout = replace(layout, time_share=share)
    return replace(
        advise_nodes(source, prepared.info, size, float_nodes),
        casts=tuple(cast_report(source, float_nodes)),
        layout=layout,
        precision=prepared.precision,
        requested=Precision(precision),
        provider=prepared.provider,
        precision_note=prepared.precision_note,
    )


def _profiled_layout_share(
    optimized_model: str, prepared: PreparedModel, settings: SessionSettings, size: tuple[int, int]
) -> float:
    """Share of one run's node time spent in layout conversions, from an onnxruntime profile of the optimized model."""
    import tempfile

    from ..precision.validation_feeds import synthetic_image
    from ..runtime.sessions import SessionSettings, create_session, resolve_provider

    with tempfile.TemporaryDirectory() as workdir:
        profiled = SessionSettings(**{**settings.__dict__, "profiling": True, "profile_prefix": f"{workdir}/p"})
        session, _ = create_session(optimized_model, profiled, resolve_provider(settings), OptLevel.DISABLED)
        session.run(None, prepared.session_feeds(synthetic_image(*size)))
        return profile_layout_share(session.end_profiling())
