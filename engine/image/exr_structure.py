"""Whether a single-part scanline OpenEXR file is whole, read from its structure instead of decoding it.

A write is proved by reading it back (image.files): encoders buffer, and a disk that fills near the end of a file
can fail the last flush unseen. The way such a file is wrong is that it ends early: chunks missing or cut, or the
line offset table (written last, at the start) pointing past the end. Every chunk of a scanline EXR starts with its
first line and its size, and the offset table says where each one is, so a file whose table points at every chunk
in line order, whose chunks each hold their declared size, lie apart, and end exactly where the file ends, is whole
in every way a cut write can break it. Checking that reads a few bytes per chunk (270 chunks for an 8K output)
where decoding it took 5-6% of a whole `run` (issue 24). The payload inside a chunk is not inflated: what was handed
to the encoder is what it compressed, and a cut or a hole shows up in the structure.

Files this reader does not know (tiled, deep, multi-part, a compression it has no line count for) return None:
the caller decodes them instead."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"\x76\x2f\x31\x01"
_TILED, _DEEP, _MULTIPART = 0x200, 0x800, 0x1000
LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
"""Scanlines per chunk of each compression (OpenEXR's numbering: none, rle, zips, zip, piz, pxr24, b44, b44a, dwaa,
dwab)."""
_HEADER_LIMIT = 1 << 20
"""Most bytes a header is read from: far more than most headers (a few hundred bytes); a file whose header runs past
it (metadata of a megabyte copied from its source) is left to decoding."""


@dataclass(frozen=True, kw_only=True)
class ScanlineHeader:
    width: int
    height: int
    first_line: int
    channels: int
    lines_per_chunk: int
    table_offset: int
    """Where the line offset table starts: just after the header's closing zero byte."""


def _c_string(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\0", at)
    return data[at:end].decode("latin-1"), end + 1


def _channel_count(value: bytes) -> int:
    count, at = 0, 0
    while at < len(value) and value[at] != 0:
        _, at = _c_string(value, at)
        at += 16  # pixel type, pLinear and reserved, x and y sampling
        count += 1
    return count


def read_scanline_header(head: bytes) -> ScanlineHeader | None:
    """The parts of a single-part scanline header the check needs; None for any other kind of EXR (or not an EXR);
    ValueError when the header itself is cut or malformed."""
    if len(head) < 8 or head[:4] != MAGIC:
        return None
    (version,) = struct.unpack_from("<i", head, 4)
    if version & 0xFF != 2 or version & (_TILED | _DEEP | _MULTIPART):
        return None
    values: dict[str, bytes] = {}
    at = 8
    try:
        while head[at] != 0:
            name, at = _c_string(head, at)
            _, at = _c_string(head, at)
            (size,) = struct.unpack_from("<i", head, at)
            values[name], at = head[at + 4 : at + 4 + size], at + 4 + size
            if at >= len(head):
                raise ValueError("the header is cut")
    except (IndexError, struct.error) as exc:
        raise ValueError("the header is cut") from exc
    if not {"dataWindow", "compression", "channels"} <= values.keys() or "tiles" in values:
        return None
    xmin, ymin, xmax, ymax = struct.unpack("<4i", values["dataWindow"])
    lines = LINES_PER_CHUNK.get(values["compression"][0])
    if lines is None:
        return None
    return ScanlineHeader(
        width=xmax - xmin + 1,
        height=ymax - ymin + 1,
        first_line=ymin,
        channels=_channel_count(values["channels"]),
        lines_per_chunk=lines,
        table_offset=at + 1,
    )


def _chunks_gap(fd: int, header: ScanlineHeader, file_size: int) -> str:
    count = -(-header.height // header.lines_per_chunk)
    table = os.pread(fd, 8 * count, header.table_offset)
    if len(table) < 8 * count:
        return "its line offset table is cut"
    table_end = header.table_offset + 8 * count
    spans = []
    for index, offset in enumerate(struct.unpack(f"<{count}Q", table)):
        if not table_end <= offset <= file_size - 8:
            return f"chunk {index + 1} of {count} is not in the file (offset {offset} of {file_size} bytes)"
        line, size = struct.unpack("<ii", os.pread(fd, 8, offset))
        if line != header.first_line + index * header.lines_per_chunk or size <= 0:
            return f"chunk {index + 1} of {count} does not start with its line and size"
        spans.append((offset, offset + 8 + size))
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            return "two chunks overlap"
    if spans[-1][1] != file_size:
        return f"its last chunk ends at byte {spans[-1][1]} of {file_size}"
    return ""


def scanline_exr_gap(path: str | os.PathLike[str], width: int, height: int, channels: int) -> str | None:
    """Why the single-part scanline EXR at `path` is not a whole `width` x `height` image of `channels` channels
    ("" when it is); None when it is not such a file (the caller decodes it)."""
    fd = os.open(Path(path), os.O_RDONLY)
    try:
        file_size = os.fstat(fd).st_size
        try:
            header = read_scanline_header(os.pread(fd, min(file_size, _HEADER_LIMIT), 0))
        except ValueError as exc:
            # A header longer than what was read (a source's large metadata copied over) is not a cut file: decoded.
            return None if file_size > _HEADER_LIMIT else str(exc)
        if header is None:
            return None
        if (header.width, header.height, header.channels) != (width, height, channels):
            return f"it reads back as {header.width}x{header.height}x{header.channels}"
        return _chunks_gap(fd, header, file_size)
    finally:
        os.close(fd)
