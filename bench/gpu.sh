#!/usr/bin/env bash
# One prepared run on a lent NVIDIA GPU (see ../shared/gpu/README.md): reassemble onnxruntime-gpu from
# the .gpu/ parts sent beforehand, check CUDA results against the CPU, time the CUDA path. Log and
# JSON go to $OUT. Budget: about 8 minutes of device time.
set -euo pipefail
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.txt" 2>&1 || true
bash bench/assemble_ort_gpu.sh 2>&1 | tee "$OUT/assemble.log"
export PYTHONPATH="/tmp/site:$PWD"
timeout 450 python3 -m bench.gpu_check --out "$OUT" 2>&1 | tee "$OUT/gpu_check.log"
