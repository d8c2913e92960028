"""Image Editor sidebar (N panel, "ONNX" tab): model, precision, run and provider sections; and the
"ONNX Post-Process" panel in Output Properties (postprocess.py).

draw() only reads properties, the model-description cache and the small sidecar contract; inspecting,
preparing and running are operators, so drawing never loads onnx or onnxruntime or reads the model file.
"""

from __future__ import annotations

import os
import re

import bpy

from ..engine import EngineError, load_contract
from ..operators import jobs
from ..operators.settings import scene_contract_layer
from . import postprocess
from .text import draw_full_path, label_wrapped, short_path


class _ONNXPanel:
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "ONNX"

    @classmethod
    def poll(cls, context):
        return context.scene is not None and hasattr(context.scene, "onnx_image_runtime")


def _tensor_line(t) -> str:
    dims = "x".join(str(d) if isinstance(d, int) else "?" for d in t.shape)
    return f"{t.name}: {t.layout or '-'} {t.channels or '?'} ch [{dims}] {t.dtype}"


class ONNX_PT_model(_ONNXPanel, bpy.types.Panel):
    bl_label = "Model"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.onnx_image_runtime
        layout.prop(settings, "model_path", text="")
        path = bpy.path.abspath(settings.model_path)
        if not path:
            layout.label(text="Choose a .onnx model", icon="INFO")
            return
        if settings.model_path.startswith("//") and not bpy.data.filepath:
            label_wrapped(
                layout, context, "The model path is relative to the .blend file, which is not saved yet", "ERROR"
            )
            return
        if not os.path.isfile(path):  # a stat() only: said at once, before any operator runs
            label_wrapped(layout, context, f"Model file not found: {os.path.basename(path)}", "ERROR")
            draw_full_path(layout, context, path, "onnx_missing_model_path")
            return
        info = jobs.cached_info(path)
        if info is None:
            layout.operator("onnx.inspect_model", text="Inspect Model", icon="VIEWZOOM")
            return
        if isinstance(info, str):
            label_wrapped(layout, context, short_path(info, path), "ERROR")
            return
        col = layout.column(align=True)
        col.label(text="Inputs:")
        for t in info.inputs:
            col.label(text=_tensor_line(t))
        col.label(text="Outputs:")
        for t in info.outputs:
            col.label(text=_tensor_line(t))
        size = "fixed {}x{}".format(*info.fixed_size) if info.fixed_size else "dynamic"
        if not info.fixed_size and info.size_multiple > 1:
            size += f", multiple of {info.size_multiple}"
        layout.label(text=f"Scale x{info.scale:g}, size {size}")
        for warning in info.warnings:
            label_wrapped(layout, context, short_path(warning, path), "ERROR")
        _draw_contract(layout, settings, path)


