"""strip_conv2d: depthwise convolutions with a (K, 1) ("vertical") or (1, K) ("horizontal") kernel
against nn.Conv2d's answer in float64, forward and every gradient, over both orientations, per-axis
stride, padding ("same" and "valid" too) and dilation, dtypes and layouts; each kernel path into
poisoned outputs; the out variant; gradcheck, opcheck, torch.compile and autocast."""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch._prims_common import suggest_memory_format

import cute_dwconv
from conftest import TOLERANCES, OpLog, poison_allocator, poisoned, requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]

ops = torch.ops.cute_dwconv

ORIENTATIONS = ["vertical", "horizontal"]
HALF_AND_FLOAT = [torch.float32, torch.float16, torch.bfloat16]
ALL_DTYPES = HALF_AND_FLOAT + [torch.float64]
STRIP_PATHS = ["auto", "table", "general", "tensor_core", "direct"]

# (K, stride, padding, dilation) as the Python entry takes them. Every one is valid on planes of at
# least 33 x 33. Non-square strides, paddings and dilations make a swapped axis or orientation show
# in the shape; padding across the kernel adds rows or columns that hold only the bias.
CONFIGS = [
    (1, 1, 0, 1),
    (1, (2, 3), (0, 2), (4, 4)),
    (2, 1, "same", 1),            # even K: the extra row (column) goes at the bottom (right)
    (2, (2, 1), (1, 0), (2, 1)),
    (3, 1, 1, 1),
    (3, [1, 3], [1, 2], [2, 1]),  # lists
    (3, 2, 0, 3),
    (4, 1, "same", 1),
    (4, (1,), (2, 1), (3,)),      # 1-element stride and dilation
    (4, 1, "same", (3, 3)),       # reach 10: 4 before, 5 after
    (5, (2, 1), (2, 0), 1),
    (5, 2, 4, (3, 2)),
    (5, 1, "same", 2),
    (7, 1, (3, 0), 1),            # the SegNeXt / InceptionNeXt paddings
    (7, 1, (0, 3), 1),
    (7, (3, 1), (9, 3), (2, 1)),
    (11, (1, 2), (5, 1), 1),
    (11, 1, "valid", (1, 3)),
    (21, 1, "same", 1),
    (21, (2, 3), (10, 4), 1),
    (31, 1, (15, 15), 1),
    (31, (4, 1), (0, 15), 1),
    (33, 1, "valid", 1),
    (33, 1, 16, 1),
]

# (K, stride, (top, bottom, left, right), dilation): one-sided paddings, through torch.ops only.
PAD4_CONFIGS = [
    (3, (1, 1), (2, 0, 0, 1), (1, 1)),
    (4, (1, 1), (0, 3, 1, 2), (1, 1)),
    (7, (2, 1), (5, 1, 3, 0), (1, 1)),
    (21, (1, 1), (0, 20, 7, 0), (1, 1)),
    (5, (1, 2), (1, 6, 0, 4), (2, 1)),
]

LAYOUTS = ["contiguous", "channels_last", "channel_slice", "channels_last_slice"]
LAYOUT_SHAPES = {  # N >= 2 so that slices are not contiguous; odd widths; every side >= 33
    "contiguous": (2, 5, 37, 40),
    "channels_last": (3, 6, 35, 33),
    "channel_slice": (2, 4, 34, 35),
    "channels_last_slice": (2, 3, 33, 37),
}


# ----------------------------------------------------------------------------------------------
# helpers


def pair(value):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    return (value[0], value[0]) if len(value) == 1 else value


def kernel_hw(k, orientation):
    return (k, 1) if orientation == "vertical" else (1, k)


def weight_shape(c, k, orientation):
    return (c, 1) + kernel_hw(k, orientation)


def op_padding(padding, kernel, dilation):
    """The torch.ops form of a Python padding: 2 ints (h, w), or 4 (top, bottom, left, right) for
    "same", split as PyTorch splits it (the odd one after)."""
    if padding == "valid":
        return [0, 0]
    if padding == "same":
        pads = []
        for k, d in zip(kernel, pair(dilation)):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return pads
    return list(pair(padding))


def op_args(k, orientation, stride, padding, dilation):
    return list(pair(stride)), op_padding(padding, kernel_hw(k, orientation), dilation), list(pair(dilation))


def _conv64(x, weight, bias, stride, padding, dilation):
    if not isinstance(padding, str):
        padding = [padding] if isinstance(padding, int) else list(padding)
        if len(padding) == 4:  # (top, bottom, left, right)
            top, bottom, left, right = padding
            x = F.pad(x, (left, right, top, bottom))
            padding = (0, 0)
        else:
            padding = pair(padding)
    return F.conv2d(x, weight, bias, stride=pair(stride), padding=padding, dilation=pair(dilation),
                    groups=x.shape[1])


def reference(x, weight, bias, stride, padding, dilation):
    """nn.Conv2d's answer in float64 from the same (rounded) inputs; padding as the Python entry
    takes it or as torch.ops takes it (2 or 4 ints)."""
    with torch.no_grad():
        return _conv64(x.double(), weight.double(), None if bias is None else bias.double(), stride, padding,
                       dilation)


