"""A PNG contact sheet of an upscale: panels side by side, each labelled with its name and its PSNR against
a full-resolution reference, so the result can be looked at without a tone-mapping script.

Panels are scene-linear float images (H, W, 3) of one size; they are shown clamped to [0, 1] and sRGB
encoded (`samples.imageops.linear_to_srgb`, the same display encoding the PSNR is computed on), each under a
label band. Labels are drawn with OpenImageIO's `ImageBufAlgo.render_text` (its built-in font, works
headless).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samples.imageops import linear_to_srgb, psnr

LABEL_HEIGHT = 24  # pixels of label band above each panel
GAP = 4  # pixels between panels
FONT_SIZE = 16
BACKGROUND = 0.12  # display value of the bands and gaps (dark grey, so white text reads)


@dataclass(frozen=True, kw_only=True)
class Panel:
    """One image of the sheet; `psnr_db` is None for the reference itself."""

    name: str
    image: np.ndarray
    psnr_db: float | None = None

    @property
    def label(self) -> str:
        return self.name if self.psnr_db is None else f"{self.name}: {self.psnr_db:.2f} dB"


def nearest_upsample(image: np.ndarray, scale: int = 2) -> np.ndarray:
    """Each pixel repeated scale x scale times: shows a low-resolution source at the panels' size, as is."""
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def scored_panels(reference: np.ndarray, images: dict[str, np.ndarray], reference_name: str) -> list[Panel]:
    """`images` in order, each with its PSNR against `reference` (samples.imageops.psnr), then the reference."""
    for name, image in images.items():
        if image.shape[:2] != reference.shape[:2]:
            raise ValueError(
                f"{name} is {image.shape[1]}x{image.shape[0]}, the reference "
                f"{reference.shape[1]}x{reference.shape[0]}: panels must match"
            )
    panels = [Panel(name=name, image=image, psnr_db=psnr(reference, image)) for name, image in images.items()]
    return [*panels, Panel(name=reference_name, image=reference)]


def panel_box(index: int, width: int) -> tuple[int, int]:
    """(x0, x1) columns of panel `index` in a sheet of panels `width` wide; rows are LABEL_HEIGHT to the end."""
    x0 = index * (width + GAP)
    return x0, x0 + width


def compose(panels: list[Panel]) -> np.ndarray:
    """The sheet as display-encoded float32 (H + LABEL_HEIGHT, n W + (n - 1) GAP, 3) in [0, 1]."""
    import OpenImageIO as oiio

    h, w = panels[0].image.shape[:2]
    n = len(panels)
    sheet = np.full((h + LABEL_HEIGHT, n * w + (n - 1) * GAP, 3), BACKGROUND, np.float32)
    for i, panel in enumerate(panels):
        if panel.image.shape[:2] != (h, w):
            raise ValueError(f"panel {panel.name} is {panel.image.shape[1]}x{panel.image.shape[0]}, not {w}x{h}")
        x0, x1 = panel_box(i, w)
        sheet[LABEL_HEIGHT:, x0:x1] = linear_to_srgb(panel.image[:, :, :3])
    buf = oiio.ImageBuf(np.ascontiguousarray(sheet))
    for i, panel in enumerate(panels):
        x0, _ = panel_box(i, w)
        if not oiio.ImageBufAlgo.render_text(buf, x0 + 6, LABEL_HEIGHT - 7, panel.label, FONT_SIZE, "", (1, 1, 1)):
            raise RuntimeError(f"cannot draw the label {panel.label!r}: {buf.geterror() or oiio.geterror()}")
    return np.asarray(buf.get_pixels(oiio.FLOAT), np.float32).reshape(sheet.shape)


def crop(panels: list[Panel], x: int, y: int, width: int, height: int) -> list[Panel]:
    """The same window of every panel, scores kept (they are of the whole images): a 1:1 close-up."""
    return [Panel(name=p.name, image=p.image[y : y + height, x : x + width], psnr_db=p.psnr_db) for p in panels]


def write_png(path: Path, sheet: np.ndarray) -> None:
    """8-bit RGB PNG of a display-encoded sheet."""
    import OpenImageIO as oiio

    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.round(np.clip(sheet, 0.0, 1.0) * 255).astype(np.uint8)
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), oiio.ImageSpec(data.shape[1], data.shape[0], 3, oiio.UINT8)):
        raise RuntimeError(f"cannot write {path}: {oiio.geterror()}")
    ok = out.write_image(np.ascontiguousarray(data))
    out.close()
    if not ok:
        raise RuntimeError(f"cannot write {path}: {out.geterror()}")
