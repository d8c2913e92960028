import errno
import json
import os

import numpy as np
import pytest

from engine import atomic
from engine.errors import ConversionError, ModelError
from engine.gpu import cuda_unavailable_reason
from engine.runtime.prepare import SESSIONS, prepare_model
from engine.runtime.sessions import SessionSettings, resolve_provider
from tests import models

CPU = SessionSettings(provider="cpu")


def _entries(cache_dir):
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def test_first_prepare_optimizes_and_caches_then_loads_the_cached_model(model_file, cache_dir):
    path = model_file("sr_x2")
    first = prepare_model(path, "fp16", settings=CPU, cache_dir=cache_dir)
    assert not first.cache_hit and first.report.status == "ok"
    assert first.optimized_model and os.path.exists(first.optimized_model)
    SESSIONS.clear()
    second = prepare_model(path, "fp16", settings=CPU, cache_dir=cache_dir)
    assert second.cache_hit and second.optimized_model == first.optimized_model
    assert second.report.max_abs_error == pytest.approx(first.report.max_abs_error)
    assert not first.channels_last  # a CPU session keeps the model's own NCHW layout
    x = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
    a, b = (p.session.run(None, {"x": x})[0] for p in (first, second))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_cache_key_separates_precisions_and_levels(model_file, cache_dir):
    path = model_file("sr_x2")
    assert prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir).converted_model is None
    extended = prepare_model(path, "fp16", settings=CPU, cache_dir=cache_dir)
    basic = prepare_model(
        path, "fp16", settings=SessionSettings(provider="cpu", optimization_level="basic"), cache_dir=cache_dir
    )
    # three optimized models, and one converted graph that both fp16 levels share (converted once)
    assert len([n for n in _entries(cache_dir) if n.endswith(".onnx")]) == 4
    assert extended.converted_model and extended.converted_model == basic.converted_model
    assert extended.optimized_model != basic.optimized_model


def test_in_process_session_cache_returns_the_same_session(model_file, cache_dir):
    path = model_file("sr_x2")
    assert prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir) is prepare_model(
        path, "fp32", settings=CPU, cache_dir=cache_dir
    )


def test_prepared_from_tells_converted_cache_hit_and_reuse_in_memory_apart(model_file, cache_dir):
    """Issue 27: a second run in Blender said "converted and cached" again; it had reused the model in memory."""
    from engine.runtime.prepare import PreparedFrom, release_model

    path = model_file("sr_x2")
    first = prepare_model(path, "fp16", settings=CPU, cache_dir=cache_dir)
    assert first.prepared_from == PreparedFrom.CONVERTED == "converted and cached"
    again = prepare_model(path, "fp16", settings=CPU, cache_dir=cache_dir)
    assert again is first and again.prepared_from == PreparedFrom.MEMORY == "reused in memory"
    assert (
        prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir).prepared_from == PreparedFrom.CONVERTED
    )  # another key
    release_model(first)  # as after a render: the next prepare loads the file cache, nothing converted
    loaded = prepare_model(path, "fp16", settings=CPU, cache_dir=cache_dir)
    assert loaded is not first and loaded.prepared_from == PreparedFrom.CACHE_HIT
    assert prepare_model(path, "fp16", settings=CPU, cache_dir=cache_dir).prepared_from == PreparedFrom.MEMORY


def test_corrupt_cache_entry_is_detected_and_rebuilt(model_file, cache_dir):
    path = model_file("sr_x2")
    entry = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir).optimized_model
    with open(entry, "r+b") as fh:
        fh.seek(40)
        fh.write(b"\0garbage\0")
    SESSIONS.clear()
    rebuilt = prepare_model(path, "fp32", settings=CPU, cache_dir=cache_dir)
    assert not rebuilt.cache_hit
    meta = json.loads(open(entry.replace(".onnx", ".json")).read())
    from engine.model.digest import sha256_file

    assert sha256_file(entry) == meta["sha256"]


@pytest.mark.parametrize("name", ["write_truncated", "write_not_onnx"])
def test_bad_model_files_leave_no_cache_entry(tmp_path, cache_dir, name):
    path = getattr(models, name)(tmp_path / "bad.onnx")
    with pytest.raises(ModelError):
        prepare_model(path, "fp16", settings=CPU, cache_dir=cache_dir)
    assert _entries(cache_dir) == []


def test_no_image_input_leaves_no_cache_entry(model_file, cache_dir):
    with pytest.raises(ModelError, match="no image-like input"):
        prepare_model(model_file("no_image_input"), "fp32", settings=CPU, cache_dir=cache_dir)
    assert _entries(cache_dir) == []


def test_failed_conversion_raises_with_its_report_and_caches_nothing(model_file, cache_dir):
    with pytest.raises(ConversionError) as info:
        prepare_model(model_file("overflow"), "fp16", settings=CPU, cache_dir=cache_dir)
    assert info.value.report.status == "failed"
    assert _entries(cache_dir) == []
    assert prepare_model(model_file("overflow"), "amp", settings=CPU, cache_dir=cache_dir).report.status == "ok"


