"""Small ONNX models generated in code with fixed seeds: the engine's test fixtures, no downloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR = 10
H, W = "height", "width"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _conv_w(rng, cout, cin, k=3, scale=None):
    scale = scale if scale is not None else 1.0 / np.sqrt(cin * k * k)
    return (rng.standard_normal((cout, cin, k, k)) * scale).astype(np.float32)


def _model(nodes, inputs, outputs, inits, opset=OPSET, name="g") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = IR
    onnx.checker.check_model(model)
    return model


def _img(name, c=3, h=H, w=W, layout="NCHW", elem=TensorProto.FLOAT):
    shape = [1, c, h, w] if layout == "NCHW" else [1, h, w, c]
    return helper.make_tensor_value_info(name, elem, shape)


def _conv(name, x, w, b, y, pad=1):
    return helper.make_node("Conv", [x, w, b], [y], name=name, pads=[pad] * 4)


def sr_x2(seed: int = 0, channels: int = 3, hidden: int = 16) -> onnx.ModelProto:
    """x2 super-resolution: Conv, Relu, Conv, DepthToSpace (receptive radius 2 px)."""
    r = _rng(seed)
    inits = [
        _init("w1", _conv_w(r, hidden, channels)),
        _init("b1", np.zeros(hidden, np.float32)),
        _init("w2", _conv_w(r, channels * 4, hidden)),
        _init("b2", np.full(channels * 4, 0.1, np.float32)),
    ]
    nodes = [
        _conv("conv1", "x", "w1", "b1", "h1"),
        helper.make_node("Relu", ["h1"], ["a1"], name="relu1"),
        _conv("conv2", "a1", "w2", "b2", "h2"),
        helper.make_node("DepthToSpace", ["h2"], ["y"], name="d2s", blocksize=2, mode="CRD"),
    ]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, "h2", "w2"])
    return _model(nodes, [_img("x", channels)], [out], inits)


def compact_sr_x2(seed: int = 26, features: int = 64, convs: int = 16) -> onnx.ModelProto:
    """A x2 upscaler shaped like SRVGGNetCompact (Real-ESRGAN's compact models, e.g. realesr-animevideov3: 64
    features, 16 body convolutions): Conv + PReLU, `convs` x (Conv + PReLU), Conv to 12 channels, DepthToSpace, plus
    the input enlarged by nearest neighbour. The weight of the upscalers artists run on frames (about 0.6 million
    multiply-adds per input pixel), where the sample model is a few thousand."""
    r = _rng(seed)
    inits = [_init("scales", np.array([1, 1, 2, 2], np.float32))]
    nodes, x, cin = [], "x", 3
    for k in range(convs + 1):
        inits += [
            _init(f"w{k}", _conv_w(r, features, cin)),
            _init(f"b{k}", np.zeros(features, np.float32)),
            _init(f"s{k}", np.full((features, 1, 1), 0.25, np.float32)),
        ]
        nodes += [
            _conv(f"conv{k}", x, f"w{k}", f"b{k}", f"h{k}"),
            helper.make_node("PRelu", [f"h{k}", f"s{k}"], [f"a{k}"], name=f"prelu{k}"),
        ]
        x, cin = f"a{k}", features
    inits += [_init("wl", _conv_w(r, 12, features) * 0.1), _init("bl", np.zeros(12, np.float32))]
    nodes += [
        _conv("last", x, "wl", "bl", "hl"),
        helper.make_node("DepthToSpace", ["hl"], ["detail"], name="d2s", blocksize=2, mode="CRD"),
        helper.make_node("Resize", ["x", "", "scales"], ["base"], name="nearest", mode="nearest"),
        helper.make_node("Add", ["base", "detail"], ["y"], name="add"),
    ]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h2", "w2"])
    return _model(nodes, [_img("x", 3)], [out], inits)


def blur_x2(channels: int = 3) -> onnx.ModelProto:
    """x2 upscaler that mixes each pixel with its 8 neighbours (3x3 box blur, then DepthToSpace): like any
    real upscaler or denoiser it spreads colour into neighbouring pixels, which is what shows bleeding."""
    w = np.zeros((channels * 4, channels, 3, 3), np.float32)
    for c in range(channels):
        w[c * 4 : c * 4 + 4, c] = 1.0 / 9.0
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["h"], name="blur", pads=[1] * 4),
        helper.make_node("DepthToSpace", ["h"], ["y"], name="d2s", blocksize=2, mode="CRD"),
    ]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, "h2", "w2"])
    return _model(nodes, [_img("x", channels)], [out], [_init("w", w)])


def unet(seed: int = 1) -> onnx.ModelProto:
    """Two-level U-Net with MaxPool, Resize (fp32 scales) and Concat: needs sizes that are multiples of 2."""
    r = _rng(seed)
    inits = [
        _init("w1", _conv_w(r, 8, 3)),
        _init("b1", np.zeros(8, np.float32)),
        _init("w2", _conv_w(r, 8, 8)),
        _init("b2", np.zeros(8, np.float32)),
        _init("w3", _conv_w(r, 3, 16)),
        _init("b3", np.zeros(3, np.float32)),
        _init("scales", np.array([1, 1, 2, 2], np.float32)),
    ]
    nodes = [
        _conv("enc", "x", "w1", "b1", "e"),
        helper.make_node("Relu", ["e"], ["ea"], name="enc_relu"),
        helper.make_node("MaxPool", ["ea"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        _conv("mid", "p", "w2", "b2", "m"),
        helper.make_node("Relu", ["m"], ["ma"], name="mid_relu"),
        helper.make_node("Resize", ["ma", "", "scales"], ["u"], name="up", mode="nearest"),
        helper.make_node("Concat", ["u", "ea"], ["c"], name="cat", axis=1),
        _conv("dec", "c", "w3", "b3", "y"),
    ]
    return _model(nodes, [_img("x")], [_img("y")], inits)


def multi_input(seed: int = 2) -> onnx.ModelProto:
    """Denoiser-shaped: colour, albedo and normal in, colour out."""
    r = _rng(seed)
    inits = [_init("w", _conv_w(r, 3, 9)), _init("b", np.zeros(3, np.float32))]
    nodes = [
        helper.make_node("Concat", ["color", "albedo", "normal"], ["c"], name="cat", axis=1),
        _conv("conv", "c", "w", "b", "y"),
    ]
    return _model(nodes, [_img("color"), _img("albedo"), _img("normal")], [_img("y")], inits)


def nhwc(seed: int = 3) -> onnx.ModelProto:
    """Takes and gives [1, H, W, 3] and transposes internally, like many TensorFlow exports."""
    r = _rng(seed)
    inits = [_init("w", _conv_w(r, 3, 3)), _init("b", np.zeros(3, np.float32))]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], name="to_nchw", perm=[0, 3, 1, 2]),
        _conv("conv", "xt", "w", "b", "yt"),
        helper.make_node("Transpose", ["yt"], ["y"], name="to_nhwc", perm=[0, 2, 3, 1]),
    ]
    return _model(nodes, [_img("x", layout="NHWC")], [_img("y", layout="NHWC")], inits)


def fixed_size(seed: int = 4, size: int = 256) -> onnx.ModelProto:
    r = _rng(seed)
    inits = [_init("w", _conv_w(r, 3, 3)), _init("b", np.zeros(3, np.float32))]
    nodes = [_conv("conv", "x", "w", "b", "y")]
    return _model(nodes, [_img("x", h=size, w=size)], [_img("y", h=size, w=size)], inits)


def overflow(seed: int = 5) -> onnx.ModelProto:
    """Weights fit fp16 but activations reach ~1e5 between two convolutions: fine in fp32, inf in fp16."""
    r = _rng(seed)
    inits = [
        _init("w1", r.uniform(4e3, 9e3, (4, 3, 3, 3)).astype(np.float32)),
        _init("b1", np.zeros(4, np.float32)),
        _init("w2", _conv_w(r, 3, 8) * 1e-4),
        _init("b2", np.zeros(3, np.float32)),
    ]
    nodes = [
        _conv("big", "x", "w1", "b1", "h"),
        helper.make_node("Relu", ["h"], ["hr"], name="relu"),
        # Concat has a true fp16 CPU kernel; ONNX Runtime runs fp16 Conv on the CPU in fp32, which
        # would hide the overflow there although a GPU shows it.
        helper.make_node("Concat", ["hr", "hr"], ["hc"], name="cat", axis=1),
        _conv("out", "hc", "w2", "b2", "y"),
    ]
    return _model(nodes, [_img("x")], [_img("y")], inits)


def overflow_output(seed: int = 5) -> onnx.ModelProto:
    """Like `overflow`, but the output itself stays around 1e5 (an HDR or depth-like result): beyond fp16."""
    r = _rng(seed)
    inits = [
        _init("w1", r.uniform(4e3, 9e3, (4, 3, 3, 3)).astype(np.float32)),
        _init("b1", np.zeros(4, np.float32)),
        _init("w2", np.abs(_conv_w(r, 3, 8, k=1))),
        _init("b2", np.zeros(3, np.float32)),
    ]
    nodes = [
        _conv("big", "x", "w1", "b1", "h"),
        helper.make_node("Relu", ["h"], ["hr"], name="relu"),
        helper.make_node("Concat", ["hr", "hr"], ["hc"], name="cat", axis=1),
        _conv("out", "hc", "w2", "b2", "y", pad=0),
    ]
    return _model(nodes, [_img("x")], [_img("y")], inits)


def shared_bias(seed: int = 11) -> onnx.ModelProto:
    """A detector head reusing one bias initializer in two Adds (exporters deduplicate equal constants):
    the first Add sits on large activations (kept fp32 by mixed precision), the second on small ones
    (converted). The converter then gives the shared bias one type for both readers."""
    r = _rng(seed)
    inits = [
        _init("w", r.uniform(1e3, 2e3, (4, 3, 3, 3)).astype(np.float32)),
        _init("bias", np.full((1, 4, 1, 1), 0.25, np.float32)),
        _init("scale", np.full((1, 4, 1, 1), 1e-4, np.float32)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["cr"], name="relu"),  # (no Conv+Add fusion hides the sharing)
        helper.make_node("Add", ["cr", "bias"], ["a1"], name="add1"),
        helper.make_node("Mul", ["a1", "scale"], ["m"], name="shrink"),
        helper.make_node("Add", ["m", "bias"], ["y"], name="add2"),
    ]
    return _model(nodes, [_img("x")], [_img("y", c=4)], inits)


def shared_clip_bounds(seed: int = 19) -> onnx.ModelProto:
    """Two Clips reading one pair of min/max initializers, as Paddle2ONNX writes them. The first clamps
    features lifted by a large offset (fp16's step there is 8, so mixed precision must keep it fp32), the second
    clamps the small values left once the offset is taken off again (converted). Clip's input, min and max share
    one type parameter, so the shared bounds need a copy per type."""
    r = _rng(seed)
    inits = [
        _init("w", _conv_w(r, 4, 3)),
        _init("offset", np.array(9000.0, np.float32)),
        _init("clip_min", np.array(0.0, np.float32)),
        _init("clip_max", np.array(9990.0, np.float32)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c", "offset"], ["lifted"], name="lift"),
        helper.make_node("Clip", ["lifted", "clip_min", "clip_max"], ["c1"], name="clip1"),
        helper.make_node("Sub", ["c1", "offset"], ["m"], name="drop"),
        helper.make_node("Clip", ["m", "clip_min", "clip_max"], ["y"], name="clip2"),
    ]
    return _model(nodes, [_img("x")], [_img("y", c=4)], inits)


def batchnorm(variance: float, seed: int = 6) -> onnx.ModelProto:
    """Conv then BatchNormalization whose running variance is `variance` (1e7 or 3e4 break fp16)."""
    r = _rng(seed)
    scale_up = float(np.sqrt(variance))
    inits = [
        _init("w", _conv_w(r, 3, 3) * scale_up),
        _init("b", np.zeros(3, np.float32)),
        _init("gamma", np.ones(3, np.float32)),
        _init("beta", np.full(3, 0.5, np.float32)),
        _init("mean", np.zeros(3, np.float32)),
        _init("var", np.full(3, variance, np.float32)),
    ]
    nodes = [
        _conv("conv", "x", "w", "b", "h"),
        helper.make_node("BatchNormalization", ["h", "gamma", "beta", "mean", "var"], ["y"], name="bn"),
    ]
    return _model(nodes, [_img("x")], [_img("y")], inits)


def constant_nodes(seed: int = 7) -> onnx.ModelProto:
    """Weights held in unnamed Constant nodes, as some exporters write them."""
    r = _rng(seed)
    nodes = [
        helper.make_node("Constant", [], ["w"], value=_init("w", _conv_w(r, 3, 3))),
        helper.make_node("Constant", [], ["b"], value=_init("b", np.zeros(3, np.float32))),
        helper.make_node("Conv", ["x", "w", "b"], ["h"], pads=[1, 1, 1, 1]),
        helper.make_node("Constant", [], ["k"], value=_init("k", np.array(0.5, np.float32))),
        helper.make_node("Mul", ["h", "k"], ["y"]),
    ]
    return _model(nodes, [_img("x")], [_img("y")], [])


def opset9_initializer_inputs(seed: int = 8) -> onnx.ModelProto:
    """Old exporters listed every initializer as a graph input too."""
    r = _rng(seed)
    w, b = _conv_w(r, 3, 3), np.zeros(3, np.float32)
    inits = [_init("w", w), _init("b", b)]
    inputs = [
        _img("x"),
        helper.make_tensor_value_info("w", TensorProto.FLOAT, list(w.shape)),
        helper.make_tensor_value_info("b", TensorProto.FLOAT, list(b.shape)),
    ]
    nodes = [_conv("conv", "x", "w", "b", "h"), helper.make_node("Relu", ["h"], ["y"], name="relu")]
    model = _model(nodes, inputs, [_img("y")], inits, opset=9)
    model.ir_version = 3
    return model


def with_casts(seed: int = 9) -> onnx.ModelProto:
    """A model that already casts (to double and back), which confuses converters."""
    r = _rng(seed)
    inits = [_init("w", _conv_w(r, 3, 3)), _init("b", np.zeros(3, np.float32))]
    nodes = [
        _conv("conv", "x", "w", "b", "h"),
        helper.make_node("Cast", ["h"], ["hd"], name="to_double", to=TensorProto.DOUBLE),
        helper.make_node("Relu", ["hd"], ["rd"], name="relu_double"),
        helper.make_node("Cast", ["rd"], ["y"], name="to_float", to=TensorProto.FLOAT),
    ]
    return _model(nodes, [_img("x")], [_img("y")], inits)


def conv_chain(channels=(3, 12, 12, 3), seed=0) -> onnx.ModelProto:
    """Conv-Relu-Conv-LeakyRelu-Conv with the given channel counts."""
    rng = np.random.default_rng(seed)
    inits, nodes, x = [], [], "x"
    for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:], strict=True)):
        w = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(cin * 9)).astype(np.float32)
        inits += [_init(f"w{i}", w), _init(f"b{i}", np.full(cout, 0.1, np.float32))]
        y = "y" if i == len(channels) - 2 else f"h{i}"
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y], name=f"conv{i}", pads=[1] * 4))
        if y != "y":
            act = "Relu" if i % 2 == 0 else "LeakyRelu"
            nodes.append(helper.make_node(act, [y], [f"a{i}"], name=f"act{i}"))
            x = f"a{i}"
    return _model(nodes, [_img("x")], [_img("y")], inits)


def square() -> onnx.ModelProto:
    """Each channel squared: not linear in colour, so a model fed another working space's values than the linear
    Rec.709 it was made for gives another picture."""
    return _model([helper.make_node("Mul", ["x", "x"], ["y"], name="sq")], [_img("x")], [_img("y")], [])


def luminance() -> onnx.ModelProto:
    """Rec.709 luminance, one channel out (a 1x1 Conv with the Rec.709 luma weights)."""
    w = np.array([0.2126, 0.7152, 0.0722], np.float32).reshape(1, 3, 1, 1)
    nodes = [_conv("luma", "x", "w", "b", "y", pad=0)]
    return _model(nodes, [_img("x")], [_img("y", 1)], [_init("w", w), _init("b", np.zeros(1, np.float32))])


def returns_normal() -> onnx.ModelProto:
    """Colour and normal in, the normal out as the model received it: shows what reached the model's second input."""
    nodes = [helper.make_node("Identity", ["normal"], ["y"], name="id")]
    return _model(nodes, [_img("color"), _img("normal")], [_img("y")], [])


def no_image_input() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    return _model([helper.make_node("Relu", ["x"], ["y"], name="r")], [x], [y], [])


def fp16_only(seed: int = 10) -> onnx.ModelProto:
    r = _rng(seed)
    inits = [
        _init("w", _conv_w(r, 3, 3).astype(np.float16)),
        _init("b", np.zeros(3, np.float16)),
    ]
    nodes = [_conv("conv", "x", "w", "b", "y")]
    return _model(nodes, [_img("x", elem=TensorProto.FLOAT16)], [_img("y", elem=TensorProto.FLOAT16)], inits)


def ir14(seed: int = 0) -> onnx.ModelProto:
    model = sr_x2(seed)
    model.ir_version = 14
    return model


def text_detector(gain: float = 11853.0, threshold: float = 1000.0) -> onnx.ModelProto:
    """A text/edge detector's shape: a high-gain edge filter thresholded into a sigmoid mask (1 channel).
    On flat areas the filter's taps cancel exactly in any precision (mask 0, no error); on anti-aliased
    glyph edges the logit sits near the threshold, where fp16's rounding of the large
    weights (3951 lies between two fp16 values) moves the mask by several hundredths."""
    w = np.zeros((1, 3, 1, 2), np.float32)
    w[0, :, 0, 0], w[0, :, 0, 1] = gain / 3, -gain / 3
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["logit"], name="edge", pads=[0, 0, 0, 1]),
        helper.make_node("Sigmoid", ["logit"], ["mask"], name="mask"),
    ]
    out = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, H, W])
    return _model(nodes, [_img("x")], [out], [_init("w", w), _init("b", np.full(1, -threshold, np.float32))])


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def write_truncated(path: Path) -> Path:
    data = sr_x2().SerializeToString()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_not_onnx(path: Path) -> Path:
    path.write_text("this is a text file, not a neural network\n" * 20)
    return path


