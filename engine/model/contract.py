"""The model contract: what a model expects and returns (value range, mean/std, channel order, colour), how an
image is fitted to it, the constants for its non-image inputs and which output is the result.

Layers, each overriding the one before key by key: defaults < the ONNX metadata_props key
`onnx_image_runtime.contract` < the sidecar `<model file>.contract.json` < a contract file (`--contract`) <
single settings (CLI flags, Blender scene properties). Every part remembers the layer it came from.

Light: importing this loads no onnx (the metadata is read with a lazy import), so RunSettings can carry it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from .. import atomic
from ..errors import ModelError
from ..options import ChannelOrder, ColorMode, Fit

METADATA_KEY = "onnx_image_runtime.contract"
SIDECAR_SUFFIX = ".contract.json"

INPUT_KEYS = ("range", "mean", "std", "order", "colour", "scale", "hdr")
OUTPUT_KEYS = ("range", "mean", "std", "order", "colour", "normalize", "as")
TOP_KEYS = ("input", "output", "fit", "resize", "constants", "output_name", "size", "batch")
RESIZE_KEYS = ("short_side_min", "long_side_max", "multiple", "letterbox", "pad")

RANGE_PRESETS: dict[str, dict[str, Any]] = {
    "0-1": {"range": [0.0, 1.0], "mean": [0.0], "std": [1.0]},
    "0-255": {"range": [0.0, 255.0], "mean": [0.0], "std": [1.0]},
    "-1-1": {"range": [-1.0, 1.0], "mean": [0.0], "std": [1.0]},
    "imagenet": {"range": [0.0, 1.0], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
}
"""The range presets Blender offers, as the input record's keys they set."""


class ContractError(ModelError):
    """A contract that cannot be used; the message names the key (and the layer it came from)."""


class DeclaredSize(StrEnum):
    """Whose word the image inputs' height and width are: the graph's (MODEL) or any size (DYNAMIC: the declared
    size is an export artefact of a fully convolutional net, which the model's own package rewrites on load)."""

    MODEL = "model"
    DYNAMIC = "dynamic"


class InputScale(StrEnum):
    """What the picture is divided by before it is scaled to the input's range."""

    NONE = "none"
    IMAGE_MAX = "image-max"
    """The picture's own largest value (over every pixel and colour channel), as background-removal packages feed
    their models (`im / max(im)`); an all-black picture is fed as it is."""


class OutputNormalize(StrEnum):
    """How the output's values become picture values."""

    NONE = "none"
    """By the output's range (and mean/std)."""
    MINMAX = "minmax"
    """(v - min v) / (max v - min v) over the whole output, instead of the range: the output's own extremes become
    0 and 1 (a constant output gives 0)."""


class OutputAs(StrEnum):
    """What the result is."""

    IMAGE = "image"
    """The model's output, as a picture."""
    ALPHA = "alpha"
    """The source picture's colour with the model's one-channel output (a matte) as its alpha."""


class HdrMode(StrEnum):
    """What becomes of scene-linear values above 1 on the way into the model."""

    CLIP = "clip"
    """Clipped to 1 by the sRGB encoding (display-referred models were trained on 0-1)."""
    COMPRESS = "compress"
    """Values above a knee rolled off under 1 by an invertible shoulder (image/normalize.py), undone on the output."""


@dataclass(frozen=True, kw_only=True)
class TensorContract:
    """How values are mapped between the picture and one tensor: tensor = ((picture in `colour`, divided by
    `scale`, scaled to `range`) - mean) / std, channels in `order`; mean and std are in the tensor's channel order.
    `scale` is the input's only, `normalize` the output's only; `hdr` is said for the input and undone on an output
    that follows it."""

    range: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    order: ChannelOrder = ChannelOrder.RGB
    colour: ColorMode = ColorMode.LINEAR
    scale: InputScale = InputScale.NONE
    hdr: HdrMode = HdrMode.CLIP
    normalize: OutputNormalize = OutputNormalize.NONE

    def check_channels(self, channels: int, where: str) -> None:
        """A one-line error when mean or std has neither one value nor one per channel."""
        for key in ("mean", "std"):
            values = getattr(self, key)
            if len(values) not in (1, channels):
                raise ContractError(
                    f"contract {where}.{key} has {len(values)} values; the model's tensor has {channels} channels "
                    "(give one value or one per channel)"
                )

    def to_json(self) -> dict[str, Any]:
        """The input record's keys (the output is written as given: ModelContract.to_json)."""
        return {
            "range": list(self.range),
            "mean": list(self.mean),
            "std": list(self.std),
            "order": str(self.order),
            "colour": str(self.colour),
            "scale": str(self.scale),
            "hdr": str(self.hdr),
        }


