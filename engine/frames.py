"""Frame numbers and paths: Blender-style `#` patterns and farm-friendly frame ranges."""

from __future__ import annotations

import re

_HASHES = re.compile(r"#+")


def frame_path(pattern: str, frame: int) -> str:
    """'render/####.exr' -> 'render/0007.exr'; without '#', the frame is appended before the extension."""
    matches = list(_HASHES.finditer(pattern))
    if not matches:
        stem, dot, ext = pattern.rpartition(".")
        return f"{stem}{frame:04d}.{ext}" if dot else f"{pattern}{frame:04d}"
    last = matches[-1]
    return f"{pattern[: last.start()]}{frame:0{len(last.group())}d}{pattern[last.end() :]}"


def parse_frames(spec: str) -> list[int]:
    """'1-100', '1-100x5', '3,7,10-12' -> sorted unique frames. Raises ValueError with the bad part."""
    frames: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        match = re.fullmatch(r"(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?", part)
        if not match:
            raise ValueError(f"bad frame range {part!r}: use forms like 1-100, 1-100x5 or 3,7,10")
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        step = int(match.group(3) or 1)
        if end < start or step < 1:
            raise ValueError(f"bad frame range {part!r}: the end is before the start or the step is 0")
        frames.update(range(start, end + 1, step))
    if not frames:
        raise ValueError("no frames given")
    return sorted(frames)
