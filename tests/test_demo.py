"""The demo's contact sheet (samples/contact_sheet.py) on small synthetic images: layout, size, pixels and
labels, and the PSNR it prints is samples.imageops.psnr of the panels against the reference."""

from __future__ import annotations

import numpy as np
import pytest

from samples.contact_sheet import (
    BACKGROUND,
    GAP,
    LABEL_HEIGHT,
    compose,
    crop,
    nearest_upsample,
    panel_box,
    scored_panels,
    write_png,
)
from samples.imageops import bicubic_upsample, box_downsample, linear_to_srgb, psnr

H, W = 48, 64


@pytest.fixture
def images():
    rng = np.random.default_rng(7)
    # a smooth gradient plus texture, some values above 1 (scene-linear highlights are clamped for display)
    yy, xx = np.mgrid[0:H, 0:W] / np.array([H, W])[:, None, None]
    reference = np.stack([xx, yy, 0.5 * (xx + yy)], axis=-1).astype(np.float32) * 1.3
    reference += rng.uniform(0, 0.2, reference.shape).astype(np.float32)
    low = box_downsample(reference)
    model = reference + rng.normal(0, 0.01, reference.shape).astype(np.float32)
    named = {"source x2 (nearest)": nearest_upsample(low), "bicubic x2": bicubic_upsample(low), "model x2": model}
    return reference, low, named


def test_panels_carry_the_psnr_of_each_image_against_the_reference(images):
    reference, low, named = images
    panels = scored_panels(reference, named, reference_name="reference")
    assert [p.name for p in panels] == [*named, "reference"]
    for panel, image in zip(panels, named.values(), strict=False):
        expected = psnr(reference, image)
        assert panel.psnr_db == pytest.approx(expected)
        assert panel.label == f"{panel.name}: {expected:.2f} dB"
    assert panels[-1].psnr_db is None and panels[-1].label == "reference"
    # the better image scores higher: the noisy full-resolution "model" beats the upscales of the box average
    assert panels[2].psnr_db > panels[1].psnr_db > panels[0].psnr_db
    source = panels[0].image
    assert source.shape == reference.shape and np.array_equal(source[1::2, 1::2], low)


def test_sheet_layout_size_pixels_and_labels(images, tmp_path):
    reference, _, named = images
    panels = scored_panels(reference, named, reference_name="reference")
    sheet = compose(panels)
    assert sheet.shape == (LABEL_HEIGHT + H, 4 * W + 3 * GAP, 3)
    for i, panel in enumerate(panels):
        x0, x1 = panel_box(i, W)
        np.testing.assert_allclose(sheet[LABEL_HEIGHT:, x0:x1], linear_to_srgb(panel.image), atol=1e-6)
        band = sheet[:LABEL_HEIGHT, x0:x1]
        assert (band > 0.9).any(), f"no label text drawn over {panel.name}"  # white text on the dark band
        if i:
            assert np.all(sheet[LABEL_HEIGHT:, x0 - GAP : x0] == pytest.approx(BACKGROUND))

    path = tmp_path / "sheet.png"
    write_png(path, sheet)
    import OpenImageIO as oiio

    read = oiio.ImageBuf(str(path))
    assert (read.spec().width, read.spec().height, read.spec().nchannels) == (sheet.shape[1], sheet.shape[0], 3)
    assert read.spec().format == oiio.UINT8
    np.testing.assert_allclose(read.get_pixels(oiio.FLOAT), sheet, atol=0.5 / 255 + 1e-6)


def test_close_up_keeps_whole_image_scores(images):
    reference, _, named = images
    panels = scored_panels(reference, named, reference_name="reference")
    close = crop(panels, 8, 4, 20, 16)
    assert [p.label for p in close] == [p.label for p in panels]
    assert compose(close).shape == (LABEL_HEIGHT + 16, 4 * 20 + 3 * GAP, 3)
    np.testing.assert_array_equal(close[1].image, panels[1].image[4:20, 8:28])


def test_mismatched_sizes_are_refused(images):
    reference, low, _ = images
    with pytest.raises(ValueError, match="bicubic x2 is 32x24, the reference 64x48"):
        scored_panels(reference, {"bicubic x2": low}, reference_name="reference")
