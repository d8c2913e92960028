"""`python -m engine ...`: the command line a pipeline or render farm uses. JSON keys are a contract."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from . import (
    EXR_CODECS,
    Cancelled,
    ChannelOrder,
    ColorMode,
    ConversionError,
    Device,
    EngineError,
    Fit,
    HdrMode,
    InputScale,
    OutputAs,
    OutputNormalize,
    Precision,
    Provider,
    Status,
    WorkingSpace,
)

if TYPE_CHECKING:  # the facade loads these lazily; a command imports what it uses
    import numpy as np
    from numpy.typing import NDArray

    from . import ExrOptions, ModelContract, PreparedModel, Progress, RunSettings, SessionSettings

log = logging.getLogger("engine")
# The engine installed from its wheel (scripts/build_wheel.py) is the package onnx_image_runtime with a console
# command; from a checkout or the extension's folder it is `python -m engine`. Usage lines name what was typed.
_PROG = "python -m engine" if __package__ == "engine" else "onnx-image-runtime"

GPU_REQUIRED_EXIT = 4
CANCELLED_EXIT = 130
"""Ctrl-C, as a shell reports a process ended by SIGINT."""
USAGE_EXIT = 64
"""A usage error (unknown option, bad number, missing argument): sysexits' EX_USAGE, not argparse's 2,
which this command line uses for 'conversion failed its accuracy check'."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors and their own exit status."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(USAGE_EXIT)


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    return parse


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


class GpuRequired(EngineError):
    """--require-gpu, and the model would run on the CPU (exit status 4)."""


def _require_gpu(args: argparse.Namespace, provider: str, reason: str) -> None:
    """--require-gpu: stop before any work when the model would not run on CUDA, and say why."""
    if getattr(args, "require_gpu", False) and provider != Device.CUDA:
        why = reason or f"--provider {args.provider} runs on the CPU"
        raise GpuRequired(f"--require-gpu: the model would run on the CPU: {why}")


def _check_gpu_first(args: argparse.Namespace) -> None:
    """The cheap check before preparing the model (CUDA can still fail for one model: checked again after)."""
    if getattr(args, "require_gpu", False):
        from . import resolve_provider

        choice = resolve_provider(_settings(args))
        _require_gpu(args, choice.name, choice.fallback_reason)


def _progress_printer(unit: str) -> Progress:
    from . import Progress

    start = time.perf_counter()
    interactive = sys.stderr.isatty()

    shown = {"percent": -1}

    def show(fraction: float, text: str) -> None:
        # A log (not a terminal) gets a line per whole percent, not per tile or frame: a million-frame range
        # that fails every frame must not write a million lines.
        percent = int(fraction * 100)
        if not interactive and percent == shown["percent"]:
            return
        shown["percent"] = percent
        rate = text and f"{text}, {time.perf_counter() - start:.1f}s"
        bar = "#" * int(fraction * 30)
        line = f"[{bar:<30}] {fraction * 100:5.1f}% {rate}"
        print(("\r" + line) if interactive else line, end="" if interactive else "\n", file=sys.stderr, flush=True)

    progress = Progress(show)
    _CANCEL_ON_CTRL_C.append(progress)
    return progress


_CANCEL_ON_CTRL_C: list[Progress] = []
"""The running command's progress objects: Ctrl-C cancels them (the work stops between tiles or frames, nothing
partial is written, and `sequence` still prints its summary) instead of raising in the middle of a library."""


@contextlib.contextmanager
def _ctrl_c_cancels() -> Iterator[None]:
    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if not _CANCEL_ON_CTRL_C:
            raise KeyboardInterrupt
        for progress in _CANCEL_ON_CTRL_C:
            progress.cancel()

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (an embedding host): Ctrl-C is the host's
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _CANCEL_ON_CTRL_C.clear()


def _json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


def _settings(args: argparse.Namespace) -> SessionSettings:
    from . import SessionSettings

    return SessionSettings(provider=args.provider, device_id=args.device_id)


def _numbers(text: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(":", ",").split(",") if v.strip()]
    except ValueError:
        raise EngineError(f"{flag} takes numbers separated by commas (e.g. 0.485,0.456,0.406), not {text!r}") from None


