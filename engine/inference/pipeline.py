"""Image in, image out: channels, colour, alpha, size rules and seamless tiling around a prepared model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import ImageError, ModelError, RuntimeFailure
from ..image.alpha import has_transparency
from ..image.bands import all_finite, contiguous_copy, copy_channels
from ..image.channels import from_tensor, split_alpha, to_rgba, to_tensor
from ..image.colour import from_rec709, to_rec709
from ..image.normalize import decode, encode, out_of_range
from ..model.contract import HdrMode, ModelContract, OutputAs
from ..model.records import ModelInfo, TensorInfo
from ..options import ColorMode, Device, Fit, FitChoice, Layout
from ..progress import SILENT, Progress
from ..runtime.memory import auto_tile_side, memory_budget
from ..runtime.prepare import PreparedModel
from .contract_feeds import constant_feeds, runner_key
from .resize_fit import resample
from .resize_policy import crop, place
from .run_state import run_state
from .settings import RunSettings
from .tile_plan import Plan, TilingReport, plan_fit, stitches_exactly
from .tile_runner import DescriptionMismatch, TileRunner
from .tiling import apply_window, axis_cuts, axis_weights, blend_into, pad_to, round_up, tile_starts

MIN_TILE = 64
# When a model's memory per pixel is unknown: whole-image runs up to this many pixels, else tiles.
AUTO_WHOLE_PIXELS = {"cpu": 4096 * 4096, "cuda": 3840 * 2160}
AUTO_TILE = {"cpu": 1024, "cuda": 1024}


@dataclass(frozen=True, kw_only=True)
class RunResult:
    image: NDArray[np.float32]
    """HxWxC float32, top-down rows, scaled by the model's factor; alpha last when the input had it
    (with `blender_rgba`: HxWx4, rows bottom-up)."""
    notes: tuple[str, ...] = ()
    clipped_pixels: int = 0
    tiles: int = 1
    tile_size: tuple[int, int] | None = None
    tiling: TilingReport | None = None
    """The fit chosen and why, the tiles and what they covered."""


@dataclass(kw_only=True)
class _ModelInputs:
    """Each model input's pixels as the model takes them, and what the run keeps from making them."""

    colours: dict[str, NDArray[np.float32]]
    alpha: NDArray[np.float32] | None
    """The first input's alpha, kept aside."""
    clipped: int
    """Pixels of the first input the encoding clipped (counted on the picture given, before any resampling)."""
    notes: list[str]
    ceiling: float = 1.0
    """The first input's brightest value (at least 1): where the output's compressed highlights stop."""


SOURCE_TOLERANCE = 1e-6
"""A source value within this of [0, 1] is not out of range: matrices and filters whose weights sum to one in
float32 turn a white 1.0 into 1.0000001, which is rounding, not a highlight the sRGB encoding loses."""


def _check_finite(name: str, image: NDArray[np.float32]) -> None:
    bad = int((~np.isfinite(image)).any(axis=-1).sum())
    if bad:
        raise ImageError(f"{name} has {bad} pixels with NaN or Inf values; fix the render or pass before running")


def _assign_inputs(
    inputs: list[TensorInfo],
    image: NDArray[np.float32],
    extra: dict[str, NDArray[np.float32]],
    mapping: dict[str, str] | None,
    constants: dict[str, tuple[float, ...]],
) -> dict[str, NDArray[np.float32]]:
    """The first image input gets `image`; the others are matched by name, ignoring case (or through
    `mapping[input] = key`)."""
    assigned = {inputs[0].name: image}
    folded = {k.lower(): k for k in extra}
    for t in inputs[1:]:
        key = (mapping or {}).get(t.name, t.name)
        key = key if key in extra else folded.get(key.lower(), key)
        if key not in extra and t.name in constants:
            # The contract's constant fills a map input (raw model values, not a picture).
            assigned[t.name] = np.full((*image.shape[:2], t.channels or 1), constants[t.name], np.float32)
            continue
        if key not in extra:
            have = ", ".join(sorted(extra)) or "none"
            raise ImageError(f"model input '{t.name}' needs an image (e.g. a render pass); given: {have}")
        assigned[t.name] = extra[key]
    return assigned