@dataclass(frozen=True, kw_only=True)
class ResizeRule:
    """How the `resize` fit sizes the image, the way the model's own package does; see
    inference/resize_policy.py for the arithmetic. At most one of `short_side_min` and `long_side_max`; `letterbox`
    goes with neither (nor with `multiple`): it is for a fixed-size input."""

    short_side_min: int = 0
    """Scale up so the short side is at least this (0: no such rule)."""
    long_side_max: int = 0
    """Scale down so the long side is at most this (0: no such rule)."""
    multiple: int = 1
    """Each side rounded to the nearest multiple of this (as the packages round)."""
    letterbox: bool = False
    """Scale to fit the model's fixed size keeping the aspect ratio, pad the rest, crop the result back."""
    pad: float = 0.0
    """The letterbox's padding, as a value of the model's input tensor (after range and mean/std)."""

    def to_json(self) -> dict[str, Any]:
        """The keys a contract would give for this rule (the defaults left out)."""
        default = ResizeRule()
        return {k: getattr(self, k) for k in RESIZE_KEYS if getattr(self, k) != getattr(default, k)}

    def text(self) -> str:
        """The rule in words, for a run's report."""
        if self.letterbox:
            return f"letterboxed (aspect ratio kept, padded with {self.pad:g})"
        parts = []
        if self.short_side_min:
            parts.append(f"short side at least {self.short_side_min}")
        if self.long_side_max:
            parts.append(f"long side at most {self.long_side_max}")
        if self.multiple > 1:
            parts.append(f"each side a multiple of {self.multiple}")
        return ", ".join(parts) or "as it is"


@dataclass(frozen=True, kw_only=True)
class ModelContract:
    """The effective contract. `output` holds only the output keys some layer set: the others follow the
    input when the output has the input's channel count, else the defaults (masks, maps): see `output_for`."""

    input: TensorContract = field(default_factory=TensorContract)
    output_keys: tuple[tuple[str, Any], ...] = ()
    fit: Fit = Fit.AUTO
    """Carried for the fitting code in inference (tile, resize or auto)."""
    constants: tuple[tuple[str, tuple[float, ...]], ...] = ()
    output_name: str = ""
    """The output that is the result; empty: the first image-like output."""
    size: DeclaredSize = DeclaredSize.MODEL
    batch: int = 0
    """The image inputs' batch re-declared (an export's fixed batch of 10, say); 0: as the graph declares it."""
    resize: ResizeRule | None = None
    """How a resized image is sized (the package's rule); None: the model's fixed size, or what fits in memory.
    A layer gives the whole rule: a later layer's rule replaces an earlier one's, `{}` removes it."""
    sources: tuple[tuple[str, str], ...] = ()
    """(key, layer) for every key a layer other than the defaults set, e.g. ('input.range', 'sidecar')."""

    @property
    def constant_values(self) -> dict[str, tuple[float, ...]]:
        return dict(self.constants)

    @property
    def output_as(self) -> OutputAs:
        given: OutputAs = dict(self.output_keys).get("as", OutputAs.IMAGE)  # parse_layer made it an OutputAs
        return given

    def output_for(self, in_channels: int, out_channels: int) -> TensorContract:
        """The output's record: the keys given for it, the rest from the input (same channel count) or the
        defaults. The input's `hdr` follows with its colour (the shoulder is undone where the sRGB encoding is);
        `scale` is the input's alone."""
        base = self.input if in_channels == out_channels else TensorContract()
        given = dict(self.output_keys)
        return TensorContract(
            range=given.get("range", base.range),
            mean=given.get("mean", base.mean),
            std=given.get("std", base.std),
            order=given.get("order", base.order),
            colour=given.get("colour", base.colour),
            hdr=base.hdr,
            normalize=given.get("normalize", OutputNormalize.NONE),
        )

    def to_json(self) -> dict[str, Any]:
        """The effective contract as the JSON format (the output as given; omitted keys follow the rule)."""
        output = {k: (list(v) if isinstance(v, tuple) else str(v)) for k, v in self.output_keys}
        return {
            "input": self.input.to_json(),
            "output": output,
            "fit": str(self.fit),
            "resize": self.resize.to_json() if self.resize else {},
            "constants": {k: (v[0] if len(v) == 1 else list(v)) for k, v in self.constants},
            "output_name": self.output_name,
            "size": str(self.size),
            "batch": self.batch,
        }

    def source_map(self) -> dict[str, str]:
        return dict(self.sources)

    @property
    def redeclares(self) -> bool:
        """Whether the contract changes the graph's declared input shapes (model.declared_shape)."""
        return self.size == DeclaredSize.DYNAMIC or self.batch > 0


