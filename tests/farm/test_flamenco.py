"""The Flamenco job type farm/flamenco/onnx-postprocess.js: its Node test against the stand-in of Flamenco's
job compiler runtime, and the post-process task's exec command run for real, as a Worker would run it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from engine import read_image
from tests.farm.conftest import FARM, MODEL, ROOT, expected_output, node, run, write_frames

HERE = Path(__file__).parent
JOB_TYPE = FARM / "flamenco" / "onnx-postprocess.js"


def test_node_test_of_the_job_type():
    result = run([node(), "--test", "--test-reporter=tap", str(HERE / "flamenco.test.js")], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
    assert "# pass 6" in result.stdout
    assert "# skipped 0" in result.stdout


def compiled(settings: dict) -> dict:
    result = run([node(), str(HERE / "flamenco_standin.js"), str(JOB_TYPE), json.dumps(settings)])
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def worker_command(command: dict) -> list[str]:
    """The exec command as the Manager hands it to a Worker: its variables replaced."""
    variables = {"{onnx_python}": sys.executable, "{onnx_engine_dir}": str(ROOT)}
    params = command["parameters"]
    return [variables.get(params["exe"], params["exe"])] + [variables.get(a, a) for a in params["args"]]


def test_the_post_process_task_runs_the_engine(tmp_path):
    render = tmp_path / "render"
    write_frames(render, frames=(1, 2, 3))
    job = compiled(
        {
            "frames": "1-3",
            "chunk_size": 3,
            "render_output_root": str(tmp_path),
            "render_output_path": str(render / "####"),
            "output_pattern": str(tmp_path / "post" / "####.exr"),
            "model": str(MODEL),
            "precision": "fp32",
            "require_gpu": False,
            "blendfile": str(tmp_path / "shot.blend"),
            "format": "OPEN_EXR",
            "image_file_extension": ".exr",
            "scene": "Scene",
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    post = [t for t in job["tasks"] if t["type"] == "onnx-gpu"]
    assert [t["dependencies"] for t in post] == [["render-1-3"]]
    command = worker_command(post[0]["commands"][0])
    result = run(command, cwd=tmp_path)  # a Worker's working directory is not the engine's folder
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["done"] == [1, 2, 3]
    for frame in (1, 2, 3):
        name = f"{frame:04d}.exr"
        want = expected_output(render / name, tmp_path / "direct" / name)
        np.testing.assert_allclose(read_image(tmp_path / "post" / name), want, rtol=0, atol=1e-6)

    # A frame that fails makes the exec command fail, so Flamenco fails (and can retry) the task.
    (tmp_path / "post" / "0002.exr").unlink()
    (render / "0002.exr").write_bytes(b"not an image")
    again = run(command, cwd=tmp_path)
    assert again.returncode == 3, again.stdout + again.stderr
    assert json.loads(again.stdout)["skipped"] == [1, 3]
    assert sorted(p.name for p in (tmp_path / "post").iterdir()) == ["0001.exr", "0003.exr"]
