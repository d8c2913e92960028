"""prepare_model: a session for a model at a precision, from the cache when it holds one (a hit loads the cached
optimized graph without the ONNX library), else built (runtime.build). `auto` resolves here: on CUDA by the
accuracy check, on the CPU by a measured int8 verdict (runtime.int8_choice) and the accuracy check."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import ConversionError, ModelError
from ..model.contract import ModelContract
from ..model.digest import external_data_digest, frames_digest, sha256_bytes, sha256_file
from ..model.records import ModelInfo
from ..options import Device, OptLevel, Precision
from ..precision.records import ConversionOptions
from ..progress import Progress
from . import int8_choice
from .cache import CacheEntry, CacheUnavailable, EntryMeta, ModelCache, cache_key, default_cache_dir
from .int8_choice import (
    DEFAULT_SHAPE,
    MIN_PIXELS,
    TIMING_RULE,
    Measure,
    SpeedVerdict,
    cpu_identity,
    measure_verdict,
    size_class,
)
from .prepared import (
    SESSIONS,
    PreparedFrom,
    PreparedModel,
    Request,
    channels_last_io,
    conversion_failed,
    is_loaded,
    release_model,
)
from .refusals import cached_refusal
from .sessions import SessionSettings, create_session, resolve_provider

__all__ = [
    "SESSIONS",
    "PreparedFrom",
    "PreparedModel",
    "is_loaded",
    "needs_sample",
    "prepare_model",
    "release_model",
]

log = logging.getLogger(__name__)


def _request(
    model_path: str | Path,
    precision: Precision | str,
    settings: SessionSettings | None,
    options: ConversionOptions | None,
    contract: ModelContract | None = None,
    precision_note: str = "",
    sample: NDArray[np.float32] | None = None,
    frames: tuple[NDArray[np.float32], ...] = (),
) -> Request:
    precision = Precision(precision)
    contract = contract or ModelContract()
    settings = settings or SessionSettings()
    options = replace(options, precision=precision) if options else ConversionOptions(precision=precision)
    if not Path(model_path).is_file():
        raise ModelError(f"model file not found: {model_path}")
    data = Path(model_path).read_bytes()
    choice = resolve_provider(settings)
    conversion = {
        "model": sha256_bytes(data),
        # Weights stored beside the model are part of it: changed weights must not reuse a cached model.
        "external": external_data_digest(data, Path(model_path).parent, str(model_path)),
        "conversion": options.key() if precision != Precision.FP32 else "fp32",
        "onnxruntime": __import__("onnxruntime").__version__,
    }
    if contract.redeclares:
        # Re-declared input shapes change the graph itself (model.declared_shape).
        conversion["declared"] = {"size": str(contract.size), "batch": contract.batch}
    if precision != Precision.FP32:
        # A conversion is validated on inputs fed the contract's way: it changes the converted graph.
        conversion["contract"] = {"input": contract.input.to_json(), "constants": contract.to_json()["constants"]}
    if precision == Precision.INT8:
        # int8's scales are calibrated on the image (its quantized bytes follow from it), and its format is the one
        # measured fastest on a CPU: both are part of what the converted model is.
        conversion["calibration"] = frames_digest(sample, frames) or "synthetic"
        conversion["cpu"] = cpu_identity()
    key = cache_key(
        {
            **conversion,
            "provider": choice.key,
            "level": str(choice.level(settings)),
            "io": "channels_last" if channels_last_io(choice) else "native",
        }
    )
    return Request(
        path=str(model_path),
        data=data,
        precision=precision,
        settings=settings,
        options=options,
        choice=choice,
        key=key,
        conversion_key=cache_key({**conversion, "stage": "converted"}),
        contract=contract,
        precision_note=precision_note,
        calibration_frames=frames if precision == Precision.INT8 and sample is not None else (),
    )


def needs_sample(
    precision: Precision | str,
    settings: SessionSettings | None = None,
    *,
    model_path: str | Path | None = None,
    size: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
    options: ConversionOptions | None = None,
) -> bool:
    """Whether preparing at `precision` converts the model, and so judges (and for int8 calibrates on) a sample of
    the image: never for fp32. `auto` on the CPU may choose int8 unless this CPU's measured verdict for the model
    at the image's `size` says int8 is not faster (known only with `model_path`: then auto runs fp32 and no sample
    is read). A caller reads a sample only when this says so."""
    precision = Precision(precision)
    if precision != Precision.AUTO:
        return precision != Precision.FP32
    settings = settings or SessionSettings()
    if resolve_provider(settings).name == Device.CUDA:
        return True
    if _too_small_for_int8(size):
        return False
    if model_path is None or not Path(model_path).is_file():
        return True
    verdict = _cached_verdict(ModelCache(cache_dir or default_cache_dir()), _speed_key(model_path, options, size))
    return verdict is None or verdict.faster


def prepare_model(
    model_path: str | Path,
    precision: Precision | str = Precision.AUTO,
    *,
    settings: SessionSettings | None = None,
    cache_dir: str | Path | None = None,
    sample: NDArray[np.float32] | None = None,
    options: ConversionOptions | None = None,
    contract: ModelContract | None = None,
    progress: Progress | None = None,
    size: tuple[int, int] | None = None,
    measure: Measure | None = None,
    calibration_frames: tuple[NDArray[np.float32], ...] = (),
) -> PreparedModel:
    """Return a session for `model_path` at `precision`, reusing the cached optimized model when one
    matches everything it depends on. `sample` (HxWxC) validates conversions (and calibrates int8). `auto`
    runs the fastest precision that passes on the provider that runs it (see `_auto`): on the CPU it may time int8
    against fp32 once, with `measure`, at the size class of `sample` (or `size`, the image's (height, width) when no
    sample is given); None measures with int8_choice.interleaved_medians. `contract` gives the constants for
    non-image inputs and how validation inputs are fed. `progress` follows (and can cancel) a mixed-precision
    search.

    Raises: ModelError when the model cannot be read, loaded or described (ContractError: the contract is
    wrong); ConversionError (with `.report`) when a conversion fails or is outside tolerance, and no model is cached
    then; ImageError when `sample` cannot be fed to the model; Cancelled when `progress` is cancelled."""
    if Precision(precision) == Precision.AUTO:
        job = _AutoJob(
            model_path=model_path,
            settings=settings,
            cache_dir=cache_dir,
            sample=sample,
            frames=calibration_frames,
            options=options,
            contract=contract,
            progress=progress,
            size=(sample.shape[0], sample.shape[1]) if sample is not None else size,
            measure=measure or int8_choice.interleaved_medians,  # read here: tests replace the module's
        )
        return _auto(job)
    request = _request(model_path, precision, settings, options, contract, sample=sample, frames=calibration_frames)
    return _prepare(request, cache_dir, sample, "", progress)


_AUTO_CHOICES: dict[str, tuple[Precision, str]] = {}
"""(model hash, provider) -> what auto chose and why, so a failed fp16 conversion is not retried per frame."""


@dataclass(frozen=True, kw_only=True)
class _AutoJob:
    """What `auto` prepares from: prepare_model's arguments, carried through its steps."""

    model_path: str | Path
    settings: SessionSettings | None
    cache_dir: str | Path | None
    sample: NDArray[np.float32] | None
    frames: tuple[NDArray[np.float32], ...]
    """More frames int8 is calibrated on (a sequence's first ones)."""
    options: ConversionOptions | None
    contract: ModelContract | None
    progress: Progress | None
    size: tuple[int, int] | None
    """The image's (height, width): int8's speed verdict is kept per size class."""
    measure: Measure

    def request(self, precision: Precision, note: str, calibrated: bool = False) -> Request:
        """`precision` as auto would serve it, with `note` saying why; `calibrated`: int8 on the sample and frames."""
        sample, frames = (self.sample, self.frames) if calibrated else (None, ())
        return _request(self.model_path, precision, self.settings, self.options, self.contract, note, sample, frames)

    def served(self, request: Request) -> PreparedModel:
        return _prepare(request, self.cache_dir, self.sample, Precision.AUTO, self.progress)


