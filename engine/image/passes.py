"""Render pass names: Blender 4.2 and 5.x spellings, optional view layer prefix, default passes for
model inputs named like 'albedo' or 'normal', and the 'input=Pass' mapping text used by the UI and CLI.

Layers are what `imageio.read_layers` returns: {'ViewLayer.Diffuse Color': HxWxC, ...}, or {'': HxWxC}
for a plain (single-layer) image, whose unnamed layer counts as Combined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import NDArray

from ..errors import ImageError

__all__ = [
    "DATA_PASSES",
    "DEFAULT_PASSES",
    "PASS_ALIASES",
    "combined_layer",
    "data_inputs",
    "find_pass",
    "is_data_pass",
    "mapping_warning",
    "normalize",
    "parse_mapping",
    "select_inputs",
]

# Blender 4.2 names (and a few shorthands) -> the 5.x name; keys are lower case without spaces.
PASS_ALIASES = {
    "diffcol": "Diffuse Color",
    "glosscol": "Glossy Color",
    "transcol": "Transmission Color",
    "diffdir": "Diffuse Direct",
    "diffind": "Diffuse Indirect",
    "glossdir": "Glossy Direct",
    "glossind": "Glossy Indirect",
    "transdir": "Transmission Direct",
    "transind": "Transmission Indirect",
    "ao": "Ambient Occlusion",
    "emit": "Emission",
    "env": "Environment",
    "image": "Combined",
    "rgba": "Combined",
}
# When the mapping names no pass for a model input, these are tried by the input's name (lower case).
DEFAULT_PASSES = {
    "albedo": ("Denoising Albedo", "Diffuse Color"),
    "normal": ("Denoising Normal", "Normal"),
    "color": ("Combined",),
    "colour": ("Combined",),
    "depth": ("Depth",),
}
# Passes whose values are data, not colour (directions, positions, distances, ids): never converted between colour
# spaces. normalize()d names, both Blender spellings; Cryptomatte layers ('CryptoObject00', ...) by their prefix.
DATA_PASSES = frozenset(
    {
        "depth",
        "z",
        "mist",
        "normal",
        "position",
        "vector",
        "uv",
        "object index",
        "indexob",
        "material index",
        "indexma",
        "denoising normal",
        "denoising depth",
    }
)


def normalize(name: str) -> str:
    """A comparable form of a pass name: 'DiffCol', 'diffuse color' and 'Diffuse Color' are equal."""
    stripped = name.strip()
    return PASS_ALIASES.get(stripped.lower().replace(" ", ""), stripped).lower()


def parse_mapping(text: str | Iterable[str]) -> dict[str, str]:
    """'albedo=Diffuse Color, normal=Normal' (or a list of such entries) -> {'albedo': 'Diffuse Color', ...}.

    Raises ValueError naming the bad entry."""
    parts = text.split(",") if isinstance(text, str) else [p for item in text for p in item.split(",")]
    mapping: dict[str, str] = {}
    for part in parts:
        if not part.strip():
            continue
        key, _, value = (s.strip() for s in part.partition("="))
        if not key or not value:
            raise ValueError(f"pass mapping entry '{part.strip()}' needs the form input=Pass Name")
        mapping[key] = value
    return mapping


def mapping_warning(mapping: Mapping[str, str], input_names: Iterable[str]) -> str | None:
    """A warning for mapping entries that name no image input of the model, with the inputs it has; None when
    every entry names one. Such entries are never used (README's 'albedo=...,normal=...' on a one-input model),
    and a run that goes on without saying so lets a typo or the wrong model pass for a working setup."""
    names = list(input_names)
    known = {name.lower() for name in names}  # matched ignoring case, as select_inputs matches them
    unknown = [key for key in mapping if key.lower() not in known]
    if not unknown:
        return None
    listed = ", ".join(names) or "none"
    entries = ", ".join(f"'{k}={mapping[k]}'" for k in unknown)
    return f"pass mapping {entries} ignored: the model has no image input of that name; its image inputs: {listed}"


def _short(layer: str) -> str:
    """'ViewLayer.Diffuse Color' -> 'Diffuse Color'; the unnamed layer of a plain image is Combined."""
    return layer.rsplit(".", 1)[-1] if layer else "Combined"


def find_pass(layers: Mapping[str, NDArray[np.float32]], name: str) -> NDArray[np.float32] | None:
    """A pass by name in either Blender spelling, with or without the view layer prefix
    ('Normal', 'ViewLayer.Normal', 'ViewLayer.DiffCol'); the first view layer wins."""
    key = _find_key(layers, name)
    return None if key is None else layers[key]


def _find_key(layers: Mapping[str, NDArray[np.float32]], name: str) -> str | None:
    """The layer `find_pass` returns, by its key."""
    name = name.strip()
    view, _, short = name.rpartition(".")
    wanted, whole = normalize(short), normalize(name)
    for key in layers:
        if normalize(_short(key)) == wanted and (not view or key.rpartition(".")[0] == view):
            return key
        # Pass names with dots of their own (AOVs such as 'my.aov'): match the name as a whole.
        if normalize(key) == whole or key.endswith("." + name):
            return key
    return None


def combined_layer(layers: Mapping[str, NDArray[np.float32]]) -> NDArray[np.float32]:
    """The image to process: the plain RGBA layer, else Blender's Combined pass, else the first."""
    return layers[_combined_key(layers)]


def _combined_key(layers: Mapping[str, NDArray[np.float32]]) -> str:
    if "" in layers:
        return ""
    found = _find_key(layers, "Combined")
    return found if found is not None else next(iter(layers))


def is_data_pass(layer: str) -> bool:
    """Whether the layer `layer` ('ViewLayer.Normal', 'Depth', 'CryptoObject00') holds data, not colour."""
    short = normalize(_short(layer))
    return short in DATA_PASSES or short.startswith("crypto")


def _available(layers: Mapping[str, NDArray[np.float32]]) -> str:
    return ", ".join(sorted(k or "Combined" for k in layers)) or "none"


def select_inputs(
    layers: Mapping[str, NDArray[np.float32]], input_names: list[str], *, mapping: Mapping[str, str] | None = None
) -> tuple[NDArray[np.float32], dict[str, NDArray[np.float32]]]:
    """(first input image, {other input: pass}) for a model whose image inputs are `input_names`.

    The first input gets `mapping[input]` or Combined; the others get `mapping[input]`, else the
    DEFAULT_PASSES for their name. Raises: ImageError naming what is missing and what the file has."""
    keys = _select_keys(layers, input_names, mapping)
    first, *others = keys
    return layers[keys[first]], {name: layers[keys[name]] for name in others}


def data_inputs(
    layers: Mapping[str, NDArray[np.float32]], input_names: list[str], *, mapping: Mapping[str, str] | None = None
) -> frozenset[str]:
    """The model inputs `select_inputs` feeds a data pass (normal, depth, position, ...: `is_data_pass`), which no
    colour-space conversion may touch (RunSettings.data_inputs). Raises: ImageError, as select_inputs does."""
    keys = _select_keys(layers, input_names, mapping)
    return frozenset(name for name, key in keys.items() if is_data_pass(key))


def _select_keys(
    layers: Mapping[str, NDArray[np.float32]], input_names: list[str], mapping: Mapping[str, str] | None
) -> dict[str, str]:
    """{model input: layer key}, the first input first (see select_inputs)."""
    # Input names match ignoring case, as the pipeline matches extra inputs.
    given = {k.lower(): v for k, v in (mapping or {}).items()}
    mapping = {name: given[name.lower()] for name in input_names if name.lower() in given}
    if not layers:
        raise ImageError("the image has no layers to read")
    first_name = input_names[0] if input_names else ""
    if first_name in mapping:
        first = _find_key(layers, mapping[first_name])
        if first is None:
            raise ImageError(
                f"model input '{first_name}' needs '{mapping[first_name]}'; available passes: {_available(layers)}"
            )
    else:
        first = _combined_key(layers)
    keys = {first_name: first}
    for name in input_names[1:]:
        names = (mapping[name],) if name in mapping else DEFAULT_PASSES.get(name.lower(), ())
        found = next((key for key in (_find_key(layers, n) for n in names) if key is not None), None)
        if found is None:
            wanted = " or ".join(f"'{n}'" for n in names) or "a pass"
            raise ImageError(
                f"model input '{name}' needs {wanted}; available passes: {_available(layers)} "
                "(enable the pass in View Layer properties or set the pass mapping)"
            )
        keys[name] = found
    return keys
