"""ONNX Image Runtime's engine: pure Python (numpy, onnx, onnxruntime, onnxconverter-common), never bpy.

This module is the engine's one public surface: the Blender layer, the command line, scripts and benchmarks
import from here and nothing deeper. Names load lazily (PEP 562), so importing `engine` (enabling the Blender
extension) loads no onnx or onnxruntime until something is used.

Layers, each importing only those before it: errors/progress/options -> model -> image -> precision ->
runtime -> inference, advice -> batch -> cli.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    # foundation
    "EngineError": ".errors",
    "ModelError": ".errors",
    "ConversionError": ".errors",
    "ImageError": ".errors",
    "RuntimeFailure": ".errors",
    "Cancelled": ".errors",
    "Progress": ".progress",
    "Precision": ".options",
    "Provider": ".options",
    "Device": ".options",
    "ColorMode": ".options",
    "OptLevel": ".options",
    "Layout": ".options",
    "Status": ".options",
    "ChannelOrder": ".options",
    "Fit": ".options",
    "FitChoice": ".options",
    "WorkingSpace": ".options",
    "parse_option": ".options",
    # model
    "ModelContract": ".model.contract",
    "TensorContract": ".model.contract",
    "ContractError": ".model.contract",
    "RANGE_PRESETS": ".model.contract",
    "build_contract": ".model.contract",
    "load_contract": ".model.contract",
    "model_metadata": ".model.contract",
    "sidecar_path": ".model.contract",
    "write_sidecar": ".model.contract",
    "contract_layers": ".model.contract",
    "DeclaredSize": ".model.contract",
    "InputScale": ".model.contract",
    "OutputNormalize": ".model.contract",
    "OutputAs": ".model.contract",
    "HdrMode": ".model.contract",
    "ResizeRule": ".model.contract",
    "contract_schema": ".model.contract_schema",
    "schema_problems": ".model.contract_schema",
    "layer_problems": ".model.contract_schema",
    "ModelInfo": ".model.records",
    "TensorInfo": ".model.records",
    "inspect_model": ".model.inspect",
    # precision
    "AccuracyRule": ".precision.accuracy",
    "Accuracy": ".precision.accuracy",
    "OutputKind": ".precision.accuracy",
    "compare_images": ".precision.accuracy",
    "synthetic_image": ".precision.validation_feeds",
    "ConversionOptions": ".precision.records",
    "ConversionReport": ".precision.records",
    "Backend": ".precision.records",
    "convert_model_file": ".precision.convert",
    # runtime
    "SessionSettings": ".runtime.sessions",
    "resolve_provider": ".runtime.sessions",
    "ProviderChoice": ".runtime.sessions",
    "PreparedModel": ".runtime.prepare",
    "PreparedFrom": ".runtime.prepare",
    "prepare_model": ".runtime.prepare",
    "needs_sample": ".runtime.prepare",
    "release_model": ".runtime.prepare",
    "is_loaded": ".runtime.prepare",
    "CpuFeatures": ".runtime.int8_choice",
    "cpu_features": ".runtime.int8_choice",
    "gpu": ".gpu",
    # image
    "read_layers": ".image.files",
    "read_image": ".image.files",
    "image_size": ".image.files",
    "write_image": ".image.files",
    "same_file": ".image.files",
    "ExrOptions": ".image.files",
    "EXR_CODECS": ".image.files",
    "srgb_to_linear": ".image.colour",
    "to_rec709": ".image.colour",
    "from_rec709": ".image.colour",
    "premultiply": ".image.alpha",
    "parse_mapping": ".image.passes",
    "select_inputs": ".image.passes",
    "data_inputs": ".image.passes",
    "combined_layer": ".image.passes",
    "mapping_warning": ".image.passes",
    # inference
    "RunSettings": ".inference.settings",
    "RunResult": ".inference.pipeline",
    "run_image": ".inference.pipeline",
    "TilingReport": ".inference.tile_plan",
    # batch
    "process_sequence": ".batch.sequence",
    "first_frame_sample": ".batch.sequence",
    "next_frames_sample": ".batch.sequence",
    "fp32_reference": ".batch.accuracy_check",
    "process_frame": ".batch.sequence",
    "SequenceSummary": ".batch.sequence",
    "FrameBatch": ".batch.sequence",
    "parse_frames": ".batch.frames",
    "frame_path": ".batch.frames",
    "sibling_output_pattern": ".batch.frames",
    "with_extension": ".batch.frames",
    "TemporalTracker": ".batch.temporal",
    "TemporalFrame": ".batch.temporal",
    "Motion": ".batch.temporal",
    "Flicker": ".batch.temporal",
    "FrameFlicker": ".batch.temporal",
    "FlickerMethod": ".batch.temporal",
    # advice
    "advise_model": ".advice.advisor",
    "CastAdvice": ".advice.records",
    "CastReason": ".advice.records",
    "LayoutConversion": ".advice.records",
    "Advice": ".advice.advisor",
    "pad_channels": ".advice.channel_padding",
    "pad_channels_file": ".advice.channel_padding",
    # model files
    "load_model": ".model.onnx_io",
    "save_model": ".model.onnx_io",
}
_RENAMED = {"parse_option": "parse", "gpu": None, "TemporalTracker": "Tracker", "TemporalFrame": "FrameState"}

# The one export list: the map above. The block below repeats each name for type checkers only (they cannot follow
# __getattr__); tests/engine/test_architecture.py fails when the two disagree.
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from . import gpu
    from .advice.advisor import Advice, advise_model
    from .advice.channel_padding import pad_channels, pad_channels_file
    from .advice.records import CastAdvice, CastReason, LayoutConversion
    from .batch.accuracy_check import fp32_reference
    from .batch.frames import frame_path, parse_frames, sibling_output_pattern, with_extension
    from .batch.sequence import (
        FrameBatch,
        SequenceSummary,
        first_frame_sample,
        next_frames_sample,
        process_frame,
        process_sequence,
    )
    from .batch.temporal import Flicker, FlickerMethod, FrameFlicker, Motion
    from .batch.temporal import FrameState as TemporalFrame
    from .batch.temporal import Tracker as TemporalTracker
    from .errors import Cancelled, ConversionError, EngineError, ImageError, ModelError, RuntimeFailure
    from .image.alpha import premultiply
    from .image.colour import from_rec709, srgb_to_linear, to_rec709
    from .image.files import EXR_CODECS, ExrOptions, image_size, read_image, read_layers, same_file, write_image
    from .image.passes import combined_layer, data_inputs, mapping_warning, parse_mapping, select_inputs
    from .inference.pipeline import RunResult, run_image
    from .inference.settings import RunSettings
    from .inference.tile_plan import TilingReport
    from .model.contract import (
        RANGE_PRESETS,
        ContractError,
        DeclaredSize,
        HdrMode,
        InputScale,
        ModelContract,
        OutputAs,
        OutputNormalize,
        ResizeRule,
        TensorContract,
        build_contract,
        contract_layers,
        load_contract,
        model_metadata,
        sidecar_path,
        write_sidecar,
    )
    from .model.contract_schema import contract_schema, layer_problems, schema_problems
    from .model.inspect import inspect_model
    from .model.onnx_io import load_model, save_model
    from .model.records import ModelInfo, TensorInfo
    from .options import (
        ChannelOrder,
        ColorMode,
        Device,
        Fit,
        FitChoice,
        Layout,
        OptLevel,
        Precision,
        Provider,
        Status,
        WorkingSpace,
    )
    from .options import parse as parse_option
    from .precision.accuracy import Accuracy, AccuracyRule, OutputKind, compare_images
    from .precision.convert import convert_model_file
    from .precision.records import Backend, ConversionOptions, ConversionReport
    from .precision.validation_feeds import synthetic_image
    from .progress import Progress
    from .runtime.int8_choice import CpuFeatures, cpu_features
    from .runtime.prepare import PreparedFrom, PreparedModel, is_loaded, needs_sample, prepare_model, release_model
    from .runtime.sessions import ProviderChoice, SessionSettings, resolve_provider


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    module = importlib.import_module(module_name, __name__)
    attr = _RENAMED.get(name, name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
