"""Issue 29: flicker measured while a sequence runs, and the temporal blend. The sequences have known motion: a
texture moving right by 2 px a frame, with a Vector pass written the way Blender writes it (X, Y = position in the
previous frame - position now; Z, W = position now - position in the next frame; pixels, y up: checked on a
Cycles render in tests/blender/test_temporal.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.batch import temporal
from engine.batch.sequence import process_sequence
from engine.batch.temporal import (
    FlickerMethod,
    FrameState,
    Motion,
    Tracker,
    brought_onto,
    compress,
    consistent,
    graphs,
    measure,
    measure_stride,
    measuring,
    trust,
    warp,
    warp_all,
    warping,
)
from engine.image.files import read_image, write_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT, write_passes

H, W, SPEED, FRAMES = 32, 48, 2, 8


def _texture(width: int) -> np.ndarray:
    """Smooth random colour with a hard vertical edge at column 30 (what the blend must keep sharp)."""
    rng = np.random.default_rng(3)
    coarse = rng.random((H // 4 + 1, width // 4 + 1, 3)).astype(np.float32)
    smooth = np.repeat(np.repeat(coarse, 4, axis=0), 4, axis=1)[:H, :width] * 0.5 + 0.2
    smooth[:, 30:] += 0.4
    return smooth


def _frame(t: int) -> np.ndarray:
    """Frame t: the texture moved right by SPEED px a frame (new content comes in at the left)."""
    big = _texture(W + SPEED * FRAMES)
    start = SPEED * (FRAMES - t)
    return np.ascontiguousarray(big[:, start : start + W])


def _vector(h: int = H, w: int = W) -> np.ndarray:
    vector = np.zeros((h, w, 4), np.float32)
    vector[:, :, 0] = -SPEED  # the previous frame had each point SPEED px to the left
    vector[:, :, 2] = -SPEED  # the next frame has it SPEED px to the right: now - next = -SPEED
    return vector


def _write_sequence(folder, with_vector: bool = True) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(1, FRAMES + 1):
        rgba = np.concatenate([_frame(t), np.ones((H, W, 1), np.float32)], axis=2)
        passes = {"Combined": ("RGBA", rgba)}
        if with_vector:
            passes["Vector"] = ("XYZW", _vector())
        write_passes(folder / f"{t:04d}.exr", passes)
    return str(folder / "####.exr")


def _model(noise: float) -> onnx.ModelProto:
    """y = x + noise * (uniform(0, 1) - 0.5), fresh noise every run: a model that shimmers (noise 0: identity)."""
    nodes = [
        helper.make_node("RandomUniformLike", ["x"], ["u"], name="noise", low=-0.5, high=0.5),
        helper.make_node("Mul", ["u", "amount"], ["n"], name="scale"),
        helper.make_node("Add", ["x", "n"], ["y"], name="add"),
    ]
    inits = [onnx.numpy_helper.from_array(np.array([noise], np.float32), "amount")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])
    graph = helper.make_graph(nodes, "flicker", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    return model


def _run(tmp_path, noise: float, blend: float = 0.0, with_vector: bool = True, frames=None):
    pattern = _write_sequence(tmp_path / "in", with_vector)
    path = models.save(_model(noise), tmp_path / f"flicker{noise}.onnx")
    prepared = prepare_model(path, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache")
    out = str(tmp_path / f"out_{noise}_{blend}_{with_vector}" / "####.exr")
    summary = process_sequence(
        prepared, pattern, output_pattern=out, frames=frames or list(range(1, FRAMES + 1)), temporal_blend=blend
    )
    assert summary.ok, summary.failed
    return summary, out


def test_warp_follows_blender_vectors():
    motion = Motion.from_vector_pass(_vector())
    warped, inside = warp(_frame(2), motion.to_previous)
    np.testing.assert_allclose(
        warped[:, SPEED:], _frame(3)[:, SPEED:], atol=1e-5
    )  # all but the new content (onnxruntime warps in float32)
    assert not inside[:, :SPEED].any() and inside[:, SPEED:].all()


@pytest.mark.parametrize("grid", [None, (slice(1, None, 3), slice(None, None, 2))])
def test_images_warped_together_are_each_warped_alone(grid):
    """The trust warps the previous frame's motion, input and depth in one GridSample over their stacked channels:
    the same samples as one warp each, whole frames and a measure's grid alike."""
    rng = np.random.default_rng(5)
    images = [rng.random((H, W, c), dtype=np.float32) for c in (2, 3, 1)]
    offsets = (rng.random((H, W, 2), dtype=np.float32) - 0.5) * 6
    together, inside = warp_all(images, offsets, grid)
    for image, warped in zip(images, together, strict=True):
        alone, alone_inside = warp(image, offsets, grid)
        assert warped.shape == alone.shape
        np.testing.assert_allclose(warped, alone, atol=1e-6)
        np.testing.assert_array_equal(inside, alone_inside)


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_the_output_grid_built_in_bands_is_the_whole_frames_grid(factor):
    """The blend builds GridSample's output-size grid a band of rows at a time: any bands give the whole frame's grid,
    and that grid puts output pixel (r f + i, c f + j) at its input pixel's motion, f times larger."""
    rng = np.random.default_rng(11)
    h, w = 7, 5
    motion = Motion.from_vector_pass((rng.random((h, w, 4), dtype=np.float32) - 0.5) * 6)
    whole = warping._output_grid(motion, factor, slice(0, h * factor))
    for band in (1, 2, 3):
        rows = band * factor
        parts = [
            warping._output_grid(motion, factor, slice(top, min(h * factor, top + rows)))
            for top in range(0, h * factor, rows)
        ]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    big_h, big_w = h * factor, w * factor
    r, c = np.meshgrid(np.arange(big_h), np.arange(big_w), indexing="ij")
    offsets = np.repeat(np.repeat(motion.to_previous, factor, axis=0), factor, axis=1) * factor
    expected_x = (c + offsets[:, :, 1]) * 2 / (big_w - 1) - 1
    expected_y = (r + offsets[:, :, 0]) * 2 / (big_h - 1) - 1
    np.testing.assert_allclose(whole, np.stack([expected_x, expected_y], axis=2), atol=1e-5)


