"""The accuracy gate judges the pixels being processed (issue 16, item 6): a page that is blank in the
middle with text in a corner must not pass fp16 on its blank centre."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import ConversionError
from engine.inference.pipeline import RunSettings, run_image
from engine.precision.accuracy import compare
from engine.precision.validation_feeds import sample_feeds
from engine.runtime.prepare import prepare_model
from engine.runtime.sessions import SessionSettings
from tests import models

CPU = SessionSettings(provider="cpu")


def text_page(h=256, w=320, seed=0) -> np.ndarray:
    """A scanned-page look: flat paper, a block of dark anti-aliased glyph strokes in the top-left corner
    and a ruled edge along the bottom; the centre is blank paper."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((h, w), np.float32)
    for row in range(12, 70, 14):  # lines of "text"
        x = 10
        while x < 120:
            gw, gh = int(rng.integers(3, 8)), int(rng.integers(6, 10))
            ink[row : row + gh, x : x + 1] = 1.0  # vertical stroke
            ink[row + int(rng.integers(0, gh)), x : x + gw] = 1.0  # horizontal stroke
            x += gw + int(rng.integers(2, 4))
    ink[h - 12 : h - 10, 8 : w - 8] = 1.0
    # Anti-aliasing: a 3x3 box blur gives the in-between values real glyph edges have.
    padded = np.pad(ink, 1, mode="edge")
    soft = sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0
    paper = np.array([0.92, 0.9, 0.86], np.float32)
    page = paper * (1.0 - 0.85 * soft[:, :, None])
    return page.astype(np.float32)