def _npy_numbers(path: str, name: str) -> list[float]:
    """A constant's values from a NumPy file (a style vector of 100 values, say), in the array's order."""
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise EngineError(f"--const {name}: cannot read {path} as a NumPy array: {exc}") from None
    if not np.issubdtype(array.dtype, np.number) or array.size == 0 or array.size > 1 << 20:
        raise EngineError(f"--const {name}: {path} holds {array.size} values of {array.dtype}; give 1 to 2^20 numbers")
    return [float(v) for v in array.ravel()]


_OUTPUT_WORDS = (("output", "normalize", "output_normalize"), ("output", "as", "output_as"))


def _resize_rule(text: str) -> dict[str, bool | int | float]:
    """--resize 'short_side_min=736,multiple=32', 'long_side_max=960,multiple=32', 'letterbox[,pad=0.5]' or 'none':
    the contract's resize object (checked by the contract's parser, which names the key)."""
    rule: dict[str, bool | int | float] = {}
    for item in (part.strip() for part in text.split(",") if part.strip() and part.strip().lower() != "none"):
        name, sep, value = item.partition("=")
        if name == "letterbox" and not sep:
            rule["letterbox"] = True
            continue
        try:
            rule[name] = float(value) if name == "pad" else int(value)
        except ValueError:
            raise EngineError(
                f"--resize takes KEY=NUMBER items (e.g. short_side_min=736,multiple=32, or letterbox), not {item!r}"
            ) from None
    return rule


