"""INT8: static quantization in the QDQ format the CPU runs fastest, calibrated on the image being processed.

Measured on AVX-512 VNNI (docs/benchmarks.md, issue 30): uint8 activations with int8 per-channel weights run the
sample model in about 0.6x its fp32 time, where int8 activations (s8s8) run 2x *slower* and a CPU without VNNI
runs either slower than fp32. Which one is faster is measured per machine (runtime.int8_choice); this module
makes the model. Calibration is deterministic: the same model and image give the same bytes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray

from ..model.contract import ModelContract
from ..model.digest import frames_digest
from ..model.onnx_io import parse_model, serialize
from ..model.records import ModelInfo
from .graph_repair import drop_initializer_inputs, name_nodes
from .records import Calibration
from .validation_feeds import SYNTHETIC, judges_whole_image, sample_feeds, sample_size, validated_on

log = logging.getLogger(__name__)

INT8_OP_BLOCK_LIST: dict[str, str] = {
    "Softmax": "its exponent turns one input step into a large output change, and its outputs crowd near 0, "
    "where 256 levels over [0, 1] are coarsest",
    "LayerNormalization": "divides by the data's own spread: an input step becomes an output error of step / std",
    "InstanceNormalization": "divides by the data's own spread: an input step becomes an output error of step / std",
    "GroupNormalization": "divides by the data's own spread: an input step becomes an output error of step / std",
}
"""Op types kept in float by every int8 conversion (as mixed precision keeps nodes fp32 for fp16), with the reason.
onnxruntime never quantizes Exp, Log, Pow, Div or Sqrt in the QDQ format, so tone curves stay float anyway."""
ATTENTION = "an attention product (MatMul of two computed tensors): both sides' ranges move with the content"
OUTPUT = (
    "writes a model output: 256 levels over its range are coarser than a display's 8-bit steps in the darks "
    "(a linear 0-1 output's first level is 13 sRGB levels) and far coarser over an HDR range (0.2 apart over 0-50)"
)
FORMAT = "QDQ: uint8 activations (asymmetric), int8 weights per output channel (symmetric)"
METHOD = "MinMax"
EXTREME_CROPS = "and the crops around its brightest and darkest pixel (so its whole range is calibrated)"


@dataclass(frozen=True)
class KeptFloat:
    """A node the int8 conversion leaves in float, and why."""

    node: str
    reason: str


@dataclass(frozen=True)
class CalibrationSet:
    """The inputs a model is calibrated on, and their record for the report."""

    feeds: tuple[dict[str, NDArray[np.generic]], ...]
    record: Calibration


def _feeds_digest(feeds: tuple[dict[str, NDArray[np.generic]], ...]) -> str:
    digest = hashlib.sha256()
    for feed in feeds:
        for name in sorted(feed):
            array = np.ascontiguousarray(feed[name])
            digest.update(f"{name}:{array.dtype}:{array.shape};".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def _around(image: NDArray[np.float32], y: int, x: int, h: int, w: int) -> NDArray[np.float32]:
    """The h x w window of `image` holding pixel (y, x), moved inside the image where it can be."""
    top = min(max(0, y - h // 2), max(0, image.shape[0] - h))
    left = min(max(0, x - w // 2), max(0, image.shape[1] - w))
    return image[top : top + h, left : left + w]


def _extreme_crops(info: ModelInfo, image: NDArray[np.float32]) -> list[NDArray[np.float32]]:
    """Crops around the brightest and the darkest pixel: MinMax calibration sets each tensor's range from what it
    sees, and a value beyond that range is clipped at run time (a highlight the richest crops missed)."""
    h, w = sample_size(info)
    source = image if image.ndim == 3 else image[:, :, None]
    grey = np.nan_to_num(source[:, :, : min(3, source.shape[2])].max(axis=2), nan=0.0, posinf=0.0, neginf=0.0)
    crops = []
    for index in (int(np.argmax(grey)), int(np.argmin(grey))):
        y, x = divmod(index, grey.shape[1])
        crops.append(_around(source, y, x, h, w))
    return crops


def calibration_set(
    info: ModelInfo,
    image: NDArray[np.float32] | None,
    contract: ModelContract | None,
    more: tuple[NDArray[np.float32], ...] = (),
) -> CalibrationSet:
    """The validation input (the image's richest crops, or the whole image for a global model, or a synthetic one)
    and, for an image, the crops around its extremes, each fed the contract's way; `more` (a sequence's next frames)
    adds the same of each: a range calibrated on one frame clips what the next frames bring (a light coming on)."""
    feeds = [sample_feeds(info, image, contract)]
    data = validated_on(info, image)
    if image is not None:
        feeds += [sample_feeds(info, crop, contract) for crop in _extreme_crops(info, image)]
        data = f"{data}, {EXTREME_CROPS}"
        for frame in more:
            feeds += [sample_feeds(info, frame, contract)]
            feeds += [sample_feeds(info, crop, contract) for crop in _extreme_crops(info, frame)]
        if more:
            data += f"; the same of {len(more)} more image{'s' * (len(more) != 1)}"
    elif data == SYNTHETIC:
        data = "a synthetic image (no image was given: calibrate on a typical one)"
    record = Calibration(
        method=METHOD,
        quant_format=FORMAT,
        data=data + (" (the whole image: the model sees all of it)" if judges_whole_image(info) else ""),
        inputs=len(feeds),
        sha256=_feeds_digest(tuple(feeds)),
        source_sha256=frames_digest(image, more),
    )
    return CalibrationSet(tuple(feeds), record)


def calibration_of_feeds(feeds: dict[str, NDArray[np.generic]]) -> CalibrationSet:
    """Calibration on the validation feeds alone (convert_model called with no image to cut crops from)."""
    record = Calibration(
        method=METHOD,
        quant_format=FORMAT,
        data="the validation input",
        inputs=1,
        sha256=_feeds_digest((feeds,)),
        source_sha256="",
    )
    return CalibrationSet((feeds,), record)


def kept_float(model: onnx.ModelProto, extra_ops: tuple[str, ...] = ()) -> list[KeptFloat]:
    """The nodes an int8 conversion keeps in float: INT8_OP_BLOCK_LIST's op types and `extra_ops`, attention
    products, and the nodes that write the model's outputs."""
    initializers = {init.name for init in model.graph.initializer}
    outputs = {out.name for out in model.graph.output}
    kept = []
    for node in model.graph.node:
        if node.op_type in INT8_OP_BLOCK_LIST:
            kept.append(KeptFloat(node.name, f"{node.op_type}: {INT8_OP_BLOCK_LIST[node.op_type]}"))
        elif node.op_type in extra_ops:
            kept.append(KeptFloat(node.name, f"{node.op_type}: asked for (--block-op)"))
        elif node.op_type == "MatMul" and not initializers.intersection(node.input):
            kept.append(KeptFloat(node.name, ATTENTION))
        elif outputs.intersection(node.output):
            kept.append(KeptFloat(node.name, OUTPUT))
    return kept


