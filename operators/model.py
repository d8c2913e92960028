"""Model operators: prepare (convert, optimize, cache), inspect, benchmark, and the GPU runtime check."""

from __future__ import annotations

import bpy

from ..properties import PATH_OPTIONS
from . import jobs
from .blender_io import read_pixels
from .common import ModelArgs, store_prepared
from .run import active_image, render_layers_of
from .runner import JobRunner, report_failure
from .settings import blend_path, model_contract, model_job, scene_settings

BENCH_MAX_SIDE = 256
BENCH_TEXT = "ONNX Benchmark"


class ONNX_OT_prepare_model(JobRunner, ModelArgs, bpy.types.Operator):
    """Convert the model to the chosen precision, optimize it and cache it for fast starts"""

    bl_idname = "onnx.prepare_model"
    bl_label = "Prepare ONNX Model"
    bl_options = {"REGISTER"}

    def build(self, context) -> jobs.PrepareJob:
        return jobs.PrepareJob(model=model_job(self, context))

    def finish(self, context, job, result) -> str:
        return f"prepared {store_prepared(context, result.prepared)}"


class ONNX_OT_inspect_model(bpy.types.Operator):
    """Read the model and show its inputs, outputs, layout, scale and size rules in the panel"""

    bl_idname = "onnx.inspect_model"
    bl_label = "Inspect ONNX Model"
    bl_options = {"REGISTER"}

    model: bpy.props.StringProperty(
        name="Model", description="Empty uses the scene setting", subtype="FILE_PATH", options=PATH_OPTIONS
    )

    def execute(self, context):
        try:
            info = jobs.describe_path(blend_path(self.model or scene_settings(context).model_path, "model"))
        except Exception as exc:  # noqa: BLE001 - reported to the user
            return report_failure(self, exc)
        inputs = ", ".join(f"{t.name} {t.layout} {t.channels}ch" for t in info.image_inputs)
        self.report({"INFO"}, f"inputs: {inputs}; scale x{info.scale:g}")
        return {"FINISHED"}


class ONNX_OT_save_contract(bpy.types.Operator):
    """Write the effective model contract (with this scene's overrides) next to the model as
    <model>.contract.json, so every later run and every .blend uses it"""

    bl_idname = "onnx.save_contract"
    bl_label = "Save Contract Next to Model"
    bl_options = {"REGISTER"}

    def execute(self, context):
        from ..engine import write_sidecar

        settings = scene_settings(context)
        try:
            path = blend_path(settings.model_path, "model") if settings.model_path else ""
            contract = model_contract(settings, path)
            if contract is None:
                raise ValueError("no model file chosen: set a .onnx file in the ONNX panel first")
            written = write_sidecar(path, contract.to_json())
        except Exception as exc:  # noqa: BLE001 - reported to the user; nothing is written on failure
            return report_failure(self, exc)
        self.report({"INFO"}, f"saved the contract to {written}")
        return {"FINISHED"}


class ONNX_OT_benchmark_model(JobRunner, ModelArgs, bpy.types.Operator):
    """Time the model at FP32, FP16, mixed precision and INT8 on the active image (cropped to 256 px)"""

    bl_idname = "onnx.benchmark_model"
    bl_label = "Benchmark ONNX Model"
    bl_options = {"REGISTER"}

    image: bpy.props.StringProperty(name="Image", description="Empty uses the Image Editor's image")
    repeats: bpy.props.IntProperty(name="Repeats", default=3, min=1, max=50)

    def build(self, context) -> jobs.BenchmarkJob:
        from ..engine import combined_layer, parse_mapping

        img = bpy.data.images.get(self.image) if self.image else active_image(context)
        if img is None and self.image:
            raise ValueError(f"no image named '{self.image}'")
        if img is None:
            raise ValueError("no image: open one in the Image Editor or pass image=")
        layers = render_layers_of(img, context.scene)
        if layers is None:
            pixels, mapping = read_pixels(img)[:BENCH_MAX_SIDE, :BENCH_MAX_SIDE], {}
        else:
            # The Render Result and loaded multilayer EXRs have no pixels in the datablock: their passes are read
            # as Run on Image reads them, and the model's inputs picked from them as Run on Render picks them.
            layers = {name: layer[:BENCH_MAX_SIDE, :BENCH_MAX_SIDE] for name, layer in layers.items()}
            pixels, mapping = combined_layer(layers), parse_mapping(scene_settings(context).pass_mapping)
        model = model_job(self, context, sample=pixels)
        return jobs.BenchmarkJob(model=model, image=pixels, repeats=self.repeats, layers=layers, mapping=mapping)

    def finish(self, context, job, result) -> str:
        text = bpy.data.texts.get(BENCH_TEXT) or bpy.data.texts.new(BENCH_TEXT)
        text.clear()
        text.write("\n".join(result.lines) + "\n")
        scene_settings(context).last_benchmark = "\n".join(result.lines)
        for line in result.lines[:-1]:
            self.report({"INFO"}, line)
        return result.lines[-1]


class ONNX_OT_check_gpu_runtime(bpy.types.Operator):
    """Check which ONNX Runtime providers load here and why CUDA does not"""

    bl_idname = "onnx.check_gpu_runtime"
    bl_label = "Check GPU Runtime"
    bl_options = {"REGISTER"}

    def execute(self, context):
        try:
            import onnxruntime as ort

            from ..engine import gpu

            available = ort.get_available_providers()
            reason = gpu.cuda_unavailable_reason()
        except Exception as exc:  # noqa: BLE001 - a missing onnxruntime is a report, not a crash
            self.report({"ERROR"}, f"onnxruntime cannot be loaded: {exc}")
            return {"CANCELLED"}
        names = ", ".join(p.replace("ExecutionProvider", "") for p in available)
        if reason:
            # No NVIDIA GPU is the normal state of a CPU machine, not a fault to warn about.
            level = "WARNING" if gpu.nvidia_gpu_present() else "INFO"
            self.report({level}, f"onnxruntime {ort.__version__} providers: {names}; CUDA not usable: {reason}")
        else:
            self.report({"INFO"}, f"onnxruntime {ort.__version__} providers: {names}; CUDA is usable")
        return {"FINISHED"}
