"""A cache entry's metadata is a record (issue 23): EntryMeta, frozen and keyword-only, whose JSON the checksum
protects. A report with psnr_db=inf read back from the cache formats and saves again (it once made to_json raise
TypeError and the panel's :.1f raise ValueError); entries written by older versions still read."""

from __future__ import annotations

import dataclasses
import json
import logging
import math

import pytest

from engine.model.records import ModelInfo, TensorInfo
from engine.options import Layout, Precision, Status
from engine.precision.records import ConversionReport
from engine.runtime.cache import EntryMeta, ModelCache, _meta_digest
from engine.runtime.prepare import SESSIONS, prepare_model
from engine.runtime.sessions import SessionSettings

CPU = SessionSettings(provider="cpu")
IDENTICAL = ConversionReport(
    status=Status.OK, precision=Precision.FP16, max_abs_error=0.0, mean_abs_error=0.0, p999_abs_error=0.0,
    psnr_db=math.inf,
)  # fmt: skip


def _info() -> ModelInfo:
    image = TensorInfo(name="x", shape=(1, 3, "h", "w"), dtype="float32", layout=Layout.NCHW, channels=3)
    return ModelInfo(
        inputs=(image,), outputs=(dataclasses.replace(image, name="y", scale=2.0),), scale=2.0, fixed_size=None,
        size_multiple=1,
    )  # fmt: skip


def _committed(tmp_path, meta: EntryMeta, key="k") -> ModelCache:
    cache = ModelCache(tmp_path / "cache")
    temp = cache.temp_model_path(key)
    temp.write_bytes(b"model bytes")
    cache.commit(key, temp, meta)
    return cache


def test_entry_meta_is_frozen_keyword_only_and_checked():
    meta = EntryMeta(report=IDENTICAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.size = 3
    with pytest.raises(TypeError):
        EntryMeta(None, IDENTICAL)
    with pytest.raises(ValueError, match="negative"):
        EntryMeta(size=-1)
    with pytest.raises(ValueError, match="SHA-256"):
        EntryMeta(sha256="not a digest")
    with pytest.raises(ValueError, match="fp64"):
        EntryMeta(precision="fp64")


def test_entry_meta_round_trips_through_strict_json():
    meta = EntryMeta(
        info=_info(), report=IDENTICAL, warnings=("IR lowered",), precision=Precision.FP16,
        converted_model="/cache/c.onnx", size=11, sha256="0" * 64,
    )  # fmt: skip
    again = EntryMeta.from_json(json.loads(json.dumps(meta.to_json(), allow_nan=False)))
    assert again == meta and again.to_json() == meta.to_json()


def test_a_report_with_infinite_psnr_reads_back_from_the_cache_and_formats(tmp_path):
    """The old bug: psnr_db=inf saved as "inf" came back as a string; to_json() then raised TypeError and the panel's
    f"{psnr_db:.1f}" ValueError."""
    cache = _committed(tmp_path, EntryMeta(report=IDENTICAL))
    entry = cache.lookup("k")
    assert entry is not None and entry.meta.size == len(b"model bytes")
    report = entry.meta.report
    assert report == IDENTICAL and report.psnr_db == math.inf
    assert json.loads((tmp_path / "cache" / "k.json").read_text())["report"]["psnr_db"] == "inf"  # strict JSON
    assert f"{report.psnr_db:.1f}" == "inf" and report.accuracy_text().startswith("PSNR inf dB")
    json.dumps(report.to_json(), allow_nan=False)  # saves again (the JSON output, another cache entry)


def test_an_entry_whose_json_breaks_a_record_is_discarded_even_with_its_checksum_recomputed(tmp_path, caplog):
    cache = _committed(tmp_path, EntryMeta(info=_info(), report=IDENTICAL))
    path = tmp_path / "cache" / "k.json"
    data = json.loads(path.read_text())
    data["info"]["size_multiple"] = 0  # a hand edit, the checksum recomputed: the record refuses it
    data["meta_sha256"] = _meta_digest(data)
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        assert cache.lookup("k") is None
    assert "damaged" in caplog.text and "size_multiple" in caplog.text and not path.exists()


def test_an_edit_without_the_checksum_is_discarded(tmp_path):
    cache = _committed(tmp_path, EntryMeta(report=IDENTICAL))
    path = tmp_path / "cache" / "k.json"
    data = json.loads(path.read_text())
    data["report"]["psnr_db"] = 12.0
    path.write_text(json.dumps(data))
    assert cache.lookup("k") is None and not path.exists()


def test_an_entry_written_by_an_older_version_is_a_hit(model_file, cache_dir):
    """Older versions wrote the same layout without the keys added since (warnings; the description's memory need,
    receptive radius and batch) and figures as json.dumps wrote them: the entry reads, nothing is rebuilt."""
    path = model_file("sr_x2")
    first = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    (meta_path,) = sorted(cache_dir.glob("*.json"))
    data = json.loads(meta_path.read_text())
    del data["warnings"]
    for key in ("bytes_per_pixel", "receptive_radius", "batch"):
        del data["info"][key]
    data["meta_sha256"] = _meta_digest(data)
    meta_path.write_text(json.dumps(data))
    SESSIONS.clear()
    again = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    assert again.cache_hit and again.info.scale == first.info.scale and again.info.receptive_radius is None
