"""The architecture advice operator: Tensor Core eligibility, layout conversions and casts."""

from __future__ import annotations

from collections import Counter

import bpy

from ..engine import CastReason
from . import jobs
from .common import ModelArgs
from .runner import JobRunner
from .settings import model_job, scene_settings

ADVICE_TEXT = "ONNX Advice"
NAMES_SHOWN = 3
"""Node names a summary line shows before '+N more': the sidebar is narrow, the text block has them all."""


def _counted(items: list[str]) -> list[tuple[str, int]]:
    """Each distinct item once, in first-seen order (Counter keeps it), with how often it occurs."""
    return list(Counter(items).items())


def names_summary(names: list[str]) -> str:
    """'a, b, c' or 'a, b, c, +8 more': a node list as a line that fits the panel."""
    more = len(names) - NAMES_SHOWN
    return ", ".join(names[:NAMES_SHOWN] + ([f"+{more} more"] if more > 0 else []))


def advice_lines(advice) -> list[str]:
    """The advice as the panel shows it: what it is for, the share, one line per kind of layer (repeated verdicts
    counted, not listed), and node lists as a count with the first few names."""
    lines = [
        f"Tensor Core eligible: {advice.eligible_mac_share * 100:.0f}% of "
        f"{advice.total_macs / 1e9:.2f} GMAC at {advice.input_size[1]}x{advice.input_size[0]}",
        advice.scope(),
    ]
    lines += [
        f"{count}x {verdict}" if count > 1 else verdict
        for verdict, count in _counted([n.verdict for n in advice.nodes])
    ]
    if advice.layout is not None:
        conversions = advice.layout.conversions
        kinds = ", ".join(f"{count} {kind}" for kind, count in _counted([c.op_type for c in conversions]))
        names = f"; nodes: {names_summary([c.name for c in conversions])}" if conversions else ""
        lines.append(f"layout conversions on {advice.layout.provider.upper()}: {kinds or 'none'}{names}")
    kept = [c for c in advice.casts if c.why is CastReason.FP32_ISLAND]
    lines.append(f"casts: {len(advice.casts)} ({len(kept)} around fp32 islands)")
    return lines


def advice_details(advice) -> list[str]:
    """Every node by name, for the text block (copied into a bug report or a script), not for the panel."""
    lines = ["", "Layers:"] + [f"  {n.name}: {n.verdict}" for n in advice.nodes]
    if advice.layout is not None and advice.layout.conversions:
        lines.append("Layout conversions:")
        lines += [
            f"  {c.op_type} {c.name}" + (f" after {c.after}" if c.after else "") for c in advice.layout.conversions
        ]
    if advice.casts:
        lines.append("Casts:")
        lines += [f"  {c.name} to {c.to}: {c.why}" for c in advice.casts]
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
        text.write("\n".join(lines + advice_details(result.advice)) + "\n")
        scene_settings(context).last_advice = "\n".join(lines)
        # The share, and which precision it is for: 0% means something else for fp32 on a CPU than for fp16.
        return f"{lines[0]}; {lines[1]}"