def reference_grads(x, weight, bias, grad_out, stride, padding, dilation):
    """PyTorch's gradients of the same convolution in float64: (grad_x, grad_weight, grad_bias)."""
    xd = x.detach().double().requires_grad_()
    wd = weight.detach().double().requires_grad_()
    bd = None if bias is None else bias.detach().double().requires_grad_()
    with torch.enable_grad():
        out = _conv64(xd, wd, bd, stride, padding, dilation)
        grads = torch.autograd.grad(out, [xd, wd] + ([bd] if bd is not None else []), grad_out.double())
    return grads[0], grads[1], grads[2] if bd is not None else None


def valid(shape, k, orientation, stride, padding, dilation):
    _, _, h, w = shape
    pads = op_padding(padding, kernel_hw(k, orientation), dilation)
    if len(pads) == 2:
        pads = [pads[0], pads[0], pads[1], pads[1]]
    dh, dw = pair(dilation)
    kh, kw = kernel_hw(k, orientation)
    return h + pads[0] + pads[1] >= dh * (kh - 1) + 1 and w + pads[2] + pads[3] >= dw * (kw - 1) + 1


def randn(shape, dtype, generator):
    return torch.randn(shape, device="cuda", generator=generator).to(dtype)


def make_input(shape, dtype, layout, generator):
    """x in one of LAYOUTS; the slices are what torch.split along C gives (channel views of a wider
    tensor)."""
    n, c, h, w = shape
    if layout.endswith("slice"):
        big = randn((n, c + 5, h, w), dtype, generator)
        if layout == "channels_last_slice":
            big = big.contiguous(memory_format=torch.channels_last)
        x = torch.split(big, [2, c, 3], dim=1)[1]
        assert not x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last)
        return x
    x = randn(shape, dtype, generator)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def make_params(c, k, orientation, dtype, with_bias, generator):
    weight = randn(weight_shape(c, k, orientation), dtype, generator)
    bias = randn((c,), dtype, generator) if with_bias else None
    return weight, bias


def reduction_tolerance(dtype, terms):
    """grad_weight and grad_bias sum `terms` products in float32 (float64 for float64) and round once."""
    tol = TOLERANCES[dtype]
    return dict(rtol=tol["rtol"], atol=tol["atol"] * math.sqrt(max(terms, 1)))


def check_forward_backward(x, weight, bias, stride, padding, dilation, generator, context):
    """cute_dwconv.strip_conv2d's output (into poisoned memory) and its three gradients against
    PyTorch's in float64."""
    dtype = x.dtype
    x = x.detach().requires_grad_()  # keeps x's strides: a slice stays a slice
    weight = weight.detach().requires_grad_()
    bias = None if bias is None else bias.detach().requires_grad_()
    inputs = [x, weight] + ([bias] if bias is not None else [])
    expected = reference(x, weight, bias, stride, padding, dilation)

    poison_allocator(expected.numel() * x.element_size(), x.device)
    out = cute_dwconv.strip_conv2d(x, weight, bias, stride, padding, dilation)
    assert out.shape == expected.shape, f"{context}: output shape {tuple(out.shape)}, expected {tuple(expected.shape)}"
    assert out.dtype == dtype and out.device == x.device, f"{context}: {out.dtype} on {out.device}"
    assert not torch.isnan(out).any(), f"{context}: the output has unwritten elements"
    torch.testing.assert_close(out.detach().double(), expected, **TOLERANCES[dtype],
                               msg=lambda m: f"{context} output: {m}")
    fmt = suggest_memory_format(x)
    if min(x.shape[1:]) > 1 and min(out.shape[2:]) > 1:  # (sizes of 1 make both formats fit)
        assert out.is_contiguous(memory_format=fmt), f"{context}: output strides {out.stride()} are not {fmt}"

    grad_out = randn(out.shape, dtype, generator).contiguous(memory_format=fmt)
    ref_x, ref_w, ref_b = reference_grads(x, weight, bias, grad_out, stride, padding, dilation)
    poison_allocator(x.numel() * x.element_size(), x.device)
    grads = torch.autograd.grad(out, inputs, grad_out)
    grad_x, grad_w = grads[0], grads[1]
    assert grad_x.shape == x.shape and grad_x.dtype == dtype, context
    assert not torch.isnan(grad_x).any(), f"{context}: grad_x has unwritten elements"
    torch.testing.assert_close(grad_x.double(), ref_x, **TOLERANCES[dtype], msg=lambda m: f"{context} grad_x: {m}")
    tol = reduction_tolerance(dtype, grad_out[:, 0].numel())
    assert grad_w.shape == weight.shape and grad_w.dtype == dtype, context
    torch.testing.assert_close(grad_w.double(), ref_w, **tol, msg=lambda m: f"{context} grad_weight: {m}")
    if bias is not None:
        assert grads[2].shape == bias.shape, context
        torch.testing.assert_close(grads[2].double(), ref_b, **tol, msg=lambda m: f"{context} grad_bias: {m}")


