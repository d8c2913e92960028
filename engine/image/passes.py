"""Render pass names: Blender 4.2 and 5.x spellings, optional view layer prefix, default passes for
model inputs named like 'albedo' or 'normal', and the 'input=Pass' mapping text used by the UI and CLI.

Layers are what `imageio.read_layers` returns: {'ViewLayer.Diffuse Color': HxWxC, ...}, or {'': HxWxC}
for a plain (single-layer) image, whose unnamed layer counts as Combined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import ImageError

__all__ = [
    "DEFAULT_PASSES",
    "PASS_ALIASES",
    "combined_layer",
    "find_pass",
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


def _short(layer: str) -> str:
    """'ViewLayer.Diffuse Color' -> 'Diffuse Color'; the unnamed layer of a plain image is Combined."""
    return layer.rsplit(".", 1)[-1] if layer else "Combined"


def find_pass(layers: Mapping[str, np.ndarray], name: str) -> np.ndarray | None:
    """A pass by name in either Blender spelling, with or without the view layer prefix
    ('Normal', 'ViewLayer.Normal', 'ViewLayer.DiffCol'); the first view layer wins."""
    name = name.strip()
    view, _, short = name.rpartition(".")
    wanted, whole = normalize(short), normalize(name)
    for key, array in layers.items():
        if normalize(_short(key)) == wanted and (not view or key.rpartition(".")[0] == view):
            return array
        # Pass names with dots of their own (AOVs such as 'my.aov'): match the name as a whole.
        if normalize(key) == whole or key.endswith("." + name):
            return array
    return None


def combined_layer(layers: Mapping[str, np.ndarray]) -> np.ndarray:
    """The image to process: the plain RGBA layer, else Blender's Combined pass, else the first."""
    if "" in layers:
        return layers[""]
    found = find_pass(layers, "Combined")
    return found if found is not None else next(iter(layers.values()))


def _available(layers: Mapping[str, np.ndarray]) -> str:
    return ", ".join(sorted(k or "Combined" for k in layers)) or "none"


def select_inputs(
    layers: Mapping[str, np.ndarray], input_names: list[str], mapping: Mapping[str, str] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(first input image, {other input: pass}) for a model whose image inputs are `input_names`.

    The first input gets `mapping[input]` or Combined; the others get `mapping[input]`, else the
    DEFAULT_PASSES for their name. Raises ImageError naming what is missing and what the file has."""
    # Input names match ignoring case, as the pipeline matches extra inputs.
    given = {k.lower(): v for k, v in (mapping or {}).items()}
    mapping = {name: given[name.lower()] for name in input_names if name.lower() in given}
    if not layers:
        raise ImageError("the image has no layers to read")
    first_name = input_names[0] if input_names else ""
    if first_name in mapping:
        first = find_pass(layers, mapping[first_name])
        if first is None:
            raise ImageError(
                f"model input '{first_name}' needs '{mapping[first_name]}'; available passes: {_available(layers)}"
            )
    else:
        first = combined_layer(layers)
    extra: dict[str, np.ndarray] = {}
    for name in input_names[1:]:
        names = (mapping[name],) if name in mapping else DEFAULT_PASSES.get(name.lower(), ())
        for candidate in names:
            found = find_pass(layers, candidate)
            if found is not None:
                extra[name] = found
                break
        else:
            wanted = " or ".join(f"'{n}'" for n in names) or "a pass"
            raise ImageError(
                f"model input '{name}' needs {wanted}; available passes: {_available(layers)} "
                "(enable the pass in View Layer properties or set the pass mapping)"
            )
    return first, extra
