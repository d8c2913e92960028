"""The work behind the operators, free of bpy so it can run in a worker thread.

A job is built on the main thread from Blender data (pixels already copied into numpy arrays), runs
`job.work(progress)` anywhere, and its result is written back to Blender data by the main thread only.
Engine modules are imported inside functions: enabling the extension must not load onnx/onnxruntime.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Pass names changed between Blender 4.2 and 5.x; either spelling is accepted in mappings.
PASS_ALIASES = {
    "diffcol": "Diffuse Color",
    "glosscol": "Glossy Color",
    "transcol": "Transmission Color",
    "diffdir": "Diffuse Direct",
    "diffind": "Diffuse Indirect",
    "glossdir": "Glossy Direct",
    "glossind": "Glossy Indirect",
    "ao": "Ambient Occlusion",
    "emit": "Emission",
    "env": "Environment",
    "image": "Combined",
    "rgba": "Combined",
}
# When the mapping does not name a pass for an input, these are tried by the input's name.
DEFAULT_PASSES = {
    "albedo": ("Denoising Albedo", "Diffuse Color"),
    "normal": ("Denoising Normal", "Normal"),
    "color": ("Combined",),
    "colour": ("Combined",),
    "depth": ("Depth",),
}


def _norm(name: str) -> str:
    key = name.strip().lower()
    return PASS_ALIASES.get(key.replace(" ", ""), name.strip()).lower()


def parse_mapping(text: str) -> dict[str, str]:
    """'albedo=Diffuse Color, normal=Normal' -> {'albedo': 'Diffuse Color', 'normal': 'Normal'}."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"pass mapping entry '{part.strip()}' needs the form input=Pass Name")
        key, value = (s.strip() for s in part.split("=", 1))
        if not key or not value:
            raise ValueError(f"pass mapping entry '{part.strip()}' needs the form input=Pass Name")
        mapping[key] = value
    return mapping


def find_pass(layers: dict[str, np.ndarray], name: str) -> np.ndarray | None:
    """A pass by name in either spelling, with or without the view layer prefix ('ViewLayer.Normal');
    the first view layer wins. A file's plain (unnamed) layer counts as Combined."""
    wanted = _norm(name)
    for key, array in layers.items():
        short = key.rsplit(".", 1)[-1] if key else "Combined"
        if _norm(key) == wanted or _norm(short) == wanted:
            return array
    return None


def model_key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_mtime_ns, st.st_size)


# Descriptions for the panel, keyed by (path, mtime, size): draw() only reads this.
MODEL_INFO: dict[tuple, object] = {}


def cached_info(path: str):
    """A ModelInfo, an error string, or None when the model has not been inspected yet."""
    key = model_key(path)
    return MODEL_INFO.get(key) if key else None


def describe_path(path: str):
    """Describe and cache; returns a ModelInfo or raises EngineError."""
    from ..engine.describe import describe_model
    from ..engine.errors import EngineError
    from ..engine.onnx_io import load_model

    key = model_key(path)
    try:
        info = describe_model(load_model(path))
    except EngineError as exc:
        if key:
            MODEL_INFO[key] = str(exc)
        raise
    if key:
        MODEL_INFO[key] = info
    return info


@dataclass
class ModelJob:
    """What prepare_model needs; lower-case engine names ('fp16', 'auto')."""

    model_path: str
    precision: str
    provider: str
    device_id: int
    cache_dir: str
    sample: np.ndarray | None = None

    def prepare(self):
        from ..engine.prepare import prepare_model
        from ..engine.sessions import SessionSettings

        settings = SessionSettings(provider=self.provider, device_id=self.device_id)
        prepared = prepare_model(
            self.model_path, self.precision, settings=settings, cache_dir=self.cache_dir, sample=self.sample
        )
        key = model_key(self.model_path)
        if key:
            MODEL_INFO[key] = prepared.info
        return prepared


@dataclass
class JobResult:
    image: np.ndarray
    """HxWxC float32, top-down rows."""
    prepared: object
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ImageJob:
    model: ModelJob
    image: np.ndarray
    """HxWxC float32 top-down: the first model input."""
    output_name: str
    colorspace: str
    tile: int = 0
    overlap: int = 32
    color: str = "linear"
    layers: dict[str, np.ndarray] | None = None
    """Render passes by name; other model inputs are taken from here through `mapping`."""
    mapping: dict[str, str] = field(default_factory=dict)
    source_name: str = ""
    """The source image's name: never overwritten by the result."""

    def extra_inputs(self, info) -> dict[str, np.ndarray]:
        extra: dict[str, np.ndarray] = {}
        layers = self.layers or {}
        for t in info.image_inputs[1:]:
            names = (self.mapping[t.name],) if t.name in self.mapping else DEFAULT_PASSES.get(t.name.lower(), ())
            for name in names:
                found = find_pass(layers, name)
                if found is not None:
                    extra[t.name] = found
                    break
            else:
                have = ", ".join(sorted(layers)) or "none"
                wanted = " or ".join(f"'{n}'" for n in names) or "a pass"
                raise _image_error(
                    f"model input '{t.name}' needs {wanted}; available passes: {have} "
                    "(enable the pass in View Layer properties or set the pass mapping)"
                )
        return extra

    def work(self, progress) -> JobResult:
        from ..engine.pipeline import RunSettings, run_image

        start = time.perf_counter()
        progress.update(0.0, "preparing model")
        prepared = self.model.prepare()
        progress.check()
        extra = self.extra_inputs(prepared.info)
        settings = RunSettings(tile=self.tile, overlap=self.overlap, color=self.color)
        result = run_image(prepared, self.image, extra=extra, settings=settings, progress=progress)
        progress.check()
        notes = list(prepared.warnings) + list(result.notes)
        return JobResult(result.image, prepared, notes, time.perf_counter() - start)


