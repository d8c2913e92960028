"""int8 refusals kept in the cache: an int8 conversion judged outside the accuracy rule on an image is refused again
for that image without quantizing (its conversion key holds the image's digest, and calibration is deterministic).
Read before the source model is parsed, so a run that ends in fp32 after a known refusal never imports the ONNX
library (issue 24: a repeated job's default path at raw speed)."""

from __future__ import annotations

import logging

from ..options import Precision
from ..precision.records import ConversionReport
from .cache import CacheUnavailable, ModelCache
from .prepared import Request

log = logging.getLogger(__name__)


def cached_refusal(request: Request, cache: ModelCache) -> ConversionReport | None:
    """The report of an int8 conversion refused before on the same image; None when there is none (or for any
    other precision)."""
    if request.precision != Precision.INT8:
        return None
    record = cache.read_record(request.conversion_key)
    try:
        return ConversionReport.from_json(record["refused"]) if record is not None else None
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("int8 refusal record is not a report (%s); converting again", exc)
        return None


def keep_refusal(request: Request, cache: ModelCache, report: ConversionReport) -> None:
    """Remember an int8 accuracy refusal (never a crash, which may be the machine's) under the conversion's key. Other
    precisions' keys do not hold the image they were judged on, so their refusals are not kept."""
    if request.precision != Precision.INT8 or report.converter_failed:
        return
    try:
        cache.write_record(request.conversion_key, {"refused": report.to_json()})
    except CacheUnavailable as exc:
        log.debug("int8 refusal not cached: %s", exc)
