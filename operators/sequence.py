"""Post-process a rendered frame sequence on disk (the Blender face of `python -m engine sequence`)."""

from __future__ import annotations

import bpy

from ..engine import Progress, parse_frames, parse_mapping, sibling_output_pattern, with_extension
from ..properties import PATH_OPTIONS
from . import jobs
from .common import ModelArgs, render_pattern, store_prepared
from .runner import JobRunner
from .settings import blend_path, model_job, run_settings, scene_settings

PRINT_PREFIX = "ONNX sequence"


def default_frames(scene) -> str:
    return f"{scene.frame_start}-{scene.frame_end}" + (f"x{scene.frame_step}" if scene.frame_step > 1 else "")


class ONNX_OT_process_sequence(JobRunner, ModelArgs, bpy.types.Operator):
    """Run the ONNX model on every frame of a rendered image sequence on disk, writing new files"""

    bl_idname = "onnx.process_sequence"
    bl_label = "Post-Process Frame Sequence (ONNX)"
    bl_options = {"REGISTER"}

    input_pattern: bpy.props.StringProperty(
        name="Input",
        description="Frames to read, '#' for frame digits (e.g. //render/####.exr); empty uses the render output",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )
    output_pattern: bpy.props.StringProperty(
        name="Output",
        description="Where results go, '#' for frame digits; empty uses the post-process output setting "
        "(or a sibling '_onnx' folder of the input)",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )
    frames: bpy.props.StringProperty(
        name="Frames", description="1-250, 1-250x5 or 3,7,10-12; empty uses the scene's frame range", default=""
    )
    skip_existing: bpy.props.BoolProperty(
        name="Skip Existing", description="Leave frames whose output exists (resume an interrupted batch)"
    )
    stop_on_error: bpy.props.BoolProperty(
        name="Stop on Error", description="Stop at the first failing frame; unset uses the scene setting"
    )

    def build(self, context) -> jobs.SequenceJob:
        scene = context.scene
        settings = scene_settings(context)
        input_pattern = blend_path(self.input_pattern, "input") if self.input_pattern else render_pattern(scene)
        if self.output_pattern:
            output = blend_path(self.output_pattern, "output")
        elif settings.postprocess_output:
            output = blend_path(settings.postprocess_output, "post-process output")
        else:
            output = sibling_output_pattern(input_pattern)
        output = with_extension(output, input_pattern)
        frames = parse_frames(self.frames or default_frames(scene))
        stop = (
            self.stop_on_error
            if self.properties.is_property_set("stop_on_error")
            else settings.postprocess_stop_on_error
        )
        from ..engine import first_frame_sample, next_frames_sample  # loads the engine: only when an operator runs

        # Reduced precision is judged on the first frame, not on a synthetic image (fp32 reads no sample).
        model = model_job(self, context).with_sample(
            lambda: first_frame_sample(input_pattern, frames),
            lambda first: next_frames_sample(input_pattern, frames, first=first),  # int8: its first frames
        )
        return jobs.SequenceJob(
            model=model,
            input_pattern=input_pattern,
            output_pattern=output,
            frames=frames,
            run=run_settings(settings, model_path=model.model_path),
            skip_existing=self.skip_existing,
            stop_on_error=stop,
            mapping=parse_mapping(settings.pass_mapping),
            keep_passes=settings.postprocess_keep_passes,
            temporal_blend=settings.postprocess_temporal_blend,
        )

    def background_progress(self):
        def show(fraction: float, text: str) -> None:
            # One line per frame done, as a farm log wants; failures are printed once, with their reasons,
            # in the operator's error at the end.
            if " processed (" in text:
                print(f"{PRINT_PREFIX}: {text}", flush=True)

        return Progress(show)

    def finish(self, context, job, result) -> str:
        summary = result.summary
        text = summary.text()
        scene_settings(context).postprocess_summary = text
        store_prepared(context, result.prepared)
        if summary.failed:
            # An error report makes `bpy.ops` raise in scripts and `blender -b` logs show it once.
            reasons = "; ".join(f"frame {frame}: {why}" for frame, why in sorted(summary.failed.items()))
            raise ValueError(f"{len(summary.failed)} of {len(job.frames)} frames failed ({reasons})")
        if summary.tiling:
            self.report({"INFO"}, summary.tiling)  # how the frames met the model: information, not a warning
        line = f"{text} in {result.seconds:.2f} s -> {job.output_pattern}"
        if bpy.app.background:
            print(f"{PRINT_PREFIX}: {line}", flush=True)
        return line
