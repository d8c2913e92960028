"""The GPU runtime operators of the preferences: install (pip, minutes: through the job runner) and detect again.
What they show lives in preferences.py; what they do lives in engine.gpu."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy

from ..engine import EngineError
from ..engine import gpu as gpu_setup
from ..preferences import GPU_STATE, addon_preferences, gpu_runtime_dir, refresh_gpu_state
from .jobs import Outcome
from .runner import JobRunner

INSTALLING = "Installing the GPU runtime..."
NO_GPU_INSTALL = (
    "No NVIDIA GPU found: the GPU runtime (about 1.5 GB) would not be used; tick Offer the GPU Runtime Anyway in "
    "the preferences to install it regardless"
)


@dataclass
class InstallOutcome:
    result: object
    """engine.gpu.InstallResult"""
    activation: object | None
    """engine.gpu.ActivationResult, None when pip failed"""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class InstallJob:
    """pip into the runtime folder, then make it usable in this process (minutes: runs on the worker)."""

    target: Path
    wheel_dir: str | None
    packages: list[str] | None

    def work(self, progress) -> InstallOutcome:
        progress.update(0.0, "installing the GPU runtime (pip)")
        packages = self.packages
        if packages is None:
            packages = gpu_setup.gpu_packages(include_onnxruntime=gpu_setup.needs_onnxruntime_gpu())
        result = gpu_setup.install_gpu_runtime(self.target, wheel_dir=self.wheel_dir or None, packages=packages)
        activation = gpu_setup.activate(self.target) if result.ok else None
        return InstallOutcome(result, activation)


class ONNX_OT_install_gpu_runtime(JobRunner, bpy.types.Operator):
    """Download onnxruntime-gpu and the CUDA 13 and cuDNN 9 wheels (about 1.5 GB) into the extension folder"""

    bl_idname = "onnx.install_gpu_runtime"
    bl_label = "Install GPU Runtime"
    bl_options = {"REGISTER", "INTERNAL"}

    wheel_dir: bpy.props.StringProperty(
        name="Wheel Folder", description="Install offline from this folder; empty uses the preferences", default=""
    )
    packages: bpy.props.StringProperty(
        name="Packages",
        description="Comma-separated pip requirements instead of the GPU runtime (for tests and custom setups)",
        default="",
        options={"HIDDEN", "SKIP_SAVE"},
    )

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)

    def build(self, context) -> InstallJob:
        wheel_dir, forced = self.wheel_dir, False
        prefs = addon_preferences(context)
        if prefs is not None:
            wheel_dir = wheel_dir or prefs.wheel_dir
            forced = prefs.force_gpu_runtime
        if not gpu_setup.nvidia_gpu_present() and not forced:
            raise EngineError(NO_GPU_INSTALL)
        packages = [p.strip() for p in self.packages.split(",") if p.strip()] or None
        GPU_STATE.update(message=INSTALLING, restart=False)
        return InstallJob(
            target=gpu_runtime_dir(), wheel_dir=bpy.path.abspath(wheel_dir) if wheel_dir else None, packages=packages
        )

    def ended(self, context, job, outcome: Outcome) -> None:
        """The box never keeps saying "Installing..." after a failure or a cancel."""
        if GPU_STATE["message"] == INSTALLING:
            refresh_gpu_state()
            ends = {Outcome.CANCELLED: "cancelled", Outcome.FAILED: "failed (see the report)"}
            message = f"GPU runtime install {ends[outcome]}; nothing was activated" if outcome in ends else ""
            GPU_STATE.update(message=message, restart=False)

    def finish(self, context, job, outcome) -> str:
        refresh_gpu_state()
        result, activation = outcome.result, outcome.activation
        if not result.ok:
            GPU_STATE.update(message=result.message, restart=False)
            raise RuntimeError(result.message)
        GPU_STATE.update(message=activation.message, restart=activation.restart_needed)
        if activation.restart_needed:
            outcome.notes.append(activation.message)
        return f"{result.message}; {activation.message}"


class ONNX_OT_detect_gpu_runtime(bpy.types.Operator):
    """Look again for the CUDA and cuDNN libraries"""

    bl_idname = "onnx.detect_gpu_runtime"
    bl_label = "Detect Again"
    bl_options = {"REGISTER", "INTERNAL"}

    def execute(self, context):
        refresh_gpu_state()
        if not gpu_setup.nvidia_gpu_present():
            self.report({"INFO"}, "No NVIDIA GPU found: models run on the CPU")
            return {"FINISHED"}
        summary = gpu_setup.missing_summary(GPU_STATE["libraries"])
        self.report({"WARNING" if summary else "INFO"}, summary or "All CUDA libraries found")
        return {"FINISHED"}
