"""Engine figures: latency per precision and binding, accuracy against fp32, start-up online vs cached,
overhead over raw onnxruntime, and tiling cost."""

from __future__ import annotations

from pathlib import Path

from engine import (
    OptLevel,
    OutputKind,
    RunSettings,
    SessionSettings,
    compare_images,
    prepare_model,
    release_model,
    resolve_provider,
    run_image,
    synthetic_image,
)

from .raw_baseline import engine_like_session, raw_feeds, raw_session
from .timing import median_seconds, paired

PRECISIONS = ("fp32", "fp16", "amp", "auto")
"""auto is the default: its row is the default precision against fp32 (goal on a CPU: at most 1.0)."""


def latency_rows(
    name: str,
    model: Path,
    size,
    settings: SessionSettings,
    cache: Path,
    repeats: int,
    compare_plain: bool = True,
    precisions: tuple[str, ...] = PRECISIONS,
) -> list[dict]:
    """One row per precision (fp32 first: the reference): latency with IO binding (and without, when
    `compare_plain`), accuracy against fp32. The accuracy run is also the warm-up."""
    image = synthetic_image(*size)
    rows, reference = [], None
    for precision in precisions:
        prepared = prepare_model(model, precision, settings=settings, cache_dir=cache, sample=image)
        output = run_image(prepared, image).image
        bound_run = lambda p=prepared: run_image(p, image, settings=RunSettings(use_binding=True))  # noqa: E731
        if compare_plain:
            plain_run = lambda p=prepared: run_image(p, image, settings=RunSettings(use_binding=False))  # noqa: E731
            bound, plain = paired(bound_run, plain_run, repeats, warmup=False)
        else:
            bound, plain = median_seconds(bound_run, repeats, warmup=False), float("nan")
        reference = output if reference is None else reference
        acc = compare_images(reference, output, kind=OutputKind.VALUES)
        rows.append(
            {
                "model": name,
                "size": f"{size[1]}x{size[0]}",
                "provider": prepared.provider,
                "precision": precision if precision != "auto" else f"auto ({prepared.precision})",
                "bound_ms": bound * 1e3,
                "plain_ms": plain * 1e3,
                "max_abs_error": acc.max_abs_error,
                "psnr_db": acc.psnr_db,
            }
        )
        release_model(prepared)  # the next precision's session is its own, never this one handed out again
    return rows


