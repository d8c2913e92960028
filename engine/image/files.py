"""Images on disk through OpenImageIO, the library Blender itself bundles: EXR (every part and layer
of a multilayer file, as Blender 5 writes one part per pass), PNG, JPEG and TIFF.

Arrays are HxWxC float32, top-down rows, scene-linear: 8/16-bit formats are decoded from sRGB on
read and encoded to sRGB on write. Writes go to a temporary file renamed into place, so an
interrupted run never leaves a half-written image.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from .. import atomic
from ..errors import ImageError
from . import limits
from .alpha import premultiply, unpremultiply
from .colour import linear_to_srgb, srgb_to_linear
from .exr_structure import scanline_exr_gap
from .passes import combined_layer, find_pass

if TYPE_CHECKING:  # loaded when an image is read or written, not when the extension is enabled
    import OpenImageIO

__all__ = [
    "ExrOptions",
    "clean_stale_temps",
    "FrameHeader",
    "frame_header",
    "combined_layer",
    "exr_options_of",
    "find_pass",
    "read_image",
    "read_layers",
    "same_file",
    "write_image",
    "write_layers_like",
]

_FLOAT_FORMATS = {".exr", ".hdr"}
_CHANNEL_ORDER = {"R": 0, "G": 1, "B": 2, "A": 3, "X": 0, "Y": 1, "Z": 2, "W": 3, "U": 0, "V": 1}
# Channels of a plain (unprefixed) file that are passes of their own, not part of its colour.
_LONE_PASSES = {"Z": "Depth", "depth": "Depth"}
_INTEGER_FORMATS = ("uint8", "uint16", "int8", "int16", "uint", "int")


# write_image's temporary names end in `.tmp.<image extension>` (atomic.temp_name makes the rest).
_TEMP_SUFFIX = re.compile(r"^\.tmp\.(exr|hdr|png|tif|tiff|jpg|jpeg)$", re.IGNORECASE)
# Another host's temporary file is removed only once it is this old: its process id means nothing here, and no
# frame's write takes a day (a farm chunk on another worker may be writing into the same shared folder).
FOREIGN_TEMP_AGE_S = 24 * 3600


def _one_line(text: str) -> str:
    """Library messages (libpng, libtiff, OpenEXR) come several lines long: keep the first, count the rest."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return f"{lines[0]} (+{len(lines) - 1} more messages)"


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether writing `b` would replace `a`: the same real file through symlinks, hard links, `..`
    and, on case-insensitive file systems, a name differing only in case (the OS says they are one
    file). When `b` does not exist yet, their resolved paths are compared."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    """On Windows `os.kill(pid, 0)` sends CTRL_C_EVENT (0) to a console group instead of testing the process: asked
    through the process API instead. A process that cannot be opened for another reason counts as alive (its
    files are kept: the safe side)."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        last_error: int = ctypes.get_last_error()  # type: ignore[attr-defined]
        return last_error != 87  # ERROR_INVALID_PARAMETER: no such process
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _is_stale(folder: str | os.PathLike[str], name: str, now: float) -> bool:
    """Whether `name` is a temporary image file of a write that can no longer finish: this host's dead process,
    or another host's file older than FOREIGN_TEMP_AGE_S."""
    found = atomic.temp_owner(name)
    if found is None or not _TEMP_SUFFIX.match(found[1]):
        return False
    owner = found[0]
    if owner.host == atomic.HOST:
        return not _pid_alive(owner.pid)
    try:
        return now - os.lstat(os.path.join(folder, name)).st_mtime > FOREIGN_TEMP_AGE_S
    except OSError:
        return False


def clean_stale_temps(folder: str | os.PathLike[str]) -> list[str]:
    """Remove write_image's temporary files left in `folder` by writes that can no longer finish (a killed
    render); a live process's write in progress, here or on another host, is left alone. Returns the removed
    names."""
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        if not _is_stale(folder, name, now):
            continue
        try:
            os.unlink(os.path.join(folder, name))
            removed.append(name)
        except OSError:
            pass
    return removed