def _auto(job: _AutoJob) -> PreparedModel:
    """Auto: on the CPU int8 or fp32 (`_auto_cpu`: fp16 and mixed precision run slower there, docs/benchmarks.md);
    on CUDA fp16 when it passes the accuracy check, else mixed precision, else fp32. The prepared model says which
    and why."""
    choice = resolve_provider(job.settings or SessionSettings())
    if choice.name != Device.CUDA:
        return _auto_cpu(job)
    if not Path(job.model_path).is_file():
        raise ModelError(f"model file not found: {job.model_path}")
    memo = cache_key({"model": sha256_bytes(Path(job.model_path).read_bytes()), "provider": choice.key})
    if memo in _AUTO_CHOICES:
        return job.served(job.request(*_AUTO_CHOICES[memo]))
    failures: list[str] = []
    for precision in (Precision.FP16, Precision.AMP):
        note = f"auto chose {precision}: it passed the accuracy check" + (
            f" ({'; '.join(failures)})" if failures else ""
        )
        try:
            prepared = job.served(job.request(precision, note))
        except ConversionError as exc:
            failures.append(f"{precision} failed: {exc}")
            continue
        _AUTO_CHOICES[memo] = (precision, note)
        return prepared
    note = f"auto chose fp32: {'; '.join(failures)}"
    _AUTO_CHOICES[memo] = (Precision.FP32, note)
    return job.served(job.request(Precision.FP32, note))


