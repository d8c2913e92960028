"""Per-file settings (one group on the Scene) and transient progress (on the WindowManager)."""

from __future__ import annotations

import bpy

from .preferences import PROVIDER_ITEMS

# '//' paths (relative to the .blend) are accepted without a warning where Blender knows the option (4.2+).
PATH_OPTIONS: set[str] = (
    {"PATH_SUPPORTS_BLEND_RELATIVE"}
    if "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties
    else set()
)

PRECISION_ITEMS = (
    (
        "AUTO",
        "Auto",
        "The fastest precision that passes the accuracy check where the model runs (on the CPU: INT8 where it is "
        "measured faster on this computer, else FP32)",
    ),
    ("FP32", "FP32", "Full precision: slowest on GPUs, the reference result"),
    ("FP16", "FP16", "Half precision: fastest on GPUs; checked against FP32 when converted"),
    ("AMP", "Mixed", "Half precision where it stays accurate, FP32 for the sensitive nodes"),
    # Last, so the numbers Blender stores for the items above in saved files keep their meaning.
    (
        "INT8",
        "INT8",
        "8-bit integers calibrated on the image being processed: faster on CPUs with VNNI; checked against FP32 "
        "by the accuracy rule",
    ),
)
SCENE_PROVIDER_ITEMS = (
    ("AUTO", "Auto", "The default provider from the add-on preferences (CUDA when it loads, else CPU)"),
    *PROVIDER_ITEMS[1:],
)
COLOR_ITEMS = (
    ("MODEL", "From Model", "What the model's contract says (metadata or sidecar); linear when it says nothing"),
    ("LINEAR", "Linear", "The model takes and gives scene-linear values (HDR kept)"),
    ("SRGB", "sRGB", "The model was trained on sRGB images: convert in and out (values clipped to 0-1)"),
    ("DATA", "Data", "Not colour (normal or position maps): never converted between colour spaces"),
)


LAST_RUN_KEYS = (
    "last_provider",
    "last_fallback",
    "last_report",
    "last_advice",
    "last_benchmark",
    "last_precision",
    "last_seconds",
    "last_tiles",
    "last_inputs",
)
"""What the panels show about the last model's runs: cleared when the model changes, so no stale report speaks
for another model."""


def _model_changed(settings, _context) -> None:
    for key in LAST_RUN_KEYS:
        settings.property_unset(key)


# The contract's scene overrides (operators/settings.py turns them into the contract's 'scene' layer).
RANGE_ITEMS = (
    ("MODEL", "From Model", "The value range the model's contract says (0-1 when it says nothing)"),
    ("0_1", "0-1", "Values 0 to 1, no mean/std"),
    ("0_255", "0-255", "Values 0 to 255, no mean/std"),
    ("M1_1", "-1..1", "Values -1 to 1"),
    ("IMAGENET", "ImageNet", "0-1 with ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)"),
)
ORDER_ITEMS = (
    ("MODEL", "From Model", "The channel order the model's contract says (RGB when it says nothing)"),
    ("RGB", "RGB", "Red, green, blue"),
    ("BGR", "BGR", "Blue, green, red (Caffe and OpenCV exports)"),
)
FIT_ITEMS = (
    ("MODEL", "From Model", "How the model's contract fits images (auto when it says nothing)"),
    ("AUTO", "Auto", "Tile or resize, chosen from the model"),
    ("TILE", "Tile", "Cut the image into tiles the model takes"),
    ("RESIZE", "Resize", "Resize the image to the model's size and back"),
)
# Contract round two (README "The model contract"): 'From Model' leaves each to the model's own contract.
SIZE_ITEMS = (
    ("MODEL", "From Model", "What the model's contract says (the graph's declared size when it says nothing)"),
    ("DECLARED", "Declared", "The image inputs' height and width as the graph declares them"),
    (
        "DYNAMIC",
        "Any Size",
        "The declared size is an export artefact of a fully convolutional net: run at any size "
        "(proved by running two sizes; a really fixed graph is refused with the reason)",
    ),
)
RESIZE_RULE_ITEMS = (
    ("MODEL", "From Model", "The resize rule the model's contract says (none when it says nothing)"),
    ("NONE", "None", "No rule: resize to the model's fixed size, or to what fits in memory"),
    (
        "SHORT_SIDE_MIN",
        "Short Side at Least",
        "Scale up so the short side is at least Side, each side rounded to Multiple (text detectors)",
    ),
    (
        "LONG_SIDE_MAX",
        "Long Side at Most",
        "Scale down so the long side is at most Side, each side rounded to Multiple",
    ),
    ("MULTIPLE", "Multiple Only", "Each side rounded to the nearest Multiple, not scaled"),
    ("LETTERBOX", "Letterbox", "Fit a fixed-size input keeping the aspect ratio, pad the rest, crop the result back"),
)
INPUT_SCALE_ITEMS = (
    ("MODEL", "From Model", "What the model's contract says (no scaling when it says nothing)"),
    ("NONE", "None", "The picture as it is"),
    ("IMAGE_MAX", "Image Max", "The picture divided by its own largest value first (background-removal models)"),
)
HDR_ITEMS = (
    ("MODEL", "From Model", "What the model's contract says (clip when it says nothing)"),
    ("CLIP", "Clip", "Values above 1 are clipped by the sRGB encoding"),
    ("COMPRESS", "Compress", "Values above 1 are rolled off under 1 before the model and restored after"),
)
NORMALIZE_ITEMS = (
    ("MODEL", "From Model", "What the model's contract says (the output's range when it says nothing)"),
    ("NONE", "Range", "The output's values mapped by its range"),
    ("MINMAX", "Min-Max", "The whole output's own minimum and maximum become 0 and 1"),
)
OUTPUT_AS_ITEMS = (
    ("MODEL", "From Model", "What the model's contract says (the output as an image when it says nothing)"),
    ("IMAGE", "Image", "The model's output is the result"),
    ("ALPHA", "Alpha", "The source's colour with the model's one-channel output (a matte) as its alpha"),
)


