"""The one settings adapter: operator arguments, the scene's settings and the preferences -> typed engine
settings. Blender enums ('FP16', 'CUDA', 'SRGB') are parsed into engine enums here and nowhere else."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import bpy

from ..engine import (
    RANGE_PRESETS,
    ContractError,
    Precision,
    Provider,
    RunSettings,
    WorkingSpace,
    load_contract,
    parse_option,
)
from ..preferences import machine_settings
from . import jobs
from .jobs import ModelJob

if TYPE_CHECKING:
    from ..engine import ModelContract

# The scene's range presets -> the contract's RANGE_PRESETS names.
RANGE_PRESET_NAMES = {"0_1": "0-1", "0_255": "0-255", "M1_1": "-1-1", "IMAGENET": "imagenet"}


def working_space() -> WorkingSpace:
    """The open file's working colour space, the one its float pixels and renders are in (Blender 5.0 and later;
    4.2-4.5 have none: Rec.709). Another space (a custom OCIO config) is an error that names it: run as Rec.709,
    the model would silently get the wrong colours."""
    colorspace = getattr(bpy.data, "colorspace", None)
    interop = getattr(colorspace, "working_space_interop_id", None)
    if interop is None:
        return WorkingSpace.REC709
    # By the Color Interop Forum id, which stays when a config renames the space.
    space = WorkingSpace.from_interop_id(interop)
    if space is None:
        raise ValueError(
            f"the file's working colour space '{colorspace.working_space}' ({interop or 'no interop id'}) is not one "
            "this extension converts: choose Linear Rec.709, Linear Rec.2020 or ACEScg"
        )
    return space


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


# The scene's words -> the contract's (the other enums are the contract's words in capitals).
_CONTRACT_WORDS = {"IMAGE_MAX": "image-max", "DECLARED": "model"}


def _word(value: str) -> str:
    return _CONTRACT_WORDS.get(value, value.lower())


def _scene_records(settings) -> dict[str, Any]:
    """The input and output records the scene overrides."""
    layer: dict[str, Any] = {}
    record: dict[str, Any] = {}
    if settings.contract_range != "MODEL":
        record.update(RANGE_PRESETS[RANGE_PRESET_NAMES[settings.contract_range]])
    for key, value in (
        ("order", settings.contract_order),
        ("colour", settings.color_mode),
        ("scale", settings.contract_input_scale),
        ("hdr", settings.contract_hdr),
    ):
        if value != "MODEL":
            record[key] = _word(value)
    if record:
        layer["input"] = record
    output = {
        key: _word(value)
        for key, value in (("normalize", settings.contract_output_normalize), ("as", settings.contract_output_as))
        if value != "MODEL"
    }
    if output:
        layer["output"] = output
    return layer


def _scene_resize(settings) -> dict[str, Any] | None:
    """The scene's resize rule as the contract's object; None leaves it to the model ('{}' is no rule)."""
    rule = settings.contract_resize
    if rule == "MODEL":
        return None
    if rule == "LETTERBOX":
        return {"letterbox": True}
    side = {rule.lower(): settings.contract_resize_side} if rule in ("SHORT_SIDE_MIN", "LONG_SIDE_MAX") else {}
    return {} if rule == "NONE" else {**side, "multiple": settings.contract_resize_multiple}


def scene_constants(text: str) -> dict[str, Any]:
    """'noise_level=0.1; style=1,2,3' -> {'noise_level': 0.1, 'style': [1.0, 2.0, 3.0]}; a one-line error naming
    the item otherwise (the panel shows it, a run stops with it)."""
    constants: dict[str, Any] = {}
    for item in (part.strip() for part in text.split(";") if part.strip()):
        name, sep, values = item.partition("=")
        try:
            numbers = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            numbers = []
        if not sep or not name.strip() or not numbers:
            raise ContractError(f"Constants: {item!r} is not name=value or name=v1,v2,... (items separated by ';')")
        constants[name.strip()] = numbers[0] if len(numbers) == 1 else numbers
    return constants


def scene_contract_layer(settings) -> dict[str, Any]:
    """The contract keys the scene overrides ('From Model' leaves a key to the model's own contract)."""
    layer = _scene_records(settings)
    if settings.contract_fit != "MODEL":
        layer["fit"] = settings.contract_fit.lower()
    if (resize := _scene_resize(settings)) is not None:
        layer["resize"] = resize
    if settings.model_output:
        layer["output_name"] = settings.model_output
    if settings.contract_size != "MODEL":
        layer["size"] = _word(settings.contract_size)
    if settings.contract_batch >= 0:
        layer["batch"] = settings.contract_batch
    if constants := scene_constants(settings.contract_constants):
        layer["constants"] = constants
    return layer


def model_contract(settings, model_path: str | None = None) -> ModelContract | None:
    """The effective contract: the model's metadata and sidecar, then the scene's overrides. None without a
    model file (the run then fails on the model path, with its own message)."""
    path = model_path or (blend_path(settings.model_path, "model") if settings.model_path else "")
    if not path or not os.path.isfile(path):
        return None
    return load_contract(
        path, jobs.model_metadata(path) or {}, overrides=scene_contract_layer(settings), overrides_source="scene"
    )


def _model_job(path: str, precision: str, provider: str, context, sample=None, settings=None) -> ModelJob:
    machine = machine_settings(context)
    if provider == "AUTO":
        provider = machine.provider
    model_path = _model_path(path)
    return ModelJob(
        contract=model_contract(settings, model_path) if settings is not None else None,
        model_path=model_path,
        precision=parse_option(Precision, precision, what="precision"),
        provider=parse_option(Provider, provider, what="provider"),
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
    return _model_job(op.model or scene.model_path, precision, provider, context, sample, scene)


def scene_model_job(scene, context=None, sample=None) -> ModelJob:
    """The scene's model settings alone (no operator): render handlers and batch jobs use this. `sample` (HxWxC)
    validates a reduced-precision conversion."""
    settings = scene.onnx_image_runtime
    return _model_job(settings.model_path, settings.precision, settings.provider, context, sample, settings)


def run_settings(settings, blender_rgba: bool = False, model_path: str | None = None) -> RunSettings:
    """Tile, overlap (-1: from the model's receptive field), the effective contract (the model's, with the
    scene's overrides: colour, range, channel order, fit, output) and the file's working colour space."""
    return RunSettings(
        tile=settings.tile_size,
        overlap=None if settings.tile_overlap < 0 else settings.tile_overlap,
        contract=model_contract(settings, model_path),
        blender_rgba=blender_rgba,
        working_space=working_space(),
    )