Layer = tuple[str, Mapping[str, Any]]
"""(layer name, partial contract as parsed JSON)."""


def _numbers(value: Any, key: str, where: str) -> tuple[float, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    if not values or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ContractError(f"contract {where}: {key} must be a number or a list of numbers, not {value!r}")
    if not all(math.isfinite(v) for v in values):
        raise ContractError(f"contract {where}: {key} must be finite, not {value!r}")
    return tuple(float(v) for v in values)


_Choice = TypeVar("_Choice", bound=StrEnum)


def _choice(kind: type[_Choice], value: Any, key: str, where: str) -> _Choice:
    try:
        return kind(str(value).lower())
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise ContractError(f"contract {where}: {key} must be one of {choices}, not {value!r}") from None


def _whole(value: Any, key: str, where: str, low: int, high: int) -> int:
    """A whole number in [low, high]; 32.0 counts as 32 (JSON has one number type, and JSON Schema's integer
    takes it)."""
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or number != int(number) or not low <= number <= high:
        raise ContractError(f"contract {where}: {key} must be a whole number from {low} to {high}, not {value!r}")
    return int(number)


_CHOICES: dict[str, type[StrEnum]] = {
    "order": ChannelOrder,
    "colour": ColorMode,
    "scale": InputScale,
    "hdr": HdrMode,
    "normalize": OutputNormalize,
    "as": OutputAs,
}
"""The tensor records' keys that take one word of a closed set."""


def _known_items(record: Any, prefix: str, known: tuple[str, ...], where: str) -> Iterator[tuple[str, str, Any]]:
    """(key, 'prefix.key', value) of a contract object whose keys must all be `known`; one line for anything else."""
    if not isinstance(record, Mapping):
        raise ContractError(f"contract {where}: {prefix} must be an object, not {record!r}")
    for key, value in record.items():
        name = f"{prefix}.{key}"
        if key not in known:
            raise ContractError(f"contract {where}: unknown key {name!r}; known: {', '.join(known)}")
        yield key, name, value


def _tensor_keys(record: Any, prefix: str, where: str) -> dict[str, Any]:
    known = INPUT_KEYS if prefix == "input" else OUTPUT_KEYS
    parsed: dict[str, Any] = {}
    for key, name, value in _known_items(record, prefix, known, where):
        if key == "range":
            lo_hi = _numbers(value, name, where)
            if len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]:
                raise ContractError(f"contract {where}: {name} must be [low, high] with low < high, not {value!r}")
            parsed[key] = lo_hi
        elif key in ("mean", "std"):
            values = _numbers(value, name, where)
            if len(values) not in (1, 3, 4):
                raise ContractError(f"contract {where}: {name} needs 1 value or one per channel, not {len(values)}")
            if key == "std" and any(v == 0 for v in values):
                raise ContractError(f"contract {where}: {name} has a 0 (values are divided by it)")
            parsed[key] = values
        else:
            parsed[key] = _choice(_CHOICES[key], value, name, where)
    return parsed