def contract_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The single contract flags given, as a contract layer (the highest)."""
    layer: dict[str, Any] = {}
    for side in ("input", "output"):
        record = {}
        for key in ("range", "mean", "std"):
            value = getattr(args, f"{side}_{key}", None)
            if value is not None:
                record[key] = _numbers(value, f"--{side}-{key}")
        if record:
            layer[side] = record
    if getattr(args, "channel_order", None):
        layer.setdefault("input", {})["order"] = str(args.channel_order)
    if getattr(args, "color", None):
        layer.setdefault("input", {})["colour"] = str(args.color)
    for side, key, flag in (("input", "scale", "input_scale"), ("input", "hdr", "hdr"), *_OUTPUT_WORDS):
        if getattr(args, flag, None):
            layer.setdefault(side, {})[key] = str(getattr(args, flag))
    if getattr(args, "fit", None):
        layer["fit"] = str(args.fit)
    if getattr(args, "resize", None) is not None:
        layer["resize"] = _resize_rule(args.resize)
    if getattr(args, "output_name", None):
        layer["output_name"] = args.output_name
    constants = {}
    for item in getattr(args, "const", None) or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise EngineError(f"--const takes NAME=VALUE (e.g. noise_level=0.1), not {item!r}")
        numbers = _npy_numbers(value, name) if value.lower().endswith(".npy") else _numbers(value, f"--const {name}")
        constants[name] = numbers[0] if len(numbers) == 1 else numbers
    if constants:
        layer["constants"] = constants
    return layer


def _contract(args: argparse.Namespace) -> ModelContract:
    from . import load_contract

    return load_contract(args.model, contract_file=getattr(args, "contract", None), overrides=contract_flags(args))


def _cmd_info(args: argparse.Namespace) -> int:
    from . import build_contract, contract_layers, inspect_model, layer_problems

    layers = contract_layers(args.model, contract_file=getattr(args, "contract", None), overrides=contract_flags(args))
    contract = build_contract(layers)
    info = inspect_model(args.model, contract)
    data = info.to_json()
    sources = contract.source_map()
    effective = contract.to_json()
    parts = [f"input.{k}" for k in effective["input"]] + ["fit", "resize", "output_name", "size", "batch"]
    data["contract"] = effective
    # Each layer as written, and the effective contract, against docs/contract.schema.json: the parser refused what
    # it cannot run already; this names what the schema (editors, pipeline tools) would refuse besides.
    data["contract_schema_problems"] = layer_problems([*layers, ("effective", effective)])
    data["contract_sources"] = {
        **{part: sources.get(part, "default") for part in parts},
        **{k: v for k, v in sources.items() if k.startswith(("output.", "constants."))},
    }
    data["result_output"] = info.output_named(contract.output_name).name
    given = contract.constant_values
    data["non_image_inputs"] = [
        {"name": t.name, "shape": list(t.shape), "value": list(given[t.name]) if t.name in given else None}
        for t in info.other_inputs
    ]
    _json(data)
    return 0


def _sample(paths: list[str] | None) -> NDArray[np.float32] | None:
    """The first --sample image (what a conversion is judged on), else None."""
    if not paths:
        return None
    from . import read_image

    return read_image(paths[0])


def _more_samples(paths: list[str] | None) -> tuple[NDArray[np.float32], ...]:
    """The other --sample images: int8 is calibrated on them too."""
    from . import read_image

    return tuple(read_image(path) for path in (paths or [])[1:])


def _cmd_convert(args: argparse.Namespace) -> int:
    from . import ConversionOptions, convert_model_file

    options = ConversionOptions(
        precision=args.precision,
        rtol=args.rtol,
        atol=args.atol,
        op_block_list=tuple(args.block_op),
        backend=args.backend,
    )
    report = convert_model_file(
        args.model,
        options,
        sample=_sample(args.sample),
        out=args.out,
        contract=_contract(args),
        more=_more_samples(args.sample),
    )
    data = report.to_json()
    if args.report:
        Path(args.report).write_text(json.dumps(data, indent=2, default=str))
    _json(data)
    if report.status == Status.FAILED:
        if report.converter_failed:  # a crash, not an accuracy verdict: exit 2 is kept for those
            _error(f"conversion failed: {report.reason}")
            return 1
        hint = "; use --precision amp or auto" if args.precision == Precision.FP16 else ""
        _error(f"conversion failed: {report.reason}{hint}")
        return 2
    print(f"note: the accuracy was judged on {report.validated_on}", file=sys.stderr)
    if report.calibration is not None:
        print(f"note: int8 calibrated ({report.calibration.method}) on {report.calibration.data}", file=sys.stderr)
    if report.decision:
        print(f"note: {report.decision}", file=sys.stderr)
    return 0


def _cmd_optimize(args: argparse.Namespace) -> int:
    from . import prepare_model

    prepared = prepare_model(
        args.model,
        args.precision,
        settings=_settings(args),
        cache_dir=args.cache_dir,
        sample=_sample(args.sample),
        contract=_contract(args),
        calibration_frames=_more_samples(args.sample),
    )
    _json(prepared.summary())
    return 0


def _run_settings(args: argparse.Namespace, contract: ModelContract) -> RunSettings:
    from . import RunSettings

    return RunSettings(
        tile=args.tile,
        overlap=args.overlap,
        contract=contract,
        use_binding=not args.no_binding,
        working_space=args.working_space or WorkingSpace.REC709,
        working_space_from_files=args.working_space is None,
    )


def _exr(args: argparse.Namespace) -> ExrOptions | None:
    """EXR storage from the options; what is not given follows each input frame."""
    from . import ExrOptions

    if not (args.exr_codec or args.exr_depth) and args.keep_passes:
        return None
    return ExrOptions(
        half=None if args.exr_depth is None else args.exr_depth == "16",
        codec=args.exr_codec,
        keep_passes=args.keep_passes,
    )


def pass_mapping(args: argparse.Namespace) -> dict[str, str]:
    """Repeated `--pass INPUT=PASS` (or comma-separated pairs); either Blender spelling of a pass works."""
    from . import parse_mapping

    try:
        return parse_mapping(args.pass_)
    except ValueError as exc:
        raise EngineError(f"--pass takes INPUT=PASS (e.g. albedo='Diffuse Color'): {exc}") from exc


def _error(reason: object) -> None:
    """One line on stderr, whatever the reason's own layout (library messages span several lines)."""
    lines = [line.strip() for line in str(reason).splitlines() if line.strip()] or ["unknown error"]
    more = f" (+{len(lines) - 1} more lines; -v shows library output)" if len(lines) > 1 else ""
    print(f"error: {lines[0]}{more}", file=sys.stderr)


