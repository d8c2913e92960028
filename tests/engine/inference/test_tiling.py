import itertools

import numpy as np
import pytest

from engine.inference.tiling import apply_window, axis_cuts, axis_weights, blend_into, tile_starts


@pytest.mark.parametrize("length,tile,overlap,scale", [(1080, 512, 32, 2.0), (420, 128, 32, 1.0), (300, 96, 48, 2.0)])
def test_axis_weights_sum_to_one_everywhere(length, tile, overlap, scale):
    starts = tuple(tile_starts(length, tile, overlap))
    total = np.zeros(round(length * scale))
    size = round(tile * scale)
    for start, weights in zip(starts, axis_weights(length, tile, overlap, starts, scale), strict=True):
        assert weights.shape == (size,) and (weights >= 0).all()
        total[round(start * scale) : round(start * scale) + size] += weights
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "length,tile,overlap,multiple,scale", [(1080, 408, 64, 8, 1.0), (1921, 496, 14, 1, 1.0), (301, 96, 9, 1, 2.0)]
)
def test_axis_cuts_partition_the_axis_and_keep_half_an_overlap_from_inner_edges(length, tile, overlap, multiple, scale):
    starts = tuple(tile_starts(length, tile, overlap, multiple))
    cuts = axis_cuts(length, tile, starts, scale)
    assert cuts[0][0] == 0 and cuts[-1][1] == round(length * scale)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))  # contiguous, no gap, no pixel twice
    margin = (overlap // 2) * scale  # what a radius of overlap / 2 needs
    for k, ((lo, hi), start) in enumerate(zip(cuts, starts, strict=True)):
        assert lo < hi
        if k:  # an inner start edge
            assert lo - start * scale >= margin
        if k < len(starts) - 1:  # an inner end edge
            assert (start + tile) * scale - hi >= margin


def test_inner_edges_take_nothing_from_the_first_quarter_of_the_overlap():
    # Two 64 px tiles overlapping by 32 on a 96 px axis: each is zero for 8 px at its inner edge.
    first, second = axis_weights(96, 64, 32, (0, 32), 1.0)
    assert (first[-8:] == 0).all() and (second[:8] == 0).all()
    assert (first[:32] == 1).all() and (second[-32:] == 1).all()


def test_apply_window_equals_the_outer_product_even_without_an_interior():
    rng = np.random.default_rng(0)
    for rows, cols in [
        (np.r_[np.linspace(0, 1, 10), np.ones(20), np.linspace(1, 0, 10)], np.ones(40)),
        (np.full(40, 0.5), np.r_[np.ones(30), np.linspace(1, 0, 10)]),
    ]:
        tile = rng.random((40, 40, 3)).astype(np.float32)
        expected = tile * np.outer(rows, cols)[:, :, None]
        apply_window(tile, rows.astype(np.float32), cols.astype(np.float32))
        np.testing.assert_allclose(tile, expected, rtol=1e-6)


def test_blend_into_adds_where_earlier_tiles_wrote_and_assigns_elsewhere():
    result = np.full((6, 6, 1), np.nan, np.float32)
    result[:2] = 1.0  # the previous row of tiles
    result[2:, :1] = 1.0  # the previous tile in this row
    blend_into(result, np.full((4, 4, 1), 2.0, np.float32), 0, 0, top=2, left=1)
    assert (result[:2, :4] == 3).all() and (result[2:4, :1] == 3).all() and (result[2:4, 1:4] == 2).all()