# ----------------------------------------------------------------------------------------------
# the public entry, forward and backward


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_forward_and_gradients(config, orientation, dtype):
    """Each layout with its own shape; bias on every other (config, layout)."""
    k, stride, padding, dilation = config
    seed = random.randrange(2**31)
    index = CONFIGS.index(config)
    for j, layout in enumerate(LAYOUTS):
        shape = LAYOUT_SHAPES[layout]
        assert valid(shape, k, orientation, stride, padding, dilation)
        generator = torch.Generator(device="cuda").manual_seed(seed + j)
        x = make_input(shape, dtype, layout, generator)
        weight, bias = make_params(shape[1], k, orientation, dtype, (index + j) % 2 == 0, generator)
        context = (f"{orientation} K={k} stride={stride} padding={padding} dilation={dilation} bias={bias is not None} "
                   f"{dtype} {layout} shape={shape} seed={seed + j}")
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator, context)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("config", CONFIGS[::3], ids=str)
def test_float64(config, orientation):
    k, stride, padding, dilation = config
    seed = random.randrange(2**31)
    for j, layout in enumerate(["contiguous", "channels_last_slice"]):
        shape = LAYOUT_SHAPES[layout]
        generator = torch.Generator(device="cuda").manual_seed(seed + j)
        x = make_input(shape, torch.float64, layout, generator)
        weight, bias = make_params(shape[1], k, orientation, torch.float64, j == 0, generator)
        context = f"{orientation} K={k} {stride} {padding} {dilation} float64 {layout} seed={seed + j}"
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator, context)


# (shape, K, orientation, stride, padding, dilation): planes shorter than the kernel's reach, which
# then mostly reads padding; single rows and columns; strides longer than the plane.
SMALL_CASES = [
    ((2, 3, 9, 7), 21, "horizontal", 1, (0, 10), 1),
    ((2, 3, 5, 9), 31, "vertical", 1, (15, 0), 1),
    ((3, 2, 6, 1), 11, "horizontal", 1, 5, 1),
    ((3, 2, 1, 6), 11, "vertical", 1, 5, 1),
    ((1, 4, 1, 1), 1, "vertical", 1, 0, 1),
    ((1, 4, 1, 1), 33, "horizontal", 1, "same", 1),
    ((2, 3, 4, 3), 2, "horizontal", 1, "same", 1),
    ((2, 5, 8, 3), 7, "horizontal", (1, 4), (1, 3), 1),
    ((2, 3, 2, 13), 4, "vertical", (3, 1), (3, 1), (2, 1)),
    ((1, 6, 17, 5), 5, "horizontal", 2, 2, (1, 2)),
    ((2, 3, 3, 2), 3, "horizontal", 1, (0, 1), 1),
]


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("case", SMALL_CASES, ids=str)
def test_small_planes(case, dtype):
    shape, k, orientation, stride, padding, dilation = case
    assert valid(shape, k, orientation, stride, padding, dilation)
    seed = random.randrange(2**31)
    for j, layout in enumerate(["contiguous", "channels_last"]):
        generator = torch.Generator(device="cuda").manual_seed(seed + j)
        x = make_input(shape, dtype, layout, generator)
        weight, bias = make_params(shape[1], k, orientation, dtype, j == 0, generator)
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator,
                               f"{case} {dtype} {layout} seed={seed + j}")


