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


MAX_FRAMES = 1_000_000
"""More frames than any sequence has (11 hours at 24 fps): a bigger range is a typo, refused before it
is expanded (a billion frames would take tens of GB)."""


def parse_frames(spec: str) -> list[int]:
    """'1-100', '1-100x5', '3,7,10-12' -> sorted unique frames. Raises ValueError with the bad part, and
    for more than MAX_FRAMES frames before expanding any."""
    frames: set[int] = set()
    total = 0
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
        count = len(range(start, end + 1, step))  # computed, not expanded
        total += count
        if total > MAX_FRAMES:
            raise ValueError(f"too many frames in {spec!r}: at most {MAX_FRAMES:,} per run, split the range")
        frames.update(range(start, end + 1, step))
    if not frames:
        raise ValueError("no frames given")
    return sorted(frames)


def sibling_output_pattern(input_pattern: str, suffix: str = "_onnx", *, extension: str = ".exr") -> str:
    """Where post-processed frames go by default: a sibling folder of the input's, same file names and
    frame numbering, as float EXR. 'out/render/####.png' -> 'out/render_onnx/####.exr'; with no '#' the
    4-digit frame number that Blender appends is made explicit: 'render/shot_' -> 'render_onnx/shot_####.exr'.
    Blender's '//' prefix (relative to the .blend) is kept; a file with no folder of its own gets 'onnx/', and so
    do an output that names only a folder and a folder at the top of a disk ('/tmp/####', Blender's default): its
    sibling would be at the disk root, so the results go inside it ('/tmp/onnx/####.exr')."""
    path = input_pattern.replace("\\", "/")
    cut = path.rfind("/") + 1
    folder, name = path[:cut], path[cut:]
    core = folder.rstrip("/")
    parent, _, last = core.rpartition("/")
    # A folder at the top of a disk ('/tmp', Blender's default, or 'C:/renders'): its sibling would be at the disk
    # root, where a user cannot write. Blender's '//' (the .blend's folder) is not a disk root.
    top_level = not core.startswith("//") and (core.startswith("/") and not parent or parent.endswith(":"))
    if not last or last.endswith(":") or not name or top_level:
        folder = f"{folder}onnx/"
    else:
        folder = f"{core}{suffix}/"
    stem, dot, ext = name.rpartition(".")
    if dot and stem and "#" not in ext and len(ext) <= 4:
        name = stem
    if not _HASHES.search(name):
        name += "####"
    return f"{folder}{name}{extension}"


def with_extension(output_pattern: str, input_pattern: str) -> str:
    """Blender's convention for output paths written without an extension ('//post/shot_####'): the
    format's extension is added, here the input frames' own ('.exr' for EXR renders, '.png' for PNG), so
    post-processed frames come out in the format they were rendered in. Patterns with one are unchanged."""
    name = output_pattern.replace("\\", "/").rpartition("/")[2]
    stem, dot, ext = name.rpartition(".")
    if dot and stem and ext and "#" not in ext:
        return output_pattern
    in_name = input_pattern.replace("\\", "/").rpartition("/")[2]
    in_stem, in_dot, in_ext = in_name.rpartition(".")
    extension = f".{in_ext}" if in_dot and in_stem and in_ext and "#" not in in_ext else ".exr"
    return output_pattern + extension
