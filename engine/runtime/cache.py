"""On-disk cache of converted, offline-optimized models: atomic entries, verified on every read.

An entry is `<key>.onnx` plus `<key>.json`; the JSON (an EntryMeta record) is written last and holds the model's
size and SHA-256 and a SHA-256 of the JSON's own content, so a crash mid-write leaves no entry, and a damaged or
hand-edited file is detected and rebuilt. Metadata that is consistent but not an EntryMeta (a hand edit with its
checksum recomputed, or a value that breaks a record's invariant) is discarded and rebuilt too. Entries written by
older versions read: the JSON's layout is the one they wrote, and keys added since are optional. A record
(`<key>.record.json`: a measured verdict, an int8 refusal) is JSON alone, checked the same way.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import atomic
from ..json_values import Json, int_from_json, object_from_json, str_from_json, strs_from_json
from ..model.digest import sha256_bytes, sha256_file
from ..model.records import ModelInfo
from ..options import Precision
from ..precision.records import ConversionReport

log = logging.getLogger(__name__)

FORMAT = 1


class CacheUnavailable(OSError):
    """The cache folder cannot be written (read-only, full, not a folder)."""


def cache_key(parts: Json) -> str:
    return sha256_bytes(json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str).encode())[:32]


def default_cache_dir() -> Path:
    if explicit := os.environ.get("ONNX_IMAGE_RUNTIME_CACHE"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "onnx_image_runtime"


def _meta_digest(meta: dict[str, Any]) -> str:
    content = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return sha256_bytes(json.dumps(content, sort_keys=True, default=str).encode())


@dataclass(frozen=True, kw_only=True)
class EntryMeta:
    """What a cache entry says about its model: a converted model's report, or an optimized model's description,
    report, warnings, precision and the converted graph it was made from. `size` and `sha256` are the model
    file's, filled in by `ModelCache.commit` (0 and "" before)."""

    info: ModelInfo | None = None
    report: ConversionReport | None = None
    warnings: tuple[str, ...] = ()
    """What loading the model said when the entry was built: said again on every hit."""
    precision: Precision | None = None
    converted_model: str | None = None
    """The cached converted graph the optimized model was made from (a path in the same cache folder)."""
    size: int = 0
    sha256: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "warnings", tuple(self.warnings))
        if self.precision is not None:
            object.__setattr__(self, "precision", Precision(self.precision))
        if self.size < 0:
            raise ValueError(f"size {self.size} is negative")
        if self.sha256 and not (len(self.sha256) == 64 and all(c in "0123456789abcdef" for c in self.sha256)):
            raise ValueError(f"sha256 {self.sha256!r} is not a SHA-256 in hex")

    def to_json(self) -> Json:
        data: Json = {
            "warnings": list(self.warnings),
            "info": None if self.info is None else self.info.to_json(),
            "report": None if self.report is None else self.report.to_json(),
            "precision": None if self.precision is None else str(self.precision),
            "converted_model": self.converted_model,
            "size": self.size,
            "sha256": self.sha256,
        }
        return data

    @classmethod
    def from_json(cls, data: object) -> EntryMeta:
        """What to_json wrote (and the checksum `meta_sha256` beside it, not part of the record); `size` and
        `sha256` must be there, the rest may be missing (a converted model's entry has a report only)."""
        values = object_from_json(data, "metadata")
        info, report, precision = values.get("info"), values.get("report"), values.get("precision")
        converted = values.get("converted_model")
        return cls(
            info=None if info is None else ModelInfo.from_json(info),
            report=None if report is None else ConversionReport.from_json(object_from_json(report, "report")),
            warnings=strs_from_json(values.get("warnings", []), "warnings"),
            precision=None if precision is None else Precision(str_from_json(precision, "precision")),
            converted_model=None if converted is None else str_from_json(converted, "converted_model"),
            size=int_from_json(values["size"], "size"),
            sha256=str_from_json(values["sha256"], "sha256"),
        )


@dataclass(frozen=True, kw_only=True)
class CacheEntry:
    model_path: Path
    meta: EntryMeta


