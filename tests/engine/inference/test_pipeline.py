import numpy as np
import pytest

from engine.errors import Cancelled, ImageError, RuntimeFailure
from engine.image.channels import from_tensor, to_tensor
from engine.inference.contract_feeds import runner_key
from engine.inference.pipeline import run_image
from engine.inference.run_state import run_state
from engine.inference.settings import RunSettings
from engine.model.contract import build_contract
from engine.precision.validation_feeds import synthetic_image
from engine.progress import Progress
from engine.runtime.prepare import SESSIONS, prepare_model
from engine.runtime.sessions import SessionSettings

CPU = SessionSettings(provider="cpu")


@pytest.fixture
def prepared(model_file, cache_dir):
    def make(name, precision="fp32"):
        return prepare_model(model_file(name), precision, settings=CPU, cache_dir=cache_dir)

    return make


def _feed(prep, name, image):
    """An HxWxC image as the prepared session takes it (NCHW on the CPU: the model's own layout)."""
    return to_tensor(image, prep.session_view(next(t for t in prep.info.image_inputs if t.name == name)))


def _reference(prep, image, name="x"):
    """The prepared session run directly on the whole image, no pipeline; HxWxC."""
    return from_tensor(prep.session.run(None, {name: _feed(prep, name, image)})[0], _out_layout(prep))


def _out_layout(prep):
    return prep.session_view(next(t for t in prep.info.outputs if t.is_image)).layout


def _spatial(feed):
    """Height and width of a 1-batch NCHW feed (CPU sessions keep the models' NCHW layout)."""
    return tuple(feed.shape[2:4])


def test_rgba_in_rgb_model_out_with_alpha_carried_and_upscaled(prepared):
    prep = prepared("sr_x2")
    image = synthetic_image(37, 51, channels=4)
    result = run_image(prep, image)
    assert result.image.shape == (74, 102, 4)
    np.testing.assert_allclose(result.image[:, :, :3], _reference(prep, image[:, :, :3]), atol=1e-5)
    np.testing.assert_array_equal(result.image[::2, ::2, 3], image[:, :, 3])


def test_grey_is_expanded_and_too_many_channels_are_refused(prepared):
    prep = prepared("sr_x2")
    grey = synthetic_image(20, 20, channels=1)
    result = run_image(prep, grey)
    assert result.image.shape == (40, 40, 3) and any("grey" in n for n in result.notes)
    with pytest.raises(ImageError, match="expected an HxWxC image with 1-4 channels"):
        run_image(prep, np.zeros((8, 8, 5), np.float32))


def test_empty_and_nan_images_are_refused(prepared):
    prep = prepared("sr_x2")
    with pytest.raises(ImageError, match="empty"):
        run_image(prep, np.zeros((0, 10, 3), np.float32))
    bad = synthetic_image(16, 16)
    bad[3, 4, 1] = np.nan
    with pytest.raises(ImageError, match="1 pixels with NaN"):
        run_image(prep, bad)


def test_hdr_values_above_one_survive_linear_mode_and_srgb_reports_clipping(prepared):
    prep = prepared("nhwc")
    image = synthetic_image(24, 24) * 8.0
    linear = run_image(prep, image, settings=RunSettings(color="linear"))
    np.testing.assert_allclose(linear.image, _nhwc_reference(prep, image), atol=1e-5)
    assert linear.image.max() > 1.5 and linear.clipped_pixels == 0
    srgb = run_image(prep, image, settings=RunSettings(color="srgb"))
    assert srgb.clipped_pixels == int((image > 1).any(axis=2).sum()) > 0
    assert any("clipped" in n for n in srgb.notes)


def _nhwc_reference(prep, image):
    return _reference(prep, image)


