"""How much memory decoding an image may take: refused up front, with the size it needs, rather than
found out by the operating system's out-of-memory killer halfway through a 16384x16384 PNG. Nothing here reads
the memory free at the moment: the same image is read or refused alike on a busy machine and an idle one."""

from __future__ import annotations

import os

FALLBACK_TOTAL = 4 << 30
"""Assumed RAM where the operating system does not say (no sysconf: Windows)."""
DECODE_COPIES = 6
"""Float-sized copies of the pixels that reading makes at its peak: the library's buffer, the float pixels, the
per-layer and colour-converted copies. Measured: a 4096x4096 8-bit RGBA PNG peaked at 1.46 GB, 5.4 copies."""
DECODE_SHARE = 0.5
"""Share of the machine's memory one image's decoding may plan for: a property of the machine, so a frame is
refused (or read) alike on a busy worker and an idle one."""


def total_memory() -> int:
    """Bytes of RAM the machine has: a fixed property of the device, unlike what is available now."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return FALLBACK_TOTAL


def decode_budget() -> int:
    """Bytes reading one image may take: a fixed share of the machine's total memory."""
    return int(total_memory() * DECODE_SHARE)


def decode_bytes(width: int, height: int, channels: int) -> int:
    """Memory that reading one part of an image as float32 takes, copies included."""
    return DECODE_COPIES * 4 * max(0, width) * max(0, height) * max(0, channels)


def size_text(nbytes: int) -> str:
    return f"{nbytes / (1 << 30):.1f} GB" if nbytes >= 1 << 30 else f"{nbytes / (1 << 20):.0f} MB"