class ModelCache:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.onnx", self.root / f"{key}.json"

    def lookup(self, key: str) -> CacheEntry | None:
        """A verified entry, or None (a damaged entry is removed so it gets rebuilt)."""
        model, meta_path = self._paths(key)
        if not meta_path.exists():
            return None
        try:
            if model.is_symlink() or meta_path.is_symlink():
                raise ValueError("it is a symbolic link, not a file this cache wrote")
            data = json.loads(meta_path.read_text())
            if not isinstance(data, dict) or data.get("meta_sha256") != _meta_digest(data):
                raise ValueError("its metadata does not match its checksum")
            meta = EntryMeta.from_json(data)
            if (converted := meta.converted_model) is not None:
                # Only a file of this cache is ever read, found by its name (a cache folder mounted elsewhere on
                # another worker, or moved, keeps its entries); a path anywhere else is refused.
                inside = self.root / Path(converted).name
                if not self.holds(str(inside)):
                    raise ValueError(f"its converted model {converted!r} is not a file of this cache")
                meta = replace(meta, converted_model=str(inside))
            if model.stat().st_size != meta.size or sha256_file(model) != meta.sha256:
                raise ValueError("model file does not match its checksum")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.discard(key, f"is damaged ({type(exc).__name__}: {exc})")
            return None
        return CacheEntry(model_path=model, meta=meta)

    def holds(self, path: object) -> bool:
        """`path` names a regular file directly in this cache folder (not a link, not elsewhere)."""
        if not isinstance(path, str):
            return False
        candidate = Path(path)
        return candidate.parent.resolve() == self.root.resolve() and candidate.is_file() and not candidate.is_symlink()

    def discard(self, key: str, why: str) -> None:
        """Remove an entry that cannot be used, with a warning; the caller rebuilds it."""
        log.warning("cache entry %s %s; rebuilding it", key, why)
        self._remove(key)

    def temp_model_path(self, key: str) -> Path:
        """Where to let onnxruntime write the optimized model before it is committed."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheUnavailable(f"cache folder {self.root} cannot be created: {exc.strerror or exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise CacheUnavailable(f"cache folder {self.root} is not writable")
        try:
            return atomic.reserve(self.root / key, ".onnx.tmp")
        except OSError as exc:
            raise CacheUnavailable(f"cache folder {self.root} cannot be written: {exc.strerror or exc}") from exc

    def commit(self, key: str, temp_model: Path, meta: EntryMeta) -> CacheEntry:
        """Publish `temp_model` under `key` with `meta` (its size and SHA-256 filled in here)."""
        model, meta_path = self._paths(key)
        try:
            meta = replace(meta, size=temp_model.stat().st_size, sha256=sha256_file(temp_model))
            data = meta.to_json()
            data["meta_sha256"] = _meta_digest(data)
            atomic.publish(temp_model, model)
            atomic.write_bytes(meta_path, json.dumps(data, indent=1).encode())
        except OSError as exc:
            temp_model.unlink(missing_ok=True)
            self._remove(key)
            raise CacheUnavailable(f"cannot write to cache folder {self.root}: {exc.strerror or exc}") from exc
        return CacheEntry(model_path=model, meta=meta)

    def _record_path(self, key: str) -> Path:
        return self.root / f"{key}.record.json"

    def read_record(self, key: str) -> Json | None:
        """A record write_record stored (a measured verdict, a refusal): no model, only JSON checked against its
        own SHA-256. None when there is none; a damaged one is removed (it is measured or judged again)."""
        path = self._record_path(key)
        if not path.exists():
            return None
        try:
            if path.is_symlink():
                raise ValueError("it is a symbolic link, not a file this cache wrote")
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or data.get("meta_sha256") != _meta_digest(data):
                raise ValueError("it does not match its checksum")
            record = data["record"]
            if not isinstance(record, dict):
                raise TypeError("its record is not an object")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cache record %s is damaged (%s); measuring again", key, exc)
            path.unlink(missing_ok=True)
            return None
        return record

    def write_record(self, key: str, record: Json) -> None:
        """Store `record` under `key` atomically; CacheUnavailable when the folder cannot be written."""
        data: Json = {"record": json.loads(json.dumps(record, default=str))}
        data["meta_sha256"] = _meta_digest(data)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(self._record_path(key), json.dumps(data, indent=1).encode())
        except OSError as exc:
            raise CacheUnavailable(f"cannot write to cache folder {self.root}: {exc.strerror or exc}") from exc

    def _remove(self, key: str) -> None:
        for path in self._paths(key):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                log.warning("cannot remove damaged cache file %s", path)
