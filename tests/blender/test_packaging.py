"""End to end as a user gets it: build the linux-x64 zip with the bundled wheels, install it into Blender
(the bpy module) with Blender's extension installer, run a model on an image, install a (fake) GPU runtime.

The wheels are downloaded once into a cache (ONNX_IMAGE_RUNTIME_WHEEL_CACHE, default
~/.cache/onnx_image_runtime/wheels); later runs are offline. Blender runs in a subprocess because
BLENDER_USER_RESOURCES must be set before bpy is imported, and with `python -S` and a sys.path holding only
bpy and what Blender itself ships, so the extension can only use the onnxruntime and onnx from its zip.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What a real Blender's Python has in its site-packages (and bpy itself), nothing else.
BLENDER_SITE = ("bpy", "numpy", "numpy.libs", "requests", "certifi", "charset_normalizer", "idna", "urllib3")
BLENDER_SITE += ("zstandard", "Cython", "cython.py", "OpenImageIO")

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() != "x86_64", reason="builds and installs the linux-x64 zip"
)


def wheel_cache() -> Path:
    explicit = os.environ.get("ONNX_IMAGE_RUNTIME_WHEEL_CACHE")
    return Path(explicit) if explicit else Path.home() / ".cache" / "onnx_image_runtime" / "wheels"


def blender_only_site(folder: Path) -> Path:
    import importlib.metadata

    # bpy replaces itself with Blender's scripts/modules/bpy on import: find the wheel's folder instead.
    site = Path(importlib.metadata.distribution("bpy").locate_file(""))
    folder.mkdir()
    for name in BLENDER_SITE:
        if (site / name).exists():
            (folder / name).symlink_to(site / name)
    return folder


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import bpy

    args = json.loads(sys.argv[1])
    out = {}
    result = bpy.ops.extensions.package_install_files(
        filepath=args["zip"], repo="user_default", enable_on_install=True
    )
    pkg = "bl_ext.user_default.onnx_image_runtime"
    out["install"] = sorted(result)
    out["enabled"] = pkg in bpy.context.preferences.addons

    import onnx, onnxruntime
    out["onnxruntime"] = [onnxruntime.__version__, onnxruntime.__file__, onnxruntime.get_available_providers()]
    out["onnx"] = onnx.__file__

    img = bpy.data.images.new("Source", 40, 24, alpha=True, float_buffer=True)
    img.pixels.foreach_set(np.random.default_rng(0).random(40 * 24 * 4, dtype=np.float32))
    out["run"] = sorted(bpy.ops.onnx.run_image(image="Source", model=args["model"], precision="FP32", provider="CPU"))
    result_img = bpy.data.images["Source ONNX"]
    out["size"] = list(result_img.size)

    module = sys.modules[pkg]
    cuda = module.engine.SessionSettings(provider="cuda")
    prepared = module.engine.prepare_model(args["model"], "fp32", settings=cuda)
    out["fallback"] = prepared.fallback_reason

    class Layout:  # stands in for UILayout: records every label
        labels = []
        def __getattr__(self, name):
            def call(*a, **k):
                if name == "label":
                    Layout.labels.append(k.get("text", ""))
                return self
            return call
    prefs = bpy.context.preferences.addons[pkg].preferences
    module.preferences.draw_gpu_runtime(Layout(), prefs)
    out["labels_as_found"] = list(Layout.labels)
    probe = "nvidia-fake-probe==1.0"
    try:
        out["gpu_install_as_found"] = sorted(bpy.ops.onnx.install_gpu_runtime(wheel_dir=args["wheels"], packages=probe))
    except RuntimeError as exc:  # the operator's ERROR report, raised by bpy.ops in the module
        out["gpu_install_as_found"] = str(exc)
    prefs.force_gpu_runtime = True  # what an artist with a driver the check cannot see ticks
    Layout.labels = []
    module.preferences.draw_gpu_runtime(Layout(), prefs)
    out["labels"] = Layout.labels
    out["gpu_install"] = sorted(bpy.ops.onnx.install_gpu_runtime(wheel_dir=args["wheels"], packages=probe))
    out["gpu_dir"] = bpy.utils.extension_path_user(pkg, path="gpu_runtime")
    import nvidia_fake_probe
    out["probe"] = nvidia_fake_probe.__file__
    print("RESULT " + json.dumps(out))
    """
)


