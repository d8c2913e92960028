"""The temporal blend's whole-frame work (batch/temporal.py) as small onnxruntime graphs, built once per process:
onnxruntime runs each operator on all the CPU's cores and reads a model's channel-planar result as it is, where
numpy runs one core (the blend's weighted sums at 3840x2160: 91-166 ms against 233-574 ms, equal to float
rounding; its warps: GridSample took 67 ms where numpy's bilinear took 150 ms at 1920x1080, measured).

Pictures here are channel-planar (CxHxW); grids are GridSample's (x, y in -1..1, align_corners, border padding:
positions outside the frame clamp to its edge)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import onnx
    import onnxruntime

_SESSIONS: dict[tuple[int, bool], onnxruntime.InferenceSession] = {}
"""(earlier frames, warped) -> the blend's session; (0, True) is a plain GridSample."""


def _image(name: str, height: str = "H", width: str = "W", channels: str | int = "c") -> onnx.ValueInfoProto:
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, height, width])


def _graph_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = onnx.IR_VERSION_2024_3_25 if hasattr(onnx, "IR_VERSION_2024_3_25") else 10
    return model


def _warp_node(source: str, target: str) -> onnx.NodeProto:
    from onnx import helper

    return helper.make_node(
        "GridSample", [source, "grid"], [target], mode="linear", padding_mode="border", align_corners=1
    )


def _grid_input() -> onnx.ValueInfoProto:
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info("grid", TensorProto.FLOAT, [1, "H", "W", 2])


def _warp_model() -> onnx.ModelProto:
    from onnx import helper

    graph = helper.make_graph([_warp_node("x", "y")], "warp", [_image("x", "h", "w"), _grid_input()], [_image("y")])
    return _graph_model(graph)


def _blend_model(earlier: int, warped: bool) -> onnx.ModelProto:
    """y = now + a0 (e0 - now) + a1 (e1 - now) ..., each e warped by `grid` first when `warped` (the first one is an
    output too: the next frame's window needs it), each weight a (1x1xhxw, the input's size) spread over
    `scales` (1, 1, f, f: a factor x factor block of output pixels per input pixel) by nearest Resize."""
    from onnx import TensorProto, helper

    nodes, inputs, total = [], [_image("now")], "now"
    for k in range(earlier):
        image = f"e{k}"
        inputs += [_image(image, "eh" if warped else "H", "ew" if warped else "W"), _image(f"a{k}", "p", "q", 1)]
        if warped:
            nodes.append(_warp_node(image, image := f"w{k}"))
        nodes += [
            helper.make_node(
                "Resize",
                [f"a{k}", "", "scales"],
                [f"A{k}"],
                mode="nearest",
                nearest_mode="floor",
                coordinate_transformation_mode="asymmetric",
            ),
            helper.make_node("Sub", [image, "now"], [f"d{k}"]),
            helper.make_node("Mul", [f"d{k}", f"A{k}"], [f"m{k}"]),
            helper.make_node("Add", [total, f"m{k}"], [total := f"s{k}"]),
        ]
    nodes.append(helper.make_node("Identity", [total], ["y"]))
    inputs.append(helper.make_tensor_value_info("scales", TensorProto.FLOAT, [4]))
    outputs = [_image("y")] + ([_image("w0")] if warped and earlier else [])
    if warped:
        inputs.append(_grid_input())
    return _graph_model(helper.make_graph(nodes, "blend", inputs, outputs))


def _session(earlier: int, warped: bool) -> onnxruntime.InferenceSession:
    if (earlier, warped) not in _SESSIONS:
        from ..model.cpu_session import cpu_session

        model = _warp_model() if earlier == 0 else _blend_model(earlier, warped)
        _SESSIONS[earlier, warped] = cpu_session(model, log_severity=3)
    return _SESSIONS[earlier, warped]


def grid_sample(planar: NDArray[np.float32], grid: NDArray[np.float32]) -> NDArray[np.float32]:
    """`planar` (CxHxW) sampled at `grid` (RxSx2: x, y in -1..1): CxRxS."""
    feeds = {"x": planar[None], "grid": grid.reshape(1, *grid.shape)}
    sampled: NDArray[np.float32] = _session(0, True).run(None, feeds)[0][0]
    return sampled


def weighted_sum(
    now: NDArray[np.float32],
    earlier: list[tuple[NDArray[np.float32], NDArray[np.float32]]],
    factor: int,
    grid: NDArray[np.float32] | None,
) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """now + sum of a (e - now) over `earlier` (e: CxHxW, or the previous frames' size to be warped by `grid`
    (HxWx2) onto now's; a: the input's size, factor times smaller than now on both axes). Returns the sum (CxHxW)
    and, with a grid, the first earlier frame warped (the next frame's window needs it)."""
    feeds: dict[str, NDArray[np.float32]] = {"now": np.ascontiguousarray(now)[None]}
    for k, (image, weight) in enumerate(earlier):
        feeds[f"e{k}"] = np.ascontiguousarray(image)[None]
        feeds[f"a{k}"] = np.ascontiguousarray(weight, np.float32)[None, None]
    feeds["scales"] = np.array([1, 1, factor, factor], np.float32)
    if grid is not None:
        feeds["grid"] = grid.reshape(1, *grid.shape)
    results = _session(len(earlier), grid is not None).run(None, feeds)
    return results[0][0], (results[1][0] if grid is not None else None)
