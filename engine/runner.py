"""Running one tile: plain `session.run`, or IO binding with buffers reused across tiles and frames."""

from __future__ import annotations

import numpy as np

from .errors import RuntimeFailure

_OOM_MARKERS = ("out of memory", "failed to allocate", "bad_alloc", "cudaerrormemoryallocation")


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _OOM_MARKERS)


class TileRunner:
    """Runs a session on inputs of one fixed shape. With binding, the input and output OrtValues are
    made once (on the GPU for CUDA) and refilled in place, so no buffer is allocated per tile."""

    def __init__(self, session, provider: str, device_id: int, input_shapes: dict, output_shape, use_binding: bool):
        import onnxruntime as ort

        self.session = session
        self.use_binding = use_binding
        self.outputs = [o.name for o in session.get_outputs()]
        self.image_output = next(o.name for o in session.get_outputs() if len(o.shape) == 4)
        if not use_binding:
            return
        device = "cuda" if provider == "cuda" else "cpu"
        types = {i.name: _np_type(i.type) for i in session.get_inputs()}
        out_type = _np_type(next(o.type for o in session.get_outputs() if o.name == self.image_output))
        self.binding = session.io_binding()
        self.host_inputs = {}
        self.device_inputs = {}
        for name, shape in input_shapes.items():
            if device == "cpu":
                # The OrtValue shares this array's memory: refilling the array refills the input.
                host = np.zeros(shape, types[name])
                self.host_inputs[name] = host
                self.device_inputs[name] = ort.OrtValue.ortvalue_from_numpy(host)
            else:
                self.device_inputs[name] = ort.OrtValue.ortvalue_from_shape_and_type(
                    shape, types[name], device, device_id
                )
            self.binding.bind_ortvalue_input(name, self.device_inputs[name])
        if device == "cpu":
            self.host_output = np.zeros(output_shape, out_type)
            self.device_output = ort.OrtValue.ortvalue_from_numpy(self.host_output)
        else:
            self.host_output = None
            self.device_output = ort.OrtValue.ortvalue_from_shape_and_type(output_shape, out_type, device, device_id)
        self.binding.bind_ortvalue_output(self.image_output, self.device_output)
        for name in self.outputs:
            if name != self.image_output:
                self.binding.bind_output(name, "cpu")

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Returns the image output; with CPU binding it is a view of a reused buffer: copy before the next run."""
        try:
            if not self.use_binding:
                return self.session.run([self.image_output], feeds)[0]
            for name, value in feeds.items():
                if name in self.host_inputs:
                    np.copyto(self.host_inputs[name], value)
                else:
                    self.device_inputs[name].update_inplace(value)
            self.session.run_with_iobinding(self.binding)
            return self.host_output if self.host_output is not None else self.device_output.numpy()
        except Exception as exc:  # noqa: BLE001 - onnxruntime's exception types are not public
            if is_out_of_memory(exc):
                raise MemoryError(str(exc)) from exc
            raise RuntimeFailure(f"onnxruntime failed while running the model: {str(exc).splitlines()[0]}") from exc


def _np_type(ort_type: str):
    return {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}[ort_type]
