"""The optional CUDA runtime, as the Blender layer and scripts see it (`from engine import gpu`): status,
detect, install, activate. Everything lives in runtime/cuda/; this module only names it."""

from .runtime.cuda import *  # noqa: F403 - the public names of runtime.cuda, listed in its __all__
from .runtime.cuda import __all__  # noqa: F401
