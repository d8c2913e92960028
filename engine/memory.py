"""How much memory a run needs and may use: the automatic tile size comes from these two figures."""

from __future__ import annotations

import math
import os

import numpy as np
import onnx

from .gpu_runtime import query_gpu
from .intermediates import intermediate_values

# Share of the free memory one run may take: the rest is for Blender, Cycles and the OS.
CPU_SHARE, GPU_SHARE = 0.25, 0.5
FALLBACK_BUDGET = 4 << 30
MIN_AUTO_TILE, MAX_AUTO_TILE = 256, 4096


def bytes_per_pixel(model: onnx.ModelProto, feeds: dict[str, np.ndarray], pixels: int) -> float:
    """Bytes of every tensor the model computes (plus its inputs) per input pixel. An upper bound:
    onnxruntime reuses buffers whose tensors are dead."""
    values = intermediate_values(model, feeds)
    total = sum(v.nbytes for v in values.values()) + sum(v.nbytes for v in feeds.values())
    return total / pixels


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return FALLBACK_BUDGET


def _free_gpu_memory(device_id: int) -> int:
    free_mib = query_gpu("memory.free", device_id).splitlines()
    try:
        return int(free_mib[0]) << 20
    except (ValueError, IndexError):
        return FALLBACK_BUDGET


def memory_budget(provider: str, device_id: int = 0) -> int:
    if provider == "cuda":
        return int(_free_gpu_memory(device_id) * GPU_SHARE)
    return int(_available_ram() * CPU_SHARE)


def auto_tile_side(pixels_allowed: float, multiple: int) -> int:
    """The largest square tile within the allowance, a multiple of 64 (and of the model's multiple)."""
    step = math.lcm(64, multiple)
    side = int(math.sqrt(max(pixels_allowed, 0.0))) // step * step
    return max(MIN_AUTO_TILE // step * step or step, min(side, MAX_AUTO_TILE // step * step))
