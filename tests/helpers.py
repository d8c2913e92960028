"""Helpers shared by the tests: fixtures made by code, never by hand."""

from __future__ import annotations

import zipfile
from pathlib import Path


def make_wheel(folder: Path, name="nvidia_fake_probe", version="1.0", files=None) -> Path:
    """A minimal valid wheel (no `wheel` package needed): files, METADATA, WHEEL, RECORD."""
    files = files or {"nvidia/cu13/lib/libcurand.so.10": b"", "nvidia_fake_probe/__init__.py": b"VALUE = 42\n"}
    info = f"{name}-{version}.dist-info"
    meta = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for arc, data in {**files, **meta}.items():
            zf.writestr(arc, data)
        zf.writestr(f"{info}/RECORD", "".join(f"{arc},,\n" for arc in [*files, *meta]) + f"{info}/RECORD,,\n")
    return path


ROOT = Path(__file__).resolve().parents[1]
"""The repository root (the extension package)."""


def write_passes(path: Path, passes: dict) -> Path:
    """A multilayer EXR as Blender 5 writes one, a float part per pass: {pass name: (channel letters, HxWxC array)},
    e.g. {'Combined': ('RGBA', rgba), 'Normal': ('XYZ', normal)}, under the view layer 'ViewLayer'."""
    import numpy as np
    import OpenImageIO as oiio

    specs = []
    for name, (letters, array) in passes.items():
        spec = oiio.ImageSpec(array.shape[1], array.shape[0], len(letters), "float")
        spec.channelnames = tuple(f"ViewLayer.{name}.{ch}" for ch in letters)
        spec.attribute("oiio:subimagename", f"ViewLayer.{name}")
        specs.append(spec)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), specs)
    for index, ((_, array), spec) in enumerate(zip(passes.values(), specs, strict=True)):
        if index:
            assert out.open(str(path), spec, "AppendSubimage")
        out.write_image(np.ascontiguousarray(array, np.float32))
    out.close()
    return path


def run_with_contract(tmp_path: Path, model, image, layer: dict, **settings):
    """`model` (an onnx.ModelProto) saved, prepared fp32 on the CPU and run on `image` with the contract `layer` (as
    from a contract file) and RunSettings(**settings): how the contract tests see a result."""
    from engine.inference.pipeline import run_image
    from engine.inference.settings import RunSettings
    from engine.model.contract import build_contract
    from engine.runtime.prepare import prepare_model
    from engine.runtime.sessions import SessionSettings
    from tests import models

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = models.save(model, tmp_path / "m.onnx")
    contract = build_contract([("file", layer)])
    prepared = prepare_model(
        path, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache", contract=contract
    )
    return run_image(prepared, image, settings=RunSettings(contract=contract, **settings))