def conv_stack(depth: int = 4, seed: int = 11, hidden: int = 8) -> onnx.ModelProto:
    """`depth` stacked 3x3 convolutions with ReLUs between them: receptive radius `depth` px."""
    r = _rng(seed)
    sizes = [3] + [hidden] * (depth - 1) + [3]
    inits, nodes, x = [], [], "x"
    for i, (cin, cout) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        inits += [_init(f"w{i}", _conv_w(r, cout, cin)), _init(f"b{i}", np.full(cout, 0.05, np.float32))]
        y = "y" if i == depth - 1 else f"h{i}"
        nodes.append(_conv(f"conv{i}", x, f"w{i}", f"b{i}", y))
        if y != "y":
            nodes.append(helper.make_node("Relu", [y], [f"a{i}"], name=f"relu{i}"))
            x = f"a{i}"
    return _model(nodes, [_img("x")], [_img("y")], inits)


def dilated(dilations: tuple[int, ...] = (1, 2, 4), seed: int = 12, hidden: int = 8) -> onnx.ModelProto:
    """3x3 convolutions with growing dilation (a context module): receptive radius sum(dilations) px."""
    r = _rng(seed)
    sizes = [3] + [hidden] * (len(dilations) - 1) + [3]
    inits, nodes, x = [], [], "x"
    for i, d in enumerate(dilations):
        inits += [
            _init(f"w{i}", _conv_w(r, sizes[i + 1], sizes[i])),
            _init(f"b{i}", np.zeros(sizes[i + 1], np.float32)),
        ]
        y = "y" if i == len(dilations) - 1 else f"h{i}"
        nodes.append(
            helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [y], name=f"conv{i}", pads=[d] * 4, dilations=[d, d])
        )
        if y != "y":
            nodes.append(helper.make_node("LeakyRelu", [y], [f"a{i}"], name=f"act{i}", alpha=0.1))
            x = f"a{i}"
    return _model(nodes, [_img("x")], [_img("y")], inits)