def test_contract_normalization_is_applied_and_inverted(prepared):
    prep = prepared("nhwc")
    image = synthetic_image(16, 16)
    mean, std = np.array([120.0, 110.0, 100.0], np.float32), np.array([50.0, 60.0, 70.0], np.float32)
    contract = build_contract([("file", {"input": {"range": [0, 255], "mean": mean.tolist(), "std": std.tolist()}})])
    out = run_image(prep, image, settings=RunSettings(contract=contract)).image
    fed = ((image * 255.0 - mean) / std).astype(np.float32)
    expected = (_nhwc_reference(prep, fed) * std + mean) / 255.0
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_multiple_inputs_by_name_and_by_mapping(prepared):
    prep = prepared("multi_input")
    colour, albedo, normal = (synthetic_image(16, 16, channels=3, seed=s) for s in (1, 2, 3))
    by_name = run_image(prep, colour, extra={"albedo": albedo, "normal": normal}).image
    mapped = run_image(
        prep, colour, extra={"Diffuse Color": albedo, "Normal": normal}, mapping={"albedo": "Diffuse Color"}
    ).image
    np.testing.assert_array_equal(by_name, mapped)
    feeds = {n: _feed(prep, n, a) for n, a in zip(("color", "albedo", "normal"), (colour, albedo, normal), strict=True)}
    direct = from_tensor(prep.session.run(None, feeds)[0], _out_layout(prep))
    np.testing.assert_allclose(by_name, direct, atol=1e-5)
    with pytest.raises(ImageError, match="'albedo' needs an image"):
        run_image(prep, colour, extra={"normal": normal})


def test_odd_size_is_padded_to_the_models_multiple_and_cropped_back(prepared):
    prep = prepared("unet")
    result = run_image(prep, synthetic_image(33, 47))
    assert result.image.shape == (33, 47, 3)


@pytest.mark.parametrize("name", ["sr_x2", "unet"])
def test_tiled_equals_whole_image_within_1e_4(prepared, name):
    prep = prepared(name)
    image = synthetic_image(300, 420, seed=5)
    whole = run_image(prep, image, settings=RunSettings(tile=0))
    tiled = run_image(prep, image, settings=RunSettings(tile=128, overlap=32))
    assert whole.tiles == 1 and tiled.tiles > 4
    np.testing.assert_allclose(tiled.image, whole.image, atol=1e-4)


def test_every_tile_has_the_same_shape(prepared, monkeypatch):
    from engine.inference import tile_runner as runner

    prep = prepared("sr_x2")
    shapes = set()
    original = runner.TileRunner.run

    def spy(self, feeds, out=None):
        shapes.add(feeds["x"].shape)
        return original(self, feeds, out)

    monkeypatch.setattr(runner.TileRunner, "run", spy)
    result = run_image(prep, synthetic_image(300, 230), settings=RunSettings(tile=128))
    # Shaped to the image (3x2 tiles of at most 128 px), one shape for every tile.
    assert result.tiling is not None and result.tiling.grid == (3, 2)
    assert shapes == {(1, 3, *result.tile_size)} and max(result.tile_size) <= 128


def test_4096_image_through_a_fixed_256_model(prepared):
    prep = prepared("fixed_size")
    image = synthetic_image(4096, 4096)
    result = run_image(prep, image, settings=RunSettings(overlap=32))
    assert result.image.shape == (4096, 4096, 3) and result.tile_size == (256, 256)
    centre = image[1000:1256, 2000:2256]
    direct = _reference(prep, centre)
    np.testing.assert_allclose(result.image[1010:1246, 2010:2246], direct[10:-10, 10:-10], atol=1e-4)


def test_binding_and_plain_run_give_identical_results_and_buffers_are_reused(prepared):
    prep = prepared("sr_x2")
    image = synthetic_image(200, 200)
    bound = run_image(prep, image, settings=RunSettings(tile=96, use_binding=True))
    plain = run_image(prep, image, settings=RunSettings(tile=96, use_binding=False))
    np.testing.assert_array_equal(bound.image, plain.image)
    key = runner_key(bound.tile_size, RunSettings(tile=96), prep.info.image_output.name)
    runner = run_state(prep).runners[key]
    buffer = runner.host_output
    run_image(prep, synthetic_image(200, 200, seed=9), settings=RunSettings(tile=96))
    assert run_state(prep).runners[key] is runner and runner.host_output is buffer


