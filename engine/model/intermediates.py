"""Every tensor a model computes, not just its outputs: for overflow checks and memory estimates."""

from __future__ import annotations

import numpy as np
import onnx
from numpy.typing import NDArray

from .cpu_session import cpu_session


def intermediate_values(
    model: onnx.ModelProto, feeds: dict[str, NDArray[np.generic]]
) -> dict[str, NDArray[np.generic]]:
    """Run `model` on `feeds` (CPU, no graph optimization, so every node's tensor exists) and return
    each node output by name."""
    probe = onnx.ModelProto.FromString(model.SerializeToString())
    graph_outputs = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for out in node.output:
            if out and out not in graph_outputs:
                probe.graph.output.append(onnx.ValueInfoProto(name=out))
    session = cpu_session(probe, "disabled")
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))
