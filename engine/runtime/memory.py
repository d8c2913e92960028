"""How much memory a run may use (free RAM or GPU memory) and the automatic tile side within it; what a run
needs per pixel is model.footprint's."""

from __future__ import annotations

import math

from ..image.limits import available_memory
from .cuda.probe import query_gpu

# Share of the free memory one run may take: the rest is for Blender, Cycles and the OS.
CPU_SHARE, GPU_SHARE = 0.25, 0.5
FALLBACK_BUDGET = 4 << 30
MIN_AUTO_TILE, MAX_AUTO_TILE = 256, 4096


def _available_ram() -> int:
    return available_memory()


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