def test_progress_per_tile_and_cancel_between_tiles(prepared):
    prep = prepared("sr_x2")
    seen = []

    def on_update(fraction, text):
        seen.append(fraction)
        if len(seen) == 2:
            progress.cancel()

    progress = Progress(on_update)
    with pytest.raises(Cancelled):
        run_image(prep, synthetic_image(300, 300), settings=RunSettings(tile=96), progress=progress)
    assert len(seen) == 2


def test_out_of_memory_is_an_error_naming_a_plan_that_fits_never_a_silent_other_plan(prepared, monkeypatch):
    from engine.inference import tile_runner as runner

    prep = prepared("sr_x2")
    calls = []

    def oom_on_big_tiles(self, feeds, out=None):
        calls.append(_spatial(feeds["x"]))
        raise MemoryError("Failed to allocate memory for requested buffer")

    monkeypatch.setattr(runner.TileRunner, "run", oom_on_big_tiles)
    with pytest.raises(RuntimeFailure, match=r"out of memory with 77x77 tiles .*run with --tile 64 "):
        run_image(prep, synthetic_image(150, 150), settings=RunSettings(tile=128))
    assert calls == [
        (77, 77)
    ]  # 2x2 tiles shaped to 150x150: the plan ran as made, once, and was not shrunk behind the user's back


def test_nan_output_is_an_error_not_an_image(prepared, monkeypatch):
    from engine.inference import tile_runner as runner

    prep = prepared("sr_x2")
    monkeypatch.setattr(
        runner.TileRunner, "run", lambda self, feeds, out=None: np.full((1, 32, 32, 3), np.nan, np.float32)
    )
    with pytest.raises(RuntimeFailure, match="NaN/Inf"):
        run_image(prep, synthetic_image(16, 16))


def test_automatic_tiles_follow_the_models_memory_and_the_budget(prepared, monkeypatch):
    from engine.inference import pipeline as pipeline

    prep = prepared("sr_x2")
    per_pixel = prep.info.bytes_per_pixel
    # sr_x2: input 3, hidden 16 (conv and relu), 12 (conv), output 12 floats per pixel. Buffers are reused, so
    # the need is below the sum of them all and at least the widest node's input and output alive together.
    assert 4 * (3 + 16) <= per_pixel < 4 * (3 + 16 + 16 + 12 + 12)
    image = synthetic_image(300, 400)
    run_state(prep).memory_budget = int(per_pixel * 300 * 400 * 2)
    assert run_image(prep, image).tiles == 1
    run_state(prep).memory_budget = int(per_pixel * 256 * 256)
    tiled = run_image(prep, image)
    # 2x2 tiles of at most 256 px, shaped to cover 300x400 with little more than its own area.
    assert tiled.tiles == 4 and max(tiled.tile_size) <= 256
    assert tiled.tiling is not None and 1.0 <= tiled.tiling.covered_ratio < 1.1
    np.testing.assert_allclose(tiled.image, run_image(prep, image, settings=RunSettings(tile=512)).image, atol=1e-4)
    assert pipeline.memory_budget("cpu") > 0


def test_blender_layout_is_the_same_pixels_bottom_up_rgba(prepared):
    prep = prepared("sr_x2")
    for channels in (3, 4):
        image = synthetic_image(21, 30, channels=channels, seed=channels)
        plain = run_image(prep, image).image
        blender = run_image(prep, image, settings=RunSettings(blender_rgba=True)).image
        assert blender.shape == (42, 60, 4) and blender.flags.c_contiguous and blender.dtype == np.float32
        np.testing.assert_array_equal(blender[::-1, :, :3], plain[:, :, :3])
        expected_alpha = plain[:, :, 3] if channels == 4 else np.ones((42, 60), np.float32)
        np.testing.assert_array_equal(blender[::-1, :, 3], expected_alpha)


@pytest.mark.parametrize("blender_rgba", [False, True])
def test_a_result_is_never_the_next_runs_buffer(prepared, blender_rgba):
    # A one-tile run Blender copies anyway leaves the model's output in a reused buffer: what run_image returns
    # must still be the caller's own, untouched by the next run on the same tile shape.
    prep = prepared("sr_x2")
    settings = RunSettings(blender_rgba=blender_rgba, use_binding=True)
    first_image, second_image = synthetic_image(40, 50, channels=3, seed=1), synthetic_image(40, 50, channels=3, seed=2)
    first = run_image(prep, first_image, settings=settings).image
    kept = first.copy()
    second = run_image(prep, second_image, settings=settings).image
    np.testing.assert_array_equal(first, kept)
    assert not np.array_equal(first, second) and not np.shares_memory(first, second)


