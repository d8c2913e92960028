"""The architecture advice operator: Tensor Core eligibility, layout conversions and casts."""

from __future__ import annotations

import bpy

from . import jobs
from .common import ModelArgs
from .runner import JobRunner
from .settings import model_job, scene_settings

ADVICE_TEXT = "ONNX Advice"


def advice_lines(advice) -> list[str]:
    lines = [
        f"Tensor Core eligible: {advice.eligible_mac_share * 100:.0f}% of "
        f"{advice.total_macs / 1e9:.2f} GMAC at {advice.input_size[1]}x{advice.input_size[0]}"
    ]
    lines += [n.verdict for n in advice.nodes]
    if advice.layout is not None:
        kinds = ", ".join(f"{c['op_type']} {c['name']}" for c in advice.layout.conversions) or "none"
        lines.append(f"layout conversions on {advice.layout.provider.upper()}: {kinds}")
    kept = [c for c in advice.casts if "island" in c["why"]]
    lines.append(f"casts: {len(advice.casts)} ({len(kept)} around fp32 islands)")
    return lines


class ONNX_OT_advise_model(JobRunner, ModelArgs, bpy.types.Operator):
    """Check which layers can use NVIDIA Tensor Cores (fp16, channels in multiples of 8) and what the layout costs"""

    bl_idname = "onnx.advise_model"
    bl_label = "Advise on ONNX Model"
    bl_options = {"REGISTER"}

    height: bpy.props.IntProperty(
        name="Height", default=1080, min=16, max=65536, description="Image size to count work at"
    )
    width: bpy.props.IntProperty(name="Width", default=1920, min=16, max=65536)

    def build(self, context) -> jobs.AdviseJob:
        return jobs.AdviseJob(model=model_job(self, context), size=(self.height, self.width))

    def finish(self, context, job, result) -> str:
        lines = advice_lines(result.advice)
        text = bpy.data.texts.get(ADVICE_TEXT) or bpy.data.texts.new(ADVICE_TEXT)
        text.clear()
        text.write("\n".join(lines) + "\n")
        scene_settings(context).last_advice = "\n".join(lines)
        return lines[0]
