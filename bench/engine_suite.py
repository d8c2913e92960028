"""Engine figures: latency per precision and binding, accuracy against fp32, start-up online vs cached,
overhead over raw onnxruntime, and tiling cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import RunSettings, run_image
from engine.precision.accuracy import compare
from engine.precision.validation_feeds import synthetic_image
from engine.runtime.prepare import SESSIONS, prepare_model
from engine.runtime.sessions import SessionSettings, create_session, resolve_provider

from .timing import median_seconds, paired

PRECISIONS = ("fp32", "fp16", "amp")


def latency_rows(
    name: str, model: Path, size, settings: SessionSettings, cache: Path, repeats: int, compare_plain: bool = True
) -> list[dict]:
    """One row per precision: latency with IO binding (and without, when `compare_plain`), accuracy
    against fp32. The accuracy run is also the warm-up."""
    image = synthetic_image(*size)
    rows, reference = [], None
    for precision in PRECISIONS:
        SESSIONS.clear()
        prepared = prepare_model(model, precision, settings, cache, sample=image)
        output = run_image(prepared, image).image
        bound_run = lambda p=prepared: run_image(p, image, settings=RunSettings(use_binding=True))  # noqa: E731
        if compare_plain:
            plain_run = lambda p=prepared: run_image(p, image, settings=RunSettings(use_binding=False))  # noqa: E731
            bound, plain = paired(bound_run, plain_run, repeats, warmup=False)
        else:
            bound, plain = median_seconds(bound_run, repeats, warmup=False), float("nan")
        reference = output if reference is None else reference
        acc = compare(reference, output)
        rows.append(
            {
                "model": name,
                "size": f"{size[1]}x{size[0]}",
                "provider": prepared.provider,
                "precision": precision,
                "bound_ms": bound * 1e3,
                "plain_ms": plain * 1e3,
                "max_abs_error": acc.max_abs_error,
                "psnr_db": acc.psnr_db,
            }
        )
    return rows


def startup_row(name: str, model: Path, precision: str, settings: SessionSettings, cache: Path, repeats: int) -> dict:
    """Online (optimize while loading) vs offline (load the cached optimized model, optimizations off)."""
    prepared = prepare_model(model, precision, settings, cache)
    choice = resolve_provider(settings)
    from engine.model.channels_last import to_channels_last
    from engine.model.onnx_io import load_model, serialize

    # Online start-up of the same graph the cache holds (converted, channels-last), optimized on load.
    source = load_model(model)
    if precision != "fp32":
        from engine.precision.convert import ConversionOptions, convert_model
        from engine.precision.validation_feeds import sample_feeds

        source, _ = convert_model(source, sample_feeds(prepared.info), ConversionOptions(precision=precision))
    online_bytes = serialize(to_channels_last(source, prepared.info))
    online, offline = paired(
        lambda: create_session(online_bytes, settings, choice, settings.optimization_level),
        lambda: create_session(prepared.optimized_model, settings, choice, "disabled"),
        repeats,
    )
    # What an artist waits for: the whole prepare (convert, optimize, save) against a cache hit.
    fresh = iter(range(1000))

    def cold():
        SESSIONS.clear()
        prepare_model(model, precision, settings, cache.parent / f"cold{next(fresh)}")

    def warm():
        SESSIONS.clear()
        prepare_model(model, precision, settings, cache)

    miss, hit = paired(cold, warm, repeats)
    return {
        "model": name,
        "precision": precision,
        "online_ms": online * 1e3,
        "cached_ms": offline * 1e3,
        "prepare_miss_ms": miss * 1e3,
        "prepare_hit_ms": hit * 1e3,
    }


def overhead_row(name: str, model: Path, size, settings: SessionSettings, cache: Path, repeats: int) -> dict:
    """The engine's run_image on an HxWxC image against raw session.run on the NCHW tensor of the
    original model, and tiled (512 px) against whole-image."""
    image = synthetic_image(*size)
    prepared = prepare_model(model, "fp32", settings, cache)
    raw_session, _ = create_session(model.read_bytes(), settings, resolve_provider(settings), "extended")
    inputs = {t.name: np.ascontiguousarray(image.transpose(2, 0, 1)[None]) for t in prepared.info.image_inputs}
    extra = {t.name: image for t in prepared.info.image_inputs[1:]}
    whole = RunSettings(tile=0)
    raw, ours = paired(lambda: raw_session.run(None, inputs), lambda: run_image(prepared, image, extra, whole), repeats)
    tiles = RunSettings(tile=512)  # overlap from the model's receptive field
    whole_t, tiled = paired(
        lambda: run_image(prepared, image, extra, whole), lambda: run_image(prepared, image, extra, tiles), repeats
    )
    result = run_image(prepared, image, extra, tiles)
    tile_area = result.tiling.covered_ratio if result.tiling else float("nan")
    return {
        "model": name,
        "size": f"{size[1]}x{size[0]}",
        "raw_ms": raw * 1e3,
        "engine_ms": ours * 1e3,
        "overhead_ratio": ours / raw,
        "tiled_ms": tiled * 1e3,
        "tiled_throughput_ratio": whole_t / tiled,
        "tiles": result.tiles,
        "tiled_area_ratio": tile_area,
    }


def sequence_row(
    name: str, model: Path, settings: SessionSettings, cache: Path, frames: int, size, repeats: int, codec=None
):
    """Post-processing a rendered sequence from disk to disk against the raw model on the same frames
    already in memory: reading, writing and colour work should hide behind inference. Inputs are
    float ZIP EXRs (what a `bpy` render writes by default); outputs are stored like them, or with
    `codec`."""
    import tempfile

    from engine.batch.sequence import process_sequence
    from engine.image.files import ExrOptions, write_image

    folder = Path(tempfile.mkdtemp())
    numbers = list(range(1, frames + 1))
    for frame in numbers:
        write_image(folder / f"in_{frame:04d}.exr", synthetic_image(*size, 4, seed=frame))
    prepared = prepare_model(model, "fp32", settings, cache)
    raw_session, _ = create_session(model.read_bytes(), settings, resolve_provider(settings), "extended")
    name_in = prepared.info.image_inputs[0].name
    tensors = [np.ascontiguousarray(synthetic_image(*size, 3, seed=f).transpose(2, 0, 1)[None]) for f in numbers]

    def raw():
        for tensor in tensors:
            raw_session.run(None, {name_in: tensor})

    def ours():
        summary = process_sequence(
            prepared,
            str(folder / "in_####.exr"),
            str(folder / "out" / "####.exr"),
            numbers,
            RunSettings(),
            exr=ExrOptions(codec=codec) if codec else None,
        )
        assert summary.ok and len(summary.done) == frames

    raw_s, ours_s = paired(raw, ours, repeats, warmup=False)  # sessions are warm from the earlier parts
    return {
        "model": name,
        "frames": frames,
        "size": f"{size[1]}x{size[0]}",
        "raw_fps": frames / raw_s,
        "sequence_fps": frames / ours_s,
        "throughput_ratio": raw_s / ours_s,
        "output_codec": codec or "like input (float ZIP)",
    }
