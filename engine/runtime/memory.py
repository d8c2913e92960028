"""How much memory one run may plan for, and the automatic tile side within it; what a run needs per pixel is
model.footprint's.

The budget is a share of the device's *total* memory (RAM, or the GPU's memory), never of what is free at the
moment: a plan (whole image, tiles, resize) must be the same for the same model, image, settings and device,
whatever else is running, so frame 10 on a busy farm worker and frame 11 on an idle one are computed alike.
When the memory is not there at run time, the run fails with an error naming a plan that fits."""

from __future__ import annotations

import math

from ..image.limits import total_memory
from .cuda.probe import query_gpu

# Share of the device's memory one run may plan for: the rest is for Blender, Cycles and the OS.
CPU_SHARE, GPU_SHARE = 0.25, 0.5
FALLBACK_BUDGET = 4 << 30
MIN_AUTO_TILE, MAX_AUTO_TILE = 256, 4096


def _total_gpu_memory(device_id: int) -> int:
    total_mib = query_gpu("memory.total", device_id).splitlines()
    try:
        return int(total_mib[0]) << 20
    except (ValueError, IndexError):
        return FALLBACK_BUDGET


def memory_budget(provider: str, device_id: int = 0) -> int:
    """Bytes one run may plan for on `provider`: a fixed share of the device's total memory."""
    if provider == "cuda":
        return int(_total_gpu_memory(device_id) * GPU_SHARE)
    return int(total_memory() * CPU_SHARE)


def auto_tile_side(pixels_allowed: float, multiple: int) -> int:
    """The largest square tile within the allowance, a multiple of 64 (and of the model's multiple)."""
    step = math.lcm(64, multiple)
    side = int(math.sqrt(max(pixels_allowed, 0.0))) // step * step
    return max(MIN_AUTO_TILE // step * step or step, min(side, MAX_AUTO_TILE // step * step))
