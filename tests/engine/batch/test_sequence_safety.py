"""Frames on disk under hostile conditions (issue 16, items 1-4): a failure never removes an older
output, an output folder that is the input folder (through a symlink) is refused, a full disk fails
the frame instead of renaming a truncated image into place, and temp files of killed runs are cleaned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from engine.batch.sequence import FrameBatch, process_sequence
from engine.errors import EngineError
from engine.image.files import read_image, write_image
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models
from tests.helpers import ROOT

W, H = 24, 16


def _frames(folder, frames=range(1, 4)):
    folder.mkdir(parents=True, exist_ok=True)
    for f in frames:
        write_image(folder / f"{f:04d}.exr", np.random.default_rng(f).random((H, W, 4), np.float32))


@pytest.fixture
def prepared(tmp_path):
    path = models.save(models.sr_x2(), tmp_path / "sr_x2.onnx")
    return prepare_model(str(path), "fp32", settings=SessionSettings(provider="cpu"), cache_dir=tmp_path / "cache")


def test_failed_rerun_keeps_the_finished_outputs(prepared, tmp_path):
    _frames(tmp_path / "in")
    out = tmp_path / "out" / "####.exr"
    first = process_sequence(prepared, str(tmp_path / "in" / "####.exr"), output_pattern=str(out), frames=[1, 2, 3])
    assert first.done == (1, 2, 3)
    before = {f: read_image(tmp_path / "out" / f"{f:04d}.exr") for f in (1, 2, 3)}
    # A re-run with a typo in the input pattern: every frame fails, and nothing finished is lost.
    again = process_sequence(prepared, str(tmp_path / "typo" / "####.exr"), output_pattern=str(out), frames=[1, 2, 3])
    assert sorted(again.failed) == [1, 2, 3] and not again.done
    assert sorted(os.listdir(tmp_path / "out")) == ["0001.exr", "0002.exr", "0003.exr"]
    for f, image in before.items():
        np.testing.assert_array_equal(read_image(tmp_path / "out" / f"{f:04d}.exr"), image)


def test_frame_batch_failure_keeps_an_older_output(prepared, tmp_path):
    _frames(tmp_path / "in", [1])
    batch = FrameBatch(prepared, str(tmp_path / "out" / "####.exr"))
    assert batch.process(1, str(tmp_path / "in" / "0001.exr")).error == ""
    result = batch.process(1, str(tmp_path / "missing" / "0001.exr"))
    assert result is not None and "not found" in result.error
    assert os.listdir(tmp_path / "out") == ["0001.exr"]


def test_symlinked_output_folder_onto_the_inputs_is_refused(prepared, tmp_path):
    _frames(tmp_path / "in")
    os.symlink(tmp_path / "in", tmp_path / "link")
    sources = {f: (tmp_path / "in" / f"{f:04d}.exr").read_bytes() for f in (1, 2, 3)}
    with pytest.raises(EngineError, match="overwrite its source"):
        process_sequence(
            prepared,
            str(tmp_path / "in" / "####.exr"),
            output_pattern=str(tmp_path / "link" / "####.exr"),
            frames=[1, 2, 3],
        )
    batch = FrameBatch(prepared, str(tmp_path / "link" / "####.exr"))
    result = batch.process(1, str(tmp_path / "in" / "0001.exr"))
    assert result is not None and "overwrite its source" in result.error
    assert {f: (tmp_path / "in" / f"{f:04d}.exr").read_bytes() for f in (1, 2, 3)} == sources


def test_hard_link_to_the_source_is_refused(prepared, tmp_path):
    _frames(tmp_path / "in", [1])
    (tmp_path / "out").mkdir()
    os.link(tmp_path / "in" / "0001.exr", tmp_path / "out" / "0001.exr")
    with pytest.raises(EngineError, match="overwrite its source"):
        process_sequence(
            prepared, str(tmp_path / "in" / "####.exr"), output_pattern=str(tmp_path / "out" / "####.exr"), frames=[1]
        )


FULL_DISK = """
import resource, signal, sys
import numpy as np
from engine.image.files import write_image
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like ENOSPC
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    write_image(sys.argv[1], np.random.default_rng(0).random((256, 256, 4), np.float32))
except Exception as exc:
    print(type(exc).__name__ + ": " + str(exc))
else:
    print("written")
