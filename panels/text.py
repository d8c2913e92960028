"""Long messages in a sidebar: split into lines that fit the panel's width instead of being cut off."""

from __future__ import annotations

import os
import textwrap

# Blender's UI font averages about 6.5 px per character at a UI scale of 1; a little margin for the icon.
_CHAR_PX = 6.5
_MARGIN_PX = 40
DEFAULT_WIDTH_PX = 280


def wrap(text: str, width_px: float, scale: float = 1.0) -> list[str]:
    """`text` as lines of at most as many characters as fit `width_px` (at least 16 a line); paragraphs kept."""
    chars = max(16, int((width_px - _MARGIN_PX) / (_CHAR_PX * max(scale, 0.1))))
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, chars, break_long_words=True, break_on_hyphens=False) or [""]
    return lines


def panel_width(context) -> tuple[float, float]:
    """(region width in pixels, UI scale); defaults where there is no region (scripts, tests)."""
    region = getattr(context, "region", None)
    width = getattr(region, "width", 0) or DEFAULT_WIDTH_PX
    prefs = getattr(context, "preferences", None)
    scale = getattr(getattr(prefs, "view", None), "ui_scale", 1.0) or 1.0
    return float(width), float(scale)


def label_wrapped(layout, context, text: str, icon: str = "NONE") -> None:
    """A column of labels holding all of `text`; the icon on the first line only."""
    column = layout.column(align=True)
    for i, line in enumerate(wrap(text, *panel_width(context))):
        column.label(text=line, icon=icon if i == 0 else "BLANK1" if icon != "NONE" else "NONE")


def short_path(text: str, path: str) -> str:
    """`text` with `path` named by its file name: an absolute path wrapped over three sidebar lines hides the
    message around it, and the file field above the message shows where the file is."""
    return text.replace(path, os.path.basename(path)) if path else text


def draw_full_path(layout, context, path: str, idname: str) -> None:
    """The whole path in a sub-panel that stays closed until opened: there when asked for, not every time."""
    header, body = layout.panel(idname, default_closed=True)
    header.label(text="Full Path")
    if body is not None:  # None while closed
        label_wrapped(body, context, path)