def unet_deep(levels: int = 3, seed: int = 13, width: int = 8) -> onnx.ModelProto:
    """A U-Net with `levels` stride-2 convolution downsamplings and linear-Resize upsamplings, skip
    connections added back: sizes must be multiples of 2**levels (8 for 3 levels, 16 for 4)."""
    r = _rng(seed)
    inits = [_init("w_in", _conv_w(r, width, 3)), _init("b_in", np.zeros(width, np.float32))]
    inits.append(_init("scales", np.array([1, 1, 2, 2], np.float32)))
    nodes = [_conv("in", "x", "w_in", "b_in", "e0_"), helper.make_node("Relu", ["e0_"], ["e0"], name="in_relu")]
    for i in range(1, levels + 1):
        inits += [_init(f"wd{i}", _conv_w(r, width, width)), _init(f"bd{i}", np.zeros(width, np.float32))]
        nodes.append(
            helper.make_node(
                "Conv", [f"e{i - 1}", f"wd{i}", f"bd{i}"], [f"e{i}_"], name=f"down{i}", pads=[1] * 4, strides=[2, 2]
            )
        )
        nodes.append(helper.make_node("Relu", [f"e{i}_"], [f"e{i}"], name=f"down{i}_relu"))
    x = f"e{levels}"
    for i in range(levels, 0, -1):
        inits += [_init(f"wu{i}", _conv_w(r, width, width)), _init(f"bu{i}", np.zeros(width, np.float32))]
        nodes += [
            helper.make_node("Resize", [x, "", "scales"], [f"u{i}"], name=f"up{i}", mode="linear"),
            helper.make_node("Add", [f"u{i}", f"e{i - 1}"], [f"s{i}"], name=f"skip{i}"),
            _conv(f"upconv{i}", f"s{i}", f"wu{i}", f"bu{i}", f"d{i}_"),
            helper.make_node("Relu", [f"d{i}_"], [f"d{i}"], name=f"up{i}_relu"),
        ]
        x = f"d{i}"
    inits += [_init("w_out", _conv_w(r, 3, width)), _init("b_out", np.zeros(3, np.float32))]
    nodes.append(_conv("out", x, "w_out", "b_out", "y"))
    return _model(nodes, [_img("x")], [_img("y")], inits)