def _fp32_reference(
    args: argparse.Namespace, prepared: PreparedModel, sample: NDArray[np.float32] | None, contract: ModelContract
) -> PreparedModel | None:
    """The fp32 model to check a reduced-precision model's first full output against, by the engine's one
    re-check policy (engine.batch.accuracy_check.fp32_reference); None when nothing is re-checked."""
    from . import fp32_reference, prepare_model

    def prepare_fp32() -> PreparedModel:
        return prepare_model(
            args.model, Precision.FP32, settings=_settings(args), cache_dir=args.cache_dir, contract=contract
        )

    return fp32_reference(prepared, sample, prepare_fp32=prepare_fp32)


def _print_notes(prepared: PreparedModel) -> None:
    """What the user should know about how the model was prepared (an unusable cache, say)."""
    for warning in prepared.warnings:
        print(f"note: {warning}", file=sys.stderr)
    calibration = prepared.report.calibration if prepared.report is not None else None
    if calibration is not None:  # what an int8 model's ranges were set from: one image, or a sequence's first frames
        print(f"note: int8 calibrated ({calibration.method}) on {calibration.data}", file=sys.stderr)


def _mapping_notes(args: argparse.Namespace, prepared: PreparedModel) -> list[str]:
    """--pass entries for inputs the model lacks, said on stderr and returned for the JSON's notes: ignored
    silently, a typo or the wrong model would pass for a working setup."""
    from . import mapping_warning

    warning = mapping_warning(pass_mapping(args), [t.name for t in prepared.info.image_inputs])
    if warning is None:
        return []
    print(f"note: {warning}", file=sys.stderr)
    return [warning]


def _cmd_run(args: argparse.Namespace) -> int:
    from . import combined_layer, image_size, needs_sample, prepare_model, process_frame, read_layers, same_file

    if same_file(args.input, args.output):
        raise EngineError("the output would overwrite the input image; choose another output path")
    _check_gpu_first(args)
    contract = _contract(args)
    # Reduced precision is validated (int8 calibrated) on the image being processed, not on a synthetic one; fp32
    # (auto on a CPU where int8 was measured not faster for this model and size) reads it once, in process_frame.
    size = image_size(args.input)
    wanted = needs_sample(args.precision, _settings(args), model_path=args.model, size=size, cache_dir=args.cache_dir)
    layers = read_layers(args.input) if wanted else None  # decoded once: the sample, then the run
    sample = combined_layer(layers) if layers is not None else None
    prepared = prepare_model(
        args.model,
        args.precision,
        settings=_settings(args),
        cache_dir=args.cache_dir,
        sample=sample,
        contract=contract,
        size=size,
    )
    _require_gpu(args, prepared.provider, prepared.fallback_reason)
    _print_notes(prepared)
    if prepared.fallback_reason and args.provider != Provider.CPU:
        print(f"note: {prepared.fallback_reason}", file=sys.stderr)
    mapping_notes = _mapping_notes(args, prepared)
    result = process_frame(
        prepared,
        args.input,
        dst=args.output,
        settings=_run_settings(args, contract),
        pass_inputs=pass_mapping(args),
        progress=_progress_printer("tiles"),
        exr=_exr(args),
        reference=_fp32_reference(args, prepared, sample, contract),
        layers=layers,
    )
    print(file=sys.stderr)
    _json(
        {
            "output": args.output,
            "provider": prepared.provider,
            "precision": prepared.precision,
            "precision_note": prepared.precision_note,
            "tiles": result.tiles,
            "notes": mapping_notes + list(result.notes),
            "tiling": None if result.tiling is None else result.tiling.to_json(),
        }
    )
    return 0