def startup_row(name: str, model: Path, precision: str, settings: SessionSettings, cache: Path, repeats: int) -> dict:
    """Online (optimize while loading) vs offline (load the cached optimized model, optimizations off), each session
    built by onnxruntime with the engine's session options (raw_baseline.engine_like_session)."""
    prepared = prepare_model(model, precision, settings=settings, cache_dir=cache)
    release_model(prepared)  # the prepares timed below start from the file cache, not from this process's memory
    # Online start-up of the graph the cache holds before optimization: the converted graph the engine keeps beside
    # the optimized model, or the model itself in fp32. (On CUDA the engine also gives the graph channels-last
    # inputs and outputs, a Transpose at each edge, which this graph lacks.)
    if precision != "fp32" and prepared.converted_model is None:
        raise RuntimeError(f"the cache holds no converted {precision} graph of {model}: is {cache} writable?")
    online_bytes = Path(prepared.converted_model or model).read_bytes()
    level = resolve_provider(settings).level(settings)
    online, offline = paired(
        lambda: engine_like_session(online_bytes, settings, level),
        lambda: engine_like_session(str(prepared.optimized_model), settings, OptLevel.DISABLED),
        repeats,
    )
    # What an artist waits for: the whole prepare (convert, optimize, save) against a cache hit.
    fresh = iter(range(1000))

    def cold():
        release_model(prepare_model(model, precision, settings=settings, cache_dir=cache.parent / f"cold{next(fresh)}"))

    def warm():
        release_model(prepare_model(model, precision, settings=settings, cache_dir=cache))

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
    """Against plain onnxruntime with its defaults on the original model (raw_baseline.py): the engine's
    cached session alone (same image, channels-last, as the engine feeds it) and the whole run_image; and
    tiled (512 px) against whole-image."""
    image = synthetic_image(*size)
    prepared = prepare_model(model, "fp32", settings=settings, cache_dir=cache)
    raw = raw_session(model, str(settings.provider))
    inputs = raw_feeds(raw, image)
    # The engine's session fed as the engine feeds it (its own layout on the CPU, channels-last on CUDA).
    own = prepared.session_feeds(image)
    extra = {t.name: image for t in prepared.info.image_inputs[1:]}
    whole = RunSettings(tile=0)
    raw_s, session_s = paired(lambda: raw.run(None, inputs), lambda: prepared.session.run(None, own), repeats)
    raw_again, ours = paired(
        lambda: raw.run(None, inputs), lambda: run_image(prepared, image, extra=extra, settings=whole), repeats
    )
    tiles = RunSettings(tile=512)  # overlap from the model's receptive field
    whole_t, tiled = paired(
        lambda: run_image(prepared, image, extra=extra, settings=whole),
        lambda: run_image(prepared, image, extra=extra, settings=tiles),
        repeats,
    )
    result = run_image(prepared, image, extra=extra, settings=tiles)
    tile_area = result.tiling.covered_ratio if result.tiling else float("nan")
    return {
        "model": name,
        "size": f"{size[1]}x{size[0]}",
        "raw_ms": raw_s * 1e3,
        "session_ms": session_s * 1e3,
        "session_ratio": session_s / raw_s,
        "engine_ms": ours * 1e3,
        "overhead_ratio": ours / raw_again,
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

    from engine import ExrOptions, process_sequence, write_image

    folder = Path(tempfile.mkdtemp())
    numbers = list(range(1, frames + 1))
    for frame in numbers:
        write_image(folder / f"in_{frame:04d}.exr", synthetic_image(*size, channels=4, seed=frame))
    prepared = prepare_model(model, "fp32", settings=settings, cache_dir=cache)
    session = raw_session(model, str(settings.provider))
    feeds = [raw_feeds(session, synthetic_image(*size, channels=3, seed=f)) for f in numbers]

    def raw():
        for feed in feeds:
            session.run(None, feed)

    def ours():
        summary = process_sequence(
            prepared,
            str(folder / "in_####.exr"),
            output_pattern=str(folder / "out" / "####.exr"),
            frames=numbers,
            settings=RunSettings(),
            exr=ExrOptions(codec=codec) if codec else None,
        )
        assert summary.ok and len(summary.done) == frames

    raw_s, ours_s = paired(raw, ours, repeats, warmup=False)  # sessions are warm from the earlier parts
    stages = _stage_costs(prepared, folder / "in_0001.exr", folder / "stage.exr", codec)
    return {
        **stages,
        "model": name,
        "frames": frames,
        "size": f"{size[1]}x{size[0]}",
        "raw_fps": frames / raw_s,
        "sequence_fps": frames / ours_s,
        "throughput_ratio": raw_s / ours_s,
        "output_codec": codec or "like input (float ZIP)",
    }


def _stage_costs(prepared, source: Path, target: Path, codec) -> dict:
    """One frame's read, run and write, each alone (the sequence overlaps them)."""
    from engine import ExrOptions, read_layers, write_image

    layers = read_layers(source)
    image = next(iter(layers.values()))
    result = run_image(prepared, image).image
    exr = ExrOptions(codec=codec) if codec else None
    return {
        "read_ms": median_seconds(lambda: read_layers(source), 3) * 1e3,
        "run_ms": median_seconds(lambda: run_image(prepared, image), 3) * 1e3,
        "write_ms": median_seconds(lambda: write_image(target, result, exr=exr), 3) * 1e3,
    }


def memory_row(name: str, model: Path, size, provider: str, cache: Path) -> dict:
    """Peak resident memory of `python -m engine run` on an image of `size` (the engine tiles within its
    memory budget) against plain onnxruntime on the whole image, each in a fresh process."""
    import subprocess
    import sys
    import tempfile

    from engine import write_image

    root = Path(__file__).resolve().parents[1]
    folder = Path(tempfile.mkdtemp())
    source = folder / "in.exr"
    write_image(source, synthetic_image(*size, channels=3))
    engine_cmd = [sys.executable, "-m", "engine", "run", str(model), str(source), str(folder / "out.exr")]
    engine_cmd += ["--provider", provider, "--precision", "fp32", "--cache-dir", str(cache)]
    raw_code = (
        "import sys, resource; sys.path.insert(0, sys.argv[1]);"
        "from bench.raw_baseline import raw_session, raw_feeds; from engine import read_image;"
        "s = raw_session(sys.argv[2], sys.argv[3]); s.run(None, raw_feeds(s, read_image(sys.argv[4])))"
    )
    raw_cmd = [sys.executable, "-c", raw_code, str(root), str(model), provider, str(source)]
    peaks = {}
    for label, command in (("engine", engine_cmd), ("raw", raw_cmd)):
        probe = (
            "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
        )
        done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, cwd=root)
        peaks[label] = int(done.stdout.strip().splitlines()[-1]) / 1024 if done.returncode == 0 else float("nan")
    return {
        "model": name,
        "size": f"{size[1]}x{size[0]}",
        "engine_peak_mb": peaks["engine"],
        "raw_peak_mb": peaks["raw"],
        "ratio": peaks["engine"] / peaks["raw"],
    }
