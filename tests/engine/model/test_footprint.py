"""The memory need per pixel is the peak of tensors alive at once on the graph the session runs, and it is
close to what a plain onnxruntime session really takes (issue 24: the sum of every tensor was 12x the peak)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT

# A plain session, warmed on a small image; its resident high-water mark reset (Linux: clear_refs) just before
# the measured run, so the peak is what that one run added.
MEASURE = """
import json, sys
import numpy as np, onnxruntime as ort
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
path, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
session.run(None, {name: np.zeros((1, 3, 64, 64), np.float32)})
x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
base = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
session.run(None, {name: x})
print(json.dumps({"peak": status("VmHWM:") - base + x.nbytes}))
"""


def _measured_peak(path: Path, h: int, w: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(h), str(w)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["peak"]


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="measuring a run's peak memory needs Linux's clear_refs"
)
@pytest.mark.parametrize("name", ["sample", "squeeze_excitation", "unet_deep", "sr_x2"])
def test_memory_need_is_within_one_and_a_half_times_the_measured_peak_at_1080p(name, tmp_path):
    path = (
        ROOT / "samples" / "upscaler_x2.onnx"
        if name == "sample"
        else models.save(getattr(models, name)(), tmp_path / f"{name}.onnx")
    )
    prepared = prepare_model(path, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache")
    need = prepared.info.bytes_per_pixel * 1080 * 1920
    peak = _measured_peak(path, 1080, 1920)
    assert peak / 1.5 <= need <= peak * 1.5, f"{name}: need {need / 1e6:.0f} MB, measured {peak / 1e6:.0f} MB"


def test_memory_need_is_a_property_of_the_model_not_of_the_probe_size(tmp_path):
    """Tensors grow with the pixels, so the need per pixel taken at 64x64 holds at 256x256."""
    import numpy as np

    from engine.model.footprint import bytes_per_pixel

    model = models.squeeze_excitation()
    per_pixel = [bytes_per_pixel(model, {"x": np.zeros((1, 3, s, s), np.float32)}, s * s) for s in (64, 256)]
    assert per_pixel[0] == pytest.approx(per_pixel[1], rel=0.01)
    # The widest moment: the 16 features and their 16 gated copies alive together, plus the 3-channel input.
    assert per_pixel[1] < 4 * (3 + 16 + 16 + 16 + 3)