def test_unwritable_cache_folder_still_runs_and_says_why(model_file, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    prepared = prepare_model(model_file("sr_x2"), "fp32", settings=CPU, cache_dir=blocker / "cache")
    assert prepared.optimized_model is None and not prepared.cache_hit
    assert "cannot be created" in prepared.warnings[0]


def test_full_disk_while_committing_leaves_no_entry_or_temp(model_file, cache_dir, monkeypatch):
    def full(*_args, **_kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "publish", full)
    prepared = prepare_model(model_file("sr_x2"), "fp32", settings=CPU, cache_dir=cache_dir)
    assert prepared.optimized_model is None
    assert "No space left" in prepared.warnings[0]
    assert _entries(cache_dir) == []


@pytest.mark.skipif(not cuda_unavailable_reason(), reason="this machine has a working CUDA runtime")
def test_missing_gpu_runtime_is_a_plain_reason_and_cpu_runs(model_file, cache_dir):
    choice = resolve_provider(SessionSettings(provider="cuda"))
    assert choice.name == "cpu"
    assert choice.fallback_reason.startswith("CUDA requested, but")
    assert "running on CPU" in choice.fallback_reason
    prepared = prepare_model(
        model_file("sr_x2"), "fp32", settings=SessionSettings(provider="cuda"), cache_dir=cache_dir
    )
    assert prepared.provider == "cpu" and prepared.fallback_reason == choice.fallback_reason
    assert prepared.session.get_providers() == ["CPUExecutionProvider"]


def test_profiling_returns_a_trace(model_file, cache_dir, tmp_path):
    settings = SessionSettings(provider="cpu", profiling=True, profile_prefix=str(tmp_path / "trace"))
    prepared = prepare_model(model_file("sr_x2"), "fp32", settings=settings, cache_dir=cache_dir)
    prepared.session.run(None, {"x": np.zeros((1, 3, 8, 8), np.float32)})
    trace = prepared.session.end_profiling()
    assert os.path.exists(trace) and json.load(open(trace))


def test_missing_model_file_is_named_and_caches_nothing(tmp_path, cache_dir):
    with pytest.raises(ModelError, match=r"^model file not found: .*missing\.onnx$"):
        prepare_model(tmp_path / "missing.onnx", "fp16", settings=CPU, cache_dir=cache_dir)
    assert _entries(cache_dir) == []


def test_no_nvidia_gpu_says_so_instead_of_pointing_at_a_download(monkeypatch):
    from engine.runtime.cuda import probe

    monkeypatch.setattr(probe, "nvidia_gpu_present", lambda: False)
    probe.forget_verdicts()
    try:
        auto = resolve_provider(SessionSettings(provider="auto"))
        assert (auto.name, auto.fallback_reason) == ("cpu", "no NVIDIA GPU found: running on the CPU")
        asked = resolve_provider(SessionSettings(provider="cuda"))
        assert asked.fallback_reason == "CUDA requested, but no NVIDIA GPU found: running on CPU"
        assert "install" not in auto.fallback_reason + asked.fallback_reason
    finally:
        probe.forget_verdicts()


def test_a_cache_hit_does_not_parse_the_source_model_again_and_keeps_its_notes(model_file, cache_dir, monkeypatch):
    """Start-up (issue 24): the optimized graph is loaded as cached; the IR-version note made when the source
    was first loaded is kept with the entry."""
    from engine.model import onnx_io

    first = prepare_model(model_file("ir14"), "fp32", settings=CPU, cache_dir=cache_dir)
    assert first.warnings and not first.cache_hit
    SESSIONS.clear()

    def no_parse(*_a, **_k):
        raise AssertionError("the source model was parsed on a cache hit")

    monkeypatch.setattr(onnx_io, "parse_model", no_parse)
    again = prepare_model(model_file("ir14"), "fp32", settings=CPU, cache_dir=cache_dir)
    assert again.cache_hit and again.warnings == first.warnings


def test_a_cache_hit_runs_the_command_line_without_loading_onnx(tmp_path):
    """Start-up (issue 24): on a cache hit, `run` needs numpy, onnxruntime and OpenImageIO, not the ONNX
    library (0.05-0.3 s to import, and the checker on top)."""
    import subprocess
    import sys

    from engine.image.files import write_image
    from tests import models
    from tests.helpers import ROOT

    model = models.save(models.sr_x2(), tmp_path / "m.onnx")
    write_image(tmp_path / "in.exr", np.random.default_rng(0).random((24, 32, 3), dtype=np.float32))
    argv = ["run", str(model), str(tmp_path / "in.exr"), str(tmp_path / "out.exr"), "--cache-dir", str(tmp_path / "c")]
    probe = (
        "import sys; from engine import cli; status = cli.main(sys.argv[1:]); "
        "print('onnx loaded' if 'onnx' in sys.modules else 'onnx not loaded', status)"
    )
    outputs = []
    for _ in range(2):  # a miss (builds the cache entry), then a hit
        done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.strip().splitlines()[-1])
    assert outputs == ["onnx loaded 0", "onnx not loaded 0"]


def test_cpu_sessions_do_not_spin_between_operators(model_file, tmp_path):
    """Spinning threads burnt 6-24% of a CPU run's time for the same wall time (docs: engine/runtime/sessions.py);
    a CUDA session keeps onnxruntime's default."""
    from engine.options import Device, OptLevel
    from engine.runtime.sessions import session_options

    prepared = prepare_model(model_file("sr_x2"), "fp32", settings=CPU, cache_dir=tmp_path / "c")
    options = prepared.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    cuda = session_options(CPU, OptLevel.DISABLED, device=Device.CUDA)
    with pytest.raises(RuntimeError, match="does not have configuration"):  # onnxruntime's default: not set
        cuda.get_session_config_entry("session.intra_op.allow_spinning")
