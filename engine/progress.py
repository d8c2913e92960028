"""Progress reporting and cancellation passed into long engine work by whoever drives it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .errors import Cancelled


class Progress:
    """Thread-safe: a worker calls update() and check(); the UI or terminal reads and cancels.

    `on_update(fraction, text)` is called in the worker's thread; UIs hand it to their own thread.
    """

    def __init__(self, on_update: Callable[[float, str], None] | None = None):
        self._cancel = threading.Event()
        self._on_update = on_update
        self.fraction = 0.0
        self.text = ""

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def update(self, fraction: float, text: str = "") -> None:
        self.fraction, self.text = fraction, text
        if self._on_update is not None:
            self._on_update(fraction, text)

    def check(self) -> None:
        """Raise Cancelled at a point where stopping leaves nothing half-done."""
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user; nothing was written")


class _Silent(Progress):
    """The progress of work nobody watches or cancels. One object serves every such call, so it cannot be
    cancelled: a cancel meant for one run would otherwise stop every later run in the process."""

    def cancel(self) -> None:
        raise TypeError("SILENT is shared by every unobserved run and cannot be cancelled; pass a Progress of your own")


SILENT: Progress = _Silent()
