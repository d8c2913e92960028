"""What the runs on one prepared model share: a lock (they share bound buffers), the tile runners kept for
the next frame, and the memory budget measured once. Owned here, keyed by the prepared model, so the
prepared model itself stays a plain frozen record."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..runtime.prepare import PreparedModel
    from .tile_runner import TileRunner

RunnerKey = tuple[tuple[int, int], bool, str, tuple[tuple[str, tuple[float, ...]], ...]]
"""(tile height and width, IO binding on, result output, constants)."""


class RunState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        """Held by each run: runs share the bound input and output buffers."""
        self.runners: OrderedDict[RunnerKey, TileRunner] = OrderedDict()
        """Most recently used last; each holds device buffers of its size."""
        self.memory_budget: int | None = None
        """Bytes one run may use, asked once (asking the GPU costs a process)."""


_STATES: weakref.WeakKeyDictionary[PreparedModel, RunState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def run_state(prepared: PreparedModel) -> RunState:
    """The state of `prepared`'s runs, made on first use; it goes when the prepared model goes."""
    with _STATES_LOCK:
        state = _STATES.get(prepared)
        if state is None:
            state = _STATES[prepared] = RunState()
        return state
