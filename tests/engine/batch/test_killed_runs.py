"""Runs killed or raced from outside (issue 16: cases that already held, kept by these tests): kill -9 in
the middle of a sequence and resume, several processes preparing one cache, external data outside the
model's folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest

from engine.errors import ModelError
from engine.image.files import read_image, write_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT

FRAMES = 40


def _engine(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_kill_9_mid_sequence_then_skip_existing_gives_every_frame_complete(tmp_path):
    model = models.save(models.sr_x2(), tmp_path / "m.onnx")
    (tmp_path / "in").mkdir()
    for f in range(1, FRAMES + 1):
        write_image(tmp_path / f"in/{f:04d}.exr", np.random.default_rng(f).random((96, 128, 4), np.float32))
    args = ["sequence", model, "--input", tmp_path / "in/####.exr", "--output", tmp_path / "out/####.exr"]
    args += ["--frames", f"1-{FRAMES}", "--provider", "cpu", "--cache-dir", tmp_path / "c"]
    victim = _engine(*args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(os.listdir(tmp_path / "out") if (tmp_path / "out").exists() else []) < 3:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    written = sorted(os.listdir(tmp_path / "out"))
    assert victim.returncode == -signal.SIGKILL and len([n for n in written if not n.startswith(".")]) < FRAMES
    resumed = _engine(*args, "--skip-existing")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    summary = json.loads(out)
    assert sorted(summary["done"] + summary["skipped"]) == list(range(1, FRAMES + 1))
    # Every frame is complete (readable, the right size); no temporary file of the killed run is left.
    assert sorted(os.listdir(tmp_path / "out")) == [f"{f:04d}.exr" for f in range(1, FRAMES + 1)]
    for f in range(1, FRAMES + 1):
        assert read_image(tmp_path / f"out/{f:04d}.exr").shape == (192, 256, 4)


def test_four_processes_preparing_one_cache_all_succeed_with_one_entry(tmp_path):
    model = models.save(models.sr_x2(), tmp_path / "m.onnx")
    runs = [
        _engine("optimize", model, "--precision", "fp16", "--provider", "cpu", "--cache-dir", tmp_path / "c")
        for _ in range(4)
    ]
    results = [(p.communicate(timeout=300), p.returncode) for p in runs]
    assert all(code == 0 for _, code in results), [err for (_, err), _ in results]
    entries = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert all(not name.startswith(".") for name in entries)  # no temporary file left
    assert len([n for n in entries if n.endswith(".json")]) == 2  # the optimized model and the converted graph


def test_external_data_outside_the_models_folder_is_refused(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    model = models.sr_x2()
    onnx.save_model(model, folder / "m.onnx", save_as_external_data=True, location="w.bin", size_threshold=0)
    os.replace(folder / "w.bin", tmp_path / "w.bin")
    loaded = onnx.load(str(folder / "m.onnx"), load_external_data=False)
    for tensor in loaded.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../w.bin"
    onnx.save_model(loaded, folder / "m.onnx")
    with pytest.raises(ModelError, match="outside the model's folder"):
        prepare_model(
            str(folder / "m.onnx"), "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "c"
        )
