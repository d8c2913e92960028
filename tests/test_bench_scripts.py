"""The benchmark scripts run end to end (on the CPU provider, tiny sizes): the GPU script must work
the first time it meets a GPU, and `make bench` must not rot."""

import json

from bench import gpu_check


def test_gpu_check_self_test_on_cpu(tmp_path):
    assert gpu_check.main(["--allow-cpu", "--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "gpu_results.json").read_text())
    assert data["provider"] == "cpu" and data["cuda_reason"]
    assert {r["precision"] for r in data["correctness"]} == {"fp32", "fp16", "amp"}
    assert all(r["ok"] for r in data["correctness"])
    assert {(r["size"], r["precision"]) for r in data["timings"]} >= {("1080p", "fp16"), ("4k", "amp")}
    assert {r["precision"] for r in data["startup"]} == {"fp32", "fp16"}
    assert data["padding"]["padded_nodes"] == ["conv0", "conv1", "conv2"]
    assert {r["model"] for r in data["timings"]} >= {"narrow", "narrow+pad8"}


def test_gpu_check_refuses_to_pretend_without_cuda(tmp_path):
    assert gpu_check.main(["--out", str(tmp_path)]) == 4