def _values(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


def contract_lines(contract, out_channels: int, in_channels: int) -> list[str]:
    """The effective contract as the panel shows it, each part with the layer it came from."""
    sources = contract.source_map()

    def src(key: str) -> str:
        return sources.get(key, "default")

    i = contract.input
    o = contract.output_for(in_channels, out_channels)
    out_values = "min-max" if o.normalize == "minmax" else _values(o.range)
    lines = [
        f"In: {_values(i.range)} ({src('input.range')}), {i.order.upper()} ({src('input.order')}), "
        f"{i.colour} ({src('input.colour')})",
        f"In mean {_values(i.mean)} / std {_values(i.std)} ({src('input.mean')}); scale {i.scale} "
        f"({src('input.scale')}), HDR {i.hdr} ({src('input.hdr')})",
        f"Out: {out_values}, {o.order.upper()}, {o.colour}, mean {_values(o.mean)} / std {_values(o.std)}; "
        f"as {contract.output_as} ({src('output.as')})",
        f"Fit: {contract.fit} ({src('fit')}); result: {contract.output_name or 'first image output'}",
        f"Resize rule: {contract.resize.text() if contract.resize else 'none'} ({src('resize')})",
        f"Input size: {contract.size} ({src('size')}), batch {contract.batch or 'of the graph'} ({src('batch')})",
    ]
    lines += [f"Constant {name} = {_values(value)} ({src('constants.' + name)})" for name, value in contract.constants]
    return lines


def _draw_contract(layout, settings, path: str) -> None:
    box = layout.box()
    box.label(text="Contract", icon="PRESET")
    col = box.column(align=True)
    col.prop(settings, "contract_range")
    col.prop(settings, "contract_order")
    col.prop(settings, "color_mode")
    col.prop(settings, "contract_input_scale")
    col.prop(settings, "contract_hdr")
    col.prop(settings, "contract_output_normalize")
    col.prop(settings, "contract_output_as")
    col.prop(settings, "contract_fit")
    col.prop(settings, "contract_resize")
    if settings.contract_resize in ("SHORT_SIDE_MIN", "LONG_SIDE_MAX"):
        col.prop(settings, "contract_resize_side")
    if settings.contract_resize in ("SHORT_SIDE_MIN", "LONG_SIDE_MAX", "MULTIPLE"):
        col.prop(settings, "contract_resize_multiple")
    col.prop(settings, "model_output")
    col.prop(settings, "contract_size")
    col.prop(settings, "contract_batch")
    col.prop(settings, "contract_constants")
    try:
        # Metadata from the cache (filled when the model was inspected or prepared): no model file read here.
        contract = load_contract(
            path, jobs.cached_metadata(path) or {}, overrides=scene_contract_layer(settings), overrides_source="scene"
        )
        info = jobs.cached_info(path)
        in_ch = info.image_inputs[0].channels or 3 if info and not isinstance(info, str) else 3
        out_t = info.output_named(contract.output_name) if info and not isinstance(info, str) else None
        lines = contract_lines(contract, (out_t.channels or 3) if out_t else in_ch, in_ch)
    except EngineError as exc:
        box.label(text=str(exc), icon="ERROR")
        return
    text = box.column(align=True)
    for line in lines:
        text.label(text=line)
    box.operator("onnx.save_contract", text="Save Next to Model", icon="FILE_TICK")


class ONNX_PT_precision(_ONNXPanel, bpy.types.Panel):
    bl_label = "Precision"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.onnx_image_runtime
        layout.prop(settings, "precision", expand=True)
        layout.prop(settings, "provider")
        layout.operator("onnx.prepare_model", icon="MODIFIER")
        if settings.last_report:
            label_wrapped(layout, context, settings.last_report)
        layout.operator("onnx.benchmark_model", icon="TIME")
        if settings.last_benchmark:
            draw_benchmark(layout, context, settings.last_benchmark)


def benchmark_rows(text: str) -> tuple[str, list[list[str]]]:
    """The benchmark's text (title line, header, one line per precision; columns two spaces apart) as
    (title, rows of cells) for a table."""
    lines = text.splitlines()
    rows = [re.split(r"\s{2,}", line.strip(), maxsplit=4) for line in lines[1:] if line.strip()]
    return (lines[0] if lines else ""), rows


def draw_benchmark(layout, context, text: str) -> None:
    """The last benchmark as a table (the same lines stay in the 'ONNX Benchmark' text block for copying)."""
    title, rows = benchmark_rows(text)
    model, *measured = title.rsplit("  ", 2)  # '<model path>  <W>x<H>  median of <N>'
    box = layout.box()
    # The model by file name (the text block keeps the path): a path wrapped over the box hid the figures.
    label_wrapped(box, context, "  ".join([os.path.basename(model), *measured]), "TIME")
    grid = box.grid_flow(row_major=True, columns=4, even_columns=False, align=True)
    notes = []
    for row in rows:
        cells = (row + [""] * 5)[:5]
        for cell in cells[:4]:
            grid.label(text=cell)
        if cells[4] and row is not rows[0]:
            notes.append(f"{cells[0]}: {cells[4]}")
    for note in notes:
        label_wrapped(box, context, note)


def draw_last_run(layout, context, settings) -> None:
    """Always visible in the Run panel: where the model really ran and why, how long, how many tiles, which
    precision, and which image or pass went to which model input."""
    box = layout.box()
    if not settings.last_provider:
        box.label(text="Not run yet", icon="INFO")
        return
    fell_back = bool(settings.last_fallback)
    box.label(
        text=f"Ran on {settings.last_provider}" + (" (CUDA not used)" if fell_back else ""),
        icon="ERROR" if fell_back and settings.provider == "CUDA" else "CHECKMARK",
    )
    if fell_back:
        label_wrapped(box.box(), context, settings.last_fallback)
    if settings.last_precision:
        box.label(text=f"Precision: {settings.last_precision}")
    if settings.last_tiles:
        box.label(text=f"Time {settings.last_seconds:.2f} s, {settings.last_tiles} tile(s)")
    for line in settings.last_inputs.splitlines():
        box.label(text=line, icon="FORWARD")


class ONNX_PT_run(_ONNXPanel, bpy.types.Panel):
    bl_label = "Run"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.onnx_image_runtime
        state = context.window_manager.onnx_image_runtime
        col = layout.column(align=True)
        col.prop(settings, "tile_size")
        col.prop(settings, "tile_overlap")
        layout.prop(settings, "output_name")
        layout.prop(settings, "pass_mapping")
        if state.running:
            layout.prop(state, "progress", text=state.status or "Running")
            layout.label(text="Esc cancels", icon="INFO")
            return
        row = layout.row(align=True)
        row.operator("onnx.run_image", text="Run on Image", icon="IMAGE_DATA")
        row.operator("onnx.run_render", text="Run on Render", icon="RENDER_RESULT")
        draw_last_run(layout, context, settings)


class ONNX_PT_provider(_ONNXPanel, bpy.types.Panel):
    bl_label = "Provider"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.onnx_image_runtime
        layout.label(text=f"Last run on: {settings.last_provider or 'not run yet'}")
        if settings.last_fallback:
            # A CPU run is an error only where CUDA was asked for; on Auto it is the normal state of a CPU machine.
            label_wrapped(layout, context, settings.last_fallback, "ERROR" if settings.provider == "CUDA" else "INFO")
        layout.operator("onnx.check_gpu_runtime", icon="CHECKMARK")


class ONNX_PT_architecture(_ONNXPanel, bpy.types.Panel):
    bl_label = "Architecture (NVIDIA GPUs)"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        advice = context.scene.onnx_image_runtime.last_advice
        layout.label(text="How well the model suits NVIDIA GPUs' Tensor Cores", icon="INFO")
        column = layout.column(align=True)
        for line in advice.splitlines() or ["Not checked yet: which layers can use Tensor Cores?"]:
            label_wrapped(column, context, line)
        layout.operator("onnx.advise_model", icon="VIEWZOOM")


# The Image Editor sidebar; the Output Properties panel (postprocess.py) registers on its own.
classes = (ONNX_PT_model, ONNX_PT_precision, ONNX_PT_run, ONNX_PT_provider, ONNX_PT_architecture)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register():
    _register()
    postprocess.register()


def unregister():
    postprocess.unregister()
    _unregister()
