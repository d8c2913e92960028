"""Cache entries under hostile conditions (issue 16, items 7, 8, 11): edited or schema-invalid metadata
is rebuilt with a warning, external-data weights are the model's own and part of the key."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import onnx
import pytest

from engine.inference.pipeline import run_image
from engine.runtime.cache import ModelCache
from engine.runtime.prepare import SESSIONS, prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models

CPU = SessionSettings(provider="cpu")
IMAGE = np.random.default_rng(0).random((12, 10, 3), np.float32)


def _metas(cache_dir):
    return sorted(p for p in cache_dir.glob("*.json"))


def test_edited_metadata_is_rebuilt_with_a_warning(model_file, cache_dir, caplog):
    path = model_file("sr_x2")
    first = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    expected = run_image(first, IMAGE).image
    (meta_path,) = _metas(cache_dir)
    meta = json.loads(meta_path.read_text())
    meta["info"]["scale"] = 1  # a hand edit: the output would be cropped to the input's size
    meta_path.write_text(json.dumps(meta))
    SESSIONS.clear()
    with caplog.at_level(logging.WARNING):
        again = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    assert not again.cache_hit and "damaged" in caplog.text
    np.testing.assert_array_equal(run_image(again, IMAGE).image, expected)
    SESSIONS.clear()
    assert prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir).cache_hit  # rebuilt, not failing forever


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"info": {"scale": "two"}, "report": None},
        {"info": [], "report": 3},
        {"info": None},
        {"warnings": "not a list"},
        {"precision": "fp64"},
    ],
)
def test_schema_invalid_metadata_is_rebuilt(model_file, cache_dir, caplog, tmp_path, bad):
    from engine.runtime.cache import _meta_digest

    path = model_file("sr_x2")
    prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    (meta_path,) = _metas(cache_dir)
    meta = json.loads(meta_path.read_text())
    meta = {"size": meta["size"], "sha256": meta["sha256"]} if bad == {} else {**meta, **bad}
    meta["meta_sha256"] = _meta_digest(meta)  # a consistent entry (checksums fine) with the wrong content
    meta_path.write_text(json.dumps(meta))
    SESSIONS.clear()
    with caplog.at_level(logging.WARNING):
        again = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    assert not again.cache_hit and "rebuilding" in caplog.text
    assert run_image(again, IMAGE).image.shape == (24, 20, 3)


def _external(folder, seed=0):
    """sr_x2 saved with its weights in a side file 'weights.bin' next to it."""
    folder.mkdir(parents=True, exist_ok=True)
    model = models.sr_x2(seed)
    onnx.save_model(model, folder / "model.onnx", save_as_external_data=True, location="weights.bin", size_threshold=0)
    return folder / "model.onnx"


def test_external_weights_are_read_beside_the_model_not_the_cwd(tmp_path, monkeypatch, cache_dir):
    path = _external(tmp_path / "model")
    reference = prepare_model(str(path), "fp32", settings=CPU, cache_dir=cache_dir)
    expected = run_image(reference, IMAGE).image
    # A same-named weights file of another model in the current directory is not used.
    decoy = _external(tmp_path / "decoy", seed=5)
    monkeypatch.chdir(decoy.parent)
    SESSIONS.clear()
    fresh = prepare_model(str(path), "fp32", settings=CPU, cache_dir=tmp_path / "cache2")
    np.testing.assert_array_equal(run_image(fresh, IMAGE).image, expected)


def test_changed_external_weights_change_the_cache_key(tmp_path, cache_dir):
    path = _external(tmp_path / "model")
    first = run_image(prepare_model(str(path), "fp32", settings=CPU, cache_dir=cache_dir), IMAGE).image
    other = _external(tmp_path / "other", seed=5)
    os.replace(other.parent / "weights.bin", path.parent / "weights.bin")  # same graph file, new weights
    SESSIONS.clear()
    again = prepare_model(str(path), "fp32", settings=CPU, cache_dir=cache_dir)
    assert not again.cache_hit
    assert np.abs(run_image(again, IMAGE).image - first).max() > 1e-3


def test_cache_folder_deleted_during_optimization_falls_back_uncached(model_file, cache_dir, tmp_path, monkeypatch):
    """onnxruntime writes the optimized model itself: a folder that vanished (or filled up) under it
    fails that write, which must not be reported as a broken model."""
    path = model_file("sr_x2")
    reference = run_image(prepare_model(path, "fp32", settings=CPU, cache_dir=tmp_path / "ok"), IMAGE).image
    SESSIONS.clear()
    gone = tmp_path / "gone"

    def vanished(self, key):
        return gone / f"{key}.onnx.tmp"  # the folder was deleted after the check

    monkeypatch.setattr(ModelCache, "temp_model_path", vanished)
    prepared = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    assert prepared.optimized_model is None and any("not cached" in w for w in prepared.warnings)
    np.testing.assert_array_equal(run_image(prepared, IMAGE).image, reference)


def test_unusable_cache_warning_reaches_run_and_sequence(model_file, tmp_path):
    import subprocess
    import sys

    from engine.image.files import write_image
    from tests.helpers import ROOT

    path = model_file("sr_x2")
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "0001.exr", np.random.default_rng(0).random((8, 8, 3), np.float32))
    blocked = tmp_path / "cache_is_a_file"
    blocked.write_text("not a folder")
    common = ["--provider", "cpu", "--cache-dir", blocked]
    for args in (
        ["run", path, tmp_path / "in" / "0001.exr", tmp_path / "one.exr", *common],
        ["sequence", path, "--input", tmp_path / "in/####.exr", "--output", tmp_path / "o/####.exr", "--frames", "1"],
    ):
        args = [*args, *common] if args[0] == "sequence" else args
        done = subprocess.run(
            [sys.executable, "-m", "engine", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "not cached" in done.stderr and str(blocked) in done.stderr


def test_a_link_planted_at_the_cache_temporary_name_is_skipped(tmp_path, monkeypatch):
    """Issue 25: a shared farm cache cannot be used to make a worker overwrite another file."""
    import itertools
    import os

    from engine import atomic
    from engine.runtime.cache import ModelCache

    tokens = itertools.chain(["deadbeef"], (f"{n:08x}" for n in itertools.count(1)))
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda _n: next(tokens))
    cache = tmp_path / "cache"
    cache.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours")
    planted = cache / f".abc.{os.getpid()}.deadbeef.onnx.tmp"
    planted.symlink_to(victim)
    temp = ModelCache(cache).temp_model_path("abc")
    assert temp != planted and temp.is_file() and not temp.is_symlink() and temp.stat().st_size == 0
    assert victim.read_text() == "not yours"


def test_an_entry_that_is_a_link_or_points_outside_the_cache_is_rebuilt(tmp_path):
    """Issue 25: a changed `converted_model` path made `advise` read another file; an entry can also be a planted
    link. Only files of the cache folder are read; such an entry is discarded and rebuilt."""
    import json

    from engine.runtime.cache import EntryMeta, ModelCache, _meta_digest

    cache = ModelCache(tmp_path / "cache")
    temp = cache.temp_model_path("k1")
    temp.write_bytes(b"model bytes")
    converted_temp = cache.temp_model_path("c1")
    converted_temp.write_bytes(b"converted")
    converted = cache.commit("c1", converted_temp, EntryMeta())
    cache.commit("k1", temp, EntryMeta(converted_model=str(converted.model_path)))
    assert cache.lookup("k1").meta.converted_model == str(converted.model_path)

    elsewhere = tmp_path / "elsewhere.onnx"
    elsewhere.write_bytes(b"not the cache's")
    meta_path = tmp_path / "cache" / "k1.json"
    meta = json.loads(meta_path.read_text())
    meta["converted_model"] = str(elsewhere)
    meta["meta_sha256"] = _meta_digest(meta)  # recomputed: the checksum alone would trust it
    meta_path.write_text(json.dumps(meta))
    assert cache.lookup("k1") is None and not meta_path.exists()

    other = tmp_path / "other.onnx"
    other.write_bytes(b"model bytes")
    temp = cache.temp_model_path("k2")
    temp.write_bytes(b"model bytes")
    cache.commit("k2", temp, EntryMeta())
    (tmp_path / "cache" / "k2.onnx").unlink()
    (tmp_path / "cache" / "k2.onnx").symlink_to(other)
    assert cache.lookup("k2") is None and other.read_bytes() == b"model bytes"


@pytest.mark.parametrize("binding", [True, False], ids=["io-binding", "plain-run"])
def test_a_description_edited_with_its_checksum_never_gives_a_wrong_picture(model_file, cache_dir, binding):
    """Issue 25: metadata edited by hand with a recomputed checksum was trusted: a changed scale gave exit 0 and a
    64x64 output instead of 128x128 (cropped). The result's shape is checked on every run: the run fails in one line,
    the entry is discarded, and the next run rebuilds it and gives the right picture."""
    from engine.errors import ModelError
    from engine.inference.settings import RunSettings
    from engine.runtime import cache as cache_module

    # A CPU run binds its output only when it runs several tiles (pipeline.binds_output): tiles of 8 for that path.
    settings = RunSettings(use_binding=True, tile=8) if binding else RunSettings(use_binding=False)
    path = model_file("sr_x2")
    expected = run_image(prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir), IMAGE).image
    (meta_path,) = _metas(cache_dir)
    meta = json.loads(meta_path.read_text())
    meta["info"]["scale"] = 1.0
    for output in meta["info"]["outputs"]:
        output["scale"] = 1.0 if output.get("scale") else output.get("scale")
    meta["meta_sha256"] = cache_module._meta_digest(meta)  # the checksum recomputed: the entry looks consistent
    meta_path.write_text(json.dumps(meta))
    SESSIONS.clear()
    tampered = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    assert tampered.cache_hit and tampered.info.scale == 1.0
    with pytest.raises(ModelError, match="its cached description is wrong; nothing was written; its cache entry was"):
        run_image(tampered, IMAGE, settings=settings)
    assert not meta_path.exists()
    SESSIONS.clear()
    again = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    assert not again.cache_hit
    np.testing.assert_allclose(run_image(again, IMAGE, settings=settings).image, expected, atol=1e-6)
