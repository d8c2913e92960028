"""Image in, image out: channels, colour, alpha, size rules and seamless tiling around a prepared model."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ImageError, RuntimeFailure
from ..image.channels import from_tensor, split_alpha, to_rgba, to_tensor
from ..image.colour import decode, encode
from ..model.describe import TensorInfo
from ..options import Layout
from ..progress import SILENT, Progress
from ..runtime.memory import auto_tile_side, memory_budget
from ..runtime.prepare import PreparedModel
from .run_state import run_state
from .settings import RunSettings
from .tile_runner import TileRunner
from .tiling import apply_window, axis_weights, blend_into, pad_to, round_up, tile_starts

MIN_TILE = 64
# When a model's memory per pixel is unknown: whole-image runs up to this many pixels, else tiles.
AUTO_WHOLE_PIXELS = {"cpu": 4096 * 4096, "cuda": 3840 * 2160}
AUTO_TILE = {"cpu": 1024, "cuda": 1024}


@dataclass(frozen=True, kw_only=True)
class RunResult:
    image: np.ndarray
    """HxWxC float32, top-down rows, scaled by the model's factor; alpha last when the input had it
    (with `blender_rgba`: HxWx4, rows bottom-up)."""
    notes: tuple[str, ...] = ()
    clipped_pixels: int = 0
    tiles: int = 1
    tile_size: tuple[int, int] | None = None


def _all_finite(array: np.ndarray) -> bool:
    # One fast reduction: NaN and Inf propagate through a sum (float64, so large values cannot overflow).
    return bool(np.isfinite(array.sum(dtype=np.float64)))


def _check_finite(name: str, image: np.ndarray) -> None:
    if _all_finite(image):
        return
    bad = int((~np.isfinite(image)).any(axis=-1).sum())
    if bad:
        raise ImageError(f"{name} has {bad} pixels with NaN or Inf values; fix the render or pass before running")


def _assign_inputs(
    inputs: list[TensorInfo], image: np.ndarray, extra: dict[str, np.ndarray], mapping: dict[str, str] | None
) -> dict[str, np.ndarray]:
    """The first image input gets `image`; the others are matched by name, ignoring case (or through
    `mapping[input] = key`)."""
    assigned = {inputs[0].name: image}
    folded = {k.lower(): k for k in extra}
    for t in inputs[1:]:
        key = (mapping or {}).get(t.name, t.name)
        key = key if key in extra else folded.get(key.lower(), key)
        if key not in extra:
            have = ", ".join(sorted(extra)) or "none"
            raise ImageError(f"model input '{t.name}' needs an image (e.g. a render pass); given: {have}")
        assigned[t.name] = extra[key]
    return assigned


def _resize_alpha(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = np.minimum((np.arange(height) + 0.5) * alpha.shape[0] / height, alpha.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(width) + 0.5) * alpha.shape[1] / width, alpha.shape[1] - 1).astype(int)
    return alpha[rows][:, cols]


def _tile_size(prepared: PreparedModel, h: int, w: int, settings: RunSettings) -> tuple[int, int]:
    info = prepared.info
    if info.fixed_size:
        return info.fixed_size[0], info.fixed_size[1]
    m = info.size_multiple
    if settings.tile:
        side = max(round_up(MIN_TILE, m), round_up(settings.tile, m))
    elif info.bytes_per_pixel > 0:
        allowed = _budget(prepared) / info.bytes_per_pixel
        if h * w <= allowed:
            return round_up(h, m), round_up(w, m)
        side = auto_tile_side(allowed, m)
    elif h * w <= AUTO_WHOLE_PIXELS[prepared.provider]:
        return round_up(h, m), round_up(w, m)
    else:
        side = round_up(AUTO_TILE[prepared.provider], m)
    return min(side, round_up(h, m)), min(side, round_up(w, m))


def _budget(prepared: PreparedModel) -> int:
    """Memory one run may use, measured once per prepared model (asking the GPU costs a process)."""
    state = run_state(prepared)
    if state.memory_budget is None:
        state.memory_budget = memory_budget(prepared.provider, prepared.settings.device_id)
    return state.memory_budget


def run_image(
    prepared: PreparedModel,
    image: np.ndarray,
    extra: dict[str, np.ndarray] | None = None,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
    mapping: dict[str, str] | None = None,
) -> RunResult:
    """Run the prepared model on `image` (and `extra` inputs). Thread-safe: runs on one prepared model
    (an operator's worker and a render handler can share it) take turns, since they share its bound
    buffers."""
    with run_state(prepared).lock:
        return _run_image(prepared, image, extra, settings, progress, mapping)


def _run_image(prepared, image, extra, settings, progress, mapping) -> RunResult:
    settings = settings or RunSettings()
    progress = progress or SILENT
    info = prepared.info
    inputs = info.image_inputs
    image = np.asarray(image, np.float32)
    assigned = _assign_inputs(inputs, image, extra or {}, mapping)
    notes: list[str] = []
    colours: dict[str, np.ndarray] = {}
    alpha = None
    clipped = 0
    for t in inputs:
        source = np.asarray(assigned[t.name], np.float32)
        if source.shape[:2] != image.shape[:2]:
            raise ImageError(
                f"'{t.name}' is {source.shape[1]}x{source.shape[0]}, the image is {image.shape[1]}x{image.shape[0]}"
            )
        colour, a, note = split_alpha(source, t.channels)
        _check_finite(t.name, colour)
        if a is not None:  # alpha passes through to the result: NaN there is as wrong as in colour
            _check_finite(f"{t.name} alpha", a[:, :, None])
        if t is inputs[0]:
            alpha = a
        if note:
            notes.append(f"{t.name}: {note}")
        colours[t.name], n = encode(colour, settings.color if t is inputs[0] else "linear", settings.normalization)
        clipped += n
    if clipped:
        notes.append(f"{clipped} pixels were outside [0, 1] and clipped by the sRGB transform")

    h, w = image.shape[:2]
    tile = _tile_size(prepared, h, w, settings)
    out_t = info.image_output
    result, tiles, tile = _run_with_retry(prepared, colours, tile, settings, progress, out_t, notes)
    s = info.scale
    out_h, out_w = round(h * s), round(w * s)
    result = decode(result[:out_h, :out_w], settings.color, settings.normalization)
    nonfinite = 0 if _all_finite(result) else int((~np.isfinite(result)).sum())
    if nonfinite:
        raise RuntimeFailure(
            f"the model produced {nonfinite} NaN/Inf values; nothing was written "
            "(try fp32 or mixed precision if this is an fp16 model)"
        )
    out_alpha = None if alpha is None else _resize_alpha(alpha, out_h, out_w)
    if settings.blender_rgba:
        result = to_rgba(result, out_alpha, bottom_up=True)
    elif out_alpha is not None:
        result = np.concatenate([result, out_alpha[:, :, None]], axis=2)
    return RunResult(
        image=np.ascontiguousarray(result), notes=tuple(notes), clipped_pixels=clipped, tiles=tiles, tile_size=tile
    )


def _run_with_retry(prepared, colours, tile, settings, progress, out_t, notes):
    while True:
        try:
            result, tiles = _run_tiled(prepared, colours, tile, settings, progress, out_t)
            return result, tiles, tile
        except MemoryError as exc:
            # Free the failed size's buffers before trying a smaller one.
            run_state(prepared).runners.pop((tile, settings.use_binding), None)
            m = prepared.info.size_multiple
            smaller = tuple(round_up(max(MIN_TILE, v // 2), m) for v in tile)
            if prepared.info.fixed_size or smaller == tile:
                raise RuntimeFailure(
                    f"out of memory even with {tile[1]}x{tile[0]} tiles ({exc}); "
                    "close other GPU programs, use fp16, or run on the CPU provider"
                ) from exc
            notes.append(f"out of memory with {tile[1]}x{tile[0]} tiles; retried with {smaller[1]}x{smaller[0]}")
            tile = smaller


MAX_RUNNERS = 2


def _runner(prepared: PreparedModel, tile: tuple[int, int], use_binding: bool) -> TileRunner:
    """One runner per tile shape, kept on the prepared model so frames of a sequence reuse it. Only
    the most recent MAX_RUNNERS are kept: each holds device buffers of its size."""
    runners = run_state(prepared).runners
    key = (tile, use_binding)
    if key in runners:
        runners.move_to_end(key)
    else:
        while len(runners) >= MAX_RUNNERS:
            runners.popitem(last=False)
        info = prepared.info
        shapes = {t.name: _shape(t, tile) for t in info.image_inputs}
        out = info.image_output
        out_tile = (round(tile[0] * info.scale), round(tile[1] * info.scale))
        out_shape = _shape(out, out_tile)
        runners[key] = TileRunner(
            prepared.session, prepared.provider, prepared.settings.device_id, shapes, out_shape, use_binding
        )
    return runners[key]


def _shape(t: TensorInfo, hw: tuple[int, int]) -> tuple[int, ...]:
    return (1, *hw, t.channels or 1)


def _channels_last(t: TensorInfo) -> TensorInfo:
    """How the prepared session sees a tensor (see channels_last.py)."""
    return replace(t, layout=Layout.NHWC)


def _run_tiled(prepared, colours, tile, settings, progress, out_t):
    info = prepared.info
    m = info.size_multiple
    first = next(iter(colours.values()))
    h, w = first.shape[:2]
    ph, pw = max(round_up(h, m), tile[0]), max(round_up(w, m), tile[1])
    padded = {name: pad_to(c, ph, pw) for name, c in colours.items()}
    # An overlap of half a tile or more would make the stride collapse to a pixel or so.
    overlap = min(settings.overlap, tile[0] // 2, tile[1] // 2)
    ys = tile_starts(ph, tile[0], overlap, m)
    xs = tile_starts(pw, tile[1], overlap, m)
    s = info.scale
    runner = _runner(prepared, tile, settings.use_binding)
    tensors = {t.name: _channels_last(t) for t in info.image_inputs}
    if len(ys) == 1 and len(xs) == 1:
        progress.check()
        result = np.empty(_shape(out_t, (round(ph * s), round(pw * s))), runner.out_type)
        out = runner.run({n: to_tensor(p, tensors[n]) for n, p in padded.items()}, out=result)
        progress.update(1.0, "1/1 tiles")
        return from_tensor(out, "NHWC"), 1
    out_c = out_t.channels
    result = np.empty((round(ph * s), round(pw * s), out_c), np.float32)
    oh, ow = round(tile[0] * s), round(tile[1] * s)
    row_weights = axis_weights(ph, tile[0], overlap, tuple(ys), s)
    col_weights = axis_weights(pw, tile[1], overlap, tuple(xs), s)
    total = len(ys) * len(xs)
    done = 0
    row_end = 0  # output rows written by the previous row of tiles
    for i, y in enumerate(ys):
        oy = round(y * s)
        col_end = 0
        for j, x in enumerate(xs):
            progress.check()
            feeds = {n: to_tensor(p[y : y + tile[0], x : x + tile[1]], tensors[n]) for n, p in padded.items()}
            # The runner's output buffer is consumed right here, so it is weighted in place.
            out = from_tensor(runner.run(feeds), "NHWC")
            apply_window(out, row_weights[i], col_weights[j])
            ox = round(x * s)
            blend_into(result, out, oy, ox, max(0, row_end - oy), max(0, col_end - ox))
            col_end = ox + ow
            done += 1
            progress.update(done / total, f"{done}/{total} tiles")
        row_end = oy + oh
    return result, total
