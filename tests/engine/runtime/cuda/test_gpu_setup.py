"""The GPU runtime without a GPU: detection on fake folder layouts, pip from a local wheel folder, activation,
conflicts with a foreign onnxruntime, and the build script's pins."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

from engine import gpu as gpu_setup
from tests.helpers import ROOT as REPO
from tests.helpers import make_wheel

LINUX_LIBS = [
    "libcudart.so.13",
    "libcublasLt.so.13",
    "libcublas.so.13",
    "libcurand.so.10",
    "libcufft.so.12",
    "libnvrtc.so.13",
]


def _build_script():
    spec = importlib.util.spec_from_file_location("build_extension", REPO / "scripts" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def _pip_site(root: Path, cudnn=True) -> Path:
    """A site folder laid out like pip's NVIDIA CUDA 13 wheels, with a RECORD naming the cuBLAS files."""
    lib = root / "nvidia" / "cu13" / "lib"
    lib.mkdir(parents=True)
    for name in LINUX_LIBS:
        (lib / name).write_bytes(b"")
    if cudnn:
        (root / "nvidia" / "cudnn" / "lib").mkdir(parents=True)
        (root / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9").write_bytes(b"")
    info = root / "nvidia_cublas-13.10.0.20.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("nvidia/cu13/lib/libcublasLt.so.13,,\nnvidia/cu13/lib/libcublas.so.13,,\n")
    driver = root / "driver"
    driver.mkdir()
    (driver / "libcuda.so.1.580.65").write_bytes(b"")
    (driver / "libcuda.so.1").symlink_to("libcuda.so.1.580.65")
    return root


def test_detection_reports_a_complete_pip_layout(tmp_path):
    site = _pip_site(tmp_path)
    found = {s.library: s for s in gpu_setup.detect_cuda_libraries([str(site), str(site / "driver")], "Linux")}
    assert all(s.found for s in found.values()), found
    assert found["libcublasLt.so.13"].path == str(site / "nvidia/cu13/lib/libcublasLt.so.13")
    assert found["libcublasLt.so.13"].version == "13.10.0.20"  # from the wheel's RECORD
    assert found["libcuda.so.1"].version == "1.580.65"  # from the file the soname points to
    assert found["libcudnn.so.9"].version == "9"
    assert gpu_setup.missing_summary(list(found.values()), "Linux") == ""
    library, path, version = found["libcudart.so.13"]  # a (library, path, version) triple
    assert library == "libcudart.so.13" and path.endswith("libcudart.so.13") and version == "13"


def test_detection_names_what_is_missing(tmp_path):
    site = _pip_site(tmp_path, cudnn=False)
    statuses = gpu_setup.detect_cuda_libraries([str(site), str(site / "driver")], "Linux")
    summary = gpu_setup.missing_summary(statuses, "Linux")
    assert summary.startswith("missing libcudnn.so.9:") and "install the GPU runtime" in summary
    assert "driver" not in summary
    empty = gpu_setup.detect_cuda_libraries([str(tmp_path / "nothing")], "Linux")
    assert not any(s.found for s in empty)
    summary = gpu_setup.missing_summary(empty, "Linux")
    for name in ("libcuda.so.1", "libcublasLt.so.13", "libcudart.so.13", "libcudnn.so.9"):
        assert name in summary
    assert "libcufft.so.12" not in summary  # optional, as onnxruntime treats it
    assert "NVIDIA driver" in summary


def test_detection_windows_layout(tmp_path):
    bin_dir = tmp_path / "nvidia" / "cu13" / "bin" / "x86_64"
    bin_dir.mkdir(parents=True)
    for name in ("cudart64_13.dll", "cublasLt64_13.dll", "cublas64_13.dll", "curand64_10.dll"):
        (bin_dir / name).write_bytes(b"")
    statuses = gpu_setup.detect_cuda_libraries([str(tmp_path)], "Windows")
    found = {s.library: s for s in statuses}
    assert found["cublasLt64_13.dll"].found and found["cublasLt64_13.dll"].version == "13"
    assert gpu_setup.missing_summary(statuses, "Windows").startswith("missing nvcuda.dll, cudnn64_9.dll:")
    assert gpu_setup.detect_cuda_libraries([str(tmp_path)], "Darwin") == []


def test_reason_here_names_the_missing_libraries(monkeypatch):
    """This machine has no CUDA libraries: on a machine with a GPU, the fallback reason must say which, not
    just 'failed' (without a GPU it says there is none: see test_prepare)."""
    from engine.runtime.cuda import probe

    statuses = gpu_setup.detect_cuda_libraries()
    if all(s.found for s in statuses):
        pytest.skip("CUDA libraries are installed on this machine")
    monkeypatch.setattr(probe, "nvidia_gpu_present", lambda: True)
    gpu_setup.forget_verdicts()
    reason = gpu_setup.cuda_unavailable_reason()
    gpu_setup.forget_verdicts()
    missing = [s.library for s in statuses if not s.found and s.library != "libcufft.so.12"]
    assert reason and any(name in reason for name in missing), reason


def test_install_command_offline_and_failures(tmp_path):
    calls = []

    def runner(command, **kwargs):
        calls.append((command, kwargs))
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for nvidia-cublas")

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    result = gpu_setup.install_gpu_runtime(tmp_path / "target", wheels, runner=runner, packages=["nvidia-cublas~=13.0"])
    command, kwargs = calls[0]
    assert command[1:4] == ["-m", "pip", "install"] and command[0] == sys.executable
    assert ["--target", str(tmp_path / "target")] == command[4:6] and "--no-deps" in command
    assert command[command.index("--find-links") + 1] == str(wheels) and "--no-index" in command
    assert kwargs["env"]["PYTHONNOUSERSITE"] == "1"
    assert not result.ok and "lacks some of: nvidia-cublas~=13.0" in result.message
    missing = gpu_setup.install_gpu_runtime(tmp_path / "t2", tmp_path / "absent", runner=runner)
    assert not missing.ok and "does not exist" in missing.message
    assert "onnxruntime-gpu==" + gpu_setup.ORT_VERSION in gpu_setup.gpu_packages()
    assert "nvidia-cudnn-cu13~=9.0" in gpu_setup.gpu_packages(include_onnxruntime=False)


def test_install_from_local_wheels_then_activate(tmp_path, monkeypatch, request):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    target = tmp_path / "gpu_runtime"
    result = gpu_setup.install_gpu_runtime(target, wheel_dir=wheels, packages=["nvidia-fake-probe==1.0"])
    assert result.ok, result.output
    assert (target / "nvidia" / "cu13" / "lib" / "libcurand.so.10").is_file()
    assert (target / "nvidia_fake_probe" / "__init__.py").is_file()

    monkeypatch.setattr(sys, "path", list(sys.path))
    loaded_paths = []
    activation = gpu_setup.activate(target, loader=loaded_paths.append)
    request.addfinalizer(lambda: gpu_setup.deactivate(target))
    assert activation.added_to_path and sys.path[0] == str(target)
    assert gpu_setup.active_targets() == [str(target)]
    assert activation.loaded == ["libcurand.so.10"] and loaded_paths == [
        str(target / "nvidia/cu13/lib/libcurand.so.10")
    ]
    assert not activation.restart_needed
    monkeypatch.delitem(sys.modules, "nvidia_fake_probe", raising=False)
    assert importlib.import_module("nvidia_fake_probe").VALUE == 42
    # Detection now looks into the activated folder first.
    assert any(s.path and s.path.startswith(str(target)) for s in gpu_setup.detect_cuda_libraries())
    # A real loader on an empty file fails: reported per library, not raised.
    assert gpu_setup.preload_active_libraries([str(target)])[1][0].startswith("libcurand.so.10:")


def test_activate_says_restart_when_another_onnxruntime_is_loaded(tmp_path, monkeypatch):
    (tmp_path / "onnxruntime").mkdir()
    (tmp_path / "onnxruntime" / "__init__.py").write_text("")
    other = types.ModuleType("onnxruntime")
    other.__file__ = "/elsewhere/site-packages/onnxruntime/__init__.py"
    monkeypatch.setitem(sys.modules, "onnxruntime", other)
    monkeypatch.setattr(sys, "path", list(sys.path))
    result = gpu_setup.activate(tmp_path, load_libraries=False)
    gpu_setup.deactivate(tmp_path)
    assert (
        result.restart_needed and "restart Blender" in result.message and "/elsewhere/site-packages" in result.message
    )


def test_runtime_conflict_names_the_foreign_onnxruntime():
    ours = types.SimpleNamespace(
        __version__=gpu_setup.ORT_VERSION, __file__="/ext/site-packages/onnxruntime/__init__.py"
    )
    assert gpu_setup.runtime_conflict(ours) == ""
    assert gpu_setup.runtime_conflict(ours, expected_dirs=["/ext/site-packages"]) == ""
    old = types.SimpleNamespace(__version__="1.17.0", __file__="/other/ext/onnxruntime/__init__.py")
    text = gpu_setup.runtime_conflict(old)
    assert "onnxruntime 1.17.0 is loaded from /other/ext" in text and gpu_setup.ORT_VERSION in text
    assert "another extension" in text
    moved = gpu_setup.runtime_conflict(ours, expected_dirs=["/mine"])
    assert "not from this extension's packages" in moved


def test_pins_agree_with_requirements_and_the_tested_environment():
    build = _build_script()
    pins = {p.name: p.version for p in build.read_pins(REPO / "requirements.txt", "cpu", "linux-x64")}
    assert pins["onnxruntime"] == gpu_setup.ORT_VERSION
    assert "numpy" not in pins and "openimageio" not in pins
    gpu = {p.name for p in build.read_pins(REPO / "requirements.txt", "gpu", "linux-x64")}
    assert "onnxruntime-gpu" in gpu and "onnxruntime" not in gpu
    assert "onnxruntime" in {p.name for p in build.read_pins(REPO / "requirements.txt", "gpu", "macos-arm64")}
    # What onnx and onnxruntime pull in is pinned in requirements.txt itself, so the zip bundles the versions
    # `make test` installed, whatever the package index has released since.
    assert {"protobuf", "flatbuffers", "ml-dtypes"} <= set(pins)
    for name, version in pins.items():
        installed = "onnxruntime-gpu" if name == "onnxruntime" else name  # the tests run the GPU build
        assert importlib.metadata.version(installed) == version, name


def test_manifest_keys_are_replaced_and_the_rest_kept():
    build = _build_script()
    text = (REPO / "blender_manifest.toml").read_text()
    new = build.set_manifest_keys(
        text, {"blender_version_max": None, "platforms": ["linux-x64"], "wheels": ["./wheels/a-1-py3-none-any.whl"]}
    )
    again = build.set_manifest_keys(new, {"wheels": ["./wheels/b-2-py3-none-any.whl"], "blender_version_max": "5.1.0"})
    assert "a-1-py3" not in again and '"./wheels/b-2-py3-none-any.whl"' in again
    assert 'blender_version_max = "5.1.0"' in again and again.count("platforms = [") == 1
    for keep in ("[permissions]", "[build]", 'id = "onnx_image_runtime"', "paths_exclude_pattern"):
        assert keep in again
