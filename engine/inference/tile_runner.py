"""Running one tile: plain `session.run`, or IO binding with buffers reused across tiles and frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError, RuntimeFailure

if TYPE_CHECKING:
    import onnxruntime

_OOM_MARKERS = ("out of memory", "failed to allocate", "bad_alloc", "cudaerrormemoryallocation")


class DescriptionMismatch(ModelError):
    """The model returned another shape than its description (scale, layout) says: a description read from a
    damaged cache entry. Never cropped or padded into a wrong picture."""


def _mismatch(actual: tuple[int, ...] | None, expected: tuple[int, ...]) -> str:
    got = f"a {actual} result" if actual is not None else "a result of another size"
    return f"the model returned {got} where its description says {expected}: its cached description is wrong"


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _OOM_MARKERS)


_NP_TYPES: dict[str, type[np.generic]] = {
    "float": np.float32,
    "float16": np.float16,
    "double": np.float64,
    "bool": np.bool_,
}


def _np_type(ort_type: str) -> type[np.generic]:
    """numpy's type for onnxruntime's 'tensor(T)' (image inputs are float; constant inputs may be int64 or bool)."""
    name = ort_type.removeprefix("tensor(").removesuffix(")")
    found = _NP_TYPES.get(name) or getattr(np, name, None)
    if found is None:
        raise ModelError(f"the model takes {ort_type}, which this engine cannot feed")
    return found


class TileRunner:
    """Runs a session on inputs of one fixed shape.

    With binding on CUDA, the input and output OrtValues live on the GPU, are made once and are
    refilled in place, so no device buffer is allocated per tile or frame. On the CPU, binding
    points onnxruntime at the caller's arrays and at a reused (or caller-given) output array, so
    nothing is copied on either side.
    """

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        provider: str,
        device_id: int,
        input_shapes: dict[str, tuple[int, ...]],
        output_shape: tuple[int, ...],
        use_binding: bool,
        output_name: str | None = None,
        constants: dict[str, NDArray[np.generic]] | None = None,
    ) -> None:
        """`input_shapes` and `output_shape` include the batch (the model's fixed batch, else 1); `constants`
        feed the non-image inputs, the same for every run; `output_name` is the output returned."""
        import onnxruntime as ort

        self._ort = ort
        self.session = session
        self.use_binding = use_binding
        self.on_gpu = provider == "cuda"
        self.outputs = [o.name for o in session.get_outputs()]
        self.image_output = output_name or next(o.name for o in session.get_outputs() if len(o.shape) == 4)
        self.out_type = _np_type(next(o.type for o in session.get_outputs() if o.name == self.image_output))
        self.batch = int(tuple(output_shape)[0]) if len(tuple(output_shape)) else 1
        self.expected = tuple(output_shape)
        """The result's shape the model's description gives (its scale): what every run must return."""
        self.constants = dict(constants or {})
        if not use_binding:
            return
        types = {i.name: _np_type(i.type) for i in session.get_inputs()}
        self.output_shape = tuple(output_shape)
        self.binding = session.io_binding()
        self.device_inputs = {}
        if self.on_gpu:
            for name, shape in input_shapes.items():
                value = ort.OrtValue.ortvalue_from_shape_and_type(shape, types[name], "cuda", device_id)
                self.device_inputs[name] = value
                self.binding.bind_ortvalue_input(name, value)
            self.device_output = ort.OrtValue.ortvalue_from_shape_and_type(
                self.output_shape, self.out_type, "cuda", device_id
            )
            self.host_output = None
        else:
            self.host_output = np.empty(self.output_shape, self.out_type)
            self.device_output = ort.OrtValue.ortvalue_from_numpy(self.host_output)
        self.binding.bind_ortvalue_output(self.image_output, self.device_output)
        for name, value in self.constants.items():
            # Bound once: the same values for every tile and frame (the runner holds the arrays).
            device = ort.OrtValue.ortvalue_from_numpy(value, "cuda" if self.on_gpu else "cpu", device_id)
            self.device_inputs.setdefault(f"constant:{name}", device)
            self.binding.bind_ortvalue_input(name, device)
        for name in self.outputs:
            if name != self.image_output:
                self.binding.bind_output(name, "cpu")

    def run_batch(self, feeds: list[dict[str, NDArray[np.generic]]]) -> list[NDArray[np.generic]]:
        """Several 1-batch tiles in one run of the model's batch (the last group padded by repeating its last
        tile); returns each tile's 1-batch output, to be consumed before the next run."""
        results: list[NDArray[np.generic]] = []
        for start in range(0, len(feeds), self.batch):
            group = feeds[start : start + self.batch]
            padded = group + [group[-1]] * (self.batch - len(group))
            # A batch of one is its own feed: stacking it would only copy every input.
            stacked = padded[0] if self.batch == 1 else {n: np.concatenate([f[n] for f in padded]) for n in group[0]}
            out = self.run(stacked)
            results.extend(out[k : k + 1] for k in range(len(group)))
        return results

    def run(self, feeds: dict[str, NDArray[np.generic]], out: NDArray[np.generic] | None = None) -> NDArray[np.generic]:
        """The result output. Without `out`, a CPU-bound result is a reused buffer: consume it before
        the next run. With `out` (the output shape and dtype), the result is written there."""
        try:
            if not self.use_binding:
                result: NDArray[np.generic] = self.session.run([self.image_output], {**feeds, **self.constants})[0]
                if tuple(result.shape) != self.expected:
                    raise DescriptionMismatch(_mismatch(tuple(result.shape), self.expected))
                return result
            for name, value in feeds.items():
                if self.on_gpu:
                    self.device_inputs[name].update_inplace(value)
                else:
                    self.binding.bind_cpu_input(name, value)
            if out is not None and not self.on_gpu:
                self.binding.bind_ortvalue_output(self.image_output, self._ort.OrtValue.ortvalue_from_numpy(out))
                try:
                    self.session.run_with_iobinding(self.binding)
                finally:
                    # Never leave the binding pointing at the caller's array.
                    self.binding.bind_ortvalue_output(self.image_output, self.device_output)
                return out
            self.session.run_with_iobinding(self.binding)
            if self.on_gpu:
                if out is not None:
                    np.copyto(out, self.device_output.numpy())
                    return out
                copied: NDArray[np.generic] = self.device_output.numpy()
                return copied
            assert self.host_output is not None  # bound on the CPU: the reused output buffer
            return self.host_output
        except DescriptionMismatch:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime's exception types are not public
            if is_out_of_memory(exc):
                raise MemoryError(str(exc)) from exc
            if "computed output shape" in str(exc):  # the bound output has the size the description gives
                raise DescriptionMismatch(_mismatch(None, self.expected)) from exc
            raise RuntimeFailure(f"onnxruntime failed while running the model: {str(exc).splitlines()[0]}") from exc
