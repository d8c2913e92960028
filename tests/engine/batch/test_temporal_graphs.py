"""The temporal blend's onnxruntime graphs (engine/batch/temporal/graphs.py) against the formula written in numpy:
out = now + sum of a (e - now), each input pixel's weight a spread over its factor x factor block of output pixels,
each earlier frame e warped first when a grid is given."""

from __future__ import annotations

import numpy as np
import pytest

from engine.batch.temporal import graphs
from engine.batch.temporal.graphs import BlendGraphs, grid_sample


def _images(count: int, shape: tuple[int, int, int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random(shape, dtype=np.float32) for _ in range(count)]


def _formula(now: np.ndarray, earlier: list[tuple[np.ndarray, np.ndarray]], factor: int) -> np.ndarray:
    total = now.astype(np.float64)
    for image, weight in earlier:
        spread = np.kron(weight.astype(np.float64), np.ones((factor, factor)))  # block by block, on purpose not repeat
        total = total + spread[None] * (image - now)
    return total


def _identity_grid(h: int, w: int) -> np.ndarray:
    """GridSample's grid (x, y in -1..1, align_corners) at every pixel's own centre."""
    y, x = np.meshgrid(np.linspace(-1, 1, h, dtype=np.float32), np.linspace(-1, 1, w, dtype=np.float32), indexing="ij")
    return np.stack([x, y], axis=2)


@pytest.mark.parametrize("factor", [1, 2, 3])
@pytest.mark.parametrize("parts", [1, 2])
def test_the_weighted_sum_is_the_formula(factor, parts):
    h, w, c = 5, 7, 4
    now, *earlier_images = _images(1 + parts, (c, h * factor, w * factor))
    weights = _images(parts, (h, w), seed=1)
    earlier = list(zip(earlier_images, weights, strict=True))
    out, warped = BlendGraphs().weighted_sum(now, earlier, factor, None)
    assert warped is None and out.shape == now.shape
    np.testing.assert_allclose(out, _formula(now, earlier, factor), atol=1e-6)


def _banded(grid: np.ndarray | None):
    """A whole grid as weighted_sum takes one: its rows for a slice of the output's rows."""
    return None if grid is None else (lambda rows: grid[rows])


def test_with_an_identity_grid_the_warped_frames_are_the_frames():
    factor, h, w = 2, 6, 8
    now, first, second = _images(3, (3, h * factor, w * factor))
    weights = _images(2, (h, w), seed=2)
    earlier = [(first, weights[0]), (second, weights[1])]
    out, warped = BlendGraphs().weighted_sum(now, earlier, factor, _banded(_identity_grid(h * factor, w * factor)))
    np.testing.assert_allclose(warped, first, atol=1e-5)
    np.testing.assert_allclose(out, _formula(now, earlier, factor), atol=1e-5)


def test_a_grid_half_a_pixel_over_averages_neighbours():
    """x moved by half a pixel to the right: each sample is the mean of a pixel and the one to its right; the last
    column clamps to the edge (border padding)."""
    image = _images(1, (2, 4, 6))[0]
    grid = _identity_grid(4, 6)
    grid[..., 0] += np.float32(0.5 * 2 / 5)
    sampled = grid_sample(image, grid)
    np.testing.assert_allclose(sampled[:, :, :-1], (image[:, :, :-1] + image[:, :, 1:]) / 2, atol=1e-5)
    np.testing.assert_allclose(sampled[:, :, -1], image[:, :, -1], atol=1e-5)


@pytest.mark.parametrize("band_rows", [1, 4, 7, 1000])
@pytest.mark.parametrize("factor", [1, 2, 3])
@pytest.mark.parametrize("warped", [False, True])
def test_bands_of_rows_give_the_whole_frame(monkeypatch, band_rows, factor, warped):
    """The blend runs in bands of whole blocks of output rows (BAND_ROWS, rounded to the factor, at least one
    block): whatever the band, the result is the formula on the whole frame, the warped earlier frame included."""
    monkeypatch.setattr(graphs, "BAND_ROWS", band_rows)
    h, w = 7, 5
    now, first, second = _images(3, (2, h * factor, w * factor), seed=factor)
    weights = _images(2, (h, w), seed=3)
    earlier = [(first, weights[0]), (second, weights[1])]
    grid = _identity_grid(h * factor, w * factor) if warped else None
    out, warped_first = BlendGraphs().weighted_sum(now, earlier, factor, _banded(grid))
    np.testing.assert_allclose(out, _formula(now, earlier, factor), atol=1e-5)
    if warped:
        np.testing.assert_allclose(warped_first, first, atol=1e-5)


@pytest.mark.parametrize("warped", [False, True])
def test_earlier_frames_that_are_views_give_the_same_sum(monkeypatch, warped):
    """An earlier frame may be a strided view (an interleaved result seen channel-planar): the same sum, in any
    band (each frame made contiguous once, not per band)."""
    monkeypatch.setattr(graphs, "BAND_ROWS", 2)
    factor, h, w = 2, 5, 4
    now, first = _images(2, (3, h * factor, w * factor), seed=7)
    view = np.ascontiguousarray(first.transpose(1, 2, 0)).transpose(2, 0, 1)
    assert not view.flags.c_contiguous
    weight = _images(1, (h, w), seed=8)[0]
    grid = _identity_grid(h * factor, w * factor) if warped else None
    out, _ = BlendGraphs().weighted_sum(now, [(view, weight)], factor, _banded(grid))
    np.testing.assert_allclose(out, _formula(now, [(first, weight)], factor), atol=1e-5)


def test_bands_where_nothing_moved_take_the_earlier_frames_as_they_are(monkeypatch):
    """The grid gives None for a band where nothing moved: that band takes the earlier frames' own rows (no
    GridSample), the others are warped; the sum and the warped first frame are the formula's in both kinds of band,
    and the still bands' warped rows are the first frame's, exactly."""
    monkeypatch.setattr(graphs, "BAND_ROWS", 2)
    factor, h, w = 2, 6, 5
    now, first, second = _images(3, (3, h * factor, w * factor), seed=9)
    weights = _images(2, (h, w), seed=10)
    earlier = [(first, weights[0]), (second, weights[1])]
    # Half a pixel right in the first and third band (output rows 0-1 and 4-5), nothing moved in the others.
    shifted = _identity_grid(h * factor, w * factor)
    shifted[..., 0] += np.float32(0.5 * 2 / (w * factor - 1))
    moving = {0, 4}
    asked: list[int] = []

    def grid(rows: slice) -> np.ndarray | None:
        asked.append(rows.start)
        return shifted[rows] if rows.start in moving else None

    out, warped = BlendGraphs().weighted_sum(now, earlier, factor, grid)
    assert asked == list(range(0, h * factor, 2))

    def half_right(image: np.ndarray) -> np.ndarray:
        return np.concatenate([(image[:, :, :-1] + image[:, :, 1:]) / 2, image[:, :, -1:]], axis=2)

    expected = [image.copy() for image in (first, second)]
    for image, moved in zip(expected, (half_right(first), half_right(second)), strict=True):
        for top in moving:
            image[:, top : top + 2] = moved[:, top : top + 2]
    np.testing.assert_allclose(warped, expected[0], atol=1e-5)
    still = [row for row in range(h * factor) if row - row % 2 not in moving]
    np.testing.assert_array_equal(warped[:, still], first[:, still])
    formula = _formula(now, [(expected[0], weights[0]), (expected[1], weights[1])], factor)
    np.testing.assert_allclose(out, formula, atol=1e-5)


def test_the_warped_frames_array_is_reused_two_frames_on_and_never_while_it_is_read():
    """As a tracker calls it: each frame's warped earlier frame is the next frame's frame two back. The array of
    frame t is written over at frame t + 2 (fresh output-size memory each frame is slow), never at t + 1, where it
    is an input; every sum is the formula's."""
    factor, h, w = 2, 4, 5
    frames = _images(5, (3, h * factor, w * factor), seed=13)
    weights = _images(2, (h, w), seed=14)
    grid = _banded(_identity_grid(h * factor, w * factor))
    graphs, older, arrays = BlendGraphs(), frames[0], []
    for t in range(2, 5):
        previous, now = frames[t - 1], frames[t]
        expected = _formula(now, [(previous, weights[0]), (older, weights[1])], factor)
        out, warped = graphs.weighted_sum(now, [(previous, weights[0]), (older, weights[1])], factor, grid)
        np.testing.assert_allclose(out, expected, atol=1e-5)
        np.testing.assert_allclose(warped, previous, atol=1e-5)
        assert warped is not older
        arrays.append(warped)
        older = warped
    assert arrays[2] is arrays[0] and arrays[1] is not arrays[0]
    # An input that lies in the older array (a caller keeping its own view of it) is never written over.
    view = arrays[1][:, : h * factor]
    _, warped = graphs.weighted_sum(frames[4], [(frames[3], weights[0]), (view, weights[1])], factor, grid)
    assert not np.may_share_memory(warped, view)
