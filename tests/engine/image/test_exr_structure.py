"""A written scanline EXR is proved whole from its structure (engine/image/exr_structure.py): every way a cut or a
hole can break it is found, without decoding it."""

from __future__ import annotations

import struct

import numpy as np
import OpenImageIO as oiio
import pytest

from engine.errors import ImageError
from engine.image.exr_structure import read_scanline_header, scanline_exr_gap
from engine.image.files import ExrOptions, read_image, write_image

IMAGE = np.random.default_rng(0).random((48, 64, 3), dtype=np.float32)


def _written(path, compression: str = "zip", half: bool = False, y: int = 0, tiled: bool = False):
    spec = oiio.ImageSpec(64, 48, 3, oiio.HALF if half else oiio.FLOAT)
    spec.attribute("compression", compression)
    spec.y = y
    if tiled:
        spec.tile_width = spec.tile_height = 16
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(IMAGE) and out.close()
    return path


@pytest.mark.parametrize("compression", ["zip", "none", "rle", "zips", "piz", "pxr24", "b44", "dwaa", "dwab"])
@pytest.mark.parametrize("half", [False, True])
def test_a_whole_file_is_whole_for_every_compression(tmp_path, compression, half):
    path = _written(tmp_path / "a.exr", compression, half)
    assert scanline_exr_gap(path, 64, 48, 3) == ""


def test_a_data_window_that_does_not_start_at_line_0_is_read_by_its_lines(tmp_path):
    assert scanline_exr_gap(_written(tmp_path / "a.exr", y=7), 64, 48, 3) == ""


def test_every_cut_of_the_file_is_found(tmp_path):
    """A length short of the whole file (in the header, the offset table or any chunk) is never whole: before this
    check the file was decoded to prove it; a cut anywhere must still never pass."""
    whole = _written(tmp_path / "a.exr", "zip").read_bytes()
    cut = tmp_path / "cut.exr"
    passed = []
    # Every length through the header and offset table and across the end, and every 97th inside the chunks.
    lengths = sorted({*range(1024), *range(1024, len(whole), 97), *range(len(whole) - 256, len(whole))})
    for length in lengths:
        cut.write_bytes(whole[:length])
        found = scanline_exr_gap(cut, 64, 48, 3)
        if found == "" or (found is None and _decodes(cut)):  # None: left to decoding, which must refuse it
            passed.append(length)
    assert passed == []


def _decodes(path) -> bool:
    try:
        read_image(path)
    except ImageError:
        return False
    return True


def test_a_hole_or_garbage_is_found(tmp_path):
    """A chunk header or an offset zeroed (a hole the file system filled), and bytes after the last chunk."""
    whole = _written(tmp_path / "a.exr", "zip").read_bytes()
    header = read_scanline_header(whole)
    assert header is not None and header.lines_per_chunk == 16
    offsets = struct.unpack_from("<3Q", whole, header.table_offset)  # 48 lines of zip: 3 chunks
    bad = tmp_path / "bad.exr"
    last = max(offsets)
    bad.write_bytes(whole[:last] + bytes(8) + whole[last + 8 :])
    assert "does not start with its line and size" in scanline_exr_gap(bad, 64, 48, 3)
    at = header.table_offset + 8
    bad.write_bytes(whole[:at] + bytes(8) + whole[at + 8 :])
    assert "chunk 2 of 3 is not in the file" in scanline_exr_gap(bad, 64, 48, 3)
    bad.write_bytes(whole + b"\0" * 16)
    assert "ends at byte" in scanline_exr_gap(bad, 64, 48, 3)
    assert "reads back as 64x48x3" in scanline_exr_gap(_written(tmp_path / "b.exr"), 64, 40, 3)


def test_files_it_does_not_know_are_left_to_decoding(tmp_path):
    assert scanline_exr_gap(_written(tmp_path / "t.exr", tiled=True), 64, 48, 3) is None
    png = tmp_path / "a.png"
    write_image(png, IMAGE)
    assert scanline_exr_gap(png, 64, 48, 3) is None


def test_a_written_exr_is_checked_by_structure_and_still_refuses_a_cut(tmp_path, monkeypatch):
    """write_image proves a single-part EXR from its structure, not by decoding it; a write whose result is cut
    is still refused and leaves nothing."""
    from engine.image import files

    decoded = []
    real = files._does_not_read_back
    monkeypatch.setattr(files, "_does_not_read_back", lambda *a, **k: decoded.append(a) or real(*a, **k))
    write_image(tmp_path / "ok.exr", IMAGE, exr=ExrOptions(half=True))
    assert decoded == [] and read_image(tmp_path / "ok.exr").shape == IMAGE.shape

    def cut_on_close(path, *_a, **_k):
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) - 100])
        return scanline_exr_gap(path, *_a, **_k)

    monkeypatch.setattr(files, "scanline_exr_gap", cut_on_close)
    with pytest.raises(files.ImageError, match="does not read back whole"):
        write_image(tmp_path / "cut.exr", IMAGE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.exr"]


def test_a_header_longer_than_what_is_read_is_decoded_not_refused(tmp_path):
    """A source's large metadata copied into the output (a megabyte attribute) runs the header past what the check
    reads: that file is decoded, and the write succeeds (it was refused as 'the header is cut')."""
    spec = oiio.ImageSpec(64, 48, 3, oiio.HALF)
    spec.attribute("note", "x" * (1 << 20))
    out = oiio.ImageOutput.create(str(tmp_path / "big.exr"))
    assert out.open(str(tmp_path / "big.exr"), spec) and out.write_image(IMAGE) and out.close()
    assert scanline_exr_gap(tmp_path / "big.exr", 64, 48, 3) is None
    from engine.image.files import write_layers_like

    write_layers_like(tmp_path / "big.exr", tmp_path / "out.exr", IMAGE)
    assert read_image(tmp_path / "out.exr").shape == IMAGE.shape