def _cmd_sequence(args: argparse.Namespace) -> int:
    from . import (
        first_frame_sample,
        frame_path,
        image_size,
        needs_sample,
        next_frames_sample,
        parse_frames,
        prepare_model,
        process_sequence,
        with_extension,
    )

    try:
        frames = parse_frames(args.frames)
    except ValueError as exc:
        raise EngineError(str(exc)) from exc
    _check_gpu_first(args)
    contract = _contract(args)
    first = frame_path(args.input, frames[0]) if frames else ""
    size = image_size(first) if first and Path(first).is_file() else None
    wanted = needs_sample(args.precision, _settings(args), model_path=args.model, size=size, cache_dir=args.cache_dir)
    sample = first_frame_sample(args.input, frames) if wanted else None
    # int8 (asked for, or auto's choice) is calibrated on the first frames, not the first alone.
    int8 = wanted and args.precision in (Precision.INT8, Precision.AUTO)
    more = next_frames_sample(args.input, frames, first=sample) if int8 else ()
    prepared = prepare_model(
        args.model, args.precision, settings=_settings(args), cache_dir=args.cache_dir, sample=sample,
        contract=contract, size=size, calibration_frames=more,
    )  # fmt: skip
    _require_gpu(args, prepared.provider, prepared.fallback_reason)
    _print_notes(prepared)
    mapping_notes = _mapping_notes(args, prepared)
    summary = process_sequence(
        prepared,
        args.input,
        output_pattern=with_extension(args.output, args.input),
        frames=frames,
        settings=_run_settings(args, contract),
        skip_existing=args.skip_existing,
        stop_on_error=args.stop_on_error,
        pass_inputs=pass_mapping(args),
        progress=_progress_printer("frames"),
        exr=_exr(args),
        reference=_fp32_reference(args, prepared, sample, contract),
        temporal_blend=args.temporal_blend,
    )
    print(file=sys.stderr)
    summary = replace(summary, notes=(*mapping_notes, *summary.notes))  # said before the frames' own notes
    _json(summary.to_json())
    if summary.cancelled:
        done = len(summary.done) + len(summary.skipped)
        _error(f"cancelled (Ctrl-C) after {done} of {len(frames)} frames; nothing partial was written")
        return CANCELLED_EXIT
    return 0 if summary.ok else 3


def _strength(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"the strength is a number from 0 to 1, not {text!r}")
    return value


def _size(text: str) -> tuple[int, int]:
    height, _, width = text.lower().partition("x")
    try:
        size = int(height), int(width)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must be HEIGHTxWIDTH, e.g. 1080x1920, not {text!r}") from exc
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, not {text!r}")
    return size


def _cmd_advise(args: argparse.Namespace) -> int:
    from . import advise_model

    if args.pad_channels:
        from . import pad_channels_file

        if not args.out:
            raise EngineError("--pad-channels needs --out PADDED.onnx")
        done = pad_channels_file(args.model, args.pad_channels, out=args.out)
        before = advise_model(
            args.model, args.precision, settings=_settings(args), cache_dir=args.cache_dir, size=args.size
        )
        after = advise_model(
            args.out, args.precision, settings=_settings(args), cache_dir=args.cache_dir, size=args.size
        )
        growth = (after.total_macs / before.total_macs - 1) * 100 if before.total_macs else 0.0
        summary = f"{done.summary()}, {growth:+.1f}% MACs"
        padded = list(done.padded)
        print(f"note: {before.scope()}", file=sys.stderr)
        _json({"padding": summary, "padded_nodes": padded, "before": before.to_json(), "after": after.to_json()})
        return 0
    advice = advise_model(
        args.model,
        args.precision,
        settings=_settings(args),
        cache_dir=args.cache_dir,
        size=args.size,
        profile=args.profile,
    )
    print(f"note: {advice.scope()}", file=sys.stderr)
    _json(advice.to_json())
    return 0


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Appends each option's default, unless its help already says in words what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        return text if "(default:" in text else super()._get_help_string(action)


def _contract_value_args(p: argparse.ArgumentParser) -> None:
    """The contract's resize rule, normalisations, HDR handling and matte output (README "The model contract")."""
    p.add_argument(
        "--resize",
        metavar="RULE",
        help="how a resized image is sized: short_side_min=N or long_side_max=N with multiple=M, letterbox[,pad=V] "
        "(a fixed-size model), or none (default: the contract's)",
    )
    p.add_argument(
        "--input-scale", type=InputScale, choices=list(InputScale), help="image-max: divide by the picture's maximum"
    )
    p.add_argument(
        "--hdr",
        type=HdrMode,
        choices=list(HdrMode),
        help="values above 1 for an sRGB model: clip, or compress under 1 and restore (default: the contract's, clip)",
    )
    p.add_argument(
        "--output-normalize",
        type=OutputNormalize,
        choices=list(OutputNormalize),
        help="minmax: the output's own min and max become 0 and 1 (default: the contract's, none)",
    )
    p.add_argument(
        "--output-as",
        type=OutputAs,
        choices=list(OutputAs),
        help="alpha: write the source's colour with the one-channel output as alpha (default: image)",
    )