def _global_context(nodes, inits, r, size):
    """Conv features minus their image-wide mean (GlobalAveragePool), through a sigmoid: every output pixel
    depends on the whole input, like a salient-object mask."""
    inits += [_init("wg", _conv_w(r, 3, 3) * 4.0), _init("bg", np.zeros(3, np.float32))]
    nodes += [
        _conv("feat", "x", "wg", "bg", "f"),
        helper.make_node("GlobalAveragePool", ["f"], ["mean"], name="context"),
        helper.make_node("Sub", ["f", "mean"], ["centred"], name="centre"),
        helper.make_node("Sigmoid", ["centred"], ["y"], name="mask"),
    ]
    return _model(
        nodes,
        [_img("x", h=size, w=size) if size else _img("x")],
        [_img("y", h=size, w=size) if size else _img("y")],
        inits,
    )


def global_pool(seed: int = 14) -> onnx.ModelProto:
    """Any size in; global context (GlobalAveragePool) in every output pixel."""
    return _global_context([], [], _rng(seed), None)


def squeeze_excitation(seed: int = 18, width: int = 16, gain: float = 1.0) -> onnx.ModelProto:
    """Any size in; a squeeze-excitation block as text detectors and restorers export it: features, their
    image-wide mean (GlobalAveragePool) through two 1x1 convs and a sigmoid, gating every channel of every
    pixel. `gain` scales the gate's pre-activation: large gains make the output hinge on the image-wide mean."""
    r = _rng(seed)
    squeeze = max(1, width // 4)
    inits = [
        _init("w_in", _conv_w(r, width, 3)),
        _init("b_in", np.zeros(width, np.float32)),
        _init("w_sq", _conv_w(r, squeeze, width, k=1) * gain),
        _init("b_sq", np.zeros(squeeze, np.float32)),
        _init("w_ex", _conv_w(r, width, squeeze, k=1) * gain),
        _init("b_ex", np.zeros(width, np.float32)),
        _init("w_out", _conv_w(r, 3, width)),
        _init("b_out", np.zeros(3, np.float32)),
    ]
    nodes = [
        _conv("in", "x", "w_in", "b_in", "f0"),
        helper.make_node("Relu", ["f0"], ["f"], name="relu_in"),
        helper.make_node("GlobalAveragePool", ["f"], ["pooled"], name="squeeze"),
        _conv("reduce", "pooled", "w_sq", "b_sq", "s0", pad=0),
        helper.make_node("Relu", ["s0"], ["s"], name="relu_sq"),
        _conv("expand", "s", "w_ex", "b_ex", "e", pad=0),
        helper.make_node("Sigmoid", ["e"], ["gate"], name="gate"),
        helper.make_node("Mul", ["f", "gate"], ["gated"], name="excite"),
        _conv("out", "gated", "w_out", "b_out", "y"),
    ]
    return _model(nodes, [_img("x")], [_img("y")], inits)


def sum_gated(seed: int = 20, width: int = 8) -> onnx.ModelProto:
    """A squeeze-excitation gate fed by the image-wide *sum* of its features (exporters write ReduceSum then a
    scale): on a 128x128 crop the sum stays within fp16's range, on a 512x512 image it passes 65504, so an fp16
    conversion judged on crops looks exact and fails on the whole picture it will really see."""
    r = _rng(seed)
    inits = [
        _init("w_in", np.abs(_conv_w(r, width, 3))),
        _init("b_in", np.zeros(width, np.float32)),
        _init("axes", np.array([2, 3], np.int64)),
        _init("per_pixel", np.array(1.0 / (512 * 512), np.float32)),
        _init("w_out", _conv_w(r, 3, width)),
        _init("b_out", np.zeros(3, np.float32)),
    ]
    nodes = [
        _conv("in", "x", "w_in", "b_in", "f"),
        helper.make_node("ReduceSum", ["f", "axes"], ["total"], name="squeeze", keepdims=1),
        helper.make_node("Mul", ["total", "per_pixel"], ["mean"], name="scale"),
        helper.make_node("Sigmoid", ["mean"], ["gate"], name="gate"),
        helper.make_node("Mul", ["f", "gate"], ["gated"], name="excite"),
        _conv("out", "gated", "w_out", "b_out", "y"),
    ]
    return _model(nodes, [_img("x")], [_img("y")], inits)


def fixed_global(size: int = 64, seed: int = 15) -> onnx.ModelProto:
    """A fixed-size (size x size) global-context model, shaped like a salient-object U-Net export."""
    return _global_context([], [], _rng(seed), size)


# Real exports, as the contract and describe issue found them (Paddle2ONNX, PyTorch with dynamic axes, Caffe).


def symbolic_dims(seed: int = 11) -> onnx.ModelProto:
    """Every dimension symbolic, input and output (Paddle2ONNX / PyTorch dynamic axes): channels come from a run."""
    r = _rng(seed)
    inits = [_init("w", _conv_w(r, 3, 3)), _init("b", np.full(3, 0.05, np.float32))]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "c", "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["ConvTranspose_459_o0__d0", "d1", "d2", "d3"])
    return _model([_conv("conv", "x", "w", "b", "y")], [x], [y], inits)


def fixed_batch(seed: int = 12, batch: int = 4, size: int = 32) -> onnx.ModelProto:
    """A fixed batch (like [10, 3, 32, 32]): the model only runs `batch` images at a time."""
    r = _rng(seed)
    inits = [_init("w", _conv_w(r, 3, 3)), _init("b", np.zeros(3, np.float32))]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3, size, size])
    return _model([_conv("conv", "x", "w", "b", "y")], [x], [y], inits)