def _resize_rule(record: Any, where: str) -> ResizeRule | None:
    """The `resize` object as a rule; `{}` is no rule (it removes a lower layer's)."""
    given: dict[str, Any] = {}
    for key, name, value in _known_items(record, "resize", RESIZE_KEYS, where):
        if key == "letterbox":
            if not isinstance(value, bool):
                raise ContractError(f"contract {where}: {name} must be true or false, not {value!r}")
            given[key] = value
        elif key == "pad":
            if isinstance(value, list):
                raise ContractError(f"contract {where}: {name} must be one number, not {value!r}")
            given[key] = _numbers(value, name, where)[0]
        else:
            given[key] = _whole(value, name, where, 1, 4096 if key == "multiple" else 65536)
    if "short_side_min" in given and "long_side_max" in given:
        raise ContractError(f"contract {where}: resize takes short_side_min or long_side_max, not both")
    if given.get("letterbox") and given.keys() & {"short_side_min", "long_side_max", "multiple"}:
        raise ContractError(
            f"contract {where}: resize.letterbox fills a fixed-size input; it takes no short_side_min, "
            "long_side_max or multiple"
        )
    if "pad" in given and not given.get("letterbox"):
        raise ContractError(f"contract {where}: resize.pad is the letterbox's padding; give resize.letterbox: true")
    return ResizeRule(**given) if given and given != {"letterbox": False} else None


def parse_layer(data: Any, where: str) -> dict[str, Any]:
    """One layer's JSON checked and typed: {'input.range': (0.0, 1.0), 'fit': Fit.TILE, 'constants.x': ...}."""
    if not isinstance(data, Mapping):
        raise ContractError(f"contract {where}: must be a JSON object, not {type(data).__name__}")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key not in TOP_KEYS:
            raise ContractError(f"contract {where}: unknown key {key!r}; known: {', '.join(TOP_KEYS)}")
        if key in ("input", "output"):
            flat.update({f"{key}.{k}": v for k, v in _tensor_keys(value, key, where).items()})
        elif key == "fit":
            flat["fit"] = _choice(Fit, value, "fit", where)
        elif key == "output_name":
            if not isinstance(value, str):
                raise ContractError(f"contract {where}: output_name must be a string, not {value!r}")
            flat["output_name"] = value
        elif key == "size":
            flat["size"] = _choice(DeclaredSize, value, "size", where)
        elif key == "batch":
            flat["batch"] = _whole(value, "batch", where, 0, 4096)
        elif key == "resize":
            flat["resize"] = _resize_rule(value, where)
        else:
            if not isinstance(value, Mapping):
                raise ContractError(f"contract {where}: constants must be an object of name: value")
            for name, v in value.items():
                flat[f"constants.{name}"] = _numbers(v, f"constants.{name}", where)
    return flat