def _contract_args(p: argparse.ArgumentParser, colour: bool = True, output_alias: bool = False) -> None:
    """The model contract's options (info, convert, optimize, run, sequence)."""
    p.add_argument("--contract", metavar="FILE", help="the model contract as JSON (overrides metadata and sidecar)")
    p.add_argument(
        "--input-range", metavar="LOW,HIGH", help="values the model takes, e.g. 0,255 or -1,1 (default: 0,1)"
    )
    p.add_argument(
        "--input-mean", metavar="M[,M,M]", help="subtracted after scaling to the range (default: the contract's)"
    )
    p.add_argument("--input-std", metavar="S[,S,S]", help="divided by after the mean (default: the contract's)")
    p.add_argument(
        "--channel-order",
        type=ChannelOrder,
        choices=list(ChannelOrder),
        help="the model's channel order (default: the contract's, rgb)",
    )
    p.add_argument("--output-range", metavar="LOW,HIGH", help="values the model gives (default: the contract's)")
    p.add_argument("--output-mean", metavar="M[,M,M]", help="the output's mean (default: the contract's)")
    p.add_argument("--output-std", metavar="S[,S,S]", help="the output's std (default: the contract's)")
    p.add_argument(
        "--fit",
        type=Fit,
        choices=list(Fit),
        help="auto: whole, else seamless tiles, else resize; tile; resize (default: the contract's, auto)",
    )
    _contract_value_args(p)
    p.add_argument(
        "--const",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a non-image input's value (repeatable; default: the contract's constants)",
    )
    names = ("--output-name", "--output") if output_alias else ("--output-name",)
    p.add_argument(
        *names, dest="output_name", metavar="NAME", help="the model output to write (default: first image-like)"
    )
    if colour:
        p.add_argument(
            "--color",
            type=ColorMode,
            choices=list(ColorMode),
            default=None,
            help="the colour space the model expects (default: the contract's, linear)",
        )


def _session_args(p: argparse.ArgumentParser, precision_default: str = "auto") -> None:
    p.add_argument(
        "--precision",
        type=Precision,
        choices=list(Precision),
        default=precision_default,
        help="numeric precision (auto: the fastest that passes the accuracy check on the provider that runs it)",
    )
    p.add_argument(
        "--provider",
        type=Provider,
        choices=list(Provider),
        default="auto",
        help="where the model runs (auto: CUDA when it loads, else the CPU, saying why)",
    )
    p.add_argument("--device-id", type=_count(0), default=0, help="CUDA device index")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="folder of prepared models (None: ONNX_IMAGE_RUNTIME_CACHE or the user cache)",
    )


def _run_args(p: argparse.ArgumentParser, output_alias: bool = False) -> None:
    _session_args(p)
    p.add_argument("--tile", type=_count(0), default=0, help="largest tile side in pixels (0: automatic)")
    p.add_argument(
        "--overlap",
        type=_count(0),
        default=None,
        help=(
            "pixels shared by neighbouring tiles: cut in the middle when they cover the receptive field, "
            "blended where they cannot (default: from the model's receptive field)"
        ),
    )
    _contract_args(p, output_alias=output_alias)
    p.add_argument(
        "--pass",
        dest="pass_",
        action="append",
        default=[],
        metavar="INPUT=PASS",
        help="feed a render pass to a model input (repeatable), e.g. albedo='Diffuse Color'",
    )
    p.add_argument(
        "--working-space",
        type=WorkingSpace,
        choices=list(WorkingSpace),
        default=None,
        help="the colour space of EXR and HDR pixels: the working space of the Blender file that wrote them "
        "(default: what each EXR's header says, as Blender 5 writes it, else rec709; a frame whose header says "
        "otherwise than this flag is refused). Colour is converted to linear Rec.709 for the model and back; PNG, "
        "TIFF and JPEG hold display sRGB whatever this says, and data passes are never converted",
    )
    p.add_argument("--no-binding", action="store_true", help="plain session.run instead of IO binding")
    p.add_argument("--exr-codec", choices=EXR_CODECS, help="EXR output codec (None: the input frame's)")
    p.add_argument("--exr-depth", choices=["16", "32"], help="EXR output bits (None: the input frame's)")
    p.add_argument(
        "--keep-passes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a multilayer EXR input gives a multilayer EXR output: the processed image in place of its "
        "Combined layer, every other pass kept under its own name (resized nearest when the model scales)",
    )
    p.add_argument(
        "--require-gpu", action="store_true", help="exit with status 4 instead of running on the CPU (farm workers)"
    )


