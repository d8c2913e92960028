"""Cast nodes around a precision conversion: counting, repairing and removing redundant pairs."""

from __future__ import annotations

import functools

import onnx
from onnx import TensorProto

from ..model.graph_index import GraphIndex, attribute

_FLOATS: set[int] = {TensorProto.FLOAT, TensorProto.FLOAT16}


def count_casts(model: onnx.ModelProto) -> int:
    return sum(node.op_type == "Cast" for node in model.graph.node)


def _cast_to(node: onnx.NodeProto) -> int:
    return attribute(node, "to")


def repair_cast_targets(model: onnx.ModelProto) -> int:
    """onnxconverter-common 1.15+ can declare a Cast's output fp16 while leaving `to` at float;
    the declaration is what the rest of the converted graph was built for, so follow it."""
    declared = GraphIndex.of(model.graph).declared
    fixed = 0
    for node in model.graph.node:
        if node.op_type != "Cast":
            continue
        want = declared.get(node.output[0])
        if want in _FLOATS and _cast_to(node) in _FLOATS and want != _cast_to(node):
            for attr in node.attribute:
                if attr.name == "to":
                    attr.i = want
            fixed += 1
    return fixed


def remove_redundant_pairs(model: onnx.ModelProto) -> int:
    """Remove Cast(a->b) whose every reader is a Cast(b->a): readers take the source directly.
    Besides the wasted work, a float32->float16->float32 round trip turns large values into inf
    (onnxconverter-common inserts such trips between two nodes it keeps fp32)."""
    graph = model.graph
    index = GraphIndex.of(graph)
    declared, outputs, readers = index.declared, index.outputs, index.readers

    removed, drop = 0, set()
    for first in graph.node:
        if first.op_type != "Cast" or first.output[0] in outputs:
            continue
        source = first.input[0]
        seconds = readers.get(first.output[0], [])
        if not seconds or any(
            r.op_type != "Cast" or _cast_to(r) != declared.get(source) or r.output[0] in outputs for r in seconds
        ):
            continue
        for second in seconds:
            for reader in readers.get(second.output[0], []):
                reader.input[:] = [source if name == second.output[0] else name for name in reader.input]
            drop.add(id(second))
            removed += 1
        drop.add(id(first))
    if removed:
        keep = [node for node in graph.node if id(node) not in drop]
        del graph.node[:]
        graph.node.extend(keep)
    return removed


def float_output_names(model: onnx.ModelProto) -> frozenset[str]:
    return frozenset(o.name for o in model.graph.output if o.type.tensor_type.elem_type == TensorProto.FLOAT)


def keep_float_outputs(model: onnx.ModelProto, names: frozenset[str]) -> int:
    """Give back float32 to the outputs in `names` that a conversion with keep_io_types left fp16.

    onnxconverter-common does so when the node producing an output is blocked (kept fp32): it casts
    that fp32 result to fp16 and declares the output fp16, so an output beyond fp16's range (an HDR
    or depth result, exactly what AMP is recommended for) becomes inf. Returns the outputs fixed."""
    graph = model.graph
    index = GraphIndex.of(graph)
    fixed = 0
    for out in graph.output:
        if out.name not in names or out.type.tensor_type.elem_type != TensorProto.FLOAT16:
            continue
        out.type.tensor_type.elem_type = TensorProto.FLOAT
        producer = index.producers.get(out.name)
        if producer is not None and producer.op_type == "Cast":
            # Whatever its source, casting it to float32 is what the output needs (fp32 -> fp32 is a copy).
            for attr in producer.attribute:
                if attr.name == "to":
                    attr.i = TensorProto.FLOAT
        else:
            # An fp16 node writes the output: it writes a new tensor, and a Cast gives the output float32.
            half = f"{out.name}_fp16"
            for node in [producer, *index.readers.get(out.name, [])]:
                if node is None:
                    continue
                node.output[:] = [half if name == out.name else name for name in node.output]
                node.input[:] = [half if name == out.name else name for name in node.input]
            graph.node.append(
                onnx.helper.make_node("Cast", [half], [out.name], name=f"{out.name}_to_float", to=TensorProto.FLOAT)
            )
        fixed += 1
    return fixed


_NUMPY: dict[int, str] = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16"}


@functools.lru_cache(maxsize=512)
def _type_parameters(op_type: str, domain: str, opset: int) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The type parameter (e.g. "T") of each formal input and output of an operator, from its ONNX schema;
    None for an operator onnx does not define (a custom domain). Inputs and outputs of one parameter must
    share one type: that is what onnxruntime checks when it loads the graph."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return None
    params = {constraint.type_param_str for constraint in schema.type_constraints}
    inputs = tuple(p.type_str if p.type_str in params else "" for p in schema.inputs)
    outputs = tuple(p.type_str if p.type_str in params else "" for p in schema.outputs)
    return inputs, outputs


def _parameter_of(formals: tuple[str, ...], index: int) -> str:
    # A variadic last parameter (Concat, Sum, Max, ...) covers every input from its position on.
    return formals[min(index, len(formals) - 1)] if formals else ""


def _opsets(model: onnx.ModelProto) -> dict[str, int]:
    versions = {("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import}
    versions.setdefault("", onnx.defs.onnx_opset_version())
    return versions


def split_shared_initializers(model: onnx.ModelProto) -> int:
    """Give a node its own copy, in its own type, of a float initializer converted for another reader.

    Exporters share equal constants between nodes (Paddle's Clip min/max, a bias added in several places); when
    mixed precision keeps one reader fp32 and converts another, the converter gives the shared initializer one
    type, and onnxruntime refuses the graph ('Type parameter (T) of Optype (Clip) bound to different types').
    Which inputs must agree comes from each operator's ONNX schema (its type parameters), so every operator is
    covered, not a list. Returns the inputs fixed."""
    from onnx import numpy_helper

    graph = model.graph
    index = GraphIndex.of(graph)
    inits, declared = index.initializers, index.declared
    opsets = _opsets(model)
    copies: dict[tuple[str, int], str] = {}
    fixed = 0
    for node in graph.node:
        domain = "" if node.domain == "ai.onnx" else node.domain
        params = _type_parameters(node.op_type, domain, opsets.get(domain, 1)) if domain in opsets else None
        if params is None:
            continue
        formal_in, formal_out = params
        for param in {p for p in formal_in if p}:
            bound = [i for i, name in enumerate(node.input) if name and _parameter_of(formal_in, i) == param]
            computed = {declared.get(node.input[i], 0) for i in bound if node.input[i] not in inits} & _FLOATS
            if len(computed) != 1:
                outs = [o for j, o in enumerate(node.output) if o and _parameter_of(formal_out, j) == param]
                computed = {declared.get(o, 0) for o in outs} & _FLOATS
            if len(computed) != 1:
                continue
            want: int = computed.pop()
            for i in bound:
                name = node.input[i]
                init = inits.get(name)
                if init is None or init.data_type not in _FLOATS or init.data_type == want:
                    continue
                key = (name, want)
                if key not in copies:
                    copy_name = f"{name}_as_{_NUMPY[want]}"
                    array = numpy_helper.to_array(init).astype(_NUMPY[want])
                    graph.initializer.append(numpy_helper.from_array(array, copy_name))
                    copies[key] = copy_name
                node.input[i] = copies[key]
                fixed += 1
    return fixed
