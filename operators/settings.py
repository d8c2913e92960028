"""The one settings adapter: operator arguments, the scene's settings and the preferences -> typed engine
settings. Blender enums ('FP16', 'CUDA', 'SRGB') are parsed into engine enums here and nowhere else."""

from __future__ import annotations

import os

import bpy

from ..engine import ColorMode, Fit, Precision, Provider, RunSettings, parse_option
from ..preferences import machine_settings
from .jobs import ModelJob


def scene_settings(context):
    return context.scene.onnx_image_runtime


def blend_path(path: str, what: str) -> str:
    """An absolute path; a '//' path in an unsaved .blend is an error that says so (it has no folder yet)."""
    if path.startswith("//") and not bpy.data.filepath:
        raise ValueError(f"the {what} path {path!r} is relative to the .blend file, which is not saved yet")
    return bpy.path.abspath(path)


def _model_path(path: str) -> str:
    if not path:
        raise ValueError("no model chosen: set a .onnx file in the ONNX panel or pass model=")
    path = blend_path(path, "model")
    if not os.path.isfile(path):
        raise ValueError(f"model file not found: {path}")
    return path


def _model_job(path: str, precision: str, provider: str, context, sample=None) -> ModelJob:
    machine = machine_settings(context)
    if provider == "AUTO":
        provider = machine.provider
    return ModelJob(
        model_path=_model_path(path),
        precision=parse_option(Precision, precision, "precision"),
        provider=parse_option(Provider, provider, "provider"),
        device_id=machine.device_id,
        cache_dir=str(machine.cache_dir),
        sample=sample,
    )


def model_job(op, context, sample=None) -> ModelJob:
    """Operator arguments that were given win; otherwise the scene's settings, then the preferences."""
    scene = scene_settings(context)
    given = op.properties.is_property_set
    precision = op.precision if given("precision") else scene.precision
    provider = op.provider if given("provider") else scene.provider
    return _model_job(op.model or scene.model_path, precision, provider, context, sample)


def scene_model_job(scene, context=None) -> ModelJob:
    """The scene's model settings alone (no operator): render handlers and batch jobs use this."""
    settings = scene.onnx_image_runtime
    return _model_job(settings.model_path, settings.precision, settings.provider, context)


def run_settings(settings, blender_rgba: bool = False) -> RunSettings:
    """Fit, tile, overlap (-1: automatic) and colour mode from the scene settings."""
    return RunSettings(
        tile=settings.tile_size,
        overlap=None if settings.tile_overlap < 0 else settings.tile_overlap,
        fit=parse_option(Fit, settings.fit, "fit"),
        color=parse_option(ColorMode, settings.color_mode, "colour mode"),
        blender_rgba=blender_rgba,
    )