_SPEED_VERDICTS: dict[tuple[str, str], SpeedVerdict] = {}
"""(cache folder, speed key) -> int8 verdict, as read from or written to that cache: a second prepare in this
process reads no file."""


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, _mtime_ns: int, _size: int) -> str:
    return sha256_file(path)


def _model_digest(model_path: str | Path) -> str:
    """The model file's SHA-256, computed once per file version (needs_sample and auto both key on it)."""
    stat = Path(model_path).stat()
    return _file_digest(str(Path(model_path).resolve()), stat.st_mtime_ns, stat.st_size)


def _speed_key(model_path: str | Path, options: ConversionOptions | None, size: tuple[int, int] | None) -> str:
    """What an int8 speed verdict holds for: the model, the op types kept float, onnxruntime, this CPU and the
    image's size class (not the image: int8 kernels take the same time whatever the values)."""
    h, w = size or DEFAULT_SHAPE
    return cache_key(
        {
            "int8_speed": _model_digest(model_path),
            "block_ops": list(options.op_block_list) if options else [],
            "onnxruntime": __import__("onnxruntime").__version__,
            "cpu": cpu_identity(),
            "size_log2": size_class(h, w),
        }
    )


def _cached_verdict(cache: ModelCache, key: str) -> SpeedVerdict | None:
    if (str(cache.root), key) in _SPEED_VERDICTS:
        return _SPEED_VERDICTS[str(cache.root), key]
    record = cache.read_record(key)
    if record is None:
        return None
    try:
        verdict = SpeedVerdict.from_json(record)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("int8 speed record %s is not a verdict (%s); measuring again", key, exc)
        return None
    _SPEED_VERDICTS[str(cache.root), key] = verdict
    return verdict


def _too_small_for_int8(size: tuple[int, int] | None) -> bool:
    return size is not None and size[0] * size[1] < MIN_PIXELS


def _measured_verdict(job: _AutoJob, key: str) -> tuple[SpeedVerdict, PreparedModel | None]:
    """Time int8 against fp32 once for this model, size class and CPU, and keep the verdict; returns it with the fp32
    model timed (auto serves that one when it chooses fp32). The int8 model timed is calibrated on a synthetic image
    and not judged (TIMING_RULE): it is never served, and its speed does not depend on its accuracy, so the verdict
    holds for every image of the class."""
    timing = replace(job.options or ConversionOptions(), precision=Precision.INT8, rule=TIMING_RULE)
    fp32 = None
    try:
        int8 = _prepare(replace(job, options=timing).request(Precision.INT8, ""), job.cache_dir, None)
    except ConversionError as exc:  # the quantizer cannot make this model: kept, so it is not tried every run
        verdict = SpeedVerdict.unavailable(exc.report.reason if exc.report is not None else str(exc))
    else:
        fp32 = _prepare(job.request(Precision.FP32, ""), job.cache_dir, None)
        h, w = job.size or DEFAULT_SHAPE
        verdict = measure_verdict(fp32, int8, job.contract or ModelContract(), size_class(h, w), job.measure)
        release_model(int8)  # never served: its memory back now
    cache = ModelCache(job.cache_dir or default_cache_dir())
    _SPEED_VERDICTS[str(cache.root), key] = verdict
    try:
        cache.write_record(key, verdict.to_json())
    except CacheUnavailable as exc:
        log.warning("the int8 speed verdict is not cached (%s): it is measured again next time", exc)
    return verdict, fp32


def _adopted(probe: PreparedModel, request: Request) -> PreparedModel:
    """The fp32 model prepared to be timed, served as auto's fp32 under `request`'s note: the same session and the
    same start-up figures (a first run says it converted, not that it hit the cache), kept in SESSIONS as auto's."""
    release_model(probe)
    prepared = replace(probe, precision_note=request.precision_note)
    SESSIONS.put(_session_key(request, Precision.AUTO), prepared)
    return prepared


