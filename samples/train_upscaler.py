"""Train the sample x2 upscaler (samples/upscaler_x2.onnx) from scratch on CPU.

1. Renders random procedural scenes with Cycles through the `bpy` module (see samples/scenes.py) and caches
   them as scene-linear float32 arrays in a compressed .npz (not part of the repository).
2. Trains a small fully convolutional x2 network in PyTorch on 2x2 box-downsampled inputs.
3. Exports it to ONNX (opset 17, input "input" [1,3,H,W], output "output" [1,3,2H,2W], both scene-linear RGB
   float32, dynamic height and width, IR version 10).

    .venv/bin/python -m samples.train_upscaler --renders 320 --steps 2000 --out samples/upscaler_x2.onnx

torch is needed only here (training time): the engine, the add-on and the tests never import it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from samples.imageops import bicubic_upsample, box_downsample, psnr

TRAIN_SEED = 0
"""Training scenes use seeds TRAIN_SEED, TRAIN_SEED + 1, ...; evaluation and the test use other ranges."""
EVAL_SEED = 100_000
TEST_SEED = 900_000
CURVE_STRENGTH = 16.0
"""The network works on log(1 + a x) / log(1 + a): roughly perceptual, so its loss follows the sRGB metrics."""
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "onnx_image_runtime_samples"


def render_set(
    count: int, first_seed: int, size: int = 128, samples: int = 32, cache_dir: Path | None = DEFAULT_CACHE
) -> np.ndarray:
    """`count` random scenes (seeds first_seed...) as float32 (count, size, size, 3) scene-linear arrays.
    Renders are cached in cache_dir and reused (and extended) by later runs with the same settings."""
    from samples.scenes import render_random_scene

    cached = np.zeros((0, size, size, 3), np.float32)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"renders_seed{first_seed}_size{size}_spp{samples}.npz"
        if path.exists():
            cached = np.load(path)["images"]
    images = list(cached[:count])
    start = time.perf_counter()
    for i in range(len(images), count):
        images.append(render_random_scene(first_seed + i, size, samples))
        done = i + 1 - len(cached)
        if done % 20 == 0 or i + 1 == count:
            rate = (time.perf_counter() - start) / done
            print(f"rendered {i + 1}/{count} ({rate:.2f} s per render)", flush=True)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(path, images=np.stack(images))
    return np.stack(images) if images else cached


def build_model(channels: int = 32, layers: int = 4):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Upscaler(nn.Module):
        """log curve -> conv 3x3 + LeakyReLU stack -> conv to 12 channels -> PixelShuffle(2), added to the
        bilinear x2 of the curved input (global residual) -> inverse curve."""

        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Conv2d(3, channels, 3, padding=1)
            self.body = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(layers))
            self.tail = nn.Conv2d(channels, 3 * 4, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)
            self.scale = float(np.log1p(CURVE_STRENGTH))
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

        def curve(self, x):
            return torch.log(1.0 + CURVE_STRENGTH * torch.relu(x)) / self.scale

        def core(self, y):
            f = F.leaky_relu(self.head(y), 0.1)
            for conv in self.body:
                f = F.leaky_relu(conv(f), 0.1) + f
            base = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
            return base + self.shuffle(self.tail(f))

        def forward(self, x):
            return (torch.exp(self.core(self.curve(x)) * self.scale) - 1.0) / CURVE_STRENGTH

    return Upscaler()


def _batches(images, batch: int, patch: int, rng: np.random.Generator):
    """Random HR crops (patch x patch, even-aligned) with random flips / 90-degree turns, NCHW float32."""
    n, h, w, _ = images.shape
    while True:
        idx = rng.integers(0, n, batch)
        ys = rng.integers(0, (h - patch) // 2 + 1, batch) * 2
        xs = rng.integers(0, (w - patch) // 2 + 1, batch) * 2
        crops = np.stack([images[i, y : y + patch, x : x + patch] for i, y, x in zip(idx, ys, xs, strict=True)])
        crops = np.rot90(crops, int(rng.integers(4)), axes=(1, 2))
        if rng.random() < 0.5:
            crops = crops[:, :, ::-1]
        yield np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)


def train(model, images: np.ndarray, steps: int, batch: int = 16, patch: int = 64, lr: float = 2e-3, seed: int = 0):
    import torch
    from torch.nn import functional as F

    rng = np.random.default_rng(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(1.0, s / steps)))
    )
    start, running = time.perf_counter(), 0.0
    for step, hr in zip(range(1, steps + 1), _batches(images, batch, patch, rng), strict=False):
        hr = torch.from_numpy(hr)
        lr_image = F.avg_pool2d(hr, 2)
        loss = F.l1_loss(model.core(model.curve(lr_image)), model.curve(hr))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        running += loss.item()
        if step % 250 == 0 or step == steps:
            elapsed = time.perf_counter() - start
            mean = running / ((step - 1) % 250 + 1)
            print(f"step {step}/{steps} L1 {mean:.5f} ({elapsed:.0f} s)", flush=True)
            running = 0.0
    return model


def upscale_torch(model, image: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None])))
    return out[0].numpy().transpose(1, 2, 0)


def report(model, images: np.ndarray, label: str) -> None:
    gains = []
    for hr in images:
        low = box_downsample(hr)
        gains.append(psnr(hr, upscale_torch(model, low)) - psnr(hr, bicubic_upsample(low)))
    print(f"{label}: model - bicubic PSNR {np.mean(gains):+.2f} dB over {len(images)} images", flush=True)


def export(model, path: Path) -> None:
    """ONNX opset 17, dynamic H and W, IR version 10 (onnxruntime 1.31 loads IR <= 13)."""
    import onnx
    import onnxruntime as ort
    import torch

    model.eval()
    dummy = torch.rand(1, 3, 48, 40)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        torch.onnx.export(
            model,
            (dummy,),
            raw,
            opset_version=17,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {2: "height", 3: "width"}, "output": {2: "height_x2", 3: "width_x2"}},
            dynamo=False,
        )
        proto = onnx.load(raw)
    proto.ir_version = 10
    proto.producer_name = "onnx-image-runtime samples/train_upscaler.py"
    proto.doc_string = "x2 upscaler for Cycles renders: scene-linear RGB NCHW float32 in and out"
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probe = np.random.default_rng(1).random((1, 3, 37, 29), dtype=np.float32)
    (out,) = session.run(None, {"input": probe})
    with torch.no_grad():
        expected = model(torch.from_numpy(probe)).numpy()
    assert out.shape == (1, 3, 74, 58), out.shape
    error = np.abs(out - expected).max()
    print(f"exported {path} ({path.stat().st_size / 1024:.0f} KiB), max |ORT - torch| {error:.2e}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=320, help="training scenes to render")
    parser.add_argument("--size", type=int, default=128, help="render width and height (full resolution)")
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples per render (denoised)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps (batch 16 of 64x64 crops)")
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--layers", type=int, default=4, help="residual 3x3 conv layers between head and tail")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where renders are cached (.npz)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("upscaler_x2.onnx"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    images = render_set(args.renders, TRAIN_SEED, args.size, args.samples, args.cache)
    rendered = time.perf_counter()
    print(f"{len(images)} renders ready in {rendered - start:.0f} s", flush=True)

    import torch

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    held = max(1, len(images) // 20)
    model = build_model(args.channels, args.layers)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params} parameters; training on {len(images) - held} renders, {held} held back", flush=True)
    train(model, images[:-held], args.steps, lr=args.lr)
    trained = time.perf_counter()
    report(model, images[-held:], "held-back renders")
    export(model, args.out)
    total = time.perf_counter() - start
    print(f"total {total:.0f} s (renders {rendered - start:.0f} s, training {trained - rendered:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
