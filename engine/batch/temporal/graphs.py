"""The temporal blend's whole-frame work (batch/temporal/blending.py) as small onnxruntime graphs: onnxruntime runs each
operator on all the CPU's cores and reads a model's channel-planar result as it is, where numpy runs one core (the
blend's weighted sums alone at 3840x2160: 91-166 ms against 233-574 ms; its warps: GridSample took 67 ms where
numpy's bilinear took 150 ms at 1920x1080, measured). The blend's time is mostly GridSample and fresh memory:
per frame it costs what the numpy blend did at 1920x1080 in and 8% less at 960x540, with a lower peak.

Pictures here are channel-planar (CxHxW); grids are GridSample's (x, y in -1..1, align_corners, border padding:
positions outside the frame clamp to its edge)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import onnx
    import onnxruntime


def _image(name: str, height: str = "H", width: str = "W", channels: str | int = "c") -> onnx.ValueInfoProto:
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, height, width])


def _graph_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    """At opset 20; its IR version is lowered to what onnxruntime accepts when the session is made (cpu_session)."""
    from onnx import helper

    model: onnx.ModelProto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
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
    """y = (a0 (e0 - now) + a1 (e1 - now) ...) + now, each e warped by `grid` first when `warped` (the first one is
    an output too: the next frame's window needs it), each weight a (1x1xhxw, the input's size) spread over
    `scales` (1, 1, f, f: a factor x factor block of output pixels per input pixel) by nearest Resize. Each step
    takes as its first input a buffer at its last use, which onnxruntime may reuse for the result."""
    from onnx import TensorProto, helper

    nodes, inputs, total = [], [_image("now")], ""
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
        ]
        if total:
            nodes.append(helper.make_node("Add", [total, f"m{k}"], [f"s{k}"]))
        total = f"s{k}" if total else f"m{k}"
    nodes.append(helper.make_node("Add", [total, "now"], ["y"]))
    inputs.append(helper.make_tensor_value_info("scales", TensorProto.FLOAT, [4]))
    outputs = [_image("y")] + ([_image("w0")] if warped and earlier else [])
    if warped:
        inputs.append(_grid_input())
    return _graph_model(helper.make_graph(nodes, "blend", inputs, outputs))


@functools.cache
def _warp_session() -> onnxruntime.InferenceSession:
    """The trust's and the measure's GridSample, for the process (its arena keeps their input-size buffers: about
    0.1 GB at 1920x1080)."""
    from ...model.cpu_session import cpu_session

    return cpu_session(_warp_model(), log_severity=3)


def grid_sample(planar: NDArray[np.float32], grid: NDArray[np.float32]) -> NDArray[np.float32]:
    """`planar` (CxHxW) sampled at `grid` (RxSx2: x, y in -1..1): CxRxS."""
    feeds = {"x": planar[None], "grid": grid.reshape(1, *grid.shape)}
    sampled: NDArray[np.float32] = _warp_session().run(None, feeds)[0][0]
    return sampled


BAND_ROWS = 128
"""Output rows the blend computes at a time, so onnxruntime's buffers for its steps are a band's (2 MB a plane at
3840 wide) and its arena stays small. Whole-frame steps either kept 0.9 GB of buffers in the arena for the whole
sequence, on top of the model's run on the next frame (the process peaked at 4.55 GB against the numpy blend's
3.65, 1920x1080 in, x2), or took fresh memory every frame without an arena (3.84 GB, 36% slower than with it); in
bands it peaks at 3.42 GB at the speed without an arena (measured, docs/benchmarks.md)."""


class BlendGraphs:
    """The blend's sessions, one per (earlier frames, warped), owned by a sequence's tracker: what onnxruntime keeps
    between frames (its arena: a band's buffers) goes back to the system with the tracker when the sequence ends."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[int, bool], onnxruntime.InferenceSession] = {}
        self._warped: list[NDArray[np.float32]] = []
        """The last two warped earlier frames' arrays: the next frame reads the newer one, the one after may write
        over the older (fresh output-size memory each frame cost 30-250 ms on this project's machine)."""

    def _warped_array(self, shape: tuple[int, ...], inputs: list[NDArray[np.float32]]) -> NDArray[np.float32]:
        """An array for this frame's warped earlier frame: one of the last two, of this shape, that no input of
        this frame lies in (the window's frame two back is the last one), else a new one."""
        for index, array in enumerate(self._warped):
            if array.shape == shape and not any(np.may_share_memory(array, image) for image in inputs):
                self._warped.append(self._warped.pop(index))  # the newest now
                return array
        array = np.empty(shape, np.float32)
        self._warped = [*self._warped[-1:], array]
        return array

    def _session(self, earlier: int, warped: bool) -> onnxruntime.InferenceSession:
        key = (earlier, warped)
        if key not in self._sessions:
            from ...model.cpu_session import cpu_session

            self._sessions[key] = cpu_session(_blend_model(*key), log_severity=3)
        return self._sessions[key]

    def weighted_sum(
        self,
        now: NDArray[np.float32],
        earlier: list[tuple[NDArray[np.float32], NDArray[np.float32]]],
        factor: int,
        grid: Callable[[slice], NDArray[np.float32] | None] | None,
    ) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
        """now + sum of a (e - now) over `earlier` (e: CxHxW, or the previous frames' size to be warped onto now's
        by `grid`, which gives the GridSample grid's rows for a slice of now's rows (rows x W x 2), or None for
        rows where nothing moved; a: the input's size, factor times smaller than now on both axes). Returns the sum
        (CxHxW) and, with a grid, the first earlier frame warped (the next frame's window needs it; its array is
        written over two calls later, unless an input of that call lies in it). Computed in bands of BAND_ROWS
        output rows (a whole number of blocks)."""
        height = now.shape[1]
        total = np.empty(now.shape, np.float32)
        band = max(factor, BAND_ROWS // factor * factor)
        scales = np.array([1, 1, factor, factor], np.float32)
        # Made contiguous once (onnxruntime reads them in place), not once per band.
        images = [np.ascontiguousarray(image, np.float32) for image, _ in earlier]
        weights = [np.ascontiguousarray(weight, np.float32) for _, weight in earlier]
        warped = self._warped_array(now.shape, [now, *images]) if grid is not None else None
        for top in range(0, height, band):
            rows = slice(top, min(height, top + band))
            blocks = slice(rows.start // factor, rows.stop // factor)
            # A band where nothing moved (a locked-off camera's background) takes the earlier frames' own rows,
            # exactly, without GridSample (most of the blend's time where things move).
            band_grid = grid(rows) if grid is not None else None
            feeds = {"now": np.ascontiguousarray(now[:, rows])[None], "scales": scales}
            for k, (image, weight) in enumerate(zip(images, weights, strict=True)):
                # Warped: GridSample reads the whole earlier frame at the band's positions; else the band itself.
                feeds[f"e{k}"] = (image if band_grid is not None else np.ascontiguousarray(image[:, rows]))[None]
                feeds[f"a{k}"] = weight[blocks][None, None]
            if band_grid is not None:
                feeds["grid"] = np.ascontiguousarray(band_grid)[None]
            results = self._session(len(earlier), band_grid is not None).run(None, feeds)
            total[:, rows] = results[0][0]
            if warped is not None:
                warped[:, rows] = results[1][0] if band_grid is not None else images[0][:, rows]
        return total, warped