def _add_info(sub: argparse._SubParsersAction[_Parser], help_format: type[argparse.HelpFormatter]) -> None:
    """`info`: describe a model and its contract."""
    info = sub.add_parser(
        "info", formatter_class=help_format, help="describe a model and its effective contract as JSON"
    )
    info.add_argument("model", help="the .onnx model")
    _contract_args(info, output_alias=True)
    info.set_defaults(func=_cmd_info)


def _add_convert(sub: argparse._SubParsersAction[_Parser], help_format: type[argparse.HelpFormatter]) -> None:
    """`convert`: reduced precision with its accuracy report."""
    convert = sub.add_parser(
        "convert", formatter_class=help_format, help="convert to fp16 or mixed precision and report accuracy"
    )
    convert.add_argument("model", help="the .onnx model")
    convert.add_argument(
        "--precision",
        type=Precision,
        choices=[Precision.FP16, Precision.AMP, Precision.INT8, Precision.AUTO],
        default="fp16",
        help="fp16: every node half precision; amp: half where it stays accurate; int8: static quantization "
        "calibrated on --sample (for CPUs with VNNI); auto: fp16 if it passes, else amp",
    )
    _contract_args(convert)
    convert.add_argument("--out", required=True, help="where the converted model is written")
    convert.add_argument(
        "--sample",
        action="append",
        help="image to validate on, and to calibrate int8 on (its most detailed crops and its extremes); repeat it to "
        "calibrate int8 on more images (the first is the one the accuracy is judged on)",
    )
    convert.add_argument("--rtol", type=_positive, default=1e-2, help="relative tolerance of mixed precision's search")
    convert.add_argument("--atol", type=_positive, default=1e-2, help="absolute tolerance of mixed precision's search")
    convert.add_argument(
        "--block-op", action="append", default=[], help="op type to keep fp32 (float for int8; repeatable)"
    )
    convert.add_argument(
        "--backend", choices=["onnxconverter", "ort"], default="onnxconverter", help="the fp16 converter to use"
    )
    convert.add_argument("--report", help="also write the report JSON here")
    convert.set_defaults(func=_cmd_convert)


def _add_optimize(sub: argparse._SubParsersAction[_Parser], help_format: type[argparse.HelpFormatter]) -> None:
    """`optimize`: fill the cache."""
    optimize = sub.add_parser(
        "optimize", formatter_class=help_format, help="offline-optimize into the cache; print start-up figures"
    )
    optimize.add_argument("model", help="the .onnx model")
    optimize.add_argument(
        "--sample",
        action="append",
        help="image to validate a conversion on (None: a synthetic image); repeat it to calibrate int8 on more images",
    )
    _session_args(optimize)
    _contract_args(optimize)
    optimize.set_defaults(func=_cmd_optimize)


def _add_advise(sub: argparse._SubParsersAction[_Parser], help_format: type[argparse.HelpFormatter]) -> None:
    """`advise`: Tensor Core eligibility, layout conversions and casts."""
    advise = sub.add_parser(
        "advise", formatter_class=help_format, help="Tensor Core eligibility, layout conversions and casts"
    )
    advise.add_argument("model", help="the .onnx model")
    # Auto, as everywhere: the advice is for the precision that would run (fp32 on a CPU) and says so.
    _session_args(advise)
    advise.add_argument("--size", type=_size, default=(1080, 1920), help="HEIGHTxWIDTH for MAC counts")
    advise.add_argument("--profile", action="store_true", help="time the layout conversions on one run")
    advise.add_argument(
        "--pad-channels", type=int, choices=[8, 16, 32], help="write a copy with channels padded to this multiple"
    )
    advise.add_argument("--out", help="where --pad-channels writes the padded model")
    advise.set_defaults(func=_cmd_advise)


