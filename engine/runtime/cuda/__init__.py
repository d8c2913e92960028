"""The optional CUDA runtime: detect its libraries, install the wheels, activate a folder, probe whether CUDA can
run. Nothing here imports onnxruntime at import time, and nothing runs pip unless called."""

from .activate import ActivationResult, activate, deactivate, preload_active_libraries
from .detect import (
    ORT_VERSION,
    LibraryStatus,
    active_targets,
    default_search_dirs,
    detect_cuda_libraries,
    library_table,
    missing_summary,
    runtime_conflict,
)
from .install import InstallResult, gpu_packages, install_command, install_gpu_runtime, needs_onnxruntime_gpu
from .probe import (
    cuda_unavailable_reason,
    forget_verdicts,
    gpu_name,
    nvidia_gpu_present,
    preload_cuda_libraries,
    query_gpu,
)

__all__ = [
    "ORT_VERSION",
    "ActivationResult",
    "InstallResult",
    "LibraryStatus",
    "activate",
    "active_targets",
    "cuda_unavailable_reason",
    "deactivate",
    "default_search_dirs",
    "detect_cuda_libraries",
    "forget_verdicts",
    "gpu_name",
    "gpu_packages",
    "install_command",
    "install_gpu_runtime",
    "library_table",
    "missing_summary",
    "needs_onnxruntime_gpu",
    "nvidia_gpu_present",
    "preload_active_libraries",
    "preload_cuda_libraries",
    "query_gpu",
    "runtime_conflict",
]