def _resize_alpha(alpha: NDArray[np.float32], height: int, width: int) -> NDArray[np.float32]:
    rows = np.minimum((np.arange(height) + 0.5) * alpha.shape[0] / height, alpha.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(width) + 0.5) * alpha.shape[1] / width, alpha.shape[1] - 1).astype(int)
    resized: NDArray[np.float32] = alpha[rows][:, cols]  # fancy indexing is untyped in numpy's stubs
    return resized


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
    image: NDArray[np.float32],
    *,
    extra: dict[str, NDArray[np.float32]] | None = None,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
    mapping: dict[str, str] | None = None,
) -> RunResult:
    """Run the prepared model on `image` (and `extra` inputs). Thread-safe: runs on one prepared model
    (an operator's worker and a render handler can share it) take turns, since they share its bound
    buffers.

    Raises: ImageError when the image or an extra input cannot be fed (NaN or Inf pixels, a missing pass, a
    size that does not fit); ModelError when the model cannot take it (ContractError: the contract does not fit);
    RuntimeFailure when onnxruntime fails while running; Cancelled when `progress` is cancelled."""
    with run_state(prepared).lock:
        return _run_image(prepared, image, extra, settings, progress, mapping)


def _run_image(
    prepared: PreparedModel,
    image: NDArray[np.float32],
    extra: dict[str, NDArray[np.float32]] | None,
    settings: RunSettings | None,
    progress: Progress | None,
    mapping: dict[str, str] | None,
) -> RunResult:
    settings = settings or RunSettings()
    progress = progress or SILENT
    info = prepared.info
    inputs = info.image_inputs
    image = np.asarray(image, np.float32)
    contract = settings.effective_contract()
    constants = contract.constant_values
    assigned = _assign_inputs(inputs, image, extra or {}, mapping, constants)
    raw = {t.name for t in inputs[1:] if t.name in constants and assigned[t.name].shape[2] == (t.channels or 1)}
    out_t = info.output_named(contract.output_name)
    _check_matte(contract, out_t)
    h, w = image.shape[:2]
    limit = _tile_size(prepared, h, w, settings) if h and w else (0, 0)
    plan = plan_fit(info, h, w, settings.effective_fit(), settings.overlap, limit, contract.resize) if h and w else None
    fed = _model_inputs(inputs, assigned, raw, image.shape[:2], plan, settings)

    assert plan is not None  # an empty image was refused by split_alpha
    out_contract = contract.output_for(inputs[0].channels or 1, out_t.channels or 1)
    out_contract.check_channels(out_t.channels or 1, "output")
    # The model's output is copied into a new array before run_image returns (Blender's RGBA, or resized back):
    # a one-tile run may then leave it in the runner's reused buffer instead of allocating a fresh one (100 MB
    # at a 4K output) only to copy it again.
    transient = settings.blender_rgba or plan.resize_to is not None
    result, tiles, tile = _run_plan(prepared, fed.colours, plan, settings, progress, out_t, transient)
    # Before the result is read: measuring a seam runs the model again, on the runners' buffers.
    report = _report(prepared, fed.colours, plan, tile, tiles, settings, h, w)
    s = info.output_scale(out_t)
    out_h, out_w = round(h * s), round(w * s)
    # Decoded whole (never per tile): min-max normalisation takes the extremes of the whole output.
    result = decode(_ran_part(result, plan, s, h, w), out_contract, fed.ceiling)
    if plan.resize_to is not None:
        result = resample(result, out_h, out_w)  # back to the expected size, in linear light
    notes = fed.notes + _plan_notes(report, settings, info, h, w)
    if contract.output_as == OutputAs.ALPHA:
        result = _with_alpha(*_source_with_matte(image, result), settings)
    else:
        if settings.converts(inputs[0].name) and out_contract.colour != ColorMode.DATA:
            result = from_rec709(result, settings.working_space)  # back into the working space the image came in
        result = _with_alpha(result, _output_alpha(fed.alpha, (out_h, out_w), plan, settings), settings)
    return RunResult(
        image=result,
        notes=tuple(notes),
        clipped_pixels=fed.clipped,
        tiles=tiles,
        tile_size=tile,
        tiling=report,
    )