def build_contract(layers: list[Layer]) -> ModelContract:
    """The effective contract from layers listed lowest first; later layers override key by key.

    Raises: ContractError naming the key that is wrong and the layer it came from."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, data in layers:
        for key, value in parse_layer(data, name).items():
            merged[key], sources[key] = value, name
    given_in = {k.split(".", 1)[1]: v for k, v in merged.items() if k.startswith("input.")}
    return ModelContract(
        input=TensorContract(**given_in),
        output_keys=tuple((k.split(".", 1)[1], v) for k, v in merged.items() if k.startswith("output.")),
        fit=merged.get("fit", Fit.AUTO),
        constants=tuple((k.split(".", 1)[1], v) for k, v in merged.items() if k.startswith("constants.")),
        output_name=merged.get("output_name", ""),
        size=merged.get("size", DeclaredSize.MODEL),
        batch=merged.get("batch", 0),
        resize=merged.get("resize"),
        sources=tuple(sorted(sources.items())),
    )


def sidecar_path(model_path: str | os.PathLike[str]) -> Path:
    """Where a model's sidecar contract lives: next to it, `<model file name>.contract.json`."""
    path = Path(model_path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


MAX_JSON_DEPTH = 32
"""A contract is a few levels deep; a deeper document is refused before Python's parser recurses into it."""


def _parse_json(text: str, where: str) -> Any:
    """JSON of a contract, sidecar or metadata, refused with one line when malformed or absurdly deep (a 100000-deep
    document made the parser raise RecursionError with a 37-line traceback)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:  # brackets outside strings: the nesting the parser would recurse into
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                raise ContractError(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")
        elif char in "]}":
            depth -= 1
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(f"{where} is not valid JSON: {exc}") from exc


def read_json_file(path: str | os.PathLike[str], what: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ContractError(f"the {what} {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    return _parse_json(text, f"the {what} {path}")


def metadata_layer(metadata: Mapping[str, str]) -> Any:
    """The contract in a model's metadata_props (a JSON document, which parse_layer checks is an object), or None."""
    text = metadata.get(METADATA_KEY)
    if text is None:
        return None
    return _parse_json(text, f"contract metadata: {METADATA_KEY}")


def model_metadata(model_path: str | os.PathLike[str]) -> dict[str, str]:
    """The model file's metadata_props, read off the protobuf wire format: the graph and its weights are skipped,
    not parsed, and the ONNX library is not loaded (a cached model then starts without it).

    Raises: ModelError when the file is missing or not a readable ONNX model."""
    if not Path(model_path).is_file():
        raise ModelError(f"model file not found: {model_path}")
    try:
        return metadata_props(Path(model_path).read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{model_path} is not a readable ONNX model (truncated or not ONNX): {exc}") from exc


_METADATA_PROPS = 14
"""ModelProto's field number for metadata_props (onnx.proto); each entry has key = 1 and value = 2."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("the file ends inside a field")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("a field's number or length is malformed")


def _fields(data: bytes) -> Iterator[tuple[int, bytes | None]]:
    """(field number, bytes of a length-delimited field or None) for each field of one protobuf message."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        field_number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _varint(data, pos)
            yield field_number, None
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            yield field_number, None
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("the file ends inside a field")
            yield field_number, data[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unknown protobuf wire type {wire}")
    if pos != len(data):
        raise ValueError("the file ends inside a field")


def metadata_props(data: bytes) -> dict[str, str]:
    """metadata_props of a serialized ModelProto, every other field skipped by its length."""
    props: dict[str, str] = {}
    for number, payload in _fields(data):
        if number == _METADATA_PROPS and payload is not None:
            entry = {n: (p or b"").decode("utf-8") for n, p in _fields(payload) if n in (1, 2)}
            props[entry.get(1, "")] = entry.get(2, "")
    return props


def contract_layers(
    model_path: str | os.PathLike[str] | None,
    metadata: Mapping[str, str] | None = None,
    *,
    contract_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "flags",
) -> list[Layer]:
    """Every layer that applies to the model, lowest first. `metadata` defaults to the file's.

    Raises: ModelError when the model file cannot be read; ContractError when a layer (the model's metadata,
    its sidecar, `contract_file`, `overrides`) is not a valid contract, naming the key and the layer."""
    layers: list[Layer] = []
    if model_path is not None and metadata is None:
        metadata = model_metadata(model_path)
    if metadata and (data := metadata_layer(metadata)) is not None:
        layers.append(("metadata", data))
    if model_path is not None and (side := sidecar_path(model_path)).is_file():
        layers.append(("sidecar", read_json_file(side, "sidecar contract")))
    if contract_file is not None:
        layers.append(("file", read_json_file(contract_file, "contract file")))
    if overrides:
        layers.append((overrides_source, overrides))
    return layers


def load_contract(
    model_path: str | os.PathLike[str] | None,
    metadata: Mapping[str, str] | None = None,
    *,
    contract_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "flags",
) -> ModelContract:
    """The effective contract of a model file (see the module docstring for the layers).

    Raises: what contract_layers and build_contract raise: ModelError, ContractError."""
    return build_contract(
        contract_layers(
            model_path, metadata, contract_file=contract_file, overrides=overrides, overrides_source=overrides_source
        )
    )


def write_sidecar(model_path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Check `data` as a contract and write it next to the model; returns the sidecar's path.

    Raises: ContractError naming what is wrong in `data` (nothing is written then)."""
    parse_layer(data, "to save")
    path = sidecar_path(model_path)
    atomic.write_bytes(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))  # never a half-written sidecar
    return path