def _warp_everything(monkeypatch) -> None:
    """No band is still: every warp is GridSample's (what the engine did before it skipped still bands)."""
    monkeypatch.setattr(warping, "_still", lambda offsets: False)


@pytest.mark.parametrize(
    "moving",
    [
        (slice(9, 14), slice(5, 20), slice(None)),  # rows 8-15: 2 bands of 4, both axes
        (slice(8, 9), slice(5, 20), slice(0, 1)),  # a band's first row, only down
        (slice(11, 12), slice(5, 20), slice(0, 1)),  # a band's last row, only down
    ],
)
def test_still_bands_of_a_whole_frame_are_their_own_samples(monkeypatch, moving):
    """The trust's whole-frame warp skips bands of rows where every offset is exactly 0: those rows are the
    images' own, exactly; a band with any offset (one row, one axis) is GridSample's, as when every band is
    warped; `inside` is the same."""
    monkeypatch.setattr(warping, "STILL_BAND_ROWS", 4)
    rng = np.random.default_rng(6)
    images = [rng.random((H, W, c), dtype=np.float32) for c in (2, 3)]
    offsets = np.zeros((H, W, 2), np.float32)
    offsets[moving] = (rng.random(offsets[moving].shape, dtype=np.float32) - 0.5) * 6
    band = slice(8, 16) if moving[0].stop - moving[0].start > 1 else slice(8, 12)
    banded, inside = warp_all(images, offsets)
    with monkeypatch.context() as forced:
        _warp_everything(forced)
        everywhere, inside_everywhere = warp_all(images, offsets)
    np.testing.assert_array_equal(inside, inside_everywhere)
    for image, got, want in zip(images, banded, everywhere, strict=True):
        assert not np.array_equal(want[band], image[band])  # the warp moved those rows
        np.testing.assert_array_equal(got[band], want[band])
        np.testing.assert_array_equal(got[: band.start], image[: band.start])
        np.testing.assert_array_equal(got[band.stop :], image[band.stop :])
        np.testing.assert_allclose(got, want, atol=1e-5)
    still, still_inside = warp_all(images, np.zeros((H, W, 2), np.float32))
    assert still_inside.all() and all(got is image for got, image in zip(still, images, strict=True))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_the_colour_difference_is_the_mean_over_colour_channels_of_the_compressed_difference(channels):
    """One function says how different two pictures look (the measure's errors and still pixels, the trust):
    the mean over the colour channels (the first 3, or the grey one; alpha left out) of |c(a) - c(b)|, numpy's
    mean's own float32 sums, HDR values and negatives included."""
    rng = np.random.default_rng(15)
    a, b = ((rng.random((9, 11, channels), dtype=np.float32) - 0.2) * 40 for _ in range(2))
    assert compress(a).shape[2] == (3 if channels >= 3 else 1)
    expected = np.abs(compress(a) - compress(b)).mean(axis=2)
    got = trust.colour_difference(a, b)
    assert got.dtype == np.float32 and got.shape == (9, 11)
    np.testing.assert_array_equal(got, expected)