def _image_error(text: str):
    from ..engine.errors import ImageError

    return ImageError(text)


def select_first_input(layers: dict[str, np.ndarray], info_first: str, mapping: dict[str, str]) -> np.ndarray:
    names = (mapping[info_first],) if info_first in mapping else ("Combined",)
    for name in names:
        found = find_pass(layers, name)
        if found is not None:
            return found
    raise _image_error(f"render has no '{names[0]}' pass; available passes: {', '.join(sorted(layers)) or 'none'}")


@dataclass
class RenderJob(ImageJob):
    """Like ImageJob, but the first input is picked from the passes once the model is known."""

    def work(self, progress) -> JobResult:
        from ..engine.pipeline import RunSettings, run_image

        start = time.perf_counter()
        progress.update(0.0, "preparing model")
        prepared = self.model.prepare()
        progress.check()
        first = prepared.info.image_inputs[0].name
        self.image = select_first_input(self.layers or {}, first, self.mapping)
        extra = self.extra_inputs(prepared.info)
        settings = RunSettings(tile=self.tile, overlap=self.overlap, color=self.color)
        result = run_image(prepared, self.image, extra=extra, settings=settings, progress=progress)
        progress.check()
        notes = list(prepared.warnings) + list(result.notes)
        return JobResult(result.image, prepared, notes, time.perf_counter() - start)


def worker(job, progress, messages: queue.Queue) -> None:
    """Thread target: runs the job and posts ('done', JobResult) or ('error', exception).

    Progress updates are posted by the Progress object's callback as ('progress', fraction, text)."""
    try:
        messages.put(("done", job.work(progress)))
    except Exception as exc:  # noqa: BLE001 - handed to the main thread, which reports it
        log.debug("job failed", exc_info=True)
        messages.put(("error", exc))


def error_text(exc: BaseException) -> str:
    """Engine errors are written for users; anything else gets its type so it can be reported as a bug."""
    from ..engine.errors import EngineError

    if isinstance(exc, EngineError | ValueError | OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def read_layers(path: str | Path) -> dict[str, np.ndarray]:
    """Passes of a (multi-part or interleaved) multilayer EXR as {pass name: HxWxC float32, top-down}.

    Uses engine.imageio when it exists, else Blender's bundled OpenImageIO."""
    try:
        from ..engine.imageio import read_layers as engine_read_layers
    except ImportError:
        engine_read_layers = None
    if engine_read_layers is not None:
        return engine_read_layers(path)
    return _read_layers_oiio(str(path))


_CHANNEL_ORDER = {c: i for i, c in enumerate("RGBAXYZWUV")}


def _import_oiio():
    try:
        import OpenImageIO as oiio
    except ImportError:
        import sys

        import bpy  # noqa: TID251 - only to find the OpenImageIO module bundled with Blender

        site = Path(bpy.utils.system_resource("SCRIPTS")).parent / "python" / "lib" / "python3.11" / "site-packages"
        if str(site) not in sys.path:
            sys.path.append(str(site))
        import OpenImageIO as oiio
    return oiio


def _read_layers_oiio(path: str) -> dict[str, np.ndarray]:
    oiio = _import_oiio()
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise OSError(f"cannot read {path}: {oiio.geterror()}")
    channels: dict[str, list[tuple[str, np.ndarray]]] = {}
    first_view = None
    try:
        sub = 0
        while inp.seek_subimage(sub, 0):
            spec = inp.spec()
            pixels = inp.read_image(sub, 0, 0, spec.nchannels, "float")
            if pixels is None:
                raise OSError(f"cannot read part {sub} of {path}: {inp.geterror()}")
            pixels = np.asarray(pixels, np.float32).reshape(spec.height, spec.width, spec.nchannels)
            for i, full in enumerate(spec.channelnames):
                # 'ViewLayer.Diffuse Color.R' -> pass 'Diffuse Color', channel 'R'; a bare 'R' is Combined.
                # Only the first view layer is used: passes of several layers would mix otherwise.
                parts = full.split(".")
                name = parts[-2] if len(parts) >= 2 else "Combined"
                view = ".".join(parts[:-2])
                first_view = view if first_view is None else first_view
                if view != first_view:
                    continue
                channels.setdefault(name, []).append((parts[-1], pixels[:, :, i]))
            sub += 1
    finally:
        inp.close()
    layers = {}
    for name, chans in channels.items():
        chans.sort(key=lambda c: _CHANNEL_ORDER.get(c[0].upper(), 99))
        layers[name] = np.ascontiguousarray(np.stack([c[1] for c in chans], axis=2))
    return layers