def _session_key(request: Request, requested: str) -> tuple[str, SessionSettings, str]:
    # Auto's prepared models carry their note: kept apart from the same precision asked for by name.
    return (request.key, request.settings, requested)


def _auto_cpu(job: _AutoJob) -> PreparedModel:
    """Auto on the CPU: int8 when this CPU runs it measurably faster than fp32 for this model at the image's size
    class (timed once, then read from the cache: int8_choice) and it passes the accuracy rule on this image; fp32
    otherwise. The prepared model's note says which and why."""
    if not Path(job.model_path).is_file():
        raise ModelError(f"model file not found: {job.model_path}")
    if job.size is not None and _too_small_for_int8(job.size):
        h, w = job.size
        note = f"auto chose fp32: a {w}x{h} image is too small for int8 to pay on the CPU (under {MIN_PIXELS} pixels)"
        return _prepare(job.request(Precision.FP32, note), job.cache_dir, None, Precision.AUTO)
    key = _speed_key(job.model_path, job.options, job.size)
    verdict, timed = _cached_verdict(ModelCache(job.cache_dir or default_cache_dir()), key), None
    if verdict is None:
        if job.progress is not None:
            job.progress.update(0.0, "timing int8 against fp32 on this CPU (once per model and image size)")
        verdict, timed = _measured_verdict(job, key)
    if verdict.faster:
        note = f"auto chose int8: {verdict.text()} and within tolerance"
        try:
            int8 = job.served(job.request(Precision.INT8, note, calibrated=True))
            if timed is not None:
                release_model(timed)  # the fp32 model timed is not what runs: its memory back now
            return int8
        except ConversionError as exc:
            report = exc.report
            why = f"is {report.reason}" if report is not None and not report.converter_failed else f"failed: {exc}"
            note = f"auto chose fp32: {verdict.text()}, but int8 {why}"
    else:
        note = f"auto chose fp32: {verdict.text()}"
    request = job.request(Precision.FP32, note)
    return _adopted(timed, request) if timed is not None else job.served(request)


def _prepare(
    request: Request,
    cache_dir: str | Path | None,
    sample: NDArray[np.float32] | None,
    requested: str = "",
    progress: Progress | None = None,
) -> PreparedModel:
    session_key = _session_key(request, requested)
    if cached := SESSIONS.get(session_key):
        return cached
    cache = ModelCache(cache_dir or default_cache_dir())
    entry = cache.lookup(request.key)
    prepared = None
    if entry is not None:
        try:
            # A hit loads the optimized graph as it was cached: the source model is not parsed or checked again
            # (its bytes are in the key); what loading it said then is kept with the entry.
            prepared = _from_cache(request, entry)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # Consistent but not what this version writes (missing keys, wrong types): rebuilt, never a
            # traceback and never an entry that fails every time.
            cache.discard(request.key, f"has invalid metadata ({type(exc).__name__}: {exc})")
    if prepared is None:
        if (refused := cached_refusal(request, cache)) is not None:  # judged on this image before: no ONNX import
            raise conversion_failed(refused)
        from ..model.onnx_io import clamp_ir_version, parse_model  # the ONNX library: only on a miss
        from .build import build

        model = parse_model(request.data, request.path, Path(request.path).parent)
        prepared = build(request, model, cache, clamp_ir_version(model), sample, progress)
    SESSIONS.put(session_key, prepared)
    return prepared


def _cached_info(meta: EntryMeta) -> ModelInfo:
    """The model description of an optimized model's cache entry (its types and invariants were checked as it was
    read); ValueError when it is not one a model can run with (the caller rebuilds the entry)."""
    info = meta.info
    if info is None:
        raise ValueError("it has no model description")
    if not info.image_inputs or not any(t.is_image for t in info.outputs):
        raise ValueError("no image input or output")
    return info


def _from_cache(request: Request, entry: CacheEntry) -> PreparedModel:
    start = time.perf_counter()
    info = _cached_info(entry.meta)
    session, reason = create_session(str(entry.model_path), request.settings, request.choice, OptLevel.DISABLED)
    return request.prepared(
        session,
        info=info,
        fallback_reason=reason,
        cache_hit=True,
        startup_seconds=time.perf_counter() - start,
        optimized_model=str(entry.model_path),
        report=entry.meta.report,
        warnings=entry.meta.warnings,
        converted_model=entry.meta.converted_model,
    )