def _check_matte(contract: ModelContract, out_t: TensorInfo) -> None:
    """`output.as: alpha` takes a one-channel output (a matte); refused before anything runs."""
    if contract.output_as == OutputAs.ALPHA and (out_t.channels or 1) != 1:
        raise ModelError(
            f"contract output.as alpha needs a one-channel output; '{out_t.name}' has {out_t.channels} channels "
            "(choose the matte with output_name)"
        )


def _ran_part(result: NDArray[np.float32], plan: Plan, scale: float, h: int, w: int) -> NDArray[np.float32]:
    """The output the image's own pixels made: without the padding up to the model's size multiple or fixed size,
    and for a letterbox, without its bars."""
    if plan.letterbox is not None:
        return crop(result, plan.letterbox, scale)
    ran_h, ran_w = plan.resize_to or (h, w)
    return result[: round(ran_h * scale), : round(ran_w * scale)]


def _source_with_matte(
    image: NDArray[np.float32], matte: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """`output.as: alpha`: the source picture's colour with the model's matte (clipped to [0, 1], resized to the
    source when the model changes the size) as its alpha, premultiplied as the engine keeps colour
    (image/alpha.py): colour x matte, alpha = the source's alpha x matte. Files that store straight alpha get the
    source's colour back on writing; Blender's float images are premultiplied."""
    h, w = image.shape[:2]
    source = image if image.ndim == 3 else image[:, :, None]
    cut = np.clip(matte[:, :, 0], 0.0, 1.0)
    if cut.shape != (h, w):
        cut = resample(cut, h, w)
    channels = source.shape[2]
    colour = source[:, :, :3] if channels >= 3 else source[:, :, :1]
    alpha = cut * source[:, :, channels - 1] if channels in (2, 4) else cut
    return np.asarray(colour * cut[:, :, None], np.float32), np.asarray(alpha, np.float32)


def _model_inputs(
    inputs: list[TensorInfo],
    assigned: dict[str, NDArray[np.float32]],
    raw: set[str],
    hw: tuple[int, ...],
    plan: Plan | None,
    settings: RunSettings,
) -> _ModelInputs:
    """Each model input's pixels as the model takes them: colour moved from the working space to linear Rec.709,
    split from alpha (checked finite), resized for a resize plan (letterboxed for a letterbox rule), the first
    encoded by the contract."""
    contract = settings.effective_contract()
    fed = _ModelInputs(colours={}, alpha=None, clipped=0, notes=[])
    for t in inputs:
        source = np.asarray(assigned[t.name], np.float32)
        if source.shape[:2] != hw:
            raise ImageError(f"'{t.name}' is {source.shape[1]}x{source.shape[0]}, the image is {hw[1]}x{hw[0]}")
        if t.name in raw:
            colour = source
        else:
            data = t is inputs[0] and contract.input.colour == ColorMode.DATA
            if settings.converts(t.name) and not data:
                # Before split_alpha, whose luminance for a one-channel model weighs Rec.709 primaries.
                source = to_rec709(source, settings.working_space)
            colour, a, note = split_alpha(source, t.channels or 1)
            # Every channel of the source reaches the result (alpha passes through: NaN there is as wrong as in
            # colour): one pass over all of them, and the precise count only when something is off.
            if not all_finite(source):
                _check_finite(t.name, colour)
                if a is not None:
                    _check_finite(f"{t.name} alpha", a[:, :, None])
            if note:
                fed.notes.append(f"{t.name}: {note}")
            if t is inputs[0]:
                fed.alpha = a
        if t is not inputs[0]:
            colour = _resized(colour, plan)
            # Auxiliary images (albedo, normal) and constant maps go in as they are; letterbox bars are 0.
            fed.colours[t.name] = place(colour, plan.letterbox, 0.0) if plan and plan.letterbox else colour
            continue
        contract.input.check_channels(colour.shape[2], "input")
        _encode_first(fed, t.name, colour, plan, contract)
    if fed.clipped:
        fed.notes.append(f"{fed.clipped} pixels were outside [0, 1] and clipped by the sRGB transform")
    return fed


def _resized(colour: NDArray[np.float32], plan: Plan | None) -> NDArray[np.float32]:
    if plan is not None and plan.resize_to is not None:
        return resample(colour, *plan.resize_to)  # in linear light, before the model's encoding
    return colour


def _encode_first(
    fed: _ModelInputs, name: str, colour: NDArray[np.float32], plan: Plan | None, contract: ModelContract
) -> None:
    """The first input encoded the contract's way. Out-of-range pixels are counted on the picture given (within
    SOURCE_TOLERANCE), not on its resampled copy, whose float rounding is no picture's value."""
    record = contract.input
    fed.clipped = out_of_range(colour, record, SOURCE_TOLERANCE)
    resized = _resized(colour, plan)
    if record.hdr == HdrMode.COMPRESS:
        fed.ceiling = max(1.0, float(resized.max()))
    encoded, _ = encode(resized, record, count_clipped=False, ceiling=fed.ceiling)
    fed.colours[name] = place(encoded, plan.letterbox, plan.letterbox.pad) if plan and plan.letterbox else encoded


def _output_alpha(
    alpha: NDArray[np.float32] | None, out_hw: tuple[int, int], plan: Plan, settings: RunSettings
) -> NDArray[np.float32] | None:
    """The result's alpha at the output size: None where the input had none (or, for Blender's RGBA, was opaque)."""
    if alpha is None:
        return None
    if not has_transparency(alpha):
        # Opaque: the result's alpha is 1 everywhere, whatever the filter (to_rgba writes 1 without an array).
        return None if settings.blender_rgba else np.ones(out_hw, np.float32)
    if plan.resize_to is not None:
        return resample(alpha, *out_hw)  # carried with the same filters as the colour
    return _resize_alpha(alpha, *out_hw)


def _with_alpha(
    result: NDArray[np.float32], out_alpha: NDArray[np.float32] | None, settings: RunSettings
) -> NDArray[np.float32]:
    """The final contiguous array (Blender's bottom-up RGBA, or HxWxC with alpha), checked finite."""
    if settings.blender_rgba:
        result = to_rgba(result, out_alpha, bottom_up=True)
    elif out_alpha is not None:
        result = np.concatenate([result, out_alpha[:, :, None]], axis=2)
    elif not result.flags.c_contiguous:
        result = contiguous_copy(result, np.dtype(np.float32))  # a CPU model's NCHW planes, as HxWxC rows
    # Checked on the final array: contiguous (a sum over the planes' strided view is slower), and the alpha it
    # may hold is finite already (checked on the way in, and 1 where there was none).
    nonfinite = 0 if all_finite(result) else int((~np.isfinite(result)).sum())
    if nonfinite:
        raise RuntimeFailure(
            f"the model produced {nonfinite} NaN/Inf values; nothing was written "
            "(try fp32 or mixed precision if this is an fp16 model)"
        )
    return result


def _report(
    prepared: PreparedModel,
    colours: dict[str, NDArray[np.float32]],
    plan: Plan,
    tile: tuple[int, int],
    tiles: int,
    settings: RunSettings,
    h: int,
    w: int,
) -> TilingReport:
    info = prepared.info
    m = info.size_multiple
    first = next(iter(colours.values()))
    ph, pw = max(round_up(first.shape[0], m), tile[0]), max(round_up(first.shape[1], m), tile[1])
    overlap = _clamped(plan.overlap, tile)
    grid = (len(tile_starts(ph, tile[0], overlap, m)), len(tile_starts(pw, tile[1], overlap, m)))
    exact = plan.exact or tiles == 1
    seam = None if exact else _seam_difference(prepared, colours, tile, overlap, settings)
    return TilingReport(
        fit=FitChoice.WHOLE if tiles == 1 and plan.fit == FitChoice.TILE else plan.fit,
        requested=settings.effective_fit(),
        reason=plan.reason,
        tiles=tiles,
        grid=grid,
        tile_shape=tile,
        overlap=overlap if tiles > 1 else 0,
        covered_ratio=tiles * tile[0] * tile[1] / (h * w),
        receptive_radius=info.receptive_radius,
        exact=exact,
        resized_to=plan.resize_to,
        seam_difference=seam,
        letterbox=plan.letterbox,
    )


def _seam_note(report: TilingReport) -> str:
    """The one plain warning of a run whose tiles cannot match the whole image."""
    measured = ""
    if report.seam_difference is not None:
        measured = f"; on a small crop, tiles differ from the whole image by up to {report.seam_difference:.3g}"
    return (
        f"tiling is not exact: {report.reason}, so the {report.tiles} tiles may show seams{measured}. "
        "Use fit 'auto' or 'resize' to avoid them"
    )


def _plan_notes(report: TilingReport, settings: RunSettings, info: ModelInfo, h: int, w: int) -> list[str]:
    """What the user should know about the plan: tiles that may show seams, or auto resizing a model that takes
    any size (said, never silent, with the size used and how to choose otherwise)."""
    notes = [] if report.exact else [_seam_note(report)]
    rule = settings.effective_contract().resize
    if rule is not None and report.fit != FitChoice.RESIZE:
        notes.append(f"the contract's resize rule ({rule.text()}) was not used: tiles were asked for")
    if report.resized_to is not None and settings.effective_fit() == Fit.AUTO and not info.fixed_size and not rule:
        rh, rw = report.resized_to
        notes.append(
            f"fit auto resized the image from {w}x{h} to {rw}x{rh} for the model and back: {report.reason}. "
            "To keep every pixel, choose fit 'tile' (seams are measured and reported) or a smaller input"
        )
    return notes


def _seam_difference(
    prepared: PreparedModel,
    colours: dict[str, NDArray[np.float32]],
    tile: tuple[int, int],
    overlap: int,
    settings: RunSettings,
) -> float | None:
    """How far tiles stray from the whole image, measured on one tile-sized crop: run whole against run in
    four smaller tiles with the same overlap. A fixed-size model cannot run the crop in smaller tiles, so
    there two neighbouring tiles are compared where they overlap."""
    info = prepared.info
    out_t = info.output_named(settings.effective_contract().output_name)
    m, s = info.size_multiple, info.output_scale(out_t)
    th, tw = tile
    if info.fixed_size:
        first = next(iter(colours.values()))
        horizontal = first.shape[1] > tw
        step = (tw if horizontal else th) - overlap
        if step <= 0 or first.shape[1 if horizontal else 0] < step + (tw if horizontal else th):
            return None
        runner = _runner(prepared, tile, settings, out_t)
        tensors = {t.name: prepared.session_view(t) for t in info.image_inputs}
        layout = prepared.session_view(out_t).layout
        assert layout is not None  # the result is an image output (ModelInfo.output_named)
        outs = []
        for y, x in ((0, 0), (0, step) if horizontal else (step, 0)):
            feeds = {n: to_tensor(pad_to(c[y : y + th, x : x + tw], th, tw), tensors[n]) for n, c in colours.items()}
            outs.append(np.array(from_tensor(runner.run_batch([feeds])[0], layout)))
        cut = round(step * s)
        a, b = (
            (outs[0][:, cut:], outs[1][:, : outs[1].shape[1] - cut])
            if horizontal
            else (outs[0][cut:], outs[1][: outs[1].shape[0] - cut])
        )
        return float(np.abs(a - b).max())
    crop = {n: pad_to(c[:th, :tw], th, tw) for n, c in colours.items()}
    small = (max(m, round_up((th + overlap + 1) // 2, m)), max(m, round_up((tw + overlap + 1) // 2, m)))
    if small == tile:
        return None
    whole, _ = _run_tiled(prepared, crop, tile, settings, SILENT, out_t, overlap)
    whole = np.array(whole)
    tiled, _ = _run_tiled(prepared, crop, small, settings, SILENT, out_t, overlap)
    return float(np.abs(np.asarray(tiled, np.float32) - whole).max())


def _clamped(overlap: int, tile: tuple[int, int]) -> int:
    # An overlap of half a tile or more would make the stride collapse to a pixel or so.
    return min(overlap, tile[0] // 2, tile[1] // 2)


def _run_plan(
    prepared: PreparedModel,
    colours: dict[str, NDArray[np.float32]],
    plan: Plan,
    settings: RunSettings,
    progress: Progress,
    out_t: TensorInfo,
    transient: bool,
) -> tuple[NDArray[np.float32], int, tuple[int, int]]:
    """Run the plan as made: out of memory is an error that names a plan needing less (never a silently
    different plan, which would make this frame unlike the others of its sequence)."""
    tile = plan.tile
    try:
        result, tiles = _run_tiled(prepared, colours, tile, settings, progress, out_t, plan.overlap, transient)
        return result, tiles, tile
    except DescriptionMismatch as exc:
        raise DescriptionMismatch(f"{exc}; {_forget(prepared)}") from None
    except MemoryError as exc:
        run_state(prepared).runners.pop(runner_key(tile, settings, out_t.name), None)  # free the failed buffers
        m = prepared.info.size_multiple
        smaller = round_up(max(MIN_TILE, max(tile) // 2), m)
        if prepared.info.fixed_size or smaller >= max(tile):
            raise RuntimeFailure(
                f"out of memory with {tile[1]}x{tile[0]} tiles ({exc}); nothing was written: close other programs, "
                "use fp16, or run on the CPU provider"
            ) from exc
        raise RuntimeFailure(
            f"out of memory with {tile[1]}x{tile[0]} tiles ({exc}); nothing was written: run with --tile {smaller} "
            f"(Blender: Tile Size {smaller}), which needs about a quarter of the memory"
        ) from exc


def _forget(prepared: PreparedModel) -> str:
    """A prepared model whose description is wrong is dropped from memory and its cache entry discarded, so the next
    run rebuilds it from the model file instead of failing the same way (or, cropped, writing a wrong picture)."""
    from ..runtime.cache import ModelCache
    from ..runtime.prepare import release_model

    release_model(prepared)
    if prepared.optimized_model is None:
        return "nothing was written"
    path = Path(prepared.optimized_model)
    ModelCache(path.parent).discard(path.stem, "returns another shape than its description")
    return "nothing was written; its cache entry was discarded: the next run rebuilds it"


def binds_output(provider: str, tiles: int, asked: bool) -> bool:
    """Whether a run binds its inputs and output (IO binding): on CUDA whenever asked (device buffers kept between
    tiles and frames); on the CPU only for several tiles, where the bound output is reused tile after tile. A
    one-tile CPU run gains nothing from it: onnxruntime fills its own output and copies it into the bound one, one
    more output-sized buffer (8% of a 1080p run's CPU time; at 4K, 0.45 GB more memory and its page faults)."""
    return asked and (provider == Device.CUDA or tiles > 1)


MAX_RUNNERS = 2


def _runner(prepared: PreparedModel, tile: tuple[int, int], settings: RunSettings, out: TensorInfo) -> TileRunner:
    """One runner per tile shape (and result output and constants), kept on the prepared model so frames of a
    sequence reuse it. Only the most recent MAX_RUNNERS are kept: each holds device buffers of its size."""
    runners = run_state(prepared).runners
    key = runner_key(tile, settings, out.name)
    if key in runners:
        runners.move_to_end(key)
    else:
        while len(runners) >= MAX_RUNNERS:
            runners.popitem(last=False)
        info = prepared.info
        shapes = {t.name: _shape(prepared.session_view(t), tile, info.batch) for t in info.image_inputs}
        scale = info.output_scale(out)
        out_shape = _shape(prepared.session_view(out), (round(tile[0] * scale), round(tile[1] * scale)), info.batch)
        constants = constant_feeds(info, settings.effective_contract())
        runners[key] = TileRunner(
            prepared.session,
            prepared.provider,
            prepared.settings.device_id,
            shapes,
            out_shape,
            settings.use_binding,
            out.name,
            constants,
        )
    return runners[key]


def _shape(t: TensorInfo, hw: tuple[int, int], batch: int = 1) -> tuple[int, ...]:
    """The tensor's shape for `hw` pixels in its layout (as the session sees it: `session_view`)."""
    c = t.channels or 1
    return (batch, c, *hw) if t.layout == Layout.NCHW else (batch, *hw, c)


def _run_one_tile(
    runner: TileRunner,
    feeds: dict[str, NDArray[np.generic]],
    out_view: TensorInfo,
    out_hw: tuple[int, int],
    progress: Progress,
    transient: bool,
) -> NDArray[np.float32]:
    """The whole (padded) image in one run. `transient`: the runner's reused output buffer may be returned."""
    progress.check()
    # A runner without binding returns a fresh array of the session's: no buffer of ours to fill.
    fresh = transient or not runner.use_binding
    out = runner.run(feeds) if fresh else runner.run(feeds, out=np.empty(_shape(out_view, out_hw), runner.out_type))
    progress.update(1.0, "1/1 tiles")
    assert out_view.layout is not None  # the result is an image output (ModelInfo.output_named)
    return from_tensor(out, out_view.layout)


def _run_tiled(
    prepared: PreparedModel,
    colours: dict[str, NDArray[np.float32]],
    tile: tuple[int, int],
    settings: RunSettings,
    progress: Progress,
    out_t: TensorInfo,
    overlap: int,
    transient: bool = False,
) -> tuple[NDArray[np.float32], int]:
    """The model's output for the padded image, and the number of tiles. `transient`: the caller copies the
    output before the next run, so a one-tile run may return the runner's reused buffer."""
    info = prepared.info
    m = info.size_multiple
    first = next(iter(colours.values()))
    h, w = first.shape[:2]
    ph, pw = max(round_up(h, m), tile[0]), max(round_up(w, m), tile[1])
    padded = {name: pad_to(c, ph, pw) for name, c in colours.items()}
    overlap = _clamped(overlap, tile)
    ys = tile_starts(ph, tile[0], overlap, m)
    xs = tile_starts(pw, tile[1], overlap, m)
    s = info.output_scale(out_t)
    binding = replace(settings, use_binding=binds_output(prepared.provider, len(ys) * len(xs), settings.use_binding))
    runner = _runner(prepared, tile, binding, out_t)
    tensors = {t.name: prepared.session_view(t) for t in info.image_inputs}
    out_view = prepared.session_view(out_t)
    assert out_view.layout is not None  # the result is an image output (ModelInfo.output_named)
    if len(ys) == 1 and len(xs) == 1 and runner.batch == 1:
        whole = {n: to_tensor(p, tensors[n]) for n, p in padded.items()}
        return _run_one_tile(runner, whole, out_view, (round(ph * s), round(pw * s)), progress, transient), 1
    out_c = out_t.channels or 1
    result = np.empty((round(ph * s), round(pw * s), out_c), np.float32)
    oh, ow = round(tile[0] * s), round(tile[1] * s)
    stitch = stitches_exactly(info.receptive_radius, overlap)
    if stitch:
        row_cuts, col_cuts = axis_cuts(ph, tile[0], tuple(ys), s), axis_cuts(pw, tile[1], tuple(xs), s)
    else:
        row_weights = axis_weights(ph, tile[0], overlap, tuple(ys), s)
        col_weights = axis_weights(pw, tile[1], overlap, tuple(xs), s)
    total = len(ys) * len(xs)
    # The runner's output buffer is consumed right here (copied out, or weighted in place and added).
    for done, (i, j, out) in enumerate(
        _tile_outputs(runner, padded, tensors, (ys, xs), tile, out_view.layout, progress), start=1
    ):
        oy, ox = round(ys[i] * s), round(xs[j] * s)
        if stitch:
            (top, bottom), (left, right) = row_cuts[i], col_cuts[j]
            copy_channels(result[top:bottom, left:right], out[top - oy : bottom - oy, left - ox : right - ox])
        else:
            apply_window(out, row_weights[i], col_weights[j])
            # Output rows and columns the tiles above and to the left already wrote.
            row_end = round(ys[i - 1] * s) + oh if i else 0
            col_end = round(xs[j - 1] * s) + ow if j else 0
            blend_into(result, out, oy, ox, max(0, row_end - oy), max(0, col_end - ox))
        progress.update(done / total, f"{done}/{total} tiles")
    return result, total


def _tile_outputs(
    runner: TileRunner,
    padded: dict[str, NDArray[np.float32]],
    tensors: dict[str, TensorInfo],
    starts: tuple[list[int], list[int]],
    tile: tuple[int, int],
    layout: Layout,
    progress: Progress,
) -> Iterator[tuple[int, int, NDArray[np.float32]]]:
    """(row, column, output) of each tile, row-major, sent `runner.batch` tiles per run (a fixed-batch model takes
    that many at once). An output may be the runner's reused buffer: each is consumed before the next is asked for."""
    ys, xs = starts
    positions = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
    for start in range(0, len(positions), runner.batch):
        group = positions[start : start + runner.batch]
        progress.check()
        feeds = [
            {n: to_tensor(p[ys[i] : ys[i] + tile[0], xs[j] : xs[j] + tile[1]], tensors[n]) for n, p in padded.items()}
            for i, j in group
        ]
        for (i, j), tensor in zip(group, runner.run_batch(feeds), strict=True):
            yield i, j, from_tensor(tensor, layout)