def _fsync(path: Path) -> None:
    """Flush the written file to the device: a full disk may only say so here (delayed allocation)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _split_layers(names: list[str]) -> dict[str, list[int]]:
    """'ViewLayer.Diffuse Color.R' -> layer 'ViewLayer.Diffuse Color'; plain 'R' -> layer ''."""
    layers: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        layer = name.rsplit(".", 1)[0] if "." in name else _LONE_PASSES.get(name, "")
        layers.setdefault(layer, []).append(index)
    for idx in layers.values():
        idx.sort(key=lambda i: _CHANNEL_ORDER.get(names[i].rsplit(".", 1)[-1], 9))
    return layers


def read_layers(path: str | os.PathLike[str]) -> dict[str, NDArray[np.float32]]:
    """Every layer of every part: {layer name: HxWxC}. Single-layer files give one entry, ''.

    Raises: ImageError when the file is missing, unreadable or too large to decode in the memory at hand."""
    import OpenImageIO as oiio

    path = str(path)
    if not os.path.isfile(path):
        raise ImageError(f"image not found: {path}")
    config = oiio.ImageSpec()
    # Keep alpha as stored (straight): Blender's images and the model work on unpremultiplied colour.
    config.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(path, config)
    if inp is None:
        raise ImageError(f"cannot read image {path}: {_one_line(oiio.geterror()) or 'unknown format'}")
    layers: dict[str, NDArray[np.float32]] = {}
    try:
        _check_decode_memory(inp, path)
        part = 0
        while inp.seek_subimage(part, 0):
            spec = inp.spec()
            pixels = inp.read_image(part, 0, 0, spec.nchannels, "float")
            if pixels is None or not hasattr(pixels, "shape"):
                raise ImageError(
                    f"cannot read image {path} (truncated or damaged): {_one_line(inp.geterror() or oiio.geterror())}"
                )
            pixels = np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)
            names = list(spec.channelnames)
            # 8/16-bit integer pixels are display-encoded (sRGB); float pixels are scene-linear.
            encoded = str(spec.format) in _INTEGER_FORMATS
            for layer, idx in _split_layers(names).items():
                values = _channels(pixels, idx)
                # Integer files store straight alpha: premultiplied here, the engine's one rule (image/alpha.py).
                layers[layer] = premultiply(_decode_srgb(values)) if encoded else values
            part += 1
    finally:
        inp.close()
    return layers


def _channels(pixels: NDArray[np.float32], idx: list[int]) -> NDArray[np.float32]:
    """The channels `idx` of HxWxC `pixels`, C-contiguous: the decoded array itself when it is all of them in order
    (a plain RGB or RGBA file: no copy), else one copy (fancy indexing on the last axis copied twice: 0.1 s of a
    4K read)."""
    if idx == list(range(pixels.shape[2])):
        return pixels
    return np.take(pixels, idx, axis=2)


def _check_decode_memory(inp: OpenImageIO.ImageInput, path: str) -> None:
    """Refuse an image whose decoding (every part, as float) would not fit in the machine's decode budget."""
    needed, part = 0, 0
    while inp.seek_subimage(part, 0):
        spec = inp.spec()
        needed += limits.decode_bytes(spec.width, spec.height, spec.nchannels)
        part += 1
    inp.seek_subimage(0, 0)
    budget = limits.decode_budget()
    if needed > budget:
        raise ImageError(
            f"{path} is too large to read here: decoding it needs {limits.size_text(needed)}, more than the "
            f"{limits.size_text(budget)} (half of this machine's memory) one image may take"
        )


def _decode_srgb(image: NDArray[np.float32]) -> NDArray[np.float32]:
    out = image.copy()
    colour = min(3, out.shape[2]) if out.shape[2] != 2 else 1
    out[:, :, :colour] = srgb_to_linear(out[:, :, :colour])
    return out


def read_image(path: str | os.PathLike[str]) -> NDArray[np.float32]:
    """The file's picture, HxWxC: the combined layer of a multilayer EXR (see combined_layer).

    Raises: ImageError, as read_layers does."""
    return combined_layer(read_layers(path))