class _Feeds:
    """onnxruntime's calibration reader over a fixed list (its interface: get_next until None)."""

    def __init__(self, feeds: tuple[dict[str, NDArray[np.generic]], ...]) -> None:
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, NDArray[np.generic]] | None:
        return next(self._feeds, None)


@contextlib.contextmanager
def _quantizer_chatter_to_log() -> Iterator[None]:
    """onnxruntime's quantization tools print and log warnings of their own (pre-processing advice, opset
    upgrades): the engine's log at debug level, not the user's terminal."""
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = root.level
    root.setLevel(logging.CRITICAL + 1)  # it logs through the root logger; a failure is raised and reported anyway
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        root.setLevel(saved)
        for line in buffer.getvalue().splitlines():
            log.debug("quantizer: %s", line)


QDQ_OPSET = 13
"""Per-channel QuantizeLinear/DequantizeLinear (their `axis`) came with opset 13."""


def _at_least_opset_13(model: onnx.ModelProto) -> onnx.ModelProto:
    """An older export (opset 9-12) converted up to QDQ_OPSET, which its per-channel weights need."""
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), QDQ_OPSET)
    if version >= QDQ_OPSET:
        return model
    from onnx import version_converter

    return version_converter.convert_version(model, QDQ_OPSET)


def quantize(
    model: onnx.ModelProto, calibration: CalibrationSet, extra_ops: tuple[str, ...] = ()
) -> tuple[onnx.ModelProto, list[KeptFloat]]:
    """The int8 model of `model` (pre-processed as onnxruntime recommends: shapes inferred, BatchNormalization
    folded) calibrated on `calibration`, and the nodes kept float. Deterministic: equal inputs give equal bytes."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    source = onnx.ModelProto.FromString(model.SerializeToString())
    drop_initializer_inputs(source)
    source = _at_least_opset_13(source)
    with tempfile.TemporaryDirectory() as workdir, _quantizer_chatter_to_log():
        given, pre = Path(workdir) / "source.onnx", Path(workdir) / "pre.onnx"
        # From a file: given a ModelProto, onnxruntime 1.31's pre-processing moves initializers to an external file
        # it then fails to read for some models (a U-Net's Resize scales).
        given.write_bytes(serialize(source))
        # Symbolic shape inference needs sympy, which the extension does not ship; ONNX's own inference runs.
        quant_pre_process(given, pre, skip_symbolic_shape=True)
        prepared = parse_model(pre.read_bytes(), "pre-processed model")
        name_nodes(prepared)  # the quantizer excludes nodes by name
        kept = kept_float(prepared, extra_ops)
        out = Path(workdir) / "int8.onnx"
        quantize_static(
            prepared,
            out,
            _Feeds(calibration.feeds),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=[k.node for k in kept],
        )
        return parse_model(out.read_bytes(), "int8 model"), kept