# Several strips of columns per row, several row tiles per plane, long rows; W = 300 and 1001 are
# not multiples of any vector width, W = 256 is.
LARGE_CASES = [
    ((2, 3, 150, 300), 21, "horizontal", 1, "same", 1),
    ((2, 3, 150, 300), 21, "vertical", 1, "same", 1),
    ((2, 4, 150, 300), 7, "vertical", 1, (3, 0), 1),
    ((2, 4, 150, 300), 7, "horizontal", 1, (0, 3), 1),
    ((1, 3, 64, 1001), 11, "horizontal", (1, 2), (0, 5), 1),
    ((2, 2, 300, 257), 31, "vertical", (2, 1), (15, 0), 1),
    ((1, 4, 128, 256), 33, "horizontal", 1, 16, 1),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", LARGE_CASES, ids=str)
def test_large_planes(case, dtype):
    shape, k, orientation, stride, padding, dilation = case
    seed = random.randrange(2**31)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    layout = "contiguous" if dtype == torch.float32 else "channels_last"
    x = make_input(shape, dtype, layout, generator)
    weight, bias = make_params(shape[1], k, orientation, dtype, True, generator)
    check_forward_backward(x, weight, bias, stride, padding, dilation, generator,
                           f"{case} {dtype} {layout} seed={seed}")


def test_one_by_one_kernel_counts_as_vertical():
    """(C, 1, 1, 1) is a K = 1 kernel: a per-channel scale (plus bias), strided and padded."""
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = make_input((2, 5, 19, 23), torch.float32, "contiguous", generator)
    weight, bias = make_params(5, 1, "vertical", torch.float32, True, generator)
    for stride, padding in [(1, 0), ((2, 3), (1, 2))]:
        check_forward_backward(x, weight, bias, stride, padding, 1, generator, f"1x1 {stride} {padding}")
        torch.testing.assert_close(cute_dwconv.strip_conv2d(x, weight, bias, stride, padding),
                                   F.conv2d(x, weight, bias, stride, padding, 1, 5), rtol=1e-6, atol=1e-6)


def test_strided_weight_and_bias():
    """Parameters that are views with gaps between their elements."""
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = make_input((2, 4, 20, 33), torch.float32, "contiguous", generator)
    for orientation in ORIENTATIONS:
        weight, bias = make_params(4, 5, orientation, torch.float32, True, generator)
        wide_weight = torch.stack([weight, torch.full_like(weight, float("nan"))], dim=-1).flatten(-2)
        wide_weight = wide_weight[..., ::2] if orientation == "horizontal" else wide_weight[..., :1]
        wide_bias = torch.stack([bias, torch.full_like(bias, float("nan"))], dim=1)[:, 0]
        assert torch.equal(wide_weight, weight) and not wide_bias.is_contiguous()
        out = cute_dwconv.strip_conv2d(x, wide_weight, wide_bias, 1, (2, 2), 1)
        expected = reference(x, weight, bias, 1, (2, 2), 1)
        assert not torch.isnan(out).any(), orientation
        torch.testing.assert_close(out.double(), expected, **TOLERANCES[torch.float32])


def test_empty_batch():
    x = torch.randn(0, 3, 10, 12, device="cuda")
    for orientation in ORIENTATIONS:
        weight = torch.randn(weight_shape(3, 3, orientation), device="cuda")
        out = cute_dwconv.strip_conv2d(x, weight, None, (2, 1), (1, 0), 1)
        assert out.shape == F.conv2d(x, weight, None, (2, 1), (1, 0), 1, 3).shape


# ----------------------------------------------------------------------------------------------
# each kernel path, through torch.ops, into poisoned outputs


PATH_LAYOUTS = [("contiguous", (2, 3, 37, 40)), ("contiguous", (2, 3, 33, 35)), ("channels_last", (2, 4, 34, 35))]


def _op_configs(orientation):
    """CONFIGS in torch.ops form, then the one-sided paddings."""
    configs = [(k,) + tuple(op_args(k, orientation, s, p, d)) for k, s, p, d in CONFIGS]
    return configs + [(k, list(s), list(p), list(d)) for k, s, p, d in PAD4_CONFIGS]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("path", STRIP_PATHS)
def test_forced_path(path, orientation, dtype):
    seed = random.randrange(2**31)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    ran, refused = 0, 0
    for i, (k, stride, padding, dilation) in enumerate(_op_configs(orientation)):
        for layout, shape in PATH_LAYOUTS:
            x = make_input(shape, dtype, layout, generator)
            weight, bias = make_params(shape[1], k, orientation, dtype, i % 2 == 0, generator)
            expected = reference(x, weight, bias, stride, padding, dilation)
            out = poisoned(expected.shape, dtype, "cuda", suggest_memory_format(x))
            context = (f"path={path} {orientation} K={k} stride={stride} padding={padding} dilation={dilation} "
                       f"{dtype} {layout} {shape} seed={seed}")
            try:
                ops._strip_conv2d_path_out(x, weight, bias, stride, padding, dilation, path, out)
            except RuntimeError as error:
                if path in ("table", "general", "tensor_core") and "cannot take" in str(error):
                    refused += 1
                    continue
                raise AssertionError(f"{context}: {error}") from error
            assert not torch.isnan(out).any(), f"{context}: unwritten output elements"
            torch.testing.assert_close(out.double(), expected, **TOLERANCES[dtype], msg=lambda m: f"{context}: {m}")
            ran += 1
    if ran == 0:
        pytest.skip(f"the {path} path took none of these {refused} calls")


def test_padding_forms_agree():
    """torch.ops' 2-int padding is the 4-int padding with equal sides."""
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = make_input((2, 3, 21, 34), torch.float32, "contiguous", generator)
    for orientation in ORIENTATIONS:
        weight, bias = make_params(3, 5, orientation, torch.float32, True, generator)
        two = ops.strip_conv2d(x, weight, bias, [1, 2], [2, 3], [1, 1])
        four = ops.strip_conv2d(x, weight, bias, [1, 2], [2, 2, 3, 3], [1, 1])
        assert torch.equal(two, four), orientation
        torch.testing.assert_close(two.double(), reference(x, weight, bias, (1, 2), (2, 3), 1),
                                   **TOLERANCES[torch.float32])


# ----------------------------------------------------------------------------------------------
# the out variant


@pytest.mark.parametrize("out_layout", ["contiguous", "channels_last", "channel_slice", "transposed"])
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_out_variant_writes_only_out(orientation, out_layout):
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    for k, stride, padding, dilation in [(4, 1, "same", 1), (5, (2, 1), (2, 1), (1, 2))]:
        x = make_input((2, 3, 30, 41), torch.float32, "contiguous", generator)
        weight, bias = make_params(3, k, orientation, torch.float32, True, generator)
        expected = reference(x, weight, bias, stride, padding, dilation)
        n, c, ho, wo = expected.shape
        if out_layout == "contiguous":
            holder = out = poisoned((n, c, ho, wo), x.dtype, "cuda")
        elif out_layout == "channels_last":
            holder = out = poisoned((n, c, ho, wo), x.dtype, "cuda", torch.channels_last)
        elif out_layout == "channel_slice":
            holder = poisoned((n, c + 4, ho, wo), x.dtype, "cuda")
            out = holder[:, 1:1 + c]
        else:
            holder = poisoned((n, c, wo, ho), x.dtype, "cuda")
            out = holder.transpose(2, 3)
        returned = cute_dwconv.strip_conv2d_out(x, weight, bias, stride, padding, dilation, out)
        assert returned is out
        assert not torch.isnan(out).any(), f"{orientation} K={k} {out_layout}: unwritten elements"
        torch.testing.assert_close(out.double(), expected, **TOLERANCES[torch.float32])
        assert torch.isnan(holder).sum().item() == holder.numel() - out.numel(), "wrote outside out"


def _out_entries():
    def strip_python(x, w, b, out):
        cute_dwconv.strip_conv2d_out(x, w, b, 1, (1, 0), 1, out)

    def strip_op(x, w, b, out):
        ops.strip_conv2d_out(x, w, b, [1, 1], [1, 0], [1, 1], out)

    def strip_path(x, w, b, out):
        ops._strip_conv2d_path_out(x, w, b, [1, 1], [1, 0], [1, 1], "auto", out)

    def kx1_python(x, w, b, out):
        cute_dwconv.dwconv_kx1_out(x, w, b, 1, 1, 1, out)

    def kx1_op(x, w, b, out):
        ops.dwconv_kx1_out(x, w, b, 1, 1, 1, out)

    def kx1_path(x, w, b, out):
        ops._dwconv_kx1_path_out(x, w, b, 1, 1, 1, "auto", out)

    # (call, padding that call applies): weight (C, 1, 3, 1), so both keep H; dwconv_kx1 pads W by 1.
    return {"strip_conv2d_out": (strip_python, (1, 0)), "ops.strip_conv2d_out": (strip_op, (1, 0)),
            "ops._strip_conv2d_path_out": (strip_path, (1, 0)), "dwconv_kx1_out": (kx1_python, 1),
            "ops.dwconv_kx1_out": (kx1_op, 1), "ops._dwconv_kx1_path_out": (kx1_path, 1)}


OUT_ENTRIES = _out_entries()


@pytest.mark.parametrize("wants", ["x", "weight", "bias"])
@pytest.mark.parametrize("entry", list(OUT_ENTRIES))
def test_out_variants_refuse_autograd(entry, wants):
    call, padding = OUT_ENTRIES[entry]
    x = torch.randn(2, 3, 12, 10, device="cuda", requires_grad=wants == "x")
    weight = torch.randn(3, 1, 3, 1, device="cuda", requires_grad=wants == "weight")
    bias = torch.randn(3, device="cuda", requires_grad=wants == "bias")
    expected = reference(x, weight, bias, 1, padding, 1)
    out = torch.empty(expected.shape, device="cuda")
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        call(x, weight, bias, out)
    out.fill_(float("nan"))
    with torch.no_grad():  # the same call without grad mode writes out
        call(x, weight, bias, out)
    torch.testing.assert_close(out.double(), expected, **TOLERANCES[torch.float32])
    out.fill_(float("nan"))
    call(x.detach(), weight.detach(), bias.detach(), out)  # and so does grad mode with nothing to differentiate
    torch.testing.assert_close(out.double(), expected, **TOLERANCES[torch.float32])


# ----------------------------------------------------------------------------------------------
# the backward operators called directly


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("input_path", ["auto", "strided"])
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_gradient_operators(orientation, input_path, dtype):
    seed = random.randrange(2**31)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    shape = (2, 3, 37, 40) if dtype == torch.float32 else (3, 2, 34, 35)
    for k, stride, padding, dilation in _op_configs(orientation):
        x = make_input(shape, dtype, "contiguous", generator)
        weight, _ = make_params(shape[1], k, orientation, dtype, False, generator)
        out_shape = reference(x, weight, None, stride, padding, dilation).shape
        grad_out = randn(out_shape, dtype, generator)
        ref_x, ref_w, ref_b = reference_grads(x, weight, torch.zeros(shape[1], device="cuda"), grad_out, stride,
                                              padding, dilation)
        context = f"{orientation} K={k} stride={stride} padding={padding} dilation={dilation} {dtype} seed={seed}"
        poison_allocator(x.numel() * x.element_size(), x.device)
        if input_path == "auto":
            grad_x = ops.strip_conv2d_grad_input(grad_out, weight, shape[2], shape[3], stride, padding, dilation)
        else:
            grad_x = ops._strip_conv2d_grad_input_path(grad_out, weight, shape[2], shape[3], stride, padding,
                                                       dilation, input_path)
        assert grad_x.shape == x.shape and grad_x.dtype == dtype, context
        assert not torch.isnan(grad_x).any(), f"{context}: grad_input has unwritten elements"
        torch.testing.assert_close(grad_x.double(), ref_x, **TOLERANCES[dtype], msg=lambda m: f"{context}: {m}")
        grad_w, grad_b = ops.strip_conv2d_grad_weight(grad_out, x, list(kernel_hw(k, orientation)), stride, padding,
                                                      dilation)
        assert grad_w.shape == weight.shape and grad_b.shape == (shape[1],), context
        tol = reduction_tolerance(dtype, grad_out[:, 0].numel())
        torch.testing.assert_close(grad_w.double(), ref_w, **tol, msg=lambda m: f"{context} grad_weight: {m}")
        torch.testing.assert_close(grad_b.double(), ref_b, **tol, msg=lambda m: f"{context} grad_bias: {m}")


# Stride 2 along both axes: the input gradient takes the window family's four phases in one pass,
# grad_out staged in 16-byte chunks where its rows are whole chunks (32 columns) and element by
# element where they are not (33). (K, padding along the taps, padding along the other axis): both
# parities of p - (K - 1), an even K, and the headline's (3, 1) with padding on both axes.
STRIDE_2_PHASE_CASES = [(3, 1, 0), (3, 0, 0), (5, 2, 0), (5, 1, 0), (2, 0, 0), (3, 1, 1)]


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_stride_2_input_gradient_in_one_pass(orientation, dtype):
    seed = random.randrange(2**31)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    for (k, pad, pad_other), out_cols in itertools.product(STRIDE_2_PHASE_CASES, (32, 33)):
        # input sizes that give 32 output rows and out_cols output columns
        taps_extent = 62 + k - 2 * pad
        if orientation == "vertical":
            shape, padding = (2, 3, taps_extent, 2 * (out_cols - 1) + 1 - 2 * pad_other), [pad, pad_other]
        else:
            shape, padding = (2, 3, 63 - 2 * pad_other, taps_extent + 2 * (out_cols - 32)), [pad_other, pad]
        weight, _ = make_params(shape[1], k, orientation, dtype, False, generator)
        x = make_input(shape, dtype, "contiguous", generator)
        grad_out = randn(reference(x, weight, None, [2, 2], padding, [1, 1]).shape, dtype, generator)
        assert tuple(grad_out.shape[2:]) == (32, out_cols)
        ref_x, _, _ = reference_grads(x, weight, None, grad_out, [2, 2], padding, [1, 1])
        context = f"{orientation} K={k} padding={padding} shape={shape} {dtype} seed={seed}"
        poison_allocator(x.numel() * x.element_size(), x.device)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            grad_x = ops.strip_conv2d_grad_input(grad_out, weight, shape[2], shape[3], [2, 2], padding, [1, 1])
            torch.cuda.synchronize()
        kernels = [e.name for e in prof.events() if "kernel" in e.name]
        assert any("bwd_window_input_phases_kernel" in name for name in kernels), f"{context}: {kernels}"
        assert not torch.isnan(grad_x).any(), f"{context}: grad_input has unwritten elements"
        torch.testing.assert_close(grad_x.double(), ref_x, **TOLERANCES[dtype], msg=lambda m: f"{context}: {m}")


@pytest.mark.parametrize("wants", ["x", "weight", "bias", "all"])
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_autograd_only_computes_what_is_asked(orientation, wants):
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = make_input((2, 3, 20, 17), torch.float32, "contiguous", generator).requires_grad_(wants in ("x", "all"))
    weight, bias = make_params(3, 5, orientation, torch.float32, True, generator)
    weight.requires_grad_(wants in ("weight", "all"))
    bias.requires_grad_(wants in ("bias", "all"))
    out = cute_dwconv.strip_conv2d(x, weight, bias, (1, 2), (2, 1), 1)
    grad_out = torch.randn(out.shape, device="cuda", generator=generator)
    with OpLog() as log:
        out.backward(grad_out)
        torch.cuda.synchronize()
    called = log.ours()
    expected = reference_grads(x, weight, bias, grad_out, (1, 2), (2, 1), 1)
    for tensor, ref in zip((x, weight, bias), expected):
        if tensor.requires_grad:
            torch.testing.assert_close(tensor.grad.double(), ref, rtol=1e-4, atol=1e-4)
        else:
            assert tensor.grad is None
    assert any("grad_input" in n for n in called) == (wants in ("x", "all")), called
    if wants in ("weight", "all"):
        assert any("grad_weight" in n for n in called), called
    if wants == "x":
        assert not any("grad_weight" in n for n in called), called


# ----------------------------------------------------------------------------------------------
# gradcheck, opcheck, torch.compile


GRADCHECK_CONFIGS = [  # (K, stride, padding, dilation, bias)
    (3, (1, 2), (1, 0), (2, 1), True),
    (4, 1, "same", 1, False),
    (2, (2, 1), (0, 1), 1, True),
    (5, 1, "valid", (1, 2), False),
    (1, (2, 2), (1, 1), 1, True),
]


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("config", GRADCHECK_CONFIGS, ids=str)
def test_gradcheck_float64(config, orientation):
    k, stride, padding, dilation, with_bias = config
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    shape = (2, 2, 9, 8) if orientation == "vertical" else (2, 2, 8, 9)
    x = torch.randn(shape, dtype=torch.float64, device="cuda", generator=generator, requires_grad=True)
    weight = torch.randn(weight_shape(2, k, orientation), dtype=torch.float64, device="cuda", generator=generator,
                         requires_grad=True)
    bias = (torch.randn((2,), dtype=torch.float64, device="cuda", generator=generator, requires_grad=True)
            if with_bias else None)

    def fn(x, weight, bias):
        return cute_dwconv.strip_conv2d(x, weight, bias, stride, padding, dilation)

    assert torch.autograd.gradcheck(fn, (x, weight, bias))


def _opcheck_problem(orientation, requires_grad=False):
    x = torch.randn(2, 4, 21, 17, device="cuda", requires_grad=requires_grad)
    weight = torch.randn(weight_shape(4, 5, orientation), device="cuda", requires_grad=requires_grad)
    bias = torch.randn(4, device="cuda", requires_grad=requires_grad)
    return x, weight, bias


OPCHECK_ARGS = [([1, 2], [2, 1], [1, 1]), ([2, 1], [0, 4, 3, 1], [2, 1])]


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_opcheck_forward(orientation):
    x, weight, bias = _opcheck_problem(orientation, requires_grad=True)
    for stride, padding, dilation in OPCHECK_ARGS:
        torch.library.opcheck(ops.strip_conv2d.default, (x, weight, bias, stride, padding, dilation))
        torch.library.opcheck(ops.strip_conv2d.default, (x, weight, None, stride, padding, dilation))


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_opcheck_out_variants(orientation):
    x, weight, bias = _opcheck_problem(orientation)
    for stride, padding, dilation in OPCHECK_ARGS:
        out = torch.empty(reference(x, weight, bias, stride, padding, dilation).shape, device="cuda")
        torch.library.opcheck(ops.strip_conv2d_out.default, (x, weight, bias, stride, padding, dilation, out))
        for path in ("auto", "direct"):
            torch.library.opcheck(ops._strip_conv2d_path_out.default,
                                  (x, weight, bias, stride, padding, dilation, path, out))


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_opcheck_backward_operators(orientation):
    x, weight, _ = _opcheck_problem(orientation)
    kernel = list(kernel_hw(5, orientation))
    for stride, padding, dilation in OPCHECK_ARGS:
        grad_out = torch.randn(reference(x, weight, None, stride, padding, dilation).shape, device="cuda")
        torch.library.opcheck(ops.strip_conv2d_grad_input.default,
                              (grad_out, weight, 21, 17, stride, padding, dilation))
        torch.library.opcheck(ops._strip_conv2d_grad_input_path.default,
                              (grad_out, weight, 21, 17, stride, padding, dilation, "strided"))
        torch.library.opcheck(ops.strip_conv2d_grad_weight.default, (grad_out, x, kernel, stride, padding, dilation))


def test_every_strip_operator_is_opchecked():
    defined = {schema.name.split("::")[1] for schema in torch._C._jit_get_all_schemas()
               if schema.name.startswith("cute_dwconv::")}
    strip = {name for name in defined if "strip" in name}
    checked = {"strip_conv2d", "strip_conv2d_out", "_strip_conv2d_path_out", "strip_conv2d_grad_input",
               "_strip_conv2d_grad_input_path", "strip_conv2d_grad_weight",
               # autocast's float-parameter operators, opchecked in test_float_params.py
               "_strip_conv2d_float_params", "_strip_conv2d_grad_input_float_params",
               "_strip_conv2d_grad_weight_float_params"}
    assert strip == checked, f"operators not covered by the opcheck tests above (or missing): {strip ^ checked}"


def _two_strips(conv, x, w_vertical, b_vertical, w_horizontal):
    y = conv(x, w_vertical, b_vertical, stride=(1, 1), padding=(3, 0), dilation=1)
    return conv(F.gelu(y), w_horizontal, None, padding="same")  # K = 4: one column more on the right


def _two_strided_strips(conv, x, w_vertical, b_vertical, w_horizontal):
    y = conv(x, w_vertical, b_vertical, stride=(2, 1), padding=(6, 1), dilation=(2, 1))
    return conv(y * 0.5, w_horizontal, None, stride=[1, 2], padding=[0, 2], dilation=[1, 3])


def _torch_conv(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return F.conv2d(x, weight, bias, pair(stride), padding if isinstance(padding, str) else pair(padding),
                    pair(dilation), x.shape[1])


@pytest.mark.parametrize("body", [_two_strips, _two_strided_strips], ids=lambda f: f.__name__)
def test_compile_fullgraph_matches_eager(body):
    def fn(x, w_vertical, b_vertical, w_horizontal):
        return body(cute_dwconv.strip_conv2d, x, w_vertical, b_vertical, w_horizontal)

    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True)
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    w_vertical = randn((6, 1, 7, 1), torch.float32, generator).requires_grad_()
    b_vertical = randn((6,), torch.float32, generator).requires_grad_()
    w_horizontal = randn((6, 1, 1, 4), torch.float32, generator).requires_grad_()
    params = [w_vertical, b_vertical, w_horizontal]
    for shape in [(2, 6, 33, 40), (3, 6, 21, 35)]:  # the second shape recompiles with dynamic sizes
        x = randn(shape, torch.float32, generator)
        results, grad_out = [], None
        for f in (fn, compiled):
            xi = x.clone().requires_grad_()
            out = f(xi, *params)
            if grad_out is None:
                grad_out = torch.randn(out.shape, device="cuda", generator=generator)
            results.append([out.detach()] + list(torch.autograd.grad(out, [xi] + params, grad_out)))
        for eager, comp in zip(*results):  # (the weight and bias gradients are sums of ~2500 terms)
            torch.testing.assert_close(comp, eager, rtol=1e-4, atol=1e-5 * max(1.0, eager.abs().max().item()))
        # and eager itself is right, forward and backward
        xd = x.double().requires_grad_()
        ref_params = [p.detach().double().requires_grad_() for p in params]
        expected = body(_torch_conv, xd, *ref_params)
        ref_grads = torch.autograd.grad(expected, [xd] + ref_params, grad_out.double())
        for got, want in zip(results[0], [expected.detach()] + list(ref_grads)):
            torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4 * max(1.0, want.abs().max().item()))