EXR_CODECS = ("none", "zip", "zips", "piz", "rle", "b44", "dwaa", "dwab")


@dataclass(frozen=True)
class ExrOptions:
    """How an EXR is stored; None fields are filled from `fallback` by `over`. ZIP float is
    OpenImageIO's default; a rendered frame's own settings (Blender's are half or float, ZIP by
    default) are what a post-processed frame should match."""

    half: bool | None = None
    codec: str | None = None
    keep_passes: bool | None = None
    """A multilayer source frame gives a multilayer output (its other passes kept); True by default."""
    half_followed: bool = False
    """`half` was taken from the source frame, not asked for: values beyond half's range are then written as
    float rather than clamped (fit_half)."""
    colour_interop: str = ""
    """The header's `colorInteropID` (the working space Blender 5 rendered in), carried from the source frame so
    that the result says which space its pixels are in, as the frame did."""

    def over(self, fallback: ExrOptions | None) -> ExrOptions:
        fallback = fallback or ExrOptions()
        return ExrOptions(
            half=self.half if self.half is not None else bool(fallback.half),
            codec=self.codec or fallback.codec or "zip",
            keep_passes=self.keep_passes if self.keep_passes is not None else fallback.keep_passes is not False,
            half_followed=self.half is None and bool(fallback.half),
            colour_interop=self.colour_interop or fallback.colour_interop,
        )


HALF_MAX = 65504.0
"""The largest finite half float: anything beyond becomes Inf when stored as half."""


def fit_half(image: NDArray[np.float32], half: bool, asked: bool) -> tuple[NDArray[np.float32], bool, str]:
    """The one policy for values beyond half's range in a half EXR: never Inf. When half was asked for, they are
    clamped to +-65504; when it only follows the source frame, the image is written as 32-bit float instead.
    Returns (pixels, half, note for the run's notes or "")."""
    if not half:
        return image, False, ""
    over = int(np.count_nonzero(np.isfinite(image) & (np.abs(image) > HALF_MAX)))
    if not over:
        return image, True, ""
    if asked:
        note = f"{over} values beyond half float's range (65504) were clamped to it: half was asked for"
        return np.clip(image, -HALF_MAX, HALF_MAX), True, note
    return image, False, f"{over} values beyond half float's range (65504): written as 32-bit float, not half"


@dataclass(frozen=True)
class FrameHeader:
    """What a frame's header says, read once (a sequence used to open each frame's header four times)."""

    layers: int
    """How many layers (passes) it holds over all its parts; 0 when it cannot be opened."""
    exr: ExrOptions | None
    """Its first part's pixel depth, codec and colorInteropID when it is an EXR; None otherwise."""


def _exr_options(spec: OpenImageIO.ImageSpec) -> ExrOptions:
    codec = spec.get_string_attribute("compression") or "zip"
    return ExrOptions(
        half=str(spec.format) == "half",
        codec=codec if codec in EXR_CODECS else "zip",
        colour_interop=spec.get_string_attribute("colorInteropID") or "",
    )


def frame_header(path: str | os.PathLike[str]) -> FrameHeader:
    """The header of `path`: its layer count and, for an EXR, how it is stored (one open, no pixels read)."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        return FrameHeader(0, None)
    try:
        exr = _exr_options(inp.spec()) if Path(path).suffix.lower() == ".exr" else None
        layers, part = 0, 0
        while inp.seek_subimage(part, 0):
            layers += len(_split_layers(list(inp.spec().channelnames)))
            part += 1
        return FrameHeader(layers, exr)
    finally:
        inp.close()


def exr_options_of(path: str | os.PathLike[str]) -> ExrOptions | None:
    """The pixel depth and codec of an EXR's first part; None when `path` is not an EXR."""
    return frame_header(path).exr if Path(path).suffix.lower() == ".exr" else None