def test_the_page_is_blank_where_the_old_gate_looked():
    page = text_page()
    h, w = page.shape[:2]
    centre = page[h // 2 - 32 : h // 2 + 32, w // 2 - 32 : w // 2 + 32]
    assert np.ptp(centre, axis=(0, 1)).max() == 0.0 and np.ptp(page) > 0.5


def test_validation_sample_is_made_of_the_images_content():
    page = text_page()
    info_feeds = sample_feeds(_info(), page)
    (sample,) = info_feeds.values()
    # Most of the sample is text and edges, not blank paper.
    edges = np.abs(np.diff(sample[0], axis=-1)).max(axis=0) > 0.05
    assert edges.mean() > 0.05


def _info():
    from engine.model.describe import describe_model

    return describe_model(models.text_detector())


def test_fp16_gate_fails_on_text_it_would_get_wrong(tmp_path):
    path = models.save(models.text_detector(), tmp_path / "text.onnx")
    page = text_page()
    fp32 = prepare_model(str(path), "fp32", settings=CPU, cache_dir=tmp_path / "cache")
    with pytest.raises(ConversionError) as failed:
        prepare_model(str(path), "fp16", settings=CPU, cache_dir=tmp_path / "cache", sample=page)
    report = failed.value.report
    assert report.max_abs_error > 0.01 and "outside the tolerance" in report.reason
    # The gate's error is of the size of the error on the actual page.
    converted = prepare_model(
        str(path), "fp16", settings=CPU, cache_dir=tmp_path / "cache2", sample=np.full_like(page, 0.5)
    )  # a blank sample lets it through
    actual = compare(run_image(fp32, page).image, run_image(converted, page).image).max_abs_error
    assert actual > 0.01 and report.max_abs_error > actual / 4


def test_mixed_precision_with_a_shared_initializer_converts_and_matches_fp32(tmp_path):
    """'Type parameter (T) of Optype (Add) bound to different types' on a real detector: one bias
    read by a node kept fp32 and by a converted one. Repaired: each reader gets the type it needs."""
    path = models.save(models.shared_bias(), tmp_path / "shared.onnx")
    page = text_page()
    reference = run_image(prepare_model(str(path), "fp32", settings=CPU, cache_dir=tmp_path / "cache"), page).image
    amp = prepare_model(str(path), "amp", settings=CPU, cache_dir=tmp_path / "cache", sample=page)
    assert amp.report is not None and amp.report.status == "ok"
    assert any("readers of a shared weight" in r for r in amp.report.repairs), amp.report.repairs
    np.testing.assert_allclose(run_image(amp, page).image, reference, rtol=1e-2, atol=1e-2)


def test_shared_clip_bounds_are_split_by_their_schema_type_parameter():
    """'Type parameter (T) of Optype (Clip) bound to different types' on real Paddle exports (issue 24): one Clip
    kept fp32, the other converted, both reading the same bounds. Which inputs must share a type comes from the
    operator schemas, so Clip is covered like Add, and so is every other operator."""
    import onnxruntime as ort
    from onnxconverter_common.float16 import convert_float_to_float16

    from engine.model.onnx_io import serialize
    from engine.precision.casts import split_shared_initializers

    converted = convert_float_to_float16(models.shared_clip_bounds(), keep_io_types=True, node_block_list=["clip1"])
    with pytest.raises(Exception, match="bound to different types"):
        ort.InferenceSession(serialize(converted), providers=["CPUExecutionProvider"])
    assert split_shared_initializers(converted) == 2  # clip1's min and max, in its type
    x = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
    session = ort.InferenceSession(serialize(converted), providers=["CPUExecutionProvider"])
    assert np.isfinite(session.run(None, {"x": x})[0]).all()


def _cached_on_a_blank_page(tmp_path):
    """fp16 converted and cached after validation on another (blank) image: the case the crops cannot see."""
    path = models.save(models.text_detector(), tmp_path / "text.onnx")
    fp16 = prepare_model(
        str(path), "fp16", settings=CPU, cache_dir=tmp_path / "cache", sample=np.full((64, 64, 3), 0.5, np.float32)
    )
    fp32 = prepare_model(str(path), "fp32", settings=CPU, cache_dir=tmp_path / "cache")
    return fp16, fp32


def test_first_full_output_is_rechecked_against_fp32_before_writing(tmp_path):
    from engine.batch.sequence import process_frame, process_sequence
    from engine.image.files import write_image

    fp16, fp32 = _cached_on_a_blank_page(tmp_path)
    (tmp_path / "in").mkdir()
    for frame in (1, 2):
        write_image(tmp_path / "in" / f"{frame:04d}.exr", text_page(seed=frame))
    with pytest.raises(ConversionError, match="differs from fp32 by up to"):
        process_frame(
            fp16,
            str(tmp_path / "in" / "0001.exr"),
            dst=str(tmp_path / "one.exr"),
            settings=RunSettings(),
            reference=fp32,
        )
    assert not (tmp_path / "one.exr").exists()
    with pytest.raises(ConversionError, match="nothing was written"):
        process_sequence(
            fp16,
            str(tmp_path / "in" / "####.exr"),
            output_pattern=str(tmp_path / "out" / "####.exr"),
            frames=[1, 2],
            reference=fp32,
        )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    # Without the check (or in fp32) the frames are written: the check is what stops them.
    assert process_sequence(
        fp32, str(tmp_path / "in" / "####.exr"), output_pattern=str(tmp_path / "o32" / "####.exr"), frames=[1, 2]
    ).ok


def test_a_global_model_is_judged_on_the_whole_image_it_will_see_not_on_crops(tmp_path):
    """Issue 24: a model that sees the whole image passes fp16 on crops (the sum it gates by stays in range) and
    fails on the whole picture; the check judges the whole picture, so it refuses the conversion."""
    import dataclasses

    from engine.model.describe import describe_model
    from engine.precision.convert import ConversionOptions, convert_judged
    from engine.precision.validation_feeds import synthetic_image

    model = models.sum_gated()
    info = describe_model(model)
    picture = synthetic_image(1024, 1024)
    options = ConversionOptions(precision="fp16")
    as_crops = dataclasses.replace(info, receptive_radius=2)  # as if it were local: judged on crops
    _, on_crops = convert_judged(model, as_crops, picture, options)
    assert on_crops.status == "ok" and "crops" in on_crops.validated_on
    assert info.receptive_radius == "global"
    converted, whole = convert_judged(model, info, picture, options)
    assert converted is None and whole.status == "failed" and "beyond fp16's range" in whole.reason
    assert whole.validated_on == "the whole sample image, at 512x512"
    with pytest.raises(ConversionError, match="beyond fp16's range"):
        prepare_model(
            str(models.save(model, tmp_path / "g.onnx")),
            "fp16",
            settings=CPU,
            cache_dir=tmp_path / "cache",
            sample=picture,
        )


def test_report_figures_round_trip_through_json_and_a_failed_one_has_none(tmp_path):
    """inf (identical outputs) travels as "inf" and reads back as inf; a conversion that failed before its
    output was measured says null, never 0 or inf."""
    from engine.options import Precision, Status
    from engine.precision.convert import ConversionReport

    exact = ConversionReport(
        status=Status.OK, precision=Precision.FP16, max_abs_error=0.0, mean_abs_error=0.0, psnr_db=float("inf")
    )
    data = json.loads(json.dumps(exact.to_json()))
    assert data["psnr_db"] == "inf"
    again = ConversionReport.from_json(data)
    assert again.psnr_db == float("inf") and again.to_json() == exact.to_json()
    assert "PSNR inf dB" in again.accuracy_text()
    failed = ConversionReport(status=Status.FAILED, precision=Precision.AMP, reason="crashed", converter_failed=True)
    data = json.loads(json.dumps(failed.to_json()))
    assert data["max_abs_error"] is None and data["psnr_db"] is None and data["converter_failed"] is True
    assert ConversionReport.from_json(data).to_json() == failed.to_json()
    assert failed.accuracy_text() == "accuracy not measured"
    with pytest.raises(ValueError):
        ConversionReport.from_json({**data, "psnr_db": "much"})
