"""Model operators: prepare (convert, optimize, cache), inspect, benchmark, and the GPU runtime check."""

from __future__ import annotations

import time

import bpy
import numpy as np

from . import jobs
from .blender_io import read_pixels
from .common import ModelArgs, model_job, settings, store_prepared
from .run import active_image

BENCH_PRECISIONS = ("FP32", "FP16", "AMP")
BENCH_MAX_SIDE = 256
BENCH_TEXT = "ONNX Benchmark"


class ONNX_OT_prepare_model(ModelArgs, bpy.types.Operator):
    """Convert the model to the chosen precision, optimize it and cache it for fast starts"""

    bl_idname = "onnx.prepare_model"
    bl_label = "Prepare ONNX Model"
    bl_options = {"REGISTER"}

    def execute(self, context):
        try:
            prepared = model_job(self, context).prepare()
        except Exception as exc:  # noqa: BLE001 - reported to the user
            self.report({"ERROR"}, jobs.error_text(exc))
            return {"CANCELLED"}
        summary = store_prepared(context, prepared)
        for warning in prepared.warnings:
            self.report({"WARNING"}, warning)
        if prepared.fallback_reason:
            self.report({"WARNING"}, prepared.fallback_reason)
        self.report({"INFO"}, f"prepared {summary}")
        return {"FINISHED"}


class ONNX_OT_inspect_model(bpy.types.Operator):
    """Read the model and show its inputs, outputs, layout, scale and size rules in the panel"""

    bl_idname = "onnx.inspect_model"
    bl_label = "Inspect ONNX Model"
    bl_options = {"REGISTER"}

    model: bpy.props.StringProperty(name="Model", description="Empty uses the scene setting", subtype="FILE_PATH")

    def execute(self, context):
        path = bpy.path.abspath(self.model or settings(context).model_path)
        try:
            info = jobs.describe_path(path)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            self.report({"ERROR"}, jobs.error_text(exc))
            return {"CANCELLED"}
        inputs = ", ".join(f"{t.name} {t.layout} {t.channels}ch" for t in info.image_inputs)
        self.report({"INFO"}, f"inputs: {inputs}; scale x{info.scale:g}")
        return {"FINISHED"}


def _time_runs(prepared, image, repeats: int) -> float:
    from ..engine.pipeline import run_image

    run_image(prepared, image)  # warm-up: first run allocates and tunes
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_image(prepared, image)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


class ONNX_OT_benchmark_model(ModelArgs, bpy.types.Operator):
    """Time the model at FP32, FP16 and mixed precision on the active image (cropped to 256 px)"""

    bl_idname = "onnx.benchmark_model"
    bl_label = "Benchmark ONNX Model"
    bl_options = {"REGISTER"}

    image: bpy.props.StringProperty(name="Image", description="Empty uses the Image Editor's image")
    repeats: bpy.props.IntProperty(name="Repeats", default=3, min=1, max=50)

    def execute(self, context):
        img = bpy.data.images.get(self.image) if self.image else active_image(context)
        if img is None:
            self.report({"ERROR"}, "no image: open one in the Image Editor or pass image=")
            return {"CANCELLED"}
        try:
            pixels = read_pixels(img)[:BENCH_MAX_SIDE, :BENCH_MAX_SIDE]
            base = model_job(self, context)
        except Exception as exc:  # noqa: BLE001 - reported to the user
            self.report({"ERROR"}, jobs.error_text(exc))
            return {"CANCELLED"}
        h, w = pixels.shape[:2]
        lines = [f"{base.model_path}  {w}x{h}  median of {self.repeats}"]
        lines.append("precision  provider  run ms  startup s  note")
        for precision in BENCH_PRECISIONS:
            job = jobs.ModelJob(
                base.model_path, precision.lower(), base.provider, base.device_id, base.cache_dir, pixels
            )
            try:
                prepared = job.prepare()
                seconds = _time_runs(prepared, pixels, self.repeats)
            except Exception as exc:  # noqa: BLE001 - one precision failing is a result, not an abort
                lines.append(f"{precision:<9}  -         -       -          failed: {jobs.error_text(exc)}")
                continue
            note = prepared.report.status if prepared.report else "reference"
            ms, startup = seconds * 1000, prepared.startup_seconds
            lines.append(f"{precision:<9}  {prepared.provider:<8}  {ms:6.1f}  {startup:9.2f}  {note}")
        text = bpy.data.texts.get(BENCH_TEXT) or bpy.data.texts.new(BENCH_TEXT)
        text.clear()
        text.write("\n".join(lines) + "\n")
        for line in lines:
            self.report({"INFO"}, line)
        return {"FINISHED"}


class ONNX_OT_check_gpu_runtime(bpy.types.Operator):
    """Check which ONNX Runtime providers load here and why CUDA does not"""

    bl_idname = "onnx.check_gpu_runtime"
    bl_label = "Check GPU Runtime"
    bl_options = {"REGISTER"}

    def execute(self, context):
        try:
            import onnxruntime as ort

            from ..engine.gpu_runtime import cuda_unavailable_reason

            available = ort.get_available_providers()
            reason = cuda_unavailable_reason()
        except Exception as exc:  # noqa: BLE001 - a missing onnxruntime is a report, not a crash
            self.report({"ERROR"}, f"onnxruntime cannot be loaded: {exc}")
            return {"CANCELLED"}
        names = ", ".join(p.replace("ExecutionProvider", "") for p in available)
        if reason:
            self.report({"WARNING"}, f"onnxruntime {ort.__version__} providers: {names}; CUDA not usable: {reason}")
        else:
            self.report({"INFO"}, f"onnxruntime {ort.__version__} providers: {names}; CUDA is usable")
        return {"FINISHED"}