def test_the_trusted_pixels_are_the_consistent_ones_and_depth_counts():
    """brought_onto (the trust's and the measure's) agrees with consistent (motion and depth alone), and a depth
    step in the previous frame (an occluder that moved away) takes the pixels it covers out."""
    vector = _vector()
    motion = Motion.from_vector_pass(vector)
    depth = np.full((H, W, 1), 5.0, np.float32)
    near = depth.copy()
    near[:, 10:20] = 1.0
    previous = FrameState(1, _frame(1), _frame(1), motion, near)
    current = FrameState(2, _frame(2), _frame(2), motion, depth)
    ok, warped = brought_onto(previous, current)
    np.testing.assert_array_equal(ok, consistent(motion, motion, depth, near))
    assert not ok[:, 12:22].any() and ok[:, 24:].all()  # the step, seen SPEED px to the right now
    np.testing.assert_allclose(warped[:, SPEED:], _frame(1)[:, :-SPEED], atol=1e-5)


def test_an_identity_model_adds_no_flicker(tmp_path):
    summary, _ = _run(tmp_path, noise=0.0)
    flicker = summary.temporal
    assert flicker.method == FlickerMethod.VECTOR and len(flicker.frames) == FRAMES - 1
    assert flicker.ratio == pytest.approx(1.0, abs=0.01)


def test_the_measure_rises_with_the_noise(tmp_path):
    ratios = [_run(tmp_path / str(n), noise=n)[0].temporal.ratio for n in (0.02, 0.08, 0.2)]
    assert 1.5 < ratios[0] < ratios[1] < ratios[2], ratios