# ----------------------------------------------------------------------------------------------
# autocast


def _autocast_entries():
    def strip_vertical(x, w, b):
        return cute_dwconv.strip_conv2d(x, w, b, (2, 1), (3, 1), 1)

    def strip_horizontal(x, w, b):
        return cute_dwconv.strip_conv2d(x, w, b, 1, "same", (1, 2))

    def kx1(x, w, b):
        return cute_dwconv.dwconv_kx1(x, w, b, 1, 3, 1)

    return {  # entry: (our call, the same convolution through F.conv2d, kernel (kh, kw))
        "strip_vertical": (strip_vertical, lambda x, w, b: F.conv2d(x, w, b, (2, 1), (3, 1), 1, x.shape[1]), (7, 1)),
        "strip_horizontal": (strip_horizontal, lambda x, w, b: F.conv2d(x, w, b, 1, "same", (1, 2), x.shape[1]),
                             (1, 6)),
        "dwconv_kx1": (kx1, lambda x, w, b: F.conv2d(x, w, b, 1, 3, 1, x.shape[1]), (7, 1)),
    }


AUTOCAST_ENTRIES = _autocast_entries()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("entry", list(AUTOCAST_ENTRIES))
def test_autocast_functions(entry, dtype):
    ours_fn, torch_fn, kernel = AUTOCAST_ENTRIES[entry]
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = randn((2, 4, 30, 27), torch.float32, generator).requires_grad_()
    weight = randn((4, 1) + kernel, torch.float32, generator).requires_grad_()
    bias = randn((4,), torch.float32, generator).requires_grad_()
    with torch.autocast("cuda", dtype=dtype):
        ours = ours_fn(x, weight, bias)
        theirs = torch_fn(x, weight, bias)
    assert ours.dtype == theirs.dtype == dtype
    assert ours.shape == theirs.shape
    # From x rounded to the autocast dtype, as autocast rounds it, and the float32 parameters as
    # they are: autocast leaves them float32 for our kernels, which read them so.
    x_rounded = x.detach().to(dtype)
    with torch.no_grad():
        expected = torch_fn(x_rounded.double(), weight.detach().double(), bias.detach().double())
    torch.testing.assert_close(ours.detach().double(), expected, **TOLERANCES[dtype])
    # nn.Conv2d under autocast rounds the parameters to 16 bits first: ours may differ from it by
    # what that rounding moves, |x| convolved with each weight's rounding error, plus the bias's.
    tol = TOLERANCES[dtype]
    with torch.no_grad():
        weight_error = (weight.detach().double() - weight.detach().to(dtype).double()).abs()
        bias_error = (bias.detach().double() - bias.detach().to(dtype).double()).abs()
        rounding_bound = torch_fn(x_rounded.double().abs(), weight_error, bias_error)
        allowed = 2 * tol["atol"] + 2 * tol["rtol"] * theirs.double().abs() + rounding_bound
        assert ((ours.double() - theirs.double()).abs() <= allowed).all()
    grad_out = randn(ours.shape, dtype, generator)
    ours_grads = torch.autograd.grad(ours, [x, weight, bias], grad_out)
    theirs_grads = torch.autograd.grad(theirs, [x, weight, bias], grad_out)
    for name, a, b in zip(("x", "weight", "bias"), ours_grads, theirs_grads):
        assert a.dtype == torch.float32, name  # flows back to the float32 leaves
        scale = b.abs().max().item()
        torch.testing.assert_close(a, b, rtol=4 * tol["rtol"], atol=4 * tol["atol"] * max(scale, 1.0),
                                   msg=lambda m: f"grad_{name}: {m}")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("module", ["StripConv2d_vertical", "StripConv2d_horizontal", "ModelNew"])