def _add_run(sub: argparse._SubParsersAction[_Parser], help_format: type[argparse.HelpFormatter]) -> None:
    """`run`: one image file."""
    run = sub.add_parser("run", formatter_class=help_format, help="run a model on one image file")
    run.add_argument("model", help="the .onnx model")
    run.add_argument("input", help="image file to read (EXR, PNG, TIFF, JPEG)")
    run.add_argument("output", help="image file to write; the format follows the extension")
    _run_args(run, output_alias=True)
    run.set_defaults(func=_cmd_run)


def _add_sequence(sub: argparse._SubParsersAction[_Parser], help_format: type[argparse.HelpFormatter]) -> None:
    """`sequence`: a frame sequence."""
    seq = sub.add_parser("sequence", formatter_class=help_format, help="post-process a frame sequence")
    seq.add_argument("model", help="the .onnx model")
    seq.add_argument("--input", required=True, help="e.g. 'render/####.exr'")
    seq.add_argument(
        "--output", required=True, help="e.g. 'post/####.exr'; no extension takes the input's ('post/####')"
    )
    seq.add_argument("--frames", required=True, help="1-250, 1-250x5 or 1,5,9")
    seq.add_argument("--skip-existing", action="store_true", help="leave frames whose output exists (resume)")
    seq.add_argument("--stop-on-error", action="store_true", help="stop at the first failing frame")
    seq.add_argument(
        "--temporal-blend",
        type=_strength,
        default=0.0,
        metavar="STRENGTH",
        help="0-1: blend each output with the previous one where the motion (the Vector pass) can be trusted, so "
        "static and smoothly moving parts stop shimmering; the first frame and cuts are left alone (default 0)",
    )
    _run_args(seq)
    seq.set_defaults(func=_cmd_sequence)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one builder per subcommand, sharing the contract, session and run option groups."""
    parser = _Parser(prog=_PROG, description="ONNX Image Runtime engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step (debug level) on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    help_format = HelpWithDefaults  # every option's help ends with its default
    for add in (_add_info, _add_convert, _add_optimize, _add_advise, _add_run, _add_sequence):
        add(sub, help_format)
    return parser


@contextlib.contextmanager
def _library_chatter_folded(verbose: bool) -> Iterator[None]:
    """C libraries (libpng, libtiff, OpenEXR) print their own lines straight to file descriptor 2, on
    top of the error the engine reports for the same problem. Python's stderr keeps the real terminal;
    descriptor 2 goes to a temporary file whose lines are shown only with --verbose."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded interpreter): nothing to fold
        yield
        return
    chatter = tempfile.TemporaryFile()
    python_stderr = sys.stderr
    os.dup2(chatter.fileno(), 2)
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        chatter.seek(0)
        lines = chatter.read().decode(errors="replace").splitlines()
        chatter.close()
        if verbose:
            for line in lines:
                print(f"library: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with _library_chatter_folded(args.verbose), warnings.catch_warnings():
        if not args.verbose:
            # Libraries' RuntimeWarning/UserWarning lines around the one-line errors are noise to a farm log; what
            # matters reaches the user as a note or an error line. -v shows them.
            warnings.simplefilter("ignore")
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s", force=True
        )
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        with _ctrl_c_cancels():
            status: int = args.func(args)  # the subcommand's _cmd_* (set_defaults)
            return status
    except (Cancelled, KeyboardInterrupt):
        _error("cancelled (Ctrl-C); nothing partial was written")
        return CANCELLED_EXIT
    except GpuRequired as exc:
        _error(exc)
        return GPU_REQUIRED_EXIT
    except ConversionError as exc:
        if exc.report is not None:
            _json(exc.report.to_json())
        _error(exc)
        # Exit 2 is an accuracy refusal; the converter or onnxruntime failing on the model is bad input (1).
        return 1 if exc.report is not None and exc.report.converter_failed else 2
    except EngineError as exc:
        _error(exc)
        return 1
    except (OSError, ValueError) as exc:
        _error(exc)
        return 1