def _hwc_float32(image: NDArray[np.float32]) -> NDArray[np.float32]:
    """What is written: contiguous float32, HxWxC (a grey HxW gets its channel axis)."""
    image = np.ascontiguousarray(image, np.float32)
    return image[:, :, None] if image.ndim == 2 else image


def write_image(
    path: str | os.PathLike[str], image: NDArray[np.float32], *, exr: ExrOptions | None = None
) -> list[str]:
    """Atomic write; the format follows the extension (`exr` sets an EXR's depth and codec). Never
    leaves a partial file at `path`. Returns notes for the run (values beyond half's range, see fit_half).

    Raises: ImageError when the file cannot be written or what reached the disk does not read back whole."""
    import OpenImageIO as oiio

    path = Path(path)
    image = _hwc_float32(image)
    h, w, c = image.shape
    suffix = path.suffix.lower()
    notes: list[str] = []
    if suffix in _FLOAT_FORMATS:
        given = exr or ExrOptions()
        exr = given.over(None)
        data, half, note = fit_half(image, suffix == ".exr" and bool(exr.half), asked=not given.half_followed)
        notes += [note] if note else []
        fmt = "half" if half else "float"
    else:
        encoded = unpremultiply(image)  # these formats store straight alpha (image/alpha.py)
        colour = 3 if c >= 3 else 1
        encoded[:, :, :colour] = linear_to_srgb(np.clip(encoded[:, :, :colour], 0.0, 1.0))
        data = np.clip(encoded, 0.0, 1.0)
        fmt = "uint8" if suffix in (".jpg", ".jpeg") else "uint16"
        if suffix in (".jpg", ".jpeg") and c == 4:
            data, c = np.ascontiguousarray(data[:, :, :3]), 3
    spec = oiio.ImageSpec(w, h, c, fmt)
    spec.attribute("oiio:UnassociatedAlpha", 1)
    if suffix == ".exr" and exr is not None:
        spec.attribute("compression", exr.codec or "zip")  # `over` above always sets a codec
        if exr.colour_interop:
            spec.attribute("colorInteropID", exr.colour_interop)
    spec.channelnames = tuple("RGBA"[:c]) if c in (3, 4) else (("Y", "A")[:c] if c <= 2 else spec.channelnames)
    _write_checked(path, [(spec, data)])
    return notes


def image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """Height and width of an image file's first part from its header (None when it cannot be opened)."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        return None
    try:
        return inp.spec().height, inp.spec().width
    finally:
        inp.close()


def whole_image_problem(path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> str:
    """Why the file at `path` is not a whole image (every part decoded; the first of `size` HxW when given), or ""
    when it is: what `--skip-existing` checks before it trusts an earlier output."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return "it is empty or missing"
    return _does_not_read_back(Path(path), first_size=size)