def three_outputs(seed: int = 13) -> onnx.ModelProto:
    """Features (16 channels, not an image), an image and a sigmoid mask, in that order."""
    r = _rng(seed)
    inits = [
        _init("wf", _conv_w(r, 16, 3)),
        _init("bf", np.zeros(16, np.float32)),
        _init("wi", _conv_w(r, 3, 16)),
        _init("bi", np.zeros(3, np.float32)),
        _init("wm", _conv_w(r, 1, 16, scale=0.5)),
        _init("bm", np.zeros(1, np.float32)),
    ]
    nodes = [
        _conv("convf", "x", "wf", "bf", "features"),
        _conv("convi", "features", "wi", "bi", "image"),
        _conv("convm", "features", "wm", "bm", "logit"),
        helper.make_node("Sigmoid", ["logit"], ["mask"], name="sigmoid"),
    ]
    outs = [_img("features", 16), _img("image"), _img("mask", 1)]
    return _model(nodes, [_img("x")], outs, inits)


def scalar_input(seed: int = 14) -> onnx.ModelProto:
    """A denoiser with a noise-level scalar input next to the image: y = conv(x) * noise_level."""
    r = _rng(seed)
    inits = [_init("w", _conv_w(r, 3, 3)), _init("b", np.zeros(3, np.float32))]
    level = helper.make_tensor_value_info("noise_level", TensorProto.FLOAT, [1])
    nodes = [_conv("conv", "x", "w", "b", "h"), helper.make_node("Mul", ["h", "noise_level"], ["y"], name="mul")]
    return _model(nodes, [_img("x"), level], [_img("y")], inits)


