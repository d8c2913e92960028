"""A stand-in for Blender's UILayout, shared by the panel tests: a Panel cannot be made headless, and draw()
reads only self.layout, so panels are drawn into this recorder and the test reads what was drawn."""

from __future__ import annotations

from types import SimpleNamespace


class Recorder:
    """Records every layout call (label, prop, operator, ...) and returns itself for sub-layouts."""

    def __init__(self, calls=None):
        self.calls = [] if calls is None else calls

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return Recorder(self.calls)

        return call

    def panel(self, *args, **kwargs):
        """UILayout.panel: (header, body), body None while the panel is closed; here always open, so what it holds
        is recorded (after a ('panel', ...) call that says where it starts)."""
        self.calls.append(("panel", args, kwargs))
        return Recorder(self.calls), Recorder(self.calls)

    def texts(self) -> list[str]:
        return [kw.get("text", "") for name, _, kw in self.calls if name == "label"]

    def operators(self) -> list[str]:
        return [args[0] for name, args, _ in self.calls if name == "operator"]

    def props(self) -> list[str]:
        return [args[1] for name, args, _ in self.calls if name == "prop"]


def draw(panel_cls, context) -> Recorder:
    """What `panel_cls.draw` puts in its layout."""
    layout = Recorder()
    panel_cls.draw(SimpleNamespace(layout=layout), context)
    return layout
