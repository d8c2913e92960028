"""The extension's pixel path against the same run in the engine, and against the naive path peers
use (`image.pixels[:]` and a plain `session.run` without binding). Needs the `bpy` module."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import OptLevel, RunSettings, prepare_model, run_image, synthetic_image

from .raw_baseline import engine_like_session
from .timing import median_seconds, paired

ROOT = Path(__file__).resolve().parents[1]


def pixel_path_row(name: str, model: Path, size, settings, cache: Path, repeats: int) -> dict:
    import bpy

    from scripts.as_extension import import_extension

    blender_io = import_extension("operators.blender_io")
    h, w = size
    image = synthetic_image(h, w, channels=4)
    source = bpy.data.images.new("bench_source", w, h, alpha=True, float_buffer=True)
    source.pixels.foreach_set(np.ascontiguousarray(image[::-1]).ravel())
    prepared = prepare_model(model, "fp32", settings=settings, cache_dir=cache)
    naive_session = engine_like_session(model, settings, OptLevel.EXTENDED)
    whole = RunSettings(tile=0, blender_rgba=True)

    def ours():
        result = run_image(prepared, blender_io.read_pixels(source), settings=whole)
        blender_io.write_image("bench_result", result.image, blender_io.LINEAR)

    def naive():
        pixels = np.array(source.pixels[:], np.float32).reshape(h, w, 4)[::-1]
        x = np.ascontiguousarray(pixels[:, :, :3].transpose(2, 0, 1)[None])
        out = naive_session.run(None, {prepared.info.image_inputs[0].name: x})[0][0].transpose(1, 2, 0)
        label = f"bench_naive_{out.shape[1]}x{out.shape[0]}"
        target = bpy.data.images.get(label) or bpy.data.images.new(
            label, out.shape[1], out.shape[0], alpha=True, float_buffer=True
        )
        rgba = np.ones((out.shape[0], out.shape[1], 4), np.float32)
        rgba[:, :, :3] = out
        target.pixels[:] = rgba[::-1].ravel()

    result = run_image(prepared, image, settings=whole).image

    def ours_io_only():
        """Exactly the datablock work of `ours`: read the source, write this size of result."""
        blender_io.read_pixels(source)
        blender_io.write_image("bench_io", result, blender_io.LINEAR)

    def naive_io_only():
        np.array(source.pixels[:], np.float32)
        label = f"bench_naive_io_{result.shape[1]}x{result.shape[0]}"
        target = bpy.data.images.get(label) or bpy.data.images.new(
            label, result.shape[1], result.shape[0], alpha=True, float_buffer=True
        )
        target.pixels[:] = np.ascontiguousarray(result[::-1]).ravel()

    # The round trip is a few milliseconds: its own median over many runs; the naive path takes
    # seconds, so the speed-up is taken from a short interleaved pair.
    round_trip = median_seconds(ours_io_only, 20)
    ours_io, naive_io = paired(ours_io_only, naive_io_only, max(1, repeats // 2))
    ours_s, naive_s = paired(ours, naive, max(1, repeats // 2))
    return {
        "model": name,
        "size": f"{w}x{h}",
        "output_size": f"{result.shape[1]}x{result.shape[0]}",
        "round_trip_ms": round_trip * 1e3,
        "naive_io_ms": naive_io * 1e3,
        "io_speedup": naive_io / ours_io,
        "datablock_ms": ours_s * 1e3,
        "naive_end_to_end_ms": naive_s * 1e3,
        "end_to_end_speedup": naive_s / ours_s,
    }


_REGISTERED = False
"""The extension is registered once per bench process (a second register() is an error in Blender)."""


def operator_row(name: str, model: Path, size, provider: str, repeats: int) -> dict:
    """`bpy.ops.onnx.run_image` end to end (the real operator, registered as Blender would) against the plain
    script an artist would write: `pixels.foreach_get` -> numpy -> plain onnxruntime (defaults) ->
    `foreach_set` into a new image. Both on the same image, interleaved."""
    import bpy

    from scripts.as_extension import import_extension

    from .raw_baseline import raw_feeds, raw_session

    global _REGISTERED
    if not _REGISTERED:
        import_extension().register()
        _REGISTERED = True
    h, w = size
    image = synthetic_image(h, w, channels=4)
    image[:, :, 3] = 1.0  # an opaque render, as most are: the plain script writes alpha 1 too
    source = bpy.data.images.new("bench_op_source", w, h, alpha=True, float_buffer=True)
    source.pixels.foreach_set(np.ascontiguousarray(image[::-1]).ravel())
    session = raw_session(model, provider)
    provider_enum = provider.upper()

    def operator():
        done = bpy.ops.onnx.run_image(
            image=source.name, model=str(model), precision="FP32", provider=provider_enum, output_name="bench_op"
        )
        assert done == {"FINISHED"}

    def plain():
        buf = np.empty(w * h * 4, np.float32)
        source.pixels.foreach_get(buf)
        rgba = buf.reshape(h, w, 4)
        out = session.run(None, raw_feeds(session, rgba))[0][0].transpose(1, 2, 0)
        oh, ow = out.shape[:2]
        target = bpy.data.images.get("bench_plain") or bpy.data.images.new("bench_plain", ow, oh, float_buffer=True)
        result = np.ones((oh, ow, 4), np.float32)
        result[:, :, :3] = out
        target.pixels.foreach_set(result.ravel())

    op_s, plain_s = paired(operator, plain, repeats)
    return {
        "model": name,
        "size": f"{w}x{h}",
        "operator_ms": op_s * 1e3,
        "plain_script_ms": plain_s * 1e3,
        "ratio": op_s / plain_s,
    }