class ONNX_PG_settings(bpy.types.PropertyGroup):
    model_path: bpy.props.StringProperty(
        name="Model",
        description="The .onnx image model to run",
        subtype="FILE_PATH",
        default="",
        options=PATH_OPTIONS,
        update=_model_changed,
    )
    precision: bpy.props.EnumProperty(
        name="Precision", description="Numeric precision of the prepared model", items=PRECISION_ITEMS, default="AUTO"
    )
    provider: bpy.props.EnumProperty(
        name="Provider", description="Where the model runs", items=SCENE_PROVIDER_ITEMS, default="AUTO"
    )
    tile_size: bpy.props.IntProperty(
        name="Tile Size",
        description="Tile side in pixels; 0 chooses from the model, the image size and the provider",
        default=0,
        min=0,
        max=16384,
        soft_max=4096,
    )
    tile_overlap: bpy.props.IntProperty(
        name="Overlap",
        description="Pixels shared by neighbouring tiles, blended to hide seams; -1 follows the model's "
        "measured receptive field, so tiles match the whole image",
        default=-1,
        min=-1,
        max=1024,
    )
    color_mode: bpy.props.EnumProperty(
        name="Colour", description="The colour space the model expects", items=COLOR_ITEMS, default="MODEL"
    )
    contract_range: bpy.props.EnumProperty(
        name="Range", description="The values the model takes and gives", items=RANGE_ITEMS, default="MODEL"
    )
    contract_order: bpy.props.EnumProperty(
        name="Channels", description="The model's channel order", items=ORDER_ITEMS, default="MODEL"
    )
    contract_fit: bpy.props.EnumProperty(
        name="Fit", description="How an image is fitted to the model", items=FIT_ITEMS, default="MODEL"
    )
    model_output: bpy.props.StringProperty(
        name="Model Output",
        description="The model output to use as the result; empty uses the contract's, else the first image-like one",
        default="",
    )
    contract_input_scale: bpy.props.EnumProperty(
        name="Scale", description="What the picture is divided by first", items=INPUT_SCALE_ITEMS, default="MODEL"
    )
    contract_hdr: bpy.props.EnumProperty(
        name="HDR", description="Values above 1 for a display-referred (sRGB) model", items=HDR_ITEMS, default="MODEL"
    )
    contract_output_normalize: bpy.props.EnumProperty(
        name="Output Values",
        description="How the output's values become the result's",
        items=NORMALIZE_ITEMS,
        default="MODEL",
    )
    contract_output_as: bpy.props.EnumProperty(
        name="Result", description="What the result is", items=OUTPUT_AS_ITEMS, default="MODEL"
    )
    contract_resize: bpy.props.EnumProperty(
        name="Resize Rule",
        description="How a resized image is sized, the way the model's package does",
        items=RESIZE_RULE_ITEMS,
        default="MODEL",
    )
    contract_resize_side: bpy.props.IntProperty(
        name="Side",
        description="The short side's minimum or the long side's maximum, in pixels",
        default=736,
        min=1,
        max=65536,
    )
    contract_resize_multiple: bpy.props.IntProperty(
        name="Multiple", description="Each side rounded to the nearest multiple of this", default=32, min=1, max=4096
    )
    contract_size: bpy.props.EnumProperty(
        name="Input Size",
        description="Whose word the image inputs' height and width are",
        items=SIZE_ITEMS,
        default="MODEL",
    )
    contract_batch: bpy.props.IntProperty(
        name="Batch",
        description="The image inputs' batch re-declared; -1 follows the model's contract, 0 the graph",
        default=-1,
        min=-1,
        max=4096,
    )
    contract_constants: bpy.props.StringProperty(
        name="Constants",
        description="Values for the model's non-image inputs, 'name=value' or 'name=v1,v2,...', separated by ';' "
        "(e.g. 'noise_level=0.1; strength=0.5'); they override the contract's",
        default="",
    )
    output_name: bpy.props.StringProperty(
        name="Output", description="Name of the image to write; empty makes '<source> ONNX'", default=""
    )
    pass_mapping: bpy.props.StringProperty(
        name="Passes",
        description="Model input = render pass, comma separated (e.g. 'albedo=Diffuse Color,normal=Normal'); "
        "the first input gets Combined unless named here",
        default="",
    )
    # Post-processing of animation renders (handlers.py) and of frame sequences on disk.
    postprocess: bpy.props.BoolProperty(
        name="ONNX Post-Process",
        description="Run the model on each frame of an animation render right after Blender writes it "
        "(also with 'blender -b file.blend -a'); the render output itself is never modified",
        default=False,
    )
    postprocess_output: bpy.props.StringProperty(
        name="Output",
        description="Where post-processed frames go, '#' for frame-number digits (e.g. //render_onnx/####.exr); "
        "empty uses a sibling folder of the render output with '_onnx' appended, same frame numbering, as EXR",
        subtype="FILE_PATH",
        default="",
        options=PATH_OPTIONS,
    )
    postprocess_stop_on_error: bpy.props.BoolProperty(
        name="Stop on Error",
        description="Stop post-processing at the first frame that fails; otherwise report it and go on",
        default=False,
    )
    postprocess_temporal_blend: bpy.props.FloatProperty(
        name="Temporal Blend",
        description="Blend each post-processed frame with the previous one where the motion (the Vector pass) can "
        "be trusted, so static and smoothly moving parts stop shimmering; the first frame and cuts are left "
        "alone. 0 is off. The flicker against the render's is measured and reported either way",
        default=0.0,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
    )
    postprocess_keep_passes: bpy.props.BoolProperty(
        name="Keep Passes",
        description="A multilayer EXR render gives a multilayer EXR output: the processed image as its Combined "
        "layer, every other pass kept with its name (resized nearest when the model scales), as the next step "
        "of a pipeline expects the layout it rendered",
        default=True,
    )
    postprocess_require_gpu: bpy.props.BoolProperty(
        name="Require GPU",
        description="Fail every frame, with the reason, instead of post-processing on the CPU when CUDA cannot "
        "run the model (for farm workers that must not crawl)",
        default=False,
    )
    postprocess_summary: bpy.props.StringProperty(
        name="Post-Process Summary", description="Frames done, skipped and failed in the last batch", default=""
    )
    # Written by the operators, shown by the panels.
    last_provider: bpy.props.StringProperty(name="Provider Used", default="")
    last_fallback: bpy.props.StringProperty(name="Fallback Reason", default="")
    last_report: bpy.props.StringProperty(name="Last Report", default="")
    last_advice: bpy.props.StringProperty(name="Last Architecture Advice", default="")
    last_benchmark: bpy.props.StringProperty(name="Last Benchmark", default="")
    last_precision: bpy.props.StringProperty(name="Precision Used", default="")
    last_seconds: bpy.props.FloatProperty(name="Last Run Time", default=0.0, min=0.0, unit="TIME_ABSOLUTE")
    last_tiles: bpy.props.IntProperty(name="Last Run Tiles", default=0, min=0)
    last_inputs: bpy.props.StringProperty(
        name="Model Inputs Used",
        description="Which image or pass went to which model input in the last run",
        default="",
    )


class ONNX_PG_progress(bpy.types.PropertyGroup):
    progress: bpy.props.FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: bpy.props.StringProperty(name="Status", default="")
    running: bpy.props.BoolProperty(name="Running", default=False)


classes = (ONNX_PG_settings, ONNX_PG_progress)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register():
    _register()
    bpy.types.Scene.onnx_image_runtime = bpy.props.PointerProperty(type=ONNX_PG_settings)
    bpy.types.WindowManager.onnx_image_runtime = bpy.props.PointerProperty(type=ONNX_PG_progress)


def unregister():
    del bpy.types.WindowManager.onnx_image_runtime
    del bpy.types.Scene.onnx_image_runtime
    _unregister()