def _does_not_read_back(
    path: Path, specs: list[OpenImageIO.ImageSpec] | None = None, first_size: tuple[int, int] | None = None
) -> str:
    """Why the file at `path` is not a whole image, or "" when it is: every part decoded; with `specs` (what was
    written), exactly those parts at their size and channels; with `first_size`, the first part that HxW. Encoders
    buffer: a disk that fills near the end of a file can fail the last flush unseen by the library (PNG, TIFF and
    EXR all left cut files behind with no error), so only reading back proves it."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        return _one_line(oiio.geterror()) or "it cannot be opened"
    try:
        index = 0
        while specs is None or index < len(specs):
            if not inp.seek_subimage(index, 0):
                if specs is None and index:
                    return ""  # every part there is was read
                return f"part {index + 1} of {len(specs)} is missing" if specs else "it has no image"
            got = inp.spec()
            if index == 0 and first_size is not None and (got.height, got.width) != first_size:
                return f"it is {got.width}x{got.height}, not {first_size[1]}x{first_size[0]}"
            if specs is not None and (got.width, got.height, got.nchannels) != (
                specs[index].width,
                specs[index].height,
                specs[index].nchannels,
            ):
                return f"part {index + 1} reads back as {got.width}x{got.height}x{got.nchannels}"
            pixels = inp.read_image(index, 0, 0, got.nchannels, "float")
            if pixels is None or not hasattr(pixels, "shape") or inp.has_error:
                return _one_line(inp.geterror() or oiio.geterror()) or f"part {index + 1} does not decode"
            index += 1
        return ""
    finally:
        inp.close()


def _not_whole(path: Path, specs: list[OpenImageIO.ImageSpec]) -> str:
    """Why the file just written at `path` is not whole, or "": a single-part scanline EXR (what a run writes) from
    its structure (image.exr_structure: a few bytes per chunk), anything else by decoding every part."""
    if len(specs) == 1 and path.suffix.lower() == ".exr":
        spec = specs[0]
        why = scanline_exr_gap(path, spec.width, spec.height, spec.nchannels)
        if why is not None:
            return why
    return _does_not_read_back(path, specs)


def _write_checked(path: Path, parts: list[tuple[OpenImageIO.ImageSpec, NDArray[np.float32]]]) -> None:
    """Write `parts` (OpenImageIO spec, HxWxC pixels), one subimage each, to a temporary file, check
    every step, flush it and rename it onto `path`; on any failure `path` is left as it was."""
    import OpenImageIO as oiio

    try:
        tmp = atomic.reserve(path, f".tmp{path.suffix}")
    except OSError as exc:
        raise ImageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None:
            raise ImageError(f"cannot write {path}: {_one_line(oiio.geterror()) or 'unsupported format'}")
        specs = [spec for spec, _ in parts]
        if not out.open(str(tmp), specs[0] if len(specs) == 1 else specs):
            raise ImageError(f"cannot write {path}: {_one_line(out.geterror() or oiio.geterror())}")
        # Every step is checked: PNG reports a short write only through geterror (write_image still
        # says True), TIFF and EXR may report their last chunk only when the file is closed.
        # (After a successful close, libtiff may still leave a harmless Exif note in geterror.)
        ok, error = True, ""
        for index, (spec, data) in enumerate(parts):
            if index and not out.open(str(tmp), spec, "AppendSubimage"):
                ok = False
            ok = ok and bool(out.write_image(data))
            error = out.geterror()
            if not ok or error:
                break
        closed = out.close()
        if closed is False:
            error = error or out.geterror() or "closing the file failed"
        if not ok or error or os.path.getsize(tmp) == 0:
            raise ImageError(f"cannot write {path}: {_one_line(error) or 'write failed (disk full?)'}")
        _fsync(tmp)
        if why := _not_whole(tmp, [spec for spec, _ in parts]):
            raise ImageError(f"cannot write {path}: what reached the disk does not read back whole ({why}; disk full?)")
        atomic.publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _nearest(pixels: NDArray[np.float32], height: int, width: int) -> NDArray[np.float32]:
    """Nearest-neighbour resize: data passes (depth, normals, object IDs) must never be interpolated,
    an ID halfway between two objects names a third one."""
    h, w = pixels.shape[:2]
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.intp), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.intp), w - 1)
    resized: NDArray[np.float32] = pixels[rows][:, cols]  # fancy indexing is untyped in numpy's stubs
    return resized


def _read_parts(src: str | os.PathLike[str]) -> list[tuple[OpenImageIO.ImageSpec, NDArray[np.float32]]]:
    """Every part of an EXR as (its OpenImageIO spec, HxWxC float32 pixels)."""
    import OpenImageIO as oiio

    inp = oiio.ImageInput.open(str(src))
    if inp is None:
        raise ImageError(f"cannot read image {src}: {_one_line(oiio.geterror()) or 'unknown format'}")
    sources: list[tuple[OpenImageIO.ImageSpec, NDArray[np.float32]]] = []
    try:
        part = 0
        while inp.seek_subimage(part, 0):
            spec = oiio.ImageSpec(inp.spec())
            pixels = inp.read_image(part, 0, 0, spec.nchannels, "float")
            if pixels is None or not hasattr(pixels, "shape"):
                raise ImageError(f"cannot read image {src}: {_one_line(inp.geterror() or oiio.geterror())}")
            sources.append((spec, np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)))
            part += 1
    finally:
        inp.close()
    return sources


def _part_spec(
    spec: OpenImageIO.ImageSpec, names: list[str], formats: list[str], size: tuple[int, int], exr: ExrOptions
) -> OpenImageIO.ImageSpec:
    """The output spec of one part: the source part's, with its metadata (Blender's camera, time, view), at the
    output size, with these channels and pixel types, and the codec `exr` asks for."""
    import OpenImageIO as oiio

    height, width = size
    out = oiio.ImageSpec(spec)
    out.width, out.height, out.nchannels = width, height, len(names)
    out.x, out.y = (spec.x, spec.y) if (spec.width, spec.height) == (width, height) else (0, 0)
    out.full_x, out.full_y, out.full_width, out.full_height = out.x, out.y, width, height
    for attribute in ("openexr:chunkCount", "oiio:subimages", "oiio:subimagename"):
        out.erase_attribute(attribute)
    out.attribute("oiio:UnassociatedAlpha", 1)
    if exr.codec:
        out.attribute("compression", exr.codec)
    out.channelnames = tuple(names)
    out.set_format(oiio.TypeDesc(formats[0]))
    out.channelformats = tuple(oiio.TypeDesc(f) for f in formats) if len(set(formats)) > 1 else ()
    return out


def write_layers_like(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], image: NDArray[np.float32], exr: ExrOptions | None = None
) -> list[str]:
    """Write `dst` as a multilayer EXR laid out like the EXR `src`: the same parts, part names, channel
    names, per-channel pixel types, compression and metadata, with `image` in place of the combined
    layer (the one `read_image` processes) and every other layer copied untouched.

    When `image` has another size than `src` (an upscaler), the other layers are resized to it with
    nearest-neighbour, which keeps data passes' values (depths, normals, IDs) as rendered; EXR parts may
    have different sizes, but compositors expect a frame's passes to line up pixel for pixel. `exr`
    overrides the combined layer's depth and every part's codec where its fields are set. Atomic like
    `write_image`."""
    path = Path(dst)
    image = _hwc_float32(image)
    height, width, count = image.shape
    exr = exr or ExrOptions()
    sources = _read_parts(src)
    # The combined layer is found exactly as read_image finds it, by the same name rules.
    layers = {}
    where = {}
    for index, (spec, pixels) in enumerate(sources):
        for layer, idx in _split_layers(list(spec.channelnames)).items():
            layers[layer] = pixels[:, :, idx]
            where[layer] = (index, idx)
    combined = combined_layer(layers)
    name = next(key for key, value in layers.items() if value is combined)
    combined_part, combined_idx = where[name]
    parts: list[tuple[OpenImageIO.ImageSpec, NDArray[np.float32]]] = []
    notes: list[str] = []
    for index, (spec, pixels) in enumerate(sources):
        names = list(spec.channelnames)
        formats = [str(f) for f in spec.channelformats] or [str(spec.format)] * len(names)
        if pixels.shape[:2] != (height, width):
            pixels = _nearest(pixels, height, width)
        if index == combined_part:
            keep = [i for i in range(len(names)) if i not in combined_idx]
            prefix = name + "." if name else ""
            suffixes = "RGBA"[:count] if count in (3, 4) else ("Y", "A")[:count] if count <= 2 else None
            new_names = [prefix + s for s in suffixes] if suffixes else [prefix + str(i) for i in range(count)]
            old_format = formats[combined_idx[0]]
            half = old_format == "half" if exr.half is None else exr.half
            image, half, note = fit_half(image, half, asked=exr.half is not None)
            notes += [note] if note else []
            new_format = "half" if half else "float"
            names = [names[i] for i in keep] + new_names
            formats = [formats[i] for i in keep] + [new_format] * count
            pixels = np.concatenate([pixels[:, :, keep], image], axis=2)
        parts.append((_part_spec(spec, names, formats, (height, width), exr), np.ascontiguousarray(pixels)))
    _write_checked(path, parts)
    return notes