def int64_scale_input(seed: int = 21) -> onnx.ModelProto:
    """An upscaler-like net with an int64 scale input (exports pass sizes and factors as int64): y = conv(x) * s."""
    r = _rng(seed)
    inits = [_init("w", _conv_w(r, 3, 3)), _init("b", np.zeros(3, np.float32))]
    scale = helper.make_tensor_value_info("scale", TensorProto.INT64, [1])
    nodes = [
        _conv("conv", "x", "w", "b", "h"),
        helper.make_node("Cast", ["scale"], ["scale_f"], name="to_float", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["h", "scale_f"], ["y"], name="mul"),
    ]
    return _model(nodes, [_img("x"), scale], [_img("y")], inits)


def mask_net(seed: int = 15) -> onnx.ModelProto:
    """Salient-object style: RGB in, a one-channel sigmoid mask out (every output dimension symbolic)."""
    r = _rng(seed)
    inits = [_init("w", _conv_w(r, 1, 3, scale=2.0)), _init("b", np.zeros(1, np.float32))]
    nodes = [_conv("conv", "x", "w", "b", "logit"), helper.make_node("Sigmoid", ["logit"], ["mask"], name="sig")]
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["m0", "m1", "m2", "m3"])
    return _model(nodes, [_img("x")], [mask], inits)