def test_concurrent_runs_on_one_prepared_model_take_turns(prepared):
    import threading

    prep = prepared("sr_x2")
    images = [np.full((300, 300, 3), value, np.float32) for value in (0.1, 0.9)]
    expected = [run_image(prep, image, settings=RunSettings(tile=64)).image for image in images]
    errors = {}

    def work(index):
        for _ in range(3):
            got = run_image(prep, images[index], settings=RunSettings(tile=64)).image
            errors[index] = max(errors.get(index, 0.0), float(np.abs(got - expected[index]).max()))

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == {0: 0.0, 1: 0.0}


def test_out_of_memory_where_no_smaller_tile_exists_says_what_else_to_do(prepared, monkeypatch):
    from dataclasses import replace

    from engine.inference import tile_runner

    prep = prepared("sr_x2")
    prep = replace(prep, info=replace(prep.info, size_multiple=256))  # as a model that only takes multiples of 256
    calls = []

    def always_oom(self, feeds, out=None):
        calls.append(_spatial(feeds["x"]))
        raise MemoryError("Failed to allocate memory")

    monkeypatch.setattr(tile_runner.TileRunner, "run", always_oom)
    with pytest.raises(RuntimeFailure, match="out of memory with 256x256 tiles .*close other programs"):
        run_image(prep, synthetic_image(600, 600), settings=RunSettings(tile=256))
    assert calls == [(256, 256)]


def test_an_overlap_as_large_as_the_tile_is_clamped(prepared):
    prep = prepared("sr_x2")
    image = synthetic_image(200, 190)
    result = run_image(prep, image, settings=RunSettings(tile=64, overlap=100))
    assert result.tiles < 50
    np.testing.assert_allclose(result.image, run_image(prep, image).image, atol=1e-4)


def test_alpha_note_only_for_real_transparency(prepared):
    prep = prepared("sr_x2")
    opaque = synthetic_image(16, 16, channels=4)
    opaque[:, :, 3] = 1.0
    assert not any("alpha" in n for n in run_image(prep, opaque).notes)
    soft = opaque.copy()
    soft[4:8, 4:8, 3] = 0.5
    assert any("alpha kept aside" in n for n in run_image(prep, soft).notes)


def test_a_channels_last_session_gives_the_same_pixels(prepared):
    # CUDA sessions take NHWC images (model/channels_last.py), CPU sessions the model's own NCHW: the pipeline
    # must give the same result through either. Tested on the CPU with the adapted graph in the session.
    import dataclasses

    import onnxruntime as ort

    from engine.model.channels_last import to_channels_last
    from engine.model.onnx_io import load_model, serialize

    prep = prepared("sr_x2")
    assert not prep.channels_last
    adapted = to_channels_last(load_model(prep.optimized_model), prep.info)
    session = ort.InferenceSession(serialize(adapted), providers=["CPUExecutionProvider"])
    nhwc = dataclasses.replace(prep, session=session, channels_last=True)
    assert nhwc.session_view(prep.info.image_inputs[0]).layout == "NHWC"
    image = synthetic_image(70, 90, channels=4, seed=3)
    for settings in (RunSettings(), RunSettings(tile=32), RunSettings(blender_rgba=True)):
        np.testing.assert_allclose(
            run_image(nhwc, image, settings=settings).image, run_image(prep, image, settings=settings).image, atol=1e-5
        )