@pytest.mark.parametrize(
    "size",
    [(32, 48), (100, 100), (101, 101), (199, 199), (200, 200), (540, 960), (1080, 1920), (2160, 3840), (1, 99999)],
)
def test_the_measure_looks_at_about_the_same_number_of_pixels_at_every_size(size):
    """The largest stride that keeps at least MEASURE_PIXELS pixels (all pixels of a smaller frame): between that
    and four times that many at every size."""
    h, w = size
    stride = measure_stride(h, w)
    count = -(-h // stride) * -(-w // stride)
    assert count >= min(temporal.MEASURE_PIXELS, h * w) and count < 4 * temporal.MEASURE_PIXELS
    assert -(-h // (stride + 1)) * -(-w // (stride + 1)) < temporal.MEASURE_PIXELS


def test_the_sampled_measure_agrees_with_every_pixel(monkeypatch):
    """At 600x800 the measure looks at every 6th pixel of every 6th row (13,400 of 480,000); its figures are those
    of every pixel within 3%, for a model that adds noise (ratio well above 1) and one that adds none."""
    rng = np.random.default_rng(4)
    h, w = 600, 800
    wide = np.repeat(np.repeat(rng.random((h // 8, w // 8 + 1, 3), dtype=np.float32), 8, 0), 8, 1) * 0.8
    frames = [np.ascontiguousarray(wide[:, 8 - 2 * t : 8 - 2 * t + w]) for t in range(2)]
    vector = np.zeros((h, w, 4), np.float32)
    vector[:, :, 0] = vector[:, :, 2] = -2
    motion = Motion.from_vector_pass(vector)
    for noise in (0.0, 0.1):
        states = [
            FrameState(t, f, f + noise * rng.random(f.shape, dtype=np.float32), motion, None)
            for t, f in enumerate(frames)
        ]
        sampled = measure(*states)
        monkeypatch.setattr(measuring, "MEASURE_PIXELS", h * w)
        full = measure(*states)
        monkeypatch.undo()
        assert sampled is not None and full is not None
        assert sampled.pixels < 2 * temporal.MEASURE_PIXELS < full.pixels
        assert sampled.ratio == pytest.approx(full.ratio, rel=0.03), (noise, sampled, full)


def test_without_a_vector_pass_the_difference_method_is_used(tmp_path):
    still = tmp_path / "still"
    still.mkdir()
    for t in range(1, 5):  # a still camera: the same picture every frame
        write_image(still / f"{t:04d}.exr", _frame(1))
    path = models.save(_model(0.05), tmp_path / "f.onnx")
    prepared = prepare_model(path, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache")
    summary = process_sequence(
        prepared, str(still / "####.exr"), output_pattern=str(tmp_path / "o" / "####.exr"), frames=[1, 2, 3, 4]
    )
    assert summary.temporal.method == FlickerMethod.DIFFERENCE and summary.temporal.ratio > 10


def _edge_contrast(image: np.ndarray, column: int) -> float:
    """The step across the moving hard edge: mean of 2 columns right of it minus 2 columns left of it."""
    return float(image[:, column : column + 2, :3].mean() - image[:, column - 2 : column, :3].mean())


def test_the_blend_halves_the_flicker_and_keeps_a_moving_edge_sharp(tmp_path):
    plain, plain_out = _run(tmp_path / "plain", noise=0.08)
    blended, blended_out = _run(tmp_path / "blend", noise=0.08, blend=1.0)
    assert blended.temporal.ratio - 1 < (plain.temporal.ratio - 1) / 2, (plain.temporal.ratio, blended.temporal.ratio)
    assert blended.temporal.blended == tuple(range(2, FRAMES + 1))  # the first frame is left alone
    last = FRAMES
    edge = 30 + SPEED * (FRAMES - last)  # where the edge is in the last frame
    a = _edge_contrast(read_image(plain_out.replace("####", f"{last:04d}")), edge)
    b = _edge_contrast(read_image(blended_out.replace("####", f"{last:04d}")), edge)
    truth = _edge_contrast(_frame(last), edge)
    assert abs(b - truth) <= 0.02 * truth and abs(a - truth) <= 0.05 * truth, (a, b, truth)


@pytest.mark.parametrize("with_motion", [False, True])
def test_the_public_tracker_takes_float64_and_float16_frames(with_motion):
    """Review finding: TemporalTracker is public, and the blend's onnxruntime graphs take float32 only; frames of
    another float type are converted (the same pixels as float32 frames), not refused by onnxruntime."""
    motion = Motion.from_vector_pass(_vector().astype(np.float64)) if with_motion else None

    def outputs(dtype) -> list[np.ndarray]:
        tracker = Tracker(1.0)
        frames = [_frame(t).astype(dtype) for t in range(1, 4)]
        return [
            tracker.step(FrameState(t, f, np.repeat(np.repeat(f, 2, 0), 2, 1), motion, None))
            for t, f in enumerate(frames)
        ]

    reference = outputs(np.float32)
    for dtype in (np.float64, np.float16):
        for got, want in zip(outputs(dtype), reference, strict=True):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, atol=2e-3 if dtype == np.float16 else 1e-6)


def _locked_off(t: int, scene: str) -> tuple[np.ndarray, Motion]:
    """Frame t of a locked-off shot: a still background, the Vector pass exact zeros on it as Blender writes it
    (the real render in tests/blender/test_temporal.py). "square": a bright square moving right SPEED px a frame
    over input rows 8-15, its motion on it; "edge row": input row 7 alone (the last of its band) moving a third of
    a pixel down a frame, and only down; "still": nothing moves."""
    frame = _texture(W).copy()
    vector = np.zeros((H, W, 4), np.float32)
    if scene == "square":
        left = 4 + SPEED * t
        frame[8:16, left : left + 8] = 0.9
        vector[8:16, left : left + 8, 0] = vector[8:16, left : left + 8, 2] = -SPEED
    elif scene == "edge row":
        vector[7, :, 1] = vector[7, :, 3] = 1 / 3  # y up: the previous frame had it higher, the next has it lower
    return frame, Motion.from_vector_pass(vector)


@pytest.mark.parametrize("scene", ["square", "edge row", "still"])
def test_still_rows_are_blended_as_the_warp_would_blend_them(monkeypatch, scene):
    """Where nothing moved (exact zeros in the Vector pass) the blend takes the earlier outputs' rows as they are
    instead of warping them by nothing (and the trust takes still rows' pixels as they are): the pixels of the
    warp everywhere, within float rounding, in a locked-off shot with a moving square (its 2 of the 8 bands of 8
    output rows warped), with one row moving down at the edge of its band, and with nothing moving."""
    monkeypatch.setattr(graphs, "BAND_ROWS", 8)
    monkeypatch.setattr(warping, "STILL_BAND_ROWS", 4)  # the trust's warp: bands of 4 input rows
    rng = np.random.default_rng(4)
    noise = [rng.normal(0, 0.05, (2 * H, 2 * W, 3)).astype(np.float32) for _ in range(5)]

    def run() -> tuple[list[np.ndarray], tuple[int, ...]]:
        tracker, outputs = Tracker(1.0), []
        for t in range(1, 6):
            frame, motion = _locked_off(t, scene)
            upscaled = np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1) + noise[t - 1]
            outputs.append(tracker.step(FrameState(t, frame, upscaled, motion, None)))
        return outputs, tracker.flicker.blended

    fast, fast_blended = run()
    _warp_everything(monkeypatch)
    warped, warped_blended = run()
    assert fast_blended == warped_blended == (2, 3, 4, 5)
    for got, want in zip(fast, warped, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    if scene != "still":  # and the warp of what moves counts: taken as still, its rows would differ
        monkeypatch.setattr(warping, "_still", lambda offsets: True)
        unwarped, _ = run()
        rows = slice(14, 16) if scene == "edge row" else slice(16, 32)
        assert max(np.abs(u[rows] - w[rows]).max() for u, w in zip(unwarped[1:], warped[1:], strict=True)) > 1e-3


def test_the_older_frames_trust_is_brought_onto_the_current_frame_with_its_weight():
    """The frame two back weighs trust x (the older trust brought onto this frame by this frame's motion) x
    strength / 3: the older trust rides in the trust's own warp, the same samples as a warp of its own."""
    rng = np.random.default_rng(12)
    vector = _vector()
    vector[:, :, 1] = vector[:, :, 3] = (rng.random((H, W)) - 0.5).astype(np.float32)  # and some vertical motion
    motion = Motion.from_vector_pass(vector)
    previous = FrameState(2, _frame(2), np.repeat(np.repeat(_frame(2), 2, 0), 2, 1), motion, None)
    current = FrameState(3, _frame(3), np.repeat(np.repeat(_frame(3), 2, 0), 2, 1), motion, None)
    older = rng.random((H, W), dtype=np.float32)
    weight, carried = trust.trust_weights(previous, current, older)
    np.testing.assert_array_equal(weight, trust.trust_weights(previous, current)[0])
    alone = warp(older[:, :, None], motion.to_previous)[0][:, :, 0]
    assert not np.allclose(alone, older)
    np.testing.assert_allclose(carried, alone, atol=1e-6)
    # Without motion nothing moved: the older trust is as it was.
    still = [FrameState(f.frame, f.input, f.output, None, None) for f in (previous, current)]
    assert trust.trust_weights(*still, older)[1] is older

    seen = []

    class Spy(temporal.BlendGraphs):
        def weighted_sum(self, now, earlier, factor, grid):
            seen.append(earlier)
            return super().weighted_sum(now, earlier, factor, grid)

    before = temporal.Onto(2, warping.planar(previous.output), older)
    assert temporal.blend(current, previous, before, 0.9, Spy()) is not None
    (first, a1), (second, a2) = seen[0]
    np.testing.assert_allclose(a1, weight * np.float32(0.3), rtol=1e-6)
    np.testing.assert_allclose(a2, weight * alone * np.float32(0.3), rtol=1e-5, atol=1e-7)
    assert second is before.output


def test_a_cut_is_not_blended():
    tracker = Tracker(0.8)
    first = FrameState(1, _frame(1), _frame(1), None, None)
    other = np.random.default_rng(9).random((H, W, 3)).astype(np.float32)  # a different shot
    tracker.step(first)
    out = tracker.step(FrameState(2, other, other + 0.1, None, None))
    np.testing.assert_array_equal(out, other + 0.1)
    assert tracker.flicker.blended == ()


def test_a_chunk_gives_the_pixels_of_one_long_run(tmp_path):
    """Review finding: a recursive blend made a farm chunk's frames differ from one long run's. The blend is a window
    of the two frames before (raw model outputs); a chunk runs them first (not written): same pixels, x2 model."""
    pattern = _write_sequence(tmp_path / "in")
    path = models.save(models.sr_x2(), tmp_path / "sr.onnx")
    prepared = prepare_model(path, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache")
    whole = str(tmp_path / "whole" / "####.exr")
    chunked = str(tmp_path / "chunked" / "####.exr")
    assert process_sequence(
        prepared, pattern, output_pattern=whole, frames=list(range(1, FRAMES + 1)), temporal_blend=1.0
    ).ok
    for chunk in ([1, 2, 3], [4, 5, 6], [7, 8]):
        summary = process_sequence(prepared, pattern, output_pattern=chunked, frames=chunk, temporal_blend=1.0)
        assert summary.temporal.blended == tuple(f for f in chunk if f > 1)  # a chunk's first frame is blended too
    for t in range(1, FRAMES + 1):
        name = f"{t:04d}.exr"
        np.testing.assert_allclose(
            read_image(chunked.replace("####.exr", name)), read_image(whole.replace("####.exr", name)), atol=1e-6
        )
    assert sorted(p.name for p in (tmp_path / "chunked").iterdir()) == [f"{t:04d}.exr" for t in range(1, FRAMES + 1)]


def test_a_downscaling_model_is_measured_and_not_blended(tmp_path):
    """Review finding: the blend failed every frame after the first for an output that is not a whole multiple of
    the input (a downscaler). It is left unblended (and measured)."""
    pattern = _write_sequence(tmp_path / "in")
    pool = helper.make_node("AveragePool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "oh", "ow"])
    model = helper.make_model(helper.make_graph([pool], "half", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    prepared = prepare_model(
        models.save(model, tmp_path / "half.onnx"),
        "fp32",
        settings=SessionSettings(provider="cpu"),
        cache_dir=tmp_path / "c",
    )
    summary = process_sequence(
        prepared, pattern, output_pattern=str(tmp_path / "o" / "####.exr"), frames=[1, 2, 3], temporal_blend=1.0
    )
    assert summary.ok and summary.done == (1, 2, 3), summary.failed
    assert summary.temporal.blended == () and len(summary.temporal.frames) == 2


def test_the_command_line_reports_and_blends(tmp_path):
    pattern = _write_sequence(tmp_path / "in")
    path = models.save(_model(0.08), tmp_path / "f.onnx")
    common = ["--input", pattern, "--frames", f"1-{FRAMES}", "--provider", "cpu", "--cache-dir", str(tmp_path / "c")]
    runs = {}
    for blend in ("0", "0.8"):
        done = subprocess.run(
            [sys.executable, "-m", "engine", "sequence", str(path), "--output", str(tmp_path / blend / "####.exr"),
             "--temporal-blend", blend, *common],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        runs[blend] = json.loads(done.stdout)["temporal"]
    assert runs["0"]["method"] == "vector" and set(runs["0"]["frames"]) == {str(t) for t in range(2, FRAMES + 1)}
    assert runs["0.8"]["ratio"] < runs["0"]["ratio"] and runs["0"]["blended"] == []
    bad = subprocess.run(
        [sys.executable, "-m", "engine", "sequence", str(path), "--output", "x", "--temporal-blend", "2", *common],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert bad.returncode != 0 and "the strength is a number from 0 to 1" in bad.stderr


def test_the_public_tracker_loop_the_readme_shows(tmp_path):
    """README's script loop, through the engine's public surface: every frame after the first measured, blended
    with the blend on, and the summary line as the README shows it."""
    from engine import Motion as PublicMotion
    from engine import TemporalFrame, TemporalTracker, run_image

    prepared = prepare_model(
        models.save(_model(0.1), tmp_path / "noisy.onnx"), "fp32", settings=SessionSettings(provider="cpu")
    )
    frames = [(_frame(t), _vector()) for t in range(1, FRAMES + 1)]
    tracker = TemporalTracker(0.5)
    for number, (image, vector) in enumerate(frames, start=1):
        output = run_image(prepared, image).image
        written = tracker.step(TemporalFrame(number, image, output, PublicMotion.from_vector_pass(vector), None))
        assert written.shape == output.shape and written.dtype == np.float32
    assert len(tracker.flicker.frames) == FRAMES - 1 and tracker.flicker.blended == tuple(range(2, FRAMES + 1))
    assert tracker.flicker.text().startswith("flicker x") and "(vector, 7 frames)" in tracker.flicker.text()