def with_contract(model: onnx.ModelProto, contract: dict | str) -> onnx.ModelProto:
    """The model with a contract in its metadata_props, as an exporter can write it."""
    text = contract if isinstance(contract, str) else __import__("json").dumps(contract)
    helper.set_model_props(model, {"onnx_image_runtime.contract": text})
    return model


def bgr_255(seed: int = 16) -> onnx.ModelProto:
    """A Caffe-style model (0-255 values, BGR, mean subtracted) that says so in its metadata."""
    contract = {"input": {"range": [0, 255], "order": "bgr", "mean": [104.0, 117.0, 123.0]}}
    return with_contract(conv_chain(seed=seed), contract)


def imagenet(seed: int = 17) -> onnx.ModelProto:
    """A PyTorch-style model normalized with ImageNet mean/std (said in its metadata)."""
    contract = {"input": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "colour": "srgb"}}
    return with_contract(conv_chain(seed=seed), contract)


def bad_contract() -> onnx.ModelProto:
    """Metadata whose contract has a std of 0."""
    return with_contract(conv_chain(), {"input": {"std": [0.2, 0.0, 0.2]}})


def huge_constant(side: int = 40000) -> onnx.ModelProto:
    """A 1 KB model whose ConstantOfShape builds side x side floats before any image is fed (issue 25)."""
    inits = [_init("shape", np.array([1, 1, side, side], np.int64)), _init("axes", np.array([2, 3], np.int64))]
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"], name="big"),
        helper.make_node("ReduceMax", ["big", "axes"], ["peak"], name="peak", keepdims=1),
        helper.make_node("Add", ["x", "peak"], ["y"], name="add"),
    ]
    return _model(nodes, [_img("x")], [_img("y")], inits, opset=18)


def export_fixed_fcn(seed: int = 22, batch: int = 10, size: int = 32) -> onnx.ModelProto:
    """A fully convolutional face-detector-like net exported with a fixed batch x 3 x size x size input (an export
    artefact: its package rewrites the dimensions on load), intermediate shapes recorded at that size as exporters
    do, and a one-channel sigmoid heat map out."""
    r = _rng(seed)
    inits = [
        _init("w1", _conv_w(r, 8, 3)),
        _init("b1", np.zeros(8, np.float32)),
        _init("w2", _conv_w(r, 1, 8)),
        _init("b2", np.zeros(1, np.float32)),
    ]
    nodes = [
        _conv("conv1", "x", "w1", "b1", "h1"),
        helper.make_node("Relu", ["h1"], ["r1"], name="relu"),
        _conv("conv2", "r1", "w2", "b2", "logit"),
        helper.make_node("Sigmoid", ["logit"], ["heat"], name="sigmoid"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, size, size])
    y = helper.make_tensor_value_info("heat", TensorProto.FLOAT, [batch, 1, size, size])
    model = _model(nodes, [x], [y], inits)
    for name, channels in (("h1", 8), ("r1", 8), ("logit", 1)):
        model.graph.value_info.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, channels, size, size])
        )
    return model