def test_the_plan_and_pixels_do_not_depend_on_the_memory_free_now(model_file, cache_dir, monkeypatch):
    """Same input, same pixels (issue 24): a busy machine and an idle one make the same plan."""
    import builtins
    import os

    path = model_file("global_pool")
    image = synthetic_image(300, 400)
    results = []
    for free in (8 << 20, 64 << 30):  # 8 MB free (a loaded worker) and 64 GB (an idle one)
        # What the operating system says is free (the engine read it before: its plans followed it).
        monkeypatch.setattr(os, "sysconf", _free_pages_say(free))
        monkeypatch.setattr(builtins, "open", _meminfo_says(free))
        SESSIONS.clear()  # a new process: nothing measured before is reused
        prep = prepare_model(path, "fp32", settings=SessionSettings(provider="cpu"), cache_dir=cache_dir)
        results.append(run_image(prep, image))
    (busy, idle) = results
    assert busy.tiling is not None and idle.tiling is not None
    assert busy.tiling.to_json() == idle.tiling.to_json() and busy.tiling.fit == "whole"
    assert busy.image.tobytes() == idle.image.tobytes()


def test_auto_says_when_it_must_resize_a_global_model_with_the_size_and_the_choice(prepared):
    """Issue 24: a model that sees the whole image runs whole whenever it fits the device; when it cannot, the
    resize is said in the run's notes (and so in Blender's report), with the size used and how to choose."""
    prep = prepared("global_pool")
    image = synthetic_image(300, 400)
    assert run_image(prep, image).tiling.fit == "whole" and not run_image(prep, image).notes
    run_state(prep).memory_budget = int(prep.info.bytes_per_pixel * 64 * 64)  # a device too small for it whole
    result = run_image(prep, image)
    assert result.tiling.fit == "resize" and result.image.shape[:2] == (300, 400)
    (note,) = [n for n in result.notes if n.startswith("fit auto resized")]
    rh, rw = result.tiling.resized_to
    # The smallest automatic tile is 256 px: the resize keeps the aspect within 256 x 256 pixels.
    assert f"from 400x300 to {rw}x{rh}" in note and "choose fit 'tile'" in note and rh * rw <= 256 * 256


def test_the_shared_silent_progress_cannot_be_cancelled(prepared):
    """Issue 23: SILENT serves every run nobody watches; cancelling it would stop them all."""
    from engine.progress import SILENT

    with pytest.raises(TypeError, match="cannot be cancelled"):
        SILENT.cancel()
    assert not SILENT.cancelled
    assert run_image(prepared("sr_x2"), synthetic_image(16, 16)).tiles == 1  # runs without a progress still work


def _free_pages_say(free: int):
    import os

    real = os.sysconf

    def sysconf(name):
        return free // 4096 if name == "SC_AVPHYS_PAGES" else real(name)

    return sysconf


def _meminfo_says(free: int):
    import builtins
    import io

    real = builtins.open

    def opened(file, *args, **kwargs):
        if str(file) == "/proc/meminfo":
            return io.StringIO(f"MemTotal: {64 << 20} kB\nMemFree: {free >> 10} kB\nMemAvailable: {free >> 10} kB\n")
        return real(file, *args, **kwargs)

    return opened


def test_a_one_tile_cpu_run_does_not_bind_its_output_and_a_tiled_one_does(prepared, monkeypatch):
    """On the CPU a bound output is one more output-sized buffer onnxruntime copies into (8% of a 1080p run's CPU
    time): a whole-image run uses the session's own output, a tiled run binds and reuses one; the pixels agree."""
    from engine.inference.pipeline import binds_output
    from engine.options import Device

    assert binds_output(Device.CUDA, 1, True) and binds_output(Device.CPU, 4, True)
    assert not binds_output(Device.CPU, 1, True) and not binds_output(Device.CUDA, 4, False)
    prep = prepared("sr_x2")
    calls: list[str] = []
    session_type = type(prep.session)
    for method in ("run", "run_with_iobinding"):
        real = getattr(session_type, method)
        monkeypatch.setattr(
            session_type, method, lambda self, *a, _m=method, _r=real, **k: calls.append(_m) or _r(self, *a, **k)
        )
    image = synthetic_image(200, 200, seed=3)
    whole = run_image(prep, image, settings=RunSettings(use_binding=True)).image
    assert calls == ["run"]
    calls.clear()
    tiled = run_image(prep, image, settings=RunSettings(tile=96, use_binding=True))
    assert tiled.tiles > 1 and set(calls) == {"run_with_iobinding"}
    np.testing.assert_allclose(tiled.image, whole, atol=1e-6)