"""


@pytest.mark.parametrize("ext", ["png", "tif", "exr"])
def test_full_disk_fails_the_write_and_leaves_nothing(tmp_path, ext):
    """A file-size limit makes the disk 'full' after 20 kB, for this process only."""
    target = tmp_path / f"frame.{ext}"
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(target)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ImageError: cannot write"), done.stdout + done.stderr
    assert os.listdir(tmp_path) == []


def test_full_disk_frame_is_reported_failed_and_skip_existing_redoes_it(prepared, tmp_path, monkeypatch):
    """The writer's failure reaches the summary; a later --skip-existing run redoes that frame."""
    from engine import atomic

    _frames(tmp_path / "in")
    real_replace = atomic.publish

    def full_on_frame_2(src, dst):
        if str(dst).endswith("0002.exr"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(atomic, "publish", full_on_frame_2)
    pattern_in, pattern_out = str(tmp_path / "in" / "####.exr"), str(tmp_path / "out" / "####.exr")
    summary = process_sequence(prepared, pattern_in, output_pattern=pattern_out, frames=[1, 2, 3])
    assert summary.done == (1, 3) and "No space left" in summary.failed[2]
    assert sorted(os.listdir(tmp_path / "out")) == ["0001.exr", "0003.exr"]
    monkeypatch.setattr(atomic, "publish", real_replace)
    resumed = process_sequence(prepared, pattern_in, output_pattern=pattern_out, frames=[1, 2, 3], skip_existing=True)
    assert resumed.done == (2,) and resumed.skipped == (1, 3)


def _dead_pid() -> int:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(dead.stdout)


def test_stale_temp_files_of_dead_processes_are_cleaned_when_a_sequence_starts(prepared, tmp_path):
    from engine import atomic

    _frames(tmp_path / "in", [1])
    out = tmp_path / "out"
    out.mkdir()
    dead_pid = _dead_pid()
    stale = out / f".0007.{atomic.HOST}.{dead_pid}.0a1b2c3d.tmp.exr"
    alive = out / f".0008.{atomic.HOST}.{os.getppid()}.0a1b2c3d.tmp.exr"  # a running write is left alone
    unrelated = out / f".notes.{atomic.HOST}.{dead_pid}.0a1b2c3d.tmp.txt"  # not an image write_image makes
    for p in (stale, alive, unrelated):
        p.write_bytes(b"partial")
    summary = process_sequence(
        prepared, str(tmp_path / "in" / "####.exr"), output_pattern=str(out / "####.exr"), frames=[1]
    )
    assert summary.done == (1,)
    assert sorted(os.listdir(out)) == sorted(["0001.exr", alive.name, unrelated.name])


TWO_HOSTS = """
import sys
from engine import atomic
atomic.HOST = sys.argv[1]  # this process plays the worker of that name
from engine import SessionSettings, prepare_model, process_sequence
prepared = prepare_model(sys.argv[2], "fp32", settings=SessionSettings(provider="cpu"), cache_dir=sys.argv[3])
summary = process_sequence(prepared, sys.argv[4], output_pattern=sys.argv[5], frames=[1])
print(list(summary.done))
"""


def test_a_chunk_on_another_host_never_deletes_a_live_write(tmp_path):
    """Issue 26: two workers post-process chunks of one job into one shared folder. Host B's write in progress
    carries a process id that is dead on host A: host A's start-up cleaning leaves it alone (and removes its own
    dead writes, and another host's only once they are a day old)."""
    from engine import atomic
    from engine.image.files import FOREIGN_TEMP_AGE_S

    model_path = str(models.save(models.sr_x2(), tmp_path / "sr_x2.onnx"))
    _frames(tmp_path / "in", [1])
    out = tmp_path / "out"
    out.mkdir()
    dead_here = _dead_pid()
    live_on_b = out / f".0002.worker-b.{dead_here}.0a1b2c3d.tmp.exr"
    old_on_b = out / f".0003.worker-b.{dead_here}.0a1b2c3e.tmp.exr"
    dead_on_a = out / f".0004.worker-a.{dead_here}.0a1b2c3f.tmp.exr"
    for p in (live_on_b, old_on_b, dead_on_a):
        p.write_bytes(b"partial")
    day_ago = time.time() - FOREIGN_TEMP_AGE_S - 60
    os.utime(old_on_b, (day_ago, day_ago))
    ran = subprocess.run(
        [sys.executable, "-c", TWO_HOSTS, "worker-a", model_path, str(tmp_path / "cache"),
         str(tmp_path / "in" / "####.exr"), str(out / "####.exr")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[1]"
    assert sorted(os.listdir(out)) == sorted(["0001.exr", live_on_b.name])
    assert atomic.temp_owner(live_on_b.name) == (atomic.TempOwner("worker-b", dead_here), ".tmp.exr")


FULL_NEAR_THE_END = """
import json, os, resource, signal, sys
import numpy as np
from engine.image.files import ExrOptions, read_image, write_image
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like ENOSPC
folder, ext, half = sys.argv[1], sys.argv[2], sys.argv[3] == "half"
image = np.random.default_rng(0).random((48, 64, 3), np.float32)
exr = ExrOptions(half=half) if ext == "exr" else None
whole = os.path.join(folder, "whole." + ext)
write_image(whole, image, exr=exr)
size = os.path.getsize(whole)
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
wrong = []
for limit in range(max(1, size - int(sys.argv[4])), size):
    target = os.path.join(folder, "cut." + ext)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        write_image(target, image, exr=exr)
        written = True
    except Exception:
        written = False
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    if written:
        try:
            back = read_image(target)
            ok = back.shape == image.shape
        except Exception:
            ok = False
        if not ok:
            wrong.append(limit)
        os.remove(target)
    leftovers = sorted(set(os.listdir(folder)) - {"whole." + ext})
    if leftovers:
        wrong.append((limit, leftovers))
        break
print(json.dumps({"size": size, "wrong": wrong}))
"""


@pytest.mark.parametrize("ext,depth", [("png", ""), ("tif", ""), ("exr", "half"), ("exr", "float")])
def test_a_disk_full_near_the_end_of_a_file_never_leaves_a_cut_file(tmp_path, ext, depth):
    """Issue 25: the file-size limit is stepped across every byte count of the file's last 2 kB (and the whole of
    a smaller file): each write either fails, leaving nothing, or leaves a file that reads back whole."""
    done = subprocess.run(
        [sys.executable, "-c", FULL_NEAR_THE_END, str(tmp_path), ext, depth, "2048"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["size"] > 1000 and result["wrong"] == [], result


def test_skip_existing_keeps_only_outputs_that_read_back_whole(prepared, tmp_path):
    """Issue 25: --skip-existing skipped 0-byte and cut outputs with exit 0. An output is kept only when it decodes
    whole at the size the model makes; the others are redone and counted."""
    _frames(tmp_path / "in", [1, 2, 3, 4])
    pattern_in, pattern_out = str(tmp_path / "in" / "####.exr"), str(tmp_path / "out" / "####.exr")
    assert process_sequence(prepared, pattern_in, output_pattern=pattern_out, frames=[1, 2, 3, 4]).done == (1, 2, 3, 4)
    out = tmp_path / "out"
    kept = (out / "0001.exr").read_bytes()
    data = (out / "0002.exr").read_bytes()
    (out / "0002.exr").write_bytes(data[: len(data) - 40])  # cut near its end
    (out / "0003.exr").write_bytes(b"")  # empty
    from engine.image.files import write_image

    write_image(out / "0004.exr", np.zeros((8, 8, 3), np.float32))  # whole, but not the size the model makes
    resumed = process_sequence(
        prepared, pattern_in, output_pattern=pattern_out, frames=[1, 2, 3, 4], skip_existing=True
    )
    assert resumed.skipped == (1,) and resumed.redone == (2, 3, 4) and resumed.done == (2, 3, 4)
    assert resumed.to_json()["redone"] == [2, 3, 4]
    assert (out / "0001.exr").read_bytes() == kept
    from engine.image.files import whole_image_problem

    assert all(whole_image_problem(out / f"000{n}.exr") == "" for n in (1, 2, 3, 4))


def test_hosts_with_one_short_name_are_told_apart():
    """Review finding: the label was the short host name, so 'render01.siteA' and 'render01.siteB' (or containers all
    called 'localhost') judged each other's process ids as their own."""
    from engine import atomic

    labels = {atomic._host_label(name, machine) for name, machine in
              (("render01.siteA", ""), ("render01.siteB", ""), ("localhost", "a1"), ("localhost", "b2"))}  # fmt: skip
    assert len(labels) == 4
    assert all(atomic.temp_owner(f".0001.{label}.42.0a1b2c3d.tmp.exr")[0].host == label for label in labels)


def test_on_windows_a_writer_is_asked_through_the_process_api_never_signalled(monkeypatch):
    """Review finding: on Windows os.kill(pid, 0) sends CTRL_C_EVENT to a console group (0 is CTRL_C_EVENT) instead of
    testing the process: the clean-up must never call it there."""
    from engine.image import files

    asked = []
    monkeypatch.setattr(files.sys, "platform", "win32")
    monkeypatch.setattr(files, "_windows_pid_alive", lambda pid: asked.append(pid) or False)
    monkeypatch.setattr(files.os, "kill", lambda *a: pytest.fail("os.kill on Windows"))
    assert files._pid_alive(_dead_pid()) is False and len(asked) == 1


def test_each_frame_header_is_read_once(prepared, tmp_path, monkeypatch):
    """A frame's header (working space, storage, layers) was opened four times per frame; once serves all."""
    from engine.batch import sequence
    from engine.image import files

    _frames(tmp_path / "in", [1, 2, 3])
    opened = []
    real = files.frame_header

    def counted(path):
        opened.append(path)
        return real(path)

    # Both names: the sequence's own, and the one exr_options_of goes through.
    monkeypatch.setattr(sequence, "frame_header", counted)
    monkeypatch.setattr(files, "frame_header", counted)
    summary = process_sequence(
        prepared, str(tmp_path / "in" / "####.exr"), output_pattern=str(tmp_path / "out" / "####.exr"), frames=[1, 2, 3]
    )
    assert summary.done == (1, 2, 3)
    assert sorted(os.path.basename(p) for p in opened) == ["0001.exr", "0002.exr", "0003.exr"]