def truly_fixed(seed: int = 23, size: int = 32) -> onnx.ModelProto:
    """A graph fixed to its declared size inside, not only at its input: a Reshape to a constant shape."""
    r = _rng(seed)
    inits = [
        _init("w", _conv_w(r, 3, 3)),
        _init("b", np.zeros(3, np.float32)),
        _init("flat", np.array([1, 3 * size * size], np.int64)),
        _init("back", np.array([1, 3, size, size], np.int64)),
    ]
    nodes = [
        helper.make_node("Reshape", ["x", "flat"], ["v"], name="flatten"),
        helper.make_node("Reshape", ["v", "back"], ["x2"], name="unflatten"),
        _conv("conv", "x2", "w", "b", "y"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, size, size])
    return _model(nodes, [x], [y], inits)


def style_vector(seed: int = 24, length: int = 100) -> onnx.ModelProto:
    """An arbitrary-style transfer net with a [1, 1, 1, length] style vector next to the content image (reads like a
    1 x length one-channel image): y = conv(x) * (1 + mean(style)) + style[0]."""
    r = _rng(seed)
    inits = [
        _init("w", _conv_w(r, 3, 3)),
        _init("b", np.zeros(3, np.float32)),
        _init("one", np.ones(1, np.float32)),
        _init("first", np.array([0], np.int64)),
        _init("axis", np.array([3], np.int64)),
    ]
    nodes = [
        _conv("conv", "x", "w", "b", "h"),
        helper.make_node("ReduceMean", ["style"], ["m"], name="mean", keepdims=1),
        helper.make_node("Add", ["m", "one"], ["gain"], name="gain"),
        helper.make_node("Mul", ["h", "gain"], ["g"], name="mul"),
        helper.make_node("Slice", ["style", "first", "one_i", "axis"], ["s0"], name="first_value"),
        helper.make_node("Add", ["g", "s0"], ["y"], name="shift"),
    ]
    inits.append(_init("one_i", np.array([1], np.int64)))
    style = helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 1, 1, length])
    return _model(nodes, [_img("x"), style], [_img("y")], inits)


def tone_curve(seed: int = 25, hidden: int = 8) -> onnx.ModelProto:
    """The sample model's shape in small: scene-linear in and out, a log curve inside (y = log(1 + 16 x) / log 17),
    two 3x3 convolutions working on that perceptual scale with a residual, and the inverse curve out. Its int8
    version stays within the accuracy rule on an SDR image (the curve is float, the convolutions see a 0-1 range)
    and not on an HDR one (the log of 40 stretches that range, and every step with it). Weights are small next to
    each output channel's largest, so no int8 dot product saturates on CPUs without VNNI either."""
    r = _rng(seed)
    w1 = (r.standard_normal((hidden, 3, 3, 3)) * 0.05).astype(np.float32)
    w1[np.arange(hidden), np.arange(hidden) % 3, 1, 1] = 1.0
    w2 = (r.standard_normal((3, hidden, 3, 3)) * 0.01).astype(np.float32)
    w2[np.arange(3), np.arange(3), 1, 1] = 0.25
    log17 = float(np.log(17.0))
    inits = [
        _init("w1", w1),
        _init("b1", np.zeros(hidden, np.float32)),
        _init("w2", w2),
        _init("b2", np.zeros(3, np.float32)),
        _init("sixteen", np.array(16.0, np.float32)),
        _init("one", np.array(1.0, np.float32)),
        _init("log17", np.array(log17, np.float32)),
    ]
    nodes = [
        helper.make_node("Relu", ["x"], ["xr"], name="positive"),
        helper.make_node("Mul", ["xr", "sixteen"], ["x16"], name="gain"),
        helper.make_node("Add", ["x16", "one"], ["x17"], name="plus_one"),
        helper.make_node("Log", ["x17"], ["lg"], name="log"),
        helper.make_node("Div", ["lg", "log17"], ["curve"], name="curve"),
        _conv("conv1", "curve", "w1", "b1", "h"),
        helper.make_node("Relu", ["h"], ["hr"], name="relu"),
        _conv("conv2", "hr", "w2", "b2", "d"),
        helper.make_node("Add", ["curve", "d"], ["z"], name="residual"),
        helper.make_node("Mul", ["z", "log17"], ["zl"], name="unscale"),
        helper.make_node("Exp", ["zl"], ["e"], name="exp"),
        helper.make_node("Sub", ["e", "one"], ["e1"], name="minus_one"),
        helper.make_node("Div", ["e1", "sixteen"], ["y"], name="linear"),
    ]
    return _model(nodes, [_img("x")], [_img("y")], inits)
