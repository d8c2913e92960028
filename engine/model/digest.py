"""Content digests for cache keys: a model's bytes and the external-data files beside it (no onnx here unless the
model names external files: a cache hit computes its key without loading the ONNX library)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def external_data_digest(data: bytes, base_dir: str | os.PathLike[str], name: str = "model") -> str:
    """SHA-256 over the external-data files of a serialized model ('' when it has none), for cache keys:
    changed weights beside an unchanged .onnx file must not reuse a cached model."""
    if b"location" not in data:  # no external data entry at all: the common case costs no parse
        return ""
    import onnx  # only for a model that names external files

    from .onnx_io import _external_files

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # noqa: BLE001 - parse_model reports unreadable files with the reason
        return ""
    files = _external_files(model, Path(base_dir), name)
    return sha256_bytes("".join(f"{f.name}:{sha256_file(f)}" for f in files).encode()) if files else ""


def array_digest(array: object) -> str:
    """SHA-256 of a picture's shape and float32 values ('' for None): an int8 model is calibrated on an image, so
    the image is part of its cache key."""
    if array is None:
        return ""
    import numpy as np

    data = np.ascontiguousarray(array, np.float32)
    digest = hashlib.sha256(repr(data.shape).encode())
    digest.update(data.data.cast("B"))  # the same digest as over shape + bytes, without two copies of them
    return digest.hexdigest()


def frames_digest(image: object, more: tuple[object, ...] = ()) -> str:
    """SHA-256 of the images an int8 model is calibrated on ('' without an image): what its cache key holds. One
    image gives its array_digest, so a single image keeps the key it had."""
    if image is None:
        return ""
    if not more:
        return array_digest(image)
    return hashlib.sha256("".join(array_digest(a) for a in (image, *more)).encode()).hexdigest()