def test_built_zip_installs_and_runs(tmp_path):
    from tests import models
    from tests.helpers import make_wheel

    started = time.perf_counter()
    manifest_before = (REPO / "blender_manifest.toml").read_text()
    had_wheels = (REPO / "wheels").exists()
    cache = wheel_cache()
    build = [sys.executable, str(REPO / "scripts" / "build_extension.py"), "--platform", "linux-x64"]
    build += ["--python", f"{sys.version_info[0]}.{sys.version_info[1]}", "--wheel-dir", str(cache)]
    build += ["--output-dir", str(tmp_path / "dist")]
    done = subprocess.run(build, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    (zip_path,) = (tmp_path / "dist").glob("onnx_image_runtime-*-linux_x64.zip")
    assert os.listdir(tmp_path / "dist") == [zip_path.name]  # the staged copy of the sources went with the build
    built = time.perf_counter() - started
    # The build worked on a staged copy: the checkout's manifest lists no wheels and gained no wheels/.
    assert (REPO / "blender_manifest.toml").read_text() == manifest_before
    assert "wheels =" not in manifest_before
    assert (REPO / "wheels").exists() == had_wheels

    import zipfile

    names = zipfile.ZipFile(zip_path).namelist()
    assert not any(n.startswith(("tests/", "bench/", "docs/", "farm/", "scripts/", ".")) for n in names)
    assert not any("__pycache__" in n or n.startswith("samples/train_") for n in names)
    wheels = sorted(n for n in names if n.endswith(".whl"))
    assert any(n.startswith("wheels/onnxruntime-") for n in wheels) and not any("numpy" in n for n in wheels)
    assert all("manylinux" in n or "none-any" in n for n in wheels), wheels

    model = models.save(models.sr_x2(), tmp_path / "sr_x2.onnx")
    fake_wheels = tmp_path / "gpu_wheels"
    fake_wheels.mkdir()
    make_wheel(fake_wheels)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ONNX_IMAGE_RUNTIME"))}
    env.update(
        BLENDER_USER_RESOURCES=str(tmp_path / "user"),
        PYTHONPATH=str(blender_only_site(tmp_path / "site")),
        PYTHONNOUSERSITE="1",
    )
    args = json.dumps({"zip": str(zip_path), "model": str(model), "wheels": str(fake_wheels)})
    done = subprocess.run(
        [sys.executable, "-S", "-c", SCRIPT, args], capture_output=True, text=True, timeout=600, env=env
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-4000:] + done.stderr[-4000:]
    out = json.loads(lines[-1][len("RESULT ") :])
    print(f"build {built:.1f} s, install and run {time.perf_counter() - started - built:.1f} s")

    assert out["install"] == ["FINISHED"] and out["enabled"]
    version, ort_file, providers = out["onnxruntime"]
    local = str(tmp_path / "user")
    assert ort_file.startswith(local) and out["onnx"].startswith(local), out  # the bundled copies
    assert providers == ["CPUExecutionProvider"] or "CPUExecutionProvider" in providers
    assert out["run"] == ["FINISHED"] and out["size"] == [80, 48]
    from engine.runtime.cuda.probe import nvidia_gpu_present

    if nvidia_gpu_present():
        assert "CPU-only build" in out["fallback"] and "GPU runtime" in out["fallback"]
        assert out["gpu_install_as_found"] == ["FINISHED"]
    else:  # no card: said plainly, not as a runtime to download (issue 27: a 1.5 GB download for nothing)
        assert out["fallback"] == "CUDA requested, but no NVIDIA GPU found: running on CPU"
        assert out["labels_as_found"][1:] == ["No NVIDIA GPU found: models run on the CPU, nothing to install"]
        assert "No NVIDIA GPU found: the GPU runtime (about 1.5 GB) would not be used" in out["gpu_install_as_found"]
    assert any("libcublasLt.so.13" in label and "missing" in label for label in out["labels"]), out["labels"]
    assert out["gpu_install"] == ["FINISHED"]
    assert out["gpu_dir"].startswith(local) and out["probe"].startswith(out["gpu_dir"])