def test_autocast_modules(module, dtype):
    torch.manual_seed(random.randrange(2**31))
    if module == "ModelNew":
        reference_module = cute_dwconv.Model(4, 7, 1, 3, 1, True).cuda()
        ours = cute_dwconv.ModelNew(4, 7, 1, 3, 1, True).cuda()
    else:
        kernel = (7, 1) if module.endswith("vertical") else (1, 7)
        padding = (3, 0) if module.endswith("vertical") else (0, 3)
        reference_module = nn.Conv2d(4, 4, kernel, padding=padding, groups=4).cuda()
        ours = cute_dwconv.StripConv2d(4, 4, kernel, padding=padding, groups=4).cuda()
    ours.load_state_dict(reference_module.state_dict())
    x = torch.randn(2, 4, 26, 31, device="cuda")
    with torch.autocast("cuda", dtype=dtype), OpLog() as log:
        out = ours(x)
    with torch.autocast("cuda", dtype=dtype):
        expected = reference_module(x)
    assert log.ours(), f"{module} under autocast did not run our operator: {log.names}"
    assert out.dtype == expected.dtype == dtype
    tol = TOLERANCES[dtype]
    torch.testing.assert_close(out.double(), expected.double(), rtol=2 * tol["rtol"], atol=2 * tol["atol"])


def test_autocast_leaves_float64_alone():
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = randn((2, 3, 20, 22), torch.float64, generator)
    for orientation in ORIENTATIONS:
        weight, bias = make_params(3, 5, orientation, torch.float64, True, generator)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = cute_dwconv.strip_conv2d(x, weight, bias, 1, "same", 1)
        assert out.dtype == torch.float64, orientation
        torch.testing.assert_close(out, reference(x, weight, bias, 1, "same", 1), **TOLERANCES[torch.float64])
