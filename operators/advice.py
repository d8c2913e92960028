"""The architecture advice operator: Tensor Core eligibility, layout conversions and casts."""

from __future__ import annotations

import bpy

from . import jobs
from .common import ModelArgs, model_job, settings

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


class ONNX_OT_advise_model(ModelArgs, bpy.types.Operator):
    """Check which layers can use Tensor Cores (fp16, channels in multiples of 8) and what the layout costs"""

    bl_idname = "onnx.advise_model"
    bl_label = "Advise on ONNX Model"
    bl_options = {"REGISTER"}

    height: bpy.props.IntProperty(name="Height", default=1080, min=16, description="Image size to count work at")
    width: bpy.props.IntProperty(name="Width", default=1920, min=16)

    def execute(self, context):
        from ..engine.advisor import advise_model
        from ..engine.sessions import SessionSettings

        try:
            job = model_job(self, context)
            advice = advise_model(
                job.model_path,
                job.precision,
                SessionSettings(provider=job.provider, device_id=job.device_id),
                job.cache_dir,
                (self.height, self.width),
            )
        except Exception as exc:  # noqa: BLE001 - reported to the user
            self.report({"ERROR"}, jobs.error_text(exc))
            return {"CANCELLED"}
        lines = advice_lines(advice)
        text = bpy.data.texts.get(ADVICE_TEXT) or bpy.data.texts.new(ADVICE_TEXT)
        text.clear()
        text.write("\n".join(lines) + "\n")
        settings(context).last_advice = "\n".join(lines)
        self.report({"INFO"}, lines[0])
        return {"FINISHED"}
