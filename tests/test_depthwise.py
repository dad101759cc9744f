"""depthwise_conv2d: depthwise convolutions with any (kh, kw) window (square, rectangular, even,
strips) against nn.Conv2d's answer in float64, forward and every gradient: per-axis stride, padding
(int, pair, "same", "valid", one-sided through torch.ops) and dilation, bias or none, four dtypes,
NCHW, channels_last, channel slices of channels_last tensors, transposed and strided views; each
forced kernel path into poisoned outputs of any strides; the gradient operators called directly;
gradcheck, determinism, a tensor of more than 2^31 elements; opcheck, torch.compile, torch.export;
autocast with float32 parameters; DepthwiseConv2d on the GPU; a randomized hypothesis test.

Nothing here touches cute_dwconv.depthwise_conv2d, DepthwiseConv2d or torch.ops.cute_dwconv's new
operators at import time, so the module collects before the extension has them."""

from __future__ import annotations

import io
import math
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch._prims_common import suggest_memory_format

import cute_dwconv
from conftest import TOLERANCES, OpLog, poison_allocator, poisoned, requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]

ops = torch.ops.cute_dwconv  # the namespace only: its operators are looked up inside the tests
DEVICE = "cuda"

HALF_AND_FLOAT = [torch.float32, torch.float16, torch.bfloat16]
ALL_DTYPES = HALF_AND_FLOAT + [torch.float64]
SIXTEEN_BIT = [torch.bfloat16, torch.float16]
PATHS = ["auto", "tiled", "tensor_core", "channels_last_tensor_core", "planes", "channels_last", "channels_last_tile",
         "channels_last_l1", "direct"]
NHWC_PATHS = ("channels_last", "channels_last_tile", "channels_last_l1")


# ----------------------------------------------------------------------------------------------
# arguments


def pair(value):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    return (value[0], value[0]) if len(value) == 1 else value


def op_padding(padding, kernel, dilation):
    """The torch.ops form of a Python padding: [h, w], or [top, bottom, left, right] for "same",
    split as PyTorch splits it (the odd row or column after)."""
    if padding == "valid":
        return [0, 0]
    if padding == "same":
        pads = []
        for k, d in zip(kernel, pair(dilation)):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return pads
    if isinstance(padding, (list, tuple)) and len(padding) == 4:
        return list(padding)
    return list(pair(padding))


def op_args(kernel, stride, padding, dilation):
    """(stride, padding, dilation) as torch.ops.cute_dwconv.depthwise_conv2d takes them."""
    return list(pair(stride)), op_padding(padding, kernel, dilation), list(pair(dilation))


def four_sides(padding):
    return (padding[0], padding[0], padding[1], padding[1]) if len(padding) == 2 else tuple(padding)


def output_shape(shape, kernel, stride, padding, dilation):
    """F.conv2d's (N, C, Ho, Wo) for any form of the arguments."""
    n, c, h, w = shape
    stride, padding, dilation = op_args(kernel, stride, padding, dilation)
    top, bottom, left, right = four_sides(padding)
    ho = (h + top + bottom - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    wo = (w + left + right - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    return (n, c, ho, wo)


def valid(shape, kernel, stride, padding, dilation):
    return min(output_shape(shape, kernel, stride, padding, dilation)[2:]) >= 1


def describe(kernel, stride, padding, dilation, shape=None):
    text = f"k{kernel[0]}x{kernel[1]}-s{stride}-p{padding}-d{dilation}".replace(" ", "")
    return text if shape is None else f"{text}-{'x'.join(map(str, shape))}"


# ----------------------------------------------------------------------------------------------
# the reference


def _conv64(x, weight, bias, stride, padding, dilation):
    if isinstance(padding, (list, tuple)) and len(padding) == 4:  # (top, bottom, left, right)
        top, bottom, left, right = padding
        x = F.pad(x, (left, right, top, bottom))
        padding = (0, 0)
    elif not isinstance(padding, str):
        padding = pair(padding)
    return F.conv2d(x, weight, bias, stride=pair(stride), padding=padding, dilation=pair(dilation),
                    groups=x.shape[1])


def reference(x, weight, bias, stride, padding, dilation):
    """nn.Conv2d's answer in float64 from the same (rounded) inputs; padding in any form (Python's,
    or torch.ops' 2 or 4 ints)."""
    with torch.no_grad():
        return _conv64(x.detach().double(), weight.detach().double(),
                       None if bias is None else bias.detach().double(), stride, padding, dilation)


def reference_grads(x, weight, bias, grad_out, stride, padding, dilation):
    """PyTorch's gradients of the same convolution in float64: (grad_x, grad_weight, grad_bias)."""
    xd = x.detach().double().requires_grad_()
    wd = weight.detach().double().requires_grad_()
    bd = None if bias is None else bias.detach().double().requires_grad_()
    with torch.enable_grad():
        out = _conv64(xd, wd, bd, stride, padding, dilation)
        grads = torch.autograd.grad(out, [xd, wd] + ([bd] if bd is not None else []), grad_out.double())
    return grads[0], grads[1], grads[2] if bd is not None else None


def conv_tolerance(dtype, taps):
    """Each output (and each input gradient) sums up to `taps` products in float32 (float64 for
    float64): the accumulation error grows with their count, about linearly for the ~1000 taps of a
    31x31 window, where it passes the float32 tolerance of a short sum. For 16-bit outputs the
    final rounding dominates and the tolerance stays the dtype's."""
    tol = TOLERANCES[dtype]
    if dtype in (torch.float32, torch.float64):
        scale = max(1.0, taps / 32)
        return dict(atol=tol["atol"] * scale, rtol=tol["rtol"] * scale)
    return dict(tol)


def reduction_tolerance(dtype, terms):
    """grad_weight and grad_bias sum `terms` products in float32 (float64 for float64) and round once."""
    tol = TOLERANCES[dtype]
    return dict(rtol=tol["rtol"], atol=tol["atol"] * math.sqrt(max(terms, 1)))


# ----------------------------------------------------------------------------------------------
# inputs: fresh random values (never zeros), in several memory layouts


LAYOUTS = ["contiguous", "channels_last", "channels_last_slice", "transposed", "strided"]


def randn(shape, dtype, generator):
    return torch.randn(shape, device=DEVICE, generator=generator).to(dtype)


def make_input(shape, dtype, layout, generator):
    """x of `shape` held in one of these layouts:
    contiguous, channels_last;
    channels_last_slice: x[:, 4:4 + C] of a channels_last tensor of C + 8 channels (what torch.split
        along C gives in a channels_last network);
    channel_slice: the same of an NCHW tensor (whole planes at an offset);
    transposed: H and W swapped in memory, viewed back as NCHW;
    strided: every other column of a twice-as-wide tensor;
    unaligned: one element past an allocation's start."""
    n, c, h, w = shape
    if layout == "contiguous":
        return randn(shape, dtype, generator)
    if layout == "channels_last":
        return randn(shape, dtype, generator).contiguous(memory_format=torch.channels_last)
    if layout in ("channels_last_slice", "channel_slice"):
        big = randn((n, c + 8, h, w), dtype, generator)
        if layout == "channels_last_slice":
            big = big.contiguous(memory_format=torch.channels_last)
        return big[:, 4:4 + c]
    if layout == "transposed":
        return randn((n, c, w, h), dtype, generator).transpose(2, 3)
    if layout == "strided":
        return randn((n, c, h, 2 * w), dtype, generator)[..., ::2]
    if layout == "unaligned":
        return randn((n * c * h * w + 1,), dtype, generator)[1:].view(shape)
    raise AssertionError(layout)


def make_params(c, kernel, dtype, with_bias, generator):
    weight = randn((c, 1) + tuple(kernel), dtype, generator)
    bias = randn((c,), dtype, generator) if with_bias else None
    return weight, bias


def seeded(seed):
    return torch.Generator(device=DEVICE).manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# the check of one call, forward and backward


def call_ours(x, weight, bias, stride, padding, dilation, via_op=False):
    if via_op:
        return ops.depthwise_conv2d(x, weight, bias, *op_args(tuple(weight.shape[2:]), stride, padding, dilation))
    return cute_dwconv.depthwise_conv2d(x, weight, bias, stride, padding, dilation)


def check_forward_backward(x, weight, bias, stride, padding, dilation, generator, context, via_op=False):
    """Our output (into poisoned memory), its layout, and its three gradients against PyTorch's in
    float64. via_op calls torch.ops.cute_dwconv.depthwise_conv2d (one-sided paddings), else the
    Python entry."""
    dtype = x.dtype
    kernel = tuple(weight.shape[2:])
    taps = kernel[0] * kernel[1]
    x = x.detach().requires_grad_()  # keeps x's strides: a slice stays a slice
    weight = weight.detach().requires_grad_()
    bias = None if bias is None else bias.detach().requires_grad_()
    inputs = [x, weight] + ([bias] if bias is not None else [])
    expected = reference(x, weight, bias, stride, padding, dilation)

    poison_allocator(expected.numel() * x.element_size(), x.device)
    out = call_ours(x, weight, bias, stride, padding, dilation, via_op)
    assert out.shape == expected.shape, f"{context}: output shape {tuple(out.shape)}, expected {tuple(expected.shape)}"
    assert out.dtype == dtype and out.device == x.device, f"{context}: {out.dtype} on {out.device}"
    assert not torch.isnan(out).any(), f"{context}: the output has unwritten elements"
    torch.testing.assert_close(out.detach().double(), expected, **conv_tolerance(dtype, taps),
                               msg=lambda m: f"{context} output: {m}")
    fmt = suggest_memory_format(x)
    if min(x.shape[1:]) > 1 and min(out.shape[2:]) > 1:  # (sizes of 1 make both formats fit)
        assert out.is_contiguous(memory_format=fmt), f"{context}: output strides {out.stride()} are not {fmt}"

    grad_out = randn(out.shape, dtype, generator).contiguous(memory_format=fmt)
    ref_x, ref_w, ref_b = reference_grads(x, weight, bias, grad_out, stride, padding, dilation)
    poison_allocator(x.numel() * x.element_size(), x.device)
    grads = torch.autograd.grad(out, inputs, grad_out)
    grad_x, grad_w = grads[0], grads[1]
    assert grad_x.shape == x.shape and grad_x.dtype == dtype, f"{context}: grad_x {grad_x.shape} {grad_x.dtype}"
    assert not torch.isnan(grad_x).any(), f"{context}: grad_x has unwritten elements"
    torch.testing.assert_close(grad_x.double(), ref_x, **conv_tolerance(dtype, taps),
                               msg=lambda m: f"{context} grad_x: {m}")
    tol = reduction_tolerance(dtype, grad_out[:, 0].numel())
    assert grad_w.shape == weight.shape and grad_w.dtype == dtype, f"{context}: grad_weight {grad_w.shape}"
    torch.testing.assert_close(grad_w.double(), ref_w, **tol, msg=lambda m: f"{context} grad_weight: {m}")
    if bias is not None:
        assert grads[2].shape == bias.shape and grads[2].dtype == dtype, context
        torch.testing.assert_close(grads[2].double(), ref_b, **tol, msg=lambda m: f"{context} grad_bias: {m}")


# ----------------------------------------------------------------------------------------------
# the public entry, forward and backward


def _random_cases(seed=0xD3F1, count=4):
    """(kh, kw) drawn once from a fixed seed (the same cases every run), with stride, padding and
    dilation drawn to go with them; the hypothesis test below draws fresh ones."""
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        kernel = (rng.randint(1, 19), rng.randint(1, 19))
        if kernel[0] == kernel[1]:
            continue
        stride = rng.choice([1, 2, (2, 1), (1, 3)])
        dilation = rng.choice([1, 2, (1, 2), (3, 1)])
        padding = rng.choice(["same", (kernel[0] // 2, kernel[1] // 2), 1, 0] if stride == 1 else
                             [(kernel[0] // 2, kernel[1] // 2), 1, 0, "valid"])
        d = pair(dilation)
        h = d[0] * (kernel[0] - 1) + 1 + rng.randint(3, 12)
        w = rng.choice([37, 130, d[1] * (kernel[1] - 1) + 1 + rng.randint(3, 20)])
        cases.append((kernel, stride, padding, dilation, (2, rng.choice([3, 5, 8, 12]), h, w)))
    return cases


# (kernel, stride, padding, dilation, shape (N, C, H, W)) in the Python entry's forms. Every one is
# valid on its shape; widths 37 and 130 are no multiple of a 16-byte vector of any dtype.
CASES = [
    ((3, 3), 1, 1, 1, (2, 8, 33, 37)),
    ((3, 3), 2, 1, 1, (2, 8, 34, 37)),
    ((3, 3), (2, 1), (0, 1), (1, 2), (2, 5, 30, 37)),
    ((3, 3), 1, "same", (3, 1), (3, 6, 20, 130)),
    ((5, 5), 1, 2, 1, (2, 8, 32, 37)),
    ((5, 5), 2, "valid", 2, (2, 6, 35, 40)),
    ((5, 5), (1, 2), (2, 1), 1, (1, 12, 17, 130)),
    ((7, 7), 1, 3, 1, (2, 16, 28, 28)),                # ConvNeXt's
    ((7, 7), 2, (3, 2), (1, 2), (2, 5, 31, 37)),
    ((7, 7), 1, "same", 2, (2, 4, 27, 37)),
    ((31, 31), 1, 15, 1, (2, 4, 40, 37)),              # RepLKNet's
    ((31, 31), 2, "valid", 1, (1, 3, 45, 33)),
    ((31, 31), (2, 1), (15, 3), 1, (2, 3, 24, 37)),
    ((51, 5), 1, (25, 2), 1, (2, 4, 60, 37)),          # SLaK-like rectangles
    ((51, 5), (2, 1), 0, (1, 2), (1, 3, 64, 33)),
    ((5, 51), 1, "same", 1, (2, 4, 30, 70)),
    ((5, 51), (1, 3), (2, 25), 1, (1, 5, 21, 130)),
    ((2, 3), 1, "same", 1, (2, 6, 19, 37)),            # even sizes: "same" pads one more after
    ((2, 3), 2, (1, 0), (2, 1), (2, 7, 22, 37)),
    ((4, 2), 1, "same", (1, 3), (2, 5, 21, 33)),
    ((6, 6), 1, "same", 1, (1, 8, 24, 37)),
    ((1, 1), (2, 3), (1, 2), 1, (2, 6, 19, 37)),       # a per-channel scale, padded: bias-only borders
    ((7, 1), 1, (3, 0), 1, (2, 6, 21, 37)),            # strips are depthwise weights too
    ((1, 11), (1, 2), (0, 5), 1, (2, 6, 13, 37)),
] + _random_cases()

CASE_IDS = [describe(*case) for case in CASES]

# (kernel, stride, (top, bottom, left, right), dilation, shape): one-sided paddings, torch.ops only.
PAD4_CASES = [
    ((3, 3), (1, 1), (2, 0, 0, 1), (1, 1), (2, 8, 21, 37)),
    ((5, 5), (2, 1), (0, 4, 3, 1), (1, 2), (2, 5, 24, 37)),
    ((31, 31), (1, 1), (0, 30, 15, 0), (1, 1), (1, 3, 20, 40)),
    ((51, 5), (1, 1), (50, 0, 0, 4), (1, 1), (1, 4, 12, 33)),
    ((2, 3), (1, 2), (1, 0, 2, 0), (2, 1), (2, 6, 17, 37)),
    ((4, 6), (3, 1), (0, 3, 5, 0), (1, 1), (2, 5, 19, 24)),
]

PAD4_IDS = [describe(*case) for case in PAD4_CASES]


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_and_gradients(case, dtype):
    """Every layout in turn on the case's shape; bias on every other (case, layout)."""
    kernel, stride, padding, dilation, shape = case
    assert valid(shape, kernel, stride, padding, dilation), "a case without output"
    seed = random.randrange(2**31)
    index = CASES.index(case)
    for j, layout in enumerate(LAYOUTS):
        generator = seeded(seed + j)
        x = make_input(shape, dtype, layout, generator)
        weight, bias = make_params(shape[1], kernel, dtype, (index + j) % 2 == 0, generator)
        context = f"{describe(*case)} bias={bias is not None} {dtype} {layout} seed={seed + j}"
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator, context)


@pytest.mark.parametrize("case", CASES[::3], ids=CASE_IDS[::3])
def test_float64(case):
    kernel, stride, padding, dilation, shape = case
    seed = random.randrange(2**31)
    for j, layout in enumerate(["contiguous", "channels_last_slice"]):
        generator = seeded(seed + j)
        x = make_input(shape, torch.float64, layout, generator)
        weight, bias = make_params(shape[1], kernel, torch.float64, j == 0, generator)
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator,
                               f"{describe(*case)} float64 {layout} seed={seed + j}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", PAD4_CASES, ids=PAD4_IDS)
def test_one_sided_padding(case, dtype):
    kernel, stride, padding, dilation, shape = case
    assert valid(shape, kernel, stride, padding, dilation)
    seed = random.randrange(2**31)
    for j, layout in enumerate(["contiguous", "channels_last", "channels_last_slice"]):
        generator = seeded(seed + j)
        x = make_input(shape, dtype, layout, generator)
        weight, bias = make_params(shape[1], kernel, dtype, j != 1, generator)
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator,
                               f"{describe(*case)} {dtype} {layout} seed={seed + j}", via_op=True)


# Planes shorter than the window's reach, which then mostly reads padding; single rows and columns;
# strides longer than the plane.
SMALL_CASES = [
    ((31, 31), 1, 15, 1, (2, 3, 9, 7)),
    ((31, 31), 2, 15, 1, (1, 2, 5, 33)),
    ((51, 5), 1, (25, 2), 1, (1, 2, 5, 9)),
    ((5, 51), 1, "same", 1, (2, 3, 4, 3)),
    ((3, 3), 1, 1, 1, (1, 4, 1, 1)),
    ((3, 3), 1, "same", 1, (2, 3, 1, 6)),
    ((3, 3), (1, 2), 1, 1, (2, 3, 6, 1)),
    ((7, 7), 4, 3, 1, (2, 3, 3, 3)),
    ((2, 2), 1, "same", 1, (2, 3, 2, 2)),
    ((5, 3), (3, 1), (2, 1), (1, 2), (1, 6, 17, 5)),
    ((1, 1), 1, 0, 1, (1, 4, 1, 1)),
]


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("case", SMALL_CASES, ids=[describe(*c) for c in SMALL_CASES])
def test_small_planes(case, dtype):
    kernel, stride, padding, dilation, shape = case
    assert valid(shape, kernel, stride, padding, dilation)
    seed = random.randrange(2**31)
    for j, layout in enumerate(["contiguous", "channels_last"]):
        generator = seeded(seed + j)
        x = make_input(shape, dtype, layout, generator)
        weight, bias = make_params(shape[1], kernel, dtype, j == 0, generator)
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator,
                               f"{describe(*case)} {dtype} {layout} seed={seed + j}")


# A few larger problems: many tiles per plane, many channels per pixel (the channels_last kernel's
# vectors), long rows.
LARGE_CASES = [
    ((7, 7), 1, 3, 1, (4, 64, 56, 56)),
    ((3, 3), 2, 1, 1, (4, 32, 112, 112)),
    ((5, 5), 1, 2, 1, (2, 24, 65, 300)),
    ((31, 31), 1, 15, 1, (2, 16, 64, 64)),
    ((13, 13), 1, 6, 1, (2, 40, 48, 48)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", LARGE_CASES, ids=[describe(*c) for c in LARGE_CASES])
def test_large_planes(case, dtype):
    kernel, stride, padding, dilation, shape = case
    seed = random.randrange(2**31)
    generator = seeded(seed)
    layout = "contiguous" if dtype == torch.float32 else "channels_last"
    x = make_input(shape, dtype, layout, generator)
    weight, bias = make_params(shape[1], kernel, dtype, True, generator)
    check_forward_backward(x, weight, bias, stride, padding, dilation, generator,
                           f"{describe(*case)} {dtype} {layout} seed={seed}")


@dataclass
class ForcedCase:
    """One call of a forced-path test: fresh random x (in `layout`), weight and bias, the operator's
    (stride, padding, dilation), the float64 reference and a context line with the seed."""
    x: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    args: tuple
    expected: torch.Tensor
    context: str
    generator: torch.Generator


def forced_case(case, dtype, layout):
    kernel, stride, padding, shape = case
    seed = random.randrange(2**31)
    generator = seeded(seed)
    x = make_input(shape, dtype, layout, generator)
    weight, bias = make_params(shape[1], kernel, dtype, True, generator)
    return ForcedCase(x, weight, bias, tuple(op_args(kernel, stride, padding, 1)),
                      reference(x, weight, bias, stride, padding, 1),
                      f"{describe(kernel, stride, padding, 1, shape)} {dtype} seed={seed}", generator)


# The staged channels_last kernel: a block stages 64 bytes of each pixel (16 float32 or 32 16-bit
# channels), so channel counts that leave the last chunk partly empty, and 16-bit counts that are
# not a multiple of 8 (8-byte copies); tiles that cross the image's edges on every side; more tiles
# than blocks; both strides and every bucket; small images stacked down a tile.
STAGED_CHANNELS_LAST_CASES = [
    ((3, 3), 1, 1, (3, 20, 37, 45)),
    ((5, 5), 1, 2, (2, 36, 30, 130)),
    ((7, 7), 1, 3, (4, 52, 23, 19)),
    ((7, 5), 1, (0, 4), (2, 12, 17, 70)),
    ((2, 3), 1, (1, 2), (5, 8, 9, 10)),
    ((3, 3), 2, 1, (3, 44, 41, 39)),
    ((5, 5), 2, (2, 0), (2, 20, 30, 33)),
    ((7, 7), 2, 3, (2, 28, 25, 64)),
    ((11, 3), 1, (5, 1), (2, 16, 40, 24)),
    ((3, 3), 1, 1, (64, 48, 14, 14)),
    # images stacked down a tile (the last stack part full), a partial chunk of channels
    ((7, 7), 1, 3, (37, 20, 7, 7)),
    ((3, 3), 2, 1, (9, 24, 14, 14)),
    ((5, 5), 1, 2, (5, 16, 16, 16)),
]
STAGED_CHANNELS_LAST_IDS = [describe(k, s, p, 1, shape) for k, s, p, shape in STAGED_CHANNELS_LAST_CASES]


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("case", STAGED_CHANNELS_LAST_CASES, ids=STAGED_CHANNELS_LAST_IDS)
def test_staged_channels_last(case, dtype):
    """The staged kernel takes every such call, forced and through auto, and writes exactly out."""
    c = forced_case(case, dtype, "channels_last")
    check_path_into_poisoned_outs("channels_last_tile", c.x, c.weight, c.bias, c.args, c.expected, c.context)
    auto = ops.depthwise_conv2d(c.x, c.weight, c.bias, *c.args)
    taps = c.weight.shape[2] * c.weight.shape[3]
    torch.testing.assert_close(auto.double(), c.expected, **conv_tolerance(dtype, taps),
                               msg=lambda m: f"{c.context} (auto): {m}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", STAGED_CHANNELS_LAST_CASES, ids=STAGED_CHANNELS_LAST_IDS)
def test_staged_channels_last_gradients(case, dtype):
    """The same calls' gradients: the staged weight gradient (partial chunks, 8-byte copies, tiles
    past every edge, more tiles than blocks) and the input gradient on the staged forward."""
    kernel, stride, padding, shape = case
    seed = random.randrange(2**31)
    generator = seeded(seed)
    x = make_input(shape, dtype, "channels_last", generator)
    weight, bias = make_params(shape[1], kernel, dtype, True, generator)
    check_forward_backward(x, weight, bias, stride, padding, 1, generator,
                           f"{describe(kernel, stride, padding, 1, shape)} {dtype} seed={seed}")


# Exact 3x3, 5x5 and 7x7 windows on NCHW x: the unrolled kernels, which take rows staged with
# 16-byte copies (widths a multiple of 8 elements), at paddings that shift the strips' origin, with
# two strips (float32 134 and 150 columns), partial tiles and many planes.
EXACT_NCHW_CASES = [
    ((3, 3), 1, 1, (2, 6, 37, 48)),
    ((3, 3), 1, 0, (2, 5, 70, 136)),
    ((5, 5), 1, 2, (3, 4, 33, 64)),
    ((5, 5), 1, 1, (2, 3, 20, 152)),
    ((7, 7), 1, 3, (2, 6, 56, 56)),
    ((7, 7), 1, 0, (1, 4, 40, 80)),
    ((7, 7), 1, 2, (16, 32, 20, 24)),
    ((3, 3), 2, 1, (2, 8, 41, 40)),
    ((5, 5), 2, 2, (2, 4, 30, 72)),
    ((7, 7), 2, 3, (2, 4, 25, 64)),
]
EXACT_NCHW_IDS = [describe(k, s, p, 1, shape) for k, s, p, shape in EXACT_NCHW_CASES]


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("case", EXACT_NCHW_CASES, ids=EXACT_NCHW_IDS)
def test_exact_nchw_windows(case, dtype):
    """The tiled path takes every such call, forced and through auto, and writes exactly out; the
    gradients (the input gradient at stride 1 is the flipped window on the same kernels) match."""
    kernel, stride, padding, shape = case
    c = forced_case(case, dtype, "contiguous")
    check_path_into_poisoned_outs("tiled", c.x, c.weight, c.bias, c.args, c.expected, c.context)
    check_forward_backward(c.x, c.weight, c.bias, stride, padding, 1, c.generator, c.context)


# The exact windows at every column padding to 7: every offset of a lane's window past a 16-byte
# boundary (4 float32, 8 16-bit), which the kernels read as the aligned quads that hold it (float32,
# and 16-bit at odd offsets in unstacked planes), each offset its own unrolled copy. Rows of whole
# 16-byte chunks (widths a multiple of 8), planes that stack (9 rows) and that do not, a partial last
# lane (the strips start at column 0 where the reads take any offset), and two float32 strips (152).
EVERY_OFFSET_CASES = [
    ((k, k), stride, (k // 2, col_padding), shape)
    for k in (3, 5, 7)
    for stride in (1, 2)
    for col_padding, shape in zip(range(8), [(1, 3, 13, 152), (2, 2, 9, 40), (1, 2, 40, 40)] * 3)
]
EVERY_OFFSET_IDS = [describe(k, s, p, 1, shape) for k, s, p, shape in EVERY_OFFSET_CASES]


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("case", EVERY_OFFSET_CASES, ids=EVERY_OFFSET_IDS)
def test_exact_nchw_windows_at_every_column_offset(case, dtype):
    c = forced_case(case, dtype, "contiguous")
    check_path_into_poisoned_outs("tiled", c.x, c.weight, c.bias, c.args, c.expected, c.context)


# NCHW planes much shorter than a tile, which the tiled kernels stack down one tile (and the
# register weight gradient stacks a channel's images): ConvNeXt's and MobileNet's later stages
# (7x7 to 28x28), plane counts that leave the last tile's stack part full, fewer planes (or images)
# than a stack holds, rows staged with 16-byte copies and with plain loads (widths 7 and 9), exact,
# bucketed and general windows, both strides.
STACKED_NCHW_CASES = [
    ((7, 7), 1, 3, (3, 37, 7, 7)),
    ((7, 7), 1, 3, (2, 41, 14, 16)),
    ((7, 7), 1, 3, (1, 5, 28, 32)),
    ((5, 5), 1, 2, (3, 30, 16, 16)),
    ((3, 3), 1, 1, (4, 50, 14, 8)),
    ((3, 3), 1, 1, (1, 3, 5, 40)),
    ((3, 3), 2, 1, (2, 45, 14, 16)),
    ((5, 5), 2, 2, (3, 19, 13, 9)),
    ((5, 3), 1, (2, 1), (2, 33, 9, 24)),
    ((9, 9), 1, 4, (2, 20, 12, 16)),
    ((5, 3), 1, (5, 3), (2, 33, 9, 24)),  # paddings past the window: the input gradient's are negative
]
STACKED_NCHW_IDS = [describe(k, s, p, 1, shape) for k, s, p, shape in STACKED_NCHW_CASES]


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("case", STACKED_NCHW_CASES, ids=STACKED_NCHW_IDS)
def test_stacked_nchw_planes(case, dtype):
    """The tiled path takes every such call, forced and through auto, and writes exactly out; the
    gradients (the stride-1 input gradient on the same stacked kernels) match."""
    kernel, stride, padding, shape = case
    c = forced_case(case, dtype, "contiguous")
    check_path_into_poisoned_outs("tiled", c.x, c.weight, c.bias, c.args, c.expected, c.context)
    check_forward_backward(c.x, c.weight, c.bias, stride, padding, 1, c.generator, c.context)


# The NCHW window tiles when a block walks several tiles (one wave of blocks, forced through the
# tiling knobs, read once per process, hence a fresh one), with one buffer and with two: the walk
# of the unstacked kernels (exact windows: stage at three places) and of the stacked ones (stage
# once). Every case has at least 4096 tiles, several per block for any GPU of up to 132 SMs and 16
# blocks per SM. (kernel, stride, padding, shape, dtype): exact windows on planes that stage with
# 16-byte copies, both strides; stacked small planes staged with copies (16x16 float32),
# elementwise (14x14 bfloat16) and with plain loads (9 columns); a wide bucket; the general kernel.
_WALKED_TILES_CHECK = """
import sys
import torch
from test_depthwise import check_path_into_poisoned_outs, forced_case

cases = [
    ((3, 3), 1, 1, (32, 128, 64, 64), torch.float32),
    ((7, 7), 1, 3, (32, 128, 64, 64), torch.bfloat16),
    ((3, 3), 2, 1, (32, 128, 64, 64), torch.float32),
    ((5, 5), 1, 2, (128, 128, 16, 16), torch.float32),
    ((7, 7), 1, 3, (256, 64, 14, 14), torch.bfloat16),
    ((3, 3), 1, 1, (64, 64, 40, 9), torch.bfloat16),
    ((11, 11), 1, 5, (32, 64, 48, 48), torch.bfloat16),
    ((3, 3), (1, 2), 1, (32, 128, 64, 64), torch.float32),
]
for kernel, stride, padding, shape, dtype in cases:
    c = forced_case((kernel, stride, padding, shape), dtype, "contiguous")
    check_path_into_poisoned_outs("tiled", c.x, c.weight, c.bias, c.args, c.expected, c.context)
print("checked", len(cases))
"""


@pytest.mark.parametrize("buffers", [1, 2])
def test_window_tiles_walked_by_each_block(buffers):
    tests = str(Path(__file__).resolve().parent)
    env = dict(os.environ, CUTE_DWCONV_WINDOW_WAVES="1", CUTE_DWCONV_WINDOW_BUFFERS=str(buffers),
               PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", _WALKED_TILES_CHECK], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split()[-2:] == ["checked", "8"], done.stdout


def test_strided_input_gradient_of_uncovered_rows():
    """Rows below the last window (a bottom padding of 0 at stride 3) get no gradient: the phase
    that holds them reads grad_out past its last row, a negative padding on small stacked planes
    (found by the randomized test)."""
    generator = seeded(random.randrange(2**31))
    for dtype in HALF_AND_FLOAT:
        x = randn((1, 2, 12, 51), dtype, generator)
        weight, _ = make_params(2, (5, 51), dtype, False, generator)
        check_forward_backward(x, weight, None, (3, 1), [3, 0, 0, 0], 1, generator,
                               f"(5, 51) stride (3, 1) padding [3, 0, 0, 0] {dtype}", via_op=True)


# Whole small planes staged at once (windows within 3x3, 5x5 and 7x7 at stride 1 and 2):
# ConvNeXt's and MobileNet's later stages (7x7 to 28x28 planes), plane counts that leave the last
# block part full, a single plane, widths that leave a lane's columns part full (7, 9, 13),
# paddings of none and past the window (outputs larger than the input), the largest planes a block
# stages one at a time, odd sizes at stride 2, and planes of a few rows wider than a warp.
PLANES_CASES = [
    ((7, 7), 1, 3, (3, 37, 7, 7)),
    ((7, 7), 1, 3, (2, 41, 14, 14)),
    ((7, 7), 1, 3, (1, 5, 28, 28)),
    ((7, 7), 1, 0, (2, 9, 13, 11)),
    ((5, 5), 1, 2, (3, 30, 16, 16)),
    ((5, 5), 1, 4, (1, 1, 9, 6)),
    ((3, 3), 1, 1, (4, 50, 14, 14)),
    ((3, 3), 1, 1, (1, 70, 32, 32)),
    ((3, 3), 1, 3, (2, 7, 5, 9)),
    ((3, 3), 2, 1, (2, 45, 14, 14)),
    ((3, 3), 2, 0, (3, 10, 15, 8)),
    ((5, 5), 2, 2, (3, 19, 13, 9)),
    ((7, 7), 2, 3, (2, 6, 28, 28)),
    ((2, 3), 1, (1, 1), (2, 9, 10, 11)),  # windows within a wider one's instantiation
    ((5, 3), 2, (2, 1), (2, 9, 13, 14)),
    ((1, 2), 1, (0, 1), (3, 5, 7, 6)),
    ((3, 3), 1, 1, (2, 5, 12, 40)),
    ((5, 5), 2, 2, (1, 3, 8, 70)),
    ((3, 3), 1, 1, (2, 3, 2, 3)),  # planes of 6 pixels, rows narrower than a 16-byte chunk
]
PLANES_IDS = [describe(k, s, p, 1, shape) for k, s, p, shape in PLANES_CASES]


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("case", PLANES_CASES, ids=PLANES_IDS)
def test_whole_planes(case, dtype):
    """The planes path takes every such call, forced, into an output of x's layout and into a channel
    slice, and writes exactly out, from x as allocated and from x one element past a 16-byte boundary
    (its run's chunks and ends copied apart); the forward and gradients through auto (which takes the
    same kernels for planes of up to 28x28 outputs: the stride-1 input gradient as a flipped window,
    and the weight gradient of windows within 3x3, 5x5 and 7x7 at stride 1, 3x3 and 5x5 at stride 2)
    match."""
    kernel, stride, padding, shape = case
    unaligned = forced_case(case, dtype, "unaligned")
    assert unaligned.x.data_ptr() % 16 != 0
    check_path_into_poisoned_outs("planes", unaligned.x, unaligned.weight, unaligned.bias, unaligned.args,
                                  unaligned.expected, unaligned.context + " unaligned")
    c = forced_case(case, dtype, "contiguous")
    check_path_into_poisoned_outs("planes", c.x, c.weight, c.bias, c.args, c.expected, c.context)
    check_forward_backward(c.x, c.weight, c.bias, stride, padding, 1, c.generator, c.context)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_whole_planes_of_views(dtype):
    """Channel slices and batch slices of x (planes that do not follow one another), forward and
    gradients, and 16-bit x beside float32 parameters, as autocast calls it."""
    generator = seeded(random.randrange(2**31))
    base = randn((4, 24, 14, 14), dtype, generator)
    for x in (base[:, 3:20], base[::2], base[1:, :, :, :]):
        weight, bias = make_params(x.shape[1], (3, 3), dtype, True, generator)
        expected = reference(x, weight, bias, 1, 1, 1)
        check_path_into_poisoned_outs("planes", x, weight, bias, ([1, 1], [1, 1], [1, 1]), expected,
                                      f"planes of a view {tuple(x.stride())} {dtype}")
        # the gradients of the same view: the weight gradient's planes staged element by element
        check_forward_backward(x, weight, bias, 1, 1, 1, generator, f"gradients of a view {tuple(x.stride())} {dtype}")
    if dtype == torch.bfloat16:
        x = base.contiguous()
        weight, bias = make_params(x.shape[1], (7, 7), torch.float32, True, generator)
        out = ops._depthwise_conv2d_float_params(x, weight, bias, [1, 1], [3, 3], [1, 1])
        torch.testing.assert_close(out.double(), reference(x, weight, bias, 1, 3, 1), **conv_tolerance(dtype, 49))


# 16-bit NCHW windows on tensor cores (stride 1, rows staged with 16-byte copies: widths a multiple
# of 8): every band depth (1-5 16-column steps), column paddings that start the staged rows at each
# offset or shift the tiles' origin left of the image, two strips (72 and 136 columns), two row
# tiles, rectangular windows both ways, and a padding past the window.
TENSOR_CORE_CASES = [
    ((3, 3), 1, 0, (2, 4, 21, 40)),
    ((5, 5), 1, 2, (2, 4, 70, 64)),
    ((7, 7), 1, 3, (1, 6, 56, 56)),
    ((9, 9), 1, (1, 5), (2, 3, 30, 72)),
    ((13, 13), 1, 6, (2, 2, 33, 40)),
    ((3, 17), 1, (1, 0), (2, 3, 24, 48)),
    ((31, 31), 1, 15, (2, 3, 40, 136)),
    ((5, 51), 1, (2, 25), (1, 2, 20, 64)),
    ((51, 5), 1, (25, 2), (1, 2, 80, 24)),
    ((5, 5), 1, 6, (1, 3, 17, 16)),
]
TENSOR_CORE_IDS = [describe(k, s, p, 1, shape) for k, s, p, shape in TENSOR_CORE_CASES]


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
@pytest.mark.parametrize("case", TENSOR_CORE_CASES, ids=TENSOR_CORE_IDS)
def test_tensor_core_windows(case, dtype):
    """The tensor-core path takes every such call and writes exactly out; under autocast (float32
    parameters, split into two 16-bit halves) it matches float64 with the parameters as they are;
    the gradients through auto (the input gradient is the flipped window) match."""
    kernel, stride, padding, shape = case
    c = forced_case(case, dtype, "contiguous")
    check_path_into_poisoned_outs("tensor_core", c.x, c.weight, c.bias, c.args, c.expected, c.context)

    weight32 = torch.randn(c.weight.shape, device=DEVICE, generator=c.generator)
    bias32 = torch.randn(c.bias.shape, device=DEVICE, generator=c.generator)
    poison_allocator(c.expected.numel() * 2, c.x.device)
    out = ops._depthwise_conv2d_float_params(c.x, weight32, bias32, *c.args)
    assert not torch.isnan(out).any(), f"{c.context} float32 parameters: unwritten output elements"
    torch.testing.assert_close(out.double(), reference(c.x, weight32, bias32, stride, padding, 1),
                               **TOLERANCES[dtype], msg=lambda m: f"{c.context} float32 parameters: {m}")
    check_forward_backward(c.x, c.weight, c.bias, stride, padding, 1, c.generator, c.context)


# Every column padding to 7 on tensor cores: every column origin in (-8, 0] the launcher picks
# (even ones store pairs of outputs as 32-bit words, odd ones element by element), at a shallow band
# (a 7-wide row) and a deep one (31 wide, its A blocks loaded as halves).
@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
@pytest.mark.parametrize("padding_w", range(8))
@pytest.mark.parametrize("kernel", [(7, 7), (3, 31)], ids=["7x7", "3x31"])
def test_tensor_core_windows_at_every_column_padding(kernel, padding_w, dtype):
    case = (kernel, 1, (kernel[0] // 2, padding_w), (2, 3, 20, 64))
    c = forced_case(case, dtype, "contiguous")
    check_path_into_poisoned_outs("tensor_core", c.x, c.weight, c.bias, c.args, c.expected, c.context)


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
def test_tensor_core_window_of_odd_width_into_padded_rows(dtype):
    """An odd output width (a 7 x 6 window) into rows padded to an even pitch: the tensor-core kernel
    stores pairs of outputs as 32-bit words, and the last column, which no pair covers, alone."""
    c = forced_case(((7, 6), 1, (3, 2), (2, 3, 20, 64)), dtype, "contiguous")
    n, channels, ho, wo = c.expected.shape
    assert wo % 2 == 1
    holder = poisoned((n, channels, ho, wo + 1), dtype, DEVICE, torch.contiguous_format)
    out = holder[..., :wo]
    ops._depthwise_conv2d_path_out(c.x, c.weight, c.bias, *c.args, "tensor_core", out)
    assert_wrote_exactly_out(out, holder, c.expected, 7 * 6, c.context)


# Many channels with few positions each, in both layouts: weight gradients that split a channel's
# positions among blocks, and a block's work among its lanes, with several pieces per block.
# Widths a multiple of 16 bytes in both dtypes, so that rows can be staged with 16-byte copies.
MANY_TILE_CASES = [
    ((3, 3), 1, 1, 1, (6, 1536, 21, 24)),
    ((5, 5), 1, (2, 1), 1, (5, 1536, 13, 40)),
    ((7, 7), 1, 3, 1, (4, 1024, 40, 16)),
    ((3, 5), 1, (0, 2), 1, (7, 1536, 11, 24)),
    ((3, 3), 2, 1, 1, (6, 1536, 22, 24)),             # MobileNet's, at stride 2
    ((5, 5), 2, (2, 1), 1, (4, 1024, 21, 32)),
]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", MANY_TILE_CASES, ids=[describe(*c) for c in MANY_TILE_CASES])
def test_weight_gradient_over_many_tiles_per_block(case, dtype, layout):
    kernel, stride, padding, dilation, shape = case
    seed = random.randrange(2**31)
    generator = seeded(seed)
    x = make_input(shape, dtype, layout, generator)
    weight, bias = make_params(shape[1], kernel, dtype, True, generator)
    check_forward_backward(x, weight, bias, stride, padding, dilation, generator,
                           f"{describe(*case)} {dtype} {layout} seed={seed}")


# The NCHW register weight gradient on planes larger than the whole-plane kernels take: where
# grad_out's rows are whole 16-byte chunks it stages them beside x ("staged"), each lane reading its
# values at the padding's alignment (4 or 12 bytes past a chunk in float32, an odd half-word in 16
# bits) where tiles start left of the plane; otherwise each lane loads them itself ("loaded"). Where
# starting left of the plane would cost a strip (Wo a whole number of tiles: 64 and 128 columns),
# tiles start at column 0 and the lanes read x at the padding's alignment (8 or 12 bytes, 4 or an
# odd half-word in 16 bits) instead. (kernel, stride, padding, shape, which kernel, grad_out's form:
# "plain", or "rows" for rows a wider tensor's slices, not whole chunks apart.) 16-bit windows of 49
# taps whose rows are whole 16-byte chunks go to the tensor cores instead (the 7x7 "staged" row);
# with 54 output columns they stay here.
GRAD_TILE_CASES = [
    ((3, 3), 1, 1, (2, 6, 37, 48), "staged", "plain"),
    ((5, 5), 1, 2, (2, 4, 33, 64), "staged", "plain"),
    ((3, 3), 1, 1, (1, 5, 30, 64), "staged", "plain"),
    ((3, 3), 1, 1, (1, 3, 9, 128), "staged", "plain"),
    ((7, 7), 1, 3, (2, 3, 40, 56), "staged", "plain"),
    ((7, 7), 1, (3, 2), (2, 3, 40, 56), "loaded", "plain"),  # 54 columns: rows not whole chunks
    ((3, 5), 1, (1, 2), (3, 4, 40, 48), "staged", "plain"),
    ((3, 3), 2, 1, (2, 8, 61, 80), "staged", "plain"),  # stride 2: no shift
    ((5, 5), 2, 2, (2, 4, 80, 64), "staged", "plain"),
    ((3, 3), 1, 0, (2, 6, 37, 48), "loaded", "plain"),  # 46 columns: rows not whole chunks
    ((5, 5), 1, 2, (2, 4, 33, 64), "loaded", "rows"),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("case", GRAD_TILE_CASES,
                         ids=[f"{describe(*c[:3], 1, c[3])}-{c[4]}-{c[5]}" for c in GRAD_TILE_CASES])
def test_weight_gradient_tile_grad_out_staging(case, dtype):
    kernel, stride, padding, shape, which, form = case
    seed = random.randrange(2**31)
    generator = seeded(seed)
    x = make_input(shape, dtype, "contiguous", generator)
    weight, _ = make_params(shape[1], kernel, dtype, False, generator)
    out_shape = output_shape(shape, kernel, stride, padding, 1)
    assert out_shape[2] * out_shape[3] > 28 * 28, "a plane the whole-plane kernels would take"
    if form == "rows":  # every row of a tensor 3 columns wider
        wide = randn(out_shape[:3] + (out_shape[3] + 3,), dtype, generator)
        grad_out = wide[..., :out_shape[3]]
    else:
        grad_out = randn(out_shape, dtype, generator)
    ref_x, ref_w, ref_b = reference_grads(x, weight, torch.zeros(shape[1], device=DEVICE), grad_out, stride, padding, 1)
    context = f"{describe(kernel, stride, padding, 1, shape)} {dtype} {which} {form} seed={seed}"
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        grad_w, grad_b = ops.depthwise_conv2d_grad_weight(grad_out, x, list(kernel),
                                                          *op_args(kernel, stride, padding, 1))
        torch.cuda.synchronize()
    tensor_cores = dtype != torch.float32 and kernel[0] * kernel[1] >= 49 and which == "staged"
    if tensor_cores:
        names = [e.name for e in prof.events() if "bwd_window_weight_mma_kernel" in e.name]
        assert names, f"{context}: the tensor-core weight gradient did not run"
        which = "tensor cores"
    names = [e.name for e in prof.events() if "bwd_window_weight_tile_kernel" in e.name]
    assert bool(names) != tensor_cores, f"{context}: the register weight gradient ran: {not tensor_cores}"
    if names:
        staged = ", false>" in names[0]
        assert staged == (which == "staged"), f"{context}: {names[0]}"
    tol = reduction_tolerance(dtype, grad_out[:, 0].numel())
    torch.testing.assert_close(grad_w.double(), ref_w, **tol, msg=lambda m: f"{context} grad_weight: {m}")
    torch.testing.assert_close(grad_b.double(), ref_b, **tol, msg=lambda m: f"{context} grad_bias: {m}")


# Stride 2, where the input gradient takes its four phases in one pass: grad_out rows a multiple of
# 16 bytes in float32 and bfloat16 (32 columns), staged in 16-byte chunks, or not (31 columns),
# staged element by element; both parities of p - (k - 1) per axis.
STRIDE_2_CASES = [
    ((3, 3), 2, 1, 1, (2, 6, 33, 63)),
    ((3, 3), 2, 1, 1, (2, 5, 31, 61)),
    ((3, 3), 2, 0, 1, (2, 5, 20, 65)),
    ((5, 5), 2, (2, 1), 1, (2, 4, 30, 66)),
    ((5, 5), 2, 2, 1, (2, 4, 30, 64)),                 # "same" padding's parities: the exact 5x5 phases
    ((7, 7), 2, 3, 1, (1, 4, 29, 64)),                 # wider than the one-pass buckets: a launch per phase
    ((4, 2), 2, (1, 0), 1, (2, 3, 19, 64)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", STRIDE_2_CASES, ids=[describe(*c) for c in STRIDE_2_CASES])
def test_stride_2_gradients(case, dtype):
    kernel, stride, padding, dilation, shape = case
    assert valid(shape, kernel, stride, padding, dilation)
    seed = random.randrange(2**31)
    for j, layout in enumerate(["contiguous", "channels_last"]):
        generator = seeded(seed + j)
        x = make_input(shape, dtype, layout, generator)
        weight, bias = make_params(shape[1], kernel, dtype, j == 0, generator)
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator,
                               f"{describe(*case)} {dtype} {layout} seed={seed + j}")


def test_padding_forms_agree():
    """torch.ops' 2-int padding is the 4-int padding with equal sides, and the Python entry's."""
    generator = seeded(random.randrange(2**31))
    x = make_input((2, 5, 21, 34), torch.float32, "contiguous", generator)
    weight, bias = make_params(5, (5, 3), torch.float32, True, generator)
    two = ops.depthwise_conv2d(x, weight, bias, [1, 2], [2, 3], [1, 1])
    four = ops.depthwise_conv2d(x, weight, bias, [1, 2], [2, 2, 3, 3], [1, 1])
    python = cute_dwconv.depthwise_conv2d(x, weight, bias, (1, 2), (2, 3), 1)
    assert torch.equal(two, four) and torch.equal(two, python)
    torch.testing.assert_close(two.double(), reference(x, weight, bias, (1, 2), (2, 3), 1),
                               **TOLERANCES[torch.float32])


def test_default_arguments_and_list_forms():
    generator = seeded(random.randrange(2**31))
    x = make_input((2, 4, 15, 16), torch.float32, "contiguous", generator)
    weight, bias = make_params(4, (3, 3), torch.float32, True, generator)
    out = cute_dwconv.depthwise_conv2d(x, weight)
    torch.testing.assert_close(out.double(), reference(x, weight, None, 1, 0, 1), **TOLERANCES[torch.float32])
    for stride, padding, dilation in [([2, 1], [1, 0], [1, 2]), ((2,), (1,), (2,))]:  # lists, 1-element tuples
        out = cute_dwconv.depthwise_conv2d(x, weight, bias, stride, padding, dilation)
        torch.testing.assert_close(out.double(), reference(x, weight, bias, stride, padding, dilation),
                                   **TOLERANCES[torch.float32])


def test_strided_weight_and_bias():
    """Parameters that are views with gaps between their elements."""
    generator = seeded(random.randrange(2**31))
    x = make_input((2, 4, 20, 33), torch.float32, "contiguous", generator)
    weight, bias = make_params(4, (5, 3), torch.float32, True, generator)
    wide_weight = torch.stack([weight, torch.full_like(weight, float("nan"))], dim=-1).flatten(-2)[..., ::2]
    wide_bias = torch.stack([bias, torch.full_like(bias, float("nan"))], dim=1)[:, 0]
    assert torch.equal(wide_weight, weight) and not wide_weight.is_contiguous() and not wide_bias.is_contiguous()
    transposed_weight = weight.transpose(2, 3).contiguous().transpose(2, 3)
    for w in (wide_weight, transposed_weight):
        out = cute_dwconv.depthwise_conv2d(x, w, wide_bias, 1, (2, 1), 1)
        assert not torch.isnan(out).any()
        torch.testing.assert_close(out.double(), reference(x, weight, bias, 1, (2, 1), 1),
                                   **TOLERANCES[torch.float32])


def test_empty_batch():
    x = torch.randn(0, 3, 10, 12, device=DEVICE, requires_grad=True)
    weight = torch.randn(3, 1, 3, 5, device=DEVICE, requires_grad=True)
    bias = torch.randn(3, device=DEVICE, requires_grad=True)
    out = cute_dwconv.depthwise_conv2d(x, weight, bias, (2, 1), (1, 0), 1)
    assert out.shape == F.conv2d(x, weight, bias, (2, 1), (1, 0), 1, 3).shape
    out.sum().backward()
    assert x.grad.shape == x.shape
    assert torch.equal(weight.grad, torch.zeros_like(weight)) and torch.equal(bias.grad, torch.zeros_like(bias))


# ----------------------------------------------------------------------------------------------
# each kernel path, through torch.ops, into poisoned outputs of any strides


PATH_CASES = ([(k, *op_args(k, s, p, d), shape) for k, s, p, d, shape in CASES]
              + [(k, list(s), list(p), list(d), shape) for k, s, p, d, shape in PAD4_CASES])
PATH_LAYOUTS = ["contiguous", "channel_slice", "channels_last", "channels_last_slice", "transposed", "unaligned"]
OUT_LAYOUTS = ["suggested", "other_format", "channel_slice", "transposed"]
NHWC_LAYOUTS = ("channels_last", "channels_last_slice")


def poisoned_out(shape, dtype, layout, x):
    """(out, holder): a NaN-filled output in `layout`, and the tensor that holds its memory (to check
    that nothing outside out was written)."""
    n, c, ho, wo = shape
    fmt = suggest_memory_format(x)
    if layout == "suggested":
        out = poisoned(shape, dtype, DEVICE, fmt)
        return out, out
    if layout == "other_format":
        other = torch.contiguous_format if fmt == torch.channels_last else torch.channels_last
        out = poisoned(shape, dtype, DEVICE, other)
        return out, out
    if layout == "channel_slice":
        holder = poisoned((n, c + 3, ho, wo), dtype, DEVICE, fmt)
        return holder[:, 1:1 + c], holder
    if layout == "transposed":
        holder = poisoned((n, c, wo, ho), dtype, DEVICE)
        return holder.transpose(2, 3), holder
    raise AssertionError(layout)


def assert_wrote_exactly_out(out, holder, expected, taps, context):
    """out (from poisoned_out) matches the float64 reference of a window of `taps` taps everywhere,
    and nothing of holder outside out was written."""
    torch.cuda.synchronize()
    assert not torch.isnan(out).any(), f"{context}: unwritten output elements"
    torch.testing.assert_close(out.double(), expected, **conv_tolerance(out.dtype, taps),
                               msg=lambda m: f"{context}: {m}")
    assert torch.isnan(holder).sum().item() == holder.numel() - out.numel(), f"{context}: wrote outside out"


def check_path_into_poisoned_outs(path, x, weight, bias, args, expected, context):
    """The forced path writes exactly out, into an output of x's layout (vector stores) and into a
    channel slice (stores one element at a time); args: the operator's (stride, padding, dilation)."""
    for out_layout in ("suggested", "channel_slice"):
        out, holder = poisoned_out(tuple(expected.shape), x.dtype, out_layout, x)
        ops._depthwise_conv2d_path_out(x, weight, bias, *args, path, out)
        assert_wrote_exactly_out(out, holder, expected, weight.shape[2] * weight.shape[3],
                                 f"{context} out={out_layout}")


def _is_refusal(error):
    return isinstance(error, RuntimeError) and "cannot take this call" in str(error)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
@pytest.mark.parametrize("path", PATHS)
def test_forced_path(path, dtype):
    """auto and direct take every call; tiled, tensor_core and channels_last take the calls they can
    and refuse the rest with a RuntimeError, leaving out untouched. Whatever runs writes exactly out."""
    seed = random.randrange(2**31)
    generator = seeded(seed)
    ran = {layout: 0 for layout in PATH_LAYOUTS}
    refused = 0
    for i, (kernel, stride, padding, dilation, shape) in enumerate(PATH_CASES):
        for j in range(3):  # three of the layouts per case, in turn
            layout = PATH_LAYOUTS[(i + j) % len(PATH_LAYOUTS)]
            x = make_input(shape, dtype, layout, generator)
            weight, bias = make_params(shape[1], kernel, dtype, (i + j) % 2 == 0, generator)
            expected = reference(x, weight, bias, stride, padding, dilation)
            out_layout = OUT_LAYOUTS[(i + j) % len(OUT_LAYOUTS)]
            out, holder = poisoned_out(tuple(expected.shape), dtype, out_layout, x)
            context = (f"path={path} {describe(kernel, stride, padding, dilation, shape)} {dtype} x={layout} "
                       f"out={out_layout} seed={seed}")
            try:
                ops._depthwise_conv2d_path_out(x, weight, bias, stride, padding, dilation, path, out)
            except RuntimeError as error:
                if path not in ("auto", "direct") and _is_refusal(error):
                    assert torch.isnan(holder).all(), f"{context}: a refused call wrote into out"
                    refused += 1
                    continue
                raise AssertionError(f"{context}: {error}") from error
            assert_wrote_exactly_out(out, holder, expected, kernel[0] * kernel[1], context)
            ran[layout] += 1
    if path in ("auto", "direct"):
        assert refused == 0
    elif dtype == torch.float64 or (path.endswith("tensor_core") and dtype == torch.float32):
        assert sum(ran.values()) == 0, f"the {path} path took {dtype} calls: {ran}"
    elif path == "tensor_core":  # 16-bit NCHW rows that stage whole 16-byte chunks, where the cases have them
        assert all(ran[layout] == 0 for layout in NHWC_LAYOUTS), f"the tensor-core path took channels_last x: {ran}"
    elif path == "channels_last_tensor_core":  # 16-bit channels_last x whose pixels stage as 16-byte pieces
        assert ran["channels_last"] > 0, f"the channels_last tensor-core path took no channels_last call: {ran}"
        assert all(ran[layout] == 0 for layout in PATH_LAYOUTS if layout != "channels_last"), f"it took: {ran}"
    elif path == "planes":  # windows within 7x7 at equal strides and unit dilation on NCHW rows
        assert all(ran[layout] == 0 for layout in NHWC_LAYOUTS), f"the planes path took channels_last x: {ran}"
    elif path == "tiled":
        assert ran["contiguous"] > 0, f"the tiled path took no NCHW call ({refused} refused)"
        assert all(ran[layout] == 0 for layout in NHWC_LAYOUTS), f"the tiled path took channels_last x: {ran}"
    else:
        assert ran["channels_last"] > 0, f"the channels_last path took no channels_last call ({refused} refused)"
        assert ran["contiguous"] == 0, f"the channels_last path took an NCHW x: {ran}"


@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
def test_each_path_takes_its_own_layout(dtype):
    """The plain call of each kernel: tiled on NCHW into NCHW, channels_last on NHWC into NHWC."""
    generator = seeded(random.randrange(2**31))
    for path, fmt in [("tiled", torch.contiguous_format)] + [(path, torch.channels_last) for path in NHWC_PATHS]:
        for kernel, padding in (((3, 3), [1, 1]), ((7, 7), [3, 3])):
            x = randn((2, 16, 28, 36), dtype, generator).contiguous(memory_format=fmt)
            weight, bias = make_params(16, kernel, dtype, True, generator)
            out = poisoned((2, 16, 28, 36), dtype, DEVICE, fmt)
            ops._depthwise_conv2d_path_out(x, weight, bias, [1, 1], padding, [1, 1], path, out)
            assert not torch.isnan(out).any(), f"{path} {kernel}: unwritten output elements"
            torch.testing.assert_close(out.double(), reference(x, weight, bias, 1, padding, 1), **TOLERANCES[dtype])


def test_paths_refuse_what_they_cannot_take():
    """tiled on a channels_last x, channels_last on an NCHW x, float64 on either: a RuntimeError."""
    generator = seeded(random.randrange(2**31))
    args = ([1, 1], [1, 1], [1, 1])
    for dtype, fmt, path in [(torch.float32, torch.channels_last, "tiled"),
                             (torch.bfloat16, torch.channels_last, "tiled"),
                             (torch.float32, torch.contiguous_format, "channels_last"),
                             (torch.float16, torch.contiguous_format, "channels_last"),
                             (torch.float64, torch.contiguous_format, "tiled"),
                             (torch.bfloat16, torch.contiguous_format, "channels_last_tile"),
                             (torch.float32, torch.contiguous_format, "channels_last_l1"),
                             (torch.float64, torch.channels_last, "channels_last")]:
        x = randn((2, 8, 12, 13), dtype, generator).contiguous(memory_format=fmt)
        weight, bias = make_params(8, (3, 3), dtype, True, generator)
        out = poisoned((2, 8, 12, 13), dtype, DEVICE, fmt)
        with pytest.raises(RuntimeError, match="cute_dwconv:"):
            ops._depthwise_conv2d_path_out(x, weight, bias, *args, path, out)
        assert torch.isnan(out).all(), f"{path} {dtype} {fmt}: a refused call wrote into out"
        # and the direct path takes the same call
        ops._depthwise_conv2d_path_out(x, weight, bias, *args, "direct", out)
        torch.testing.assert_close(out.double(), reference(x, weight, bias, *args), **TOLERANCES[dtype])


# ----------------------------------------------------------------------------------------------
# the gradient operators called directly


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_gradient_operators(dtype, layout):
    seed = random.randrange(2**31)
    generator = seeded(seed)
    for kernel, stride, padding, dilation, shape in PATH_CASES[::2]:
        x = make_input(shape, dtype, layout, generator)
        weight, _ = make_params(shape[1], kernel, dtype, False, generator)
        out_shape = output_shape(shape, kernel, stride, padding, dilation)
        grad_out = randn(out_shape, dtype, generator).contiguous(memory_format=suggest_memory_format(x))
        ref_x, ref_w, ref_b = reference_grads(x, weight, torch.zeros(shape[1], device=DEVICE), grad_out, stride,
                                              padding, dilation)
        context = f"{describe(kernel, stride, padding, dilation, shape)} {dtype} {layout} seed={seed}"
        poison_allocator(x.numel() * x.element_size(), x.device)
        grad_x = ops.depthwise_conv2d_grad_input(grad_out, weight, shape[2], shape[3], stride, padding, dilation)
        assert grad_x.shape == x.shape and grad_x.dtype == dtype, context
        assert not torch.isnan(grad_x).any(), f"{context}: grad_input has unwritten elements"
        torch.testing.assert_close(grad_x.double(), ref_x, **conv_tolerance(dtype, kernel[0] * kernel[1]),
                                   msg=lambda m: f"{context} grad_input: {m}")
        grad_w, grad_b = ops.depthwise_conv2d_grad_weight(grad_out, x, list(kernel), stride, padding, dilation)
        assert grad_w.shape == weight.shape and grad_b.shape == (shape[1],), context
        assert grad_w.dtype == grad_b.dtype == dtype, context
        tol = reduction_tolerance(dtype, grad_out[:, 0].numel())
        torch.testing.assert_close(grad_w.double(), ref_w, **tol, msg=lambda m: f"{context} grad_weight: {m}")
        torch.testing.assert_close(grad_b.double(), ref_b, **tol, msg=lambda m: f"{context} grad_bias: {m}")


@pytest.mark.parametrize("wants", ["x", "weight", "bias", "all"])
def test_autograd_only_computes_what_is_asked(wants):
    generator = seeded(random.randrange(2**31))
    x = make_input((2, 3, 20, 17), torch.float32, "contiguous", generator).requires_grad_(wants in ("x", "all"))
    weight, bias = make_params(3, (5, 3), torch.float32, True, generator)
    weight.requires_grad_(wants in ("weight", "all"))
    bias.requires_grad_(wants in ("bias", "all"))
    out = cute_dwconv.depthwise_conv2d(x, weight, bias, (1, 2), (2, 1), 1)
    grad_out = torch.randn(out.shape, device=DEVICE, generator=generator)
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


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_weight_gradient_is_deterministic(dtype, layout):
    """Two backward runs give bitwise equal parameter gradients (and input gradients), through
    autograd and through the operator: many tiles per channel, reduced in a fixed order."""
    generator = seeded(5)
    x = make_input((8, 16, 96, 96), dtype, layout, generator)
    weight, bias = make_params(16, (7, 7), dtype, True, generator)
    grad_out = randn((8, 16, 96, 96), dtype, generator).contiguous(memory_format=suggest_memory_format(x))
    runs = []
    for _ in range(2):
        xi, wi, bi = (t.detach().requires_grad_() for t in (x, weight, bias))
        out = cute_dwconv.depthwise_conv2d(xi, wi, bi, 1, 3, 1)
        runs.append(torch.autograd.grad(out, [xi, wi, bi], grad_out))
    for first, again in zip(*runs):
        assert torch.equal(first, again)
    first = ops.depthwise_conv2d_grad_weight(grad_out, x, [7, 7], [1, 1], [3, 3], [1, 1])
    for _ in range(3):
        again = ops.depthwise_conv2d_grad_weight(grad_out, x, [7, 7], [1, 1], [3, 3], [1, 1])
        assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])


# ----------------------------------------------------------------------------------------------
# gradcheck


GRADCHECK_CONFIGS = [  # (kernel, stride, padding, dilation, bias)
    ((3, 3), (1, 2), (1, 0), (2, 1), True),
    ((2, 3), 1, "same", 1, False),
    ((4, 2), (2, 1), (0, 1), 1, True),
    ((3, 5), 1, "valid", (1, 2), False),
    ((1, 1), 2, 1, 1, True),
    ((5, 5), 2, 2, 1, True),
    ((3, 3), (1, 1), (0, 2, 1, 0), (1, 1), True),  # one-sided, through torch.ops
]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("config", GRADCHECK_CONFIGS, ids=[describe(*c[:4]) for c in GRADCHECK_CONFIGS])
def test_gradcheck_float64(config, layout):
    kernel, stride, padding, dilation, with_bias = config
    generator = seeded(random.randrange(2**31))
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    x = torch.randn((2, 3, 9, 10), dtype=torch.float64, device=DEVICE, generator=generator)
    x = x.contiguous(memory_format=fmt).requires_grad_()
    weight = torch.randn((3, 1) + kernel, dtype=torch.float64, device=DEVICE, generator=generator, requires_grad=True)
    bias = (torch.randn((3,), dtype=torch.float64, device=DEVICE, generator=generator, requires_grad=True)
            if with_bias else None)
    via_op = isinstance(padding, tuple) and len(padding) == 4

    def fn(x, weight, bias):
        return call_ours(x, weight, bias, stride, padding, dilation, via_op)

    assert torch.autograd.gradcheck(fn, (x, weight, bias), fast_mode=True)


# ----------------------------------------------------------------------------------------------
# more than 2^31 elements


@pytest.mark.slow
def test_more_than_2_31_elements():
    """64-bit offsets: a bfloat16 input of 2^31 + 2^16 elements, one plane a channel, so that the
    last rows of the second plane lie past 2^31. Forward and the input gradient, checked on rows at
    each plane's top and bottom against F.conv2d run on slices."""
    shape = (1, 2, 32768 + 1, 32768)
    numel = torch.Size(shape).numel()
    assert numel > 2**31
    nbytes = numel * 2
    free, _ = torch.cuda.mem_get_info()
    if free < 6 * nbytes + (4 << 30):  # x, out, grad_out, grad_x, a NaN mask and room
        pytest.skip(f"needs {(6 * nbytes + (4 << 30)) / 2**30:.0f} GiB of free GPU memory, {free / 2**30:.0f} free")
    generator = seeded(random.randrange(2**31))
    h = shape[2]
    x = torch.randn(shape, dtype=torch.bfloat16, device=DEVICE, generator=generator)
    weight, bias = make_params(2, (3, 3), torch.bfloat16, True, generator)

    def check_rows(result, source, w, b, label):
        for c in range(2):
            for r0, r1 in ((0, 4), (h // 2, h // 2 + 3), (h - 4, h)):
                lo, hi = max(r0 - 1, 0), min(r1 + 1, h)
                pads = [1 if r0 == 0 else 0, 1 if r1 == h else 0, 1, 1]
                expected = reference(source[:, c:c + 1, lo:hi], w[c:c + 1], None if b is None else b[c:c + 1],
                                     (1, 1), pads, (1, 1))
                got = result[:, c:c + 1, r0:r1]
                assert not torch.isnan(got).any(), f"{label}: NaN in channel {c} rows {r0}:{r1}"
                torch.testing.assert_close(got.double(), expected, **TOLERANCES[torch.bfloat16],
                                           msg=lambda m: f"{label} channel {c} rows {r0}:{r1}: {m}")

    out = cute_dwconv.depthwise_conv2d(x, weight, bias, 1, 1, 1)
    assert out.shape == shape
    assert not torch.isnan(out).any(), "output has NaN"
    check_rows(out, x, weight, bias, "forward")
    del out
    grad_out = torch.randn(shape, dtype=torch.bfloat16, device=DEVICE, generator=generator)
    del x
    torch.cuda.empty_cache()
    grad_x = ops.depthwise_conv2d_grad_input(grad_out, weight, shape[2], shape[3], [1, 1], [1, 1], [1, 1])
    assert grad_x.shape == shape
    # stride 1: the input gradient is the convolution of grad_out with the flipped window
    check_rows(grad_x, grad_out, weight.flip(2, 3), None, "grad_input")


# ----------------------------------------------------------------------------------------------
# opcheck


def _opcheck_problem(layout="contiguous", requires_grad=False):
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    x = torch.randn(2, 4, 21, 17, device=DEVICE).contiguous(memory_format=fmt).requires_grad_(requires_grad)
    weight = torch.randn(4, 1, 5, 3, device=DEVICE, requires_grad=requires_grad)
    bias = torch.randn(4, device=DEVICE, requires_grad=requires_grad)
    return x, weight, bias


OPCHECK_ARGS = [([1, 2], [2, 1], [1, 1]), ([2, 1], [0, 4, 3, 1], [2, 1]), ([1, 1], [2, 1], [1, 1])]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_opcheck_forward(layout):
    x, weight, bias = _opcheck_problem(layout, requires_grad=True)
    # AOTAutograd's backward may get its tangent in another layout than eager's and so sum the weight
    # gradient on another kernel, in another order: float32 sums of ~700 products differ by ~1e-5.
    tol = reduction_tolerance(torch.float32, x.shape[0] * x.shape[2] * x.shape[3])
    for stride, padding, dilation in OPCHECK_ARGS:
        for b in (bias, None):
            torch.library.opcheck(ops.depthwise_conv2d.default, (x, weight, b, stride, padding, dilation), **tol)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_opcheck_path_out(layout):
    x, weight, bias = _opcheck_problem(layout)
    own_path = "tiled" if layout == "contiguous" else "channels_last"
    for stride, padding, dilation in OPCHECK_ARGS:
        shape = reference(x, weight, bias, stride, padding, dilation).shape
        out = torch.empty(shape, device=DEVICE).contiguous(memory_format=suggest_memory_format(x))
        for path in ("auto", "direct", own_path):
            if path == own_path:
                try:  # the layout's own kernel, where it takes these arguments
                    ops._depthwise_conv2d_path_out(x, weight, bias, stride, padding, dilation, path, out)
                except RuntimeError as error:
                    assert _is_refusal(error), error
                    continue
            torch.library.opcheck(ops._depthwise_conv2d_path_out.default,
                                  (x, weight, bias, stride, padding, dilation, path, out))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_opcheck_backward_operators(layout):
    x, weight, _ = _opcheck_problem(layout)
    for stride, padding, dilation in OPCHECK_ARGS:
        shape = reference(x, weight, None, stride, padding, dilation).shape
        grad_out = torch.randn(shape, device=DEVICE).contiguous(memory_format=suggest_memory_format(x))
        torch.library.opcheck(ops.depthwise_conv2d_grad_input.default,
                              (grad_out, weight, 21, 17, stride, padding, dilation))
        torch.library.opcheck(ops.depthwise_conv2d_grad_weight.default,
                              (grad_out, x, [5, 3], stride, padding, dilation))


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
def test_opcheck_float_parameter_operators(dtype):
    x = torch.randn(2, 4, 21, 16, device=DEVICE, dtype=dtype, requires_grad=True)
    weight = torch.randn(4, 1, 5, 3, device=DEVICE, requires_grad=True)
    bias = torch.randn(4, device=DEVICE, requires_grad=True)
    for stride, padding, dilation in OPCHECK_ARGS:
        torch.library.opcheck(ops._depthwise_conv2d_float_params.default, (x, weight, bias, stride, padding, dilation))
        with torch.no_grad():
            out = ops._depthwise_conv2d_float_params(x, weight, bias, stride, padding, dilation)
        assert out.dtype == dtype
        grad_out = torch.randn_like(out)
        torch.library.opcheck(ops._depthwise_conv2d_grad_input_float_params.default,
                              (grad_out, weight.detach(), 21, 16, stride, padding, dilation))
        torch.library.opcheck(ops._depthwise_conv2d_grad_weight_float_params.default,
                              (grad_out, x.detach(), [5, 3], stride, padding, dilation))
        grad_w, grad_b = ops._depthwise_conv2d_grad_weight_float_params(grad_out, x.detach(), [5, 3], stride,
                                                                         padding, dilation)
        assert grad_w.dtype == grad_b.dtype == torch.float32


def test_every_depthwise_operator_is_opchecked():
    defined = {schema.name.split("::")[1] for schema in torch._C._jit_get_all_schemas()
               if schema.name.startswith("cute_dwconv::")}
    depthwise = {name for name in defined if "depthwise" in name}
    checked = {"depthwise_conv2d", "_depthwise_conv2d_path_out", "depthwise_conv2d_grad_input",
               "depthwise_conv2d_grad_weight", "_depthwise_conv2d_float_params",
               "_depthwise_conv2d_grad_input_float_params", "_depthwise_conv2d_grad_weight_float_params"}
    assert depthwise == checked, f"operators not covered by the opcheck tests above (or missing): {depthwise ^ checked}"


# ----------------------------------------------------------------------------------------------
# torch.compile and torch.export


def _torch_conv(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return F.conv2d(x, weight, bias, pair(stride), padding if isinstance(padding, str) else pair(padding),
                    pair(dilation), x.shape[1])


def _three_convs(conv, x, w7, b7, w24, w33):
    y = conv(x, w7, b7, stride=1, padding=3, dilation=1)
    y = conv(F.gelu(y), w24, None, padding="same", dilation=(1, 2))   # even window: one more row/column after
    return conv(y * 0.5, w33, None, stride=(2, 1), padding=[1, 0], dilation=[1, 2])


def test_compile_fullgraph_matches_eager():
    def fn(x, w7, b7, w24, w33):
        return _three_convs(cute_dwconv.depthwise_conv2d, x, w7, b7, w24, w33)

    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True)
    generator = seeded(random.randrange(2**31))
    params = [randn(s, torch.float32, generator).requires_grad_() for s in
              [(6, 1, 7, 7), (6,), (6, 1, 2, 4), (6, 1, 3, 3)]]
    for shape in [(2, 6, 33, 40), (3, 6, 21, 35)]:  # the second shape recompiles with dynamic sizes
        x = randn(shape, torch.float32, generator)
        results, grad_out = [], None
        for f in (fn, compiled):
            xi = x.clone().requires_grad_()
            out = f(xi, *params)
            if grad_out is None:
                grad_out = torch.randn(out.shape, device=DEVICE, generator=generator)
            results.append([out.detach()] + list(torch.autograd.grad(out, [xi] + params, grad_out)))
        for eager, comp in zip(*results):
            torch.testing.assert_close(comp, eager, rtol=1e-4, atol=1e-5 * max(1.0, eager.abs().max().item()))
        xd = x.double().requires_grad_()
        ref_params = [p.detach().double().requires_grad_() for p in params]
        expected = _three_convs(_torch_conv, xd, *ref_params)
        ref_grads = torch.autograd.grad(expected, [xd] + ref_params, grad_out.double())
        for got, want in zip(results[0], [expected.detach()] + list(ref_grads)):
            torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4 * max(1.0, want.abs().max().item()))


def test_module_under_autocast_compiles():
    torch.manual_seed(random.randrange(2**31))
    layer = cute_dwconv.DepthwiseConv2d(8, 8, 5, padding=2, groups=8).cuda()
    compiled = torch.compile(layer, fullgraph=True)
    x = torch.randn(2, 8, 24, 26, device=DEVICE).contiguous(memory_format=torch.channels_last).requires_grad_()
    results = []
    for fn in (layer, compiled):
        layer.zero_grad(set_to_none=True)
        x.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = fn(x)
        out.float().square().sum().backward()
        results.append([out.detach(), x.grad, layer.weight.grad, layer.bias.grad])
    for eager, compiled_result in zip(*results):
        assert eager.dtype == compiled_result.dtype
        torch.testing.assert_close(compiled_result, eager, rtol=1e-2, atol=1e-2)
    assert results[0][0].dtype == torch.bfloat16 and results[0][2].dtype == torch.float32


class _ExportNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.dw = cute_dwconv.DepthwiseConv2d(8, 8, 7, padding=3, groups=8)
        self.act = nn.GELU()
        self.pw = nn.Conv2d(8, 8, 1)
        self.down = cute_dwconv.DepthwiseConv2d(8, 8, (3, 5), stride=2, padding=(1, 2), groups=8, bias=False)

    def forward(self, x):
        return self.down(self.pw(self.act(self.dw(x))) + x)


def test_export_module():
    """torch.export of a module with DepthwiseConv2d layers, with a dynamic batch: our operator in
    the graph, the exported and the reloaded program give the eager answer."""
    torch.manual_seed(random.randrange(2**31))
    model = _ExportNet().cuda().eval()
    x = torch.randn(2, 8, 30, 28, device=DEVICE)
    batch = torch.export.Dim("batch", min=2, max=64)
    exported = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    targets = [str(node.target) for node in exported.graph.nodes if node.op == "call_function"]
    ours = [t for t in targets if t.startswith("cute_dwconv.")]
    assert ours == ["cute_dwconv.depthwise_conv2d.default"] * 2, f"our operator in the exported graph: {targets}"
    buffer = io.BytesIO()
    torch.export.save(exported, buffer)
    buffer.seek(0)
    loaded = torch.export.load(buffer)
    with torch.no_grad():
        for xi in (x, torch.randn(5, 8, 30, 28, device=DEVICE)):
            expected = model(xi)
            for program in (exported, loaded):
                got = program.module()(xi)
                assert got.shape == expected.shape
                torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# autocast: x cast to 16 bits, float32 parameters read as they are


AUTOCAST_CASES = [
    ((3, 3), 1, 1, 1, (2, 8, 33, 37)),
    ((7, 7), 2, 3, 1, (2, 16, 28, 28)),
    ((31, 31), 1, 15, 1, (2, 4, 40, 37)),
    ((51, 5), 1, "same", 1, (2, 4, 60, 37)),
    ((2, 3), (2, 1), (1, 0), (1, 2), (2, 6, 22, 37)),
    ((5, 5), 1, "valid", 2, (2, 6, 35, 40)),
]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "channels_last_slice"])
@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
@pytest.mark.parametrize("case", AUTOCAST_CASES, ids=[describe(*c) for c in AUTOCAST_CASES])
def test_autocast_reads_float32_parameters(case, dtype, layout):
    """Against F.conv2d in float64 from x rounded to the autocast dtype and the float32 parameters
    as they are; x's gradient with the 16-bit tolerance, the parameters' gradients float32."""
    kernel, stride, padding, dilation, shape = case
    seed = random.randrange(2**31)
    generator = seeded(seed)
    x_dtype = torch.float32 if layout == "contiguous" else dtype  # a float32 x is cast by autocast
    x = make_input(shape, x_dtype, layout, generator).requires_grad_()
    weight = torch.randn((shape[1], 1) + kernel, device=DEVICE, generator=generator).requires_grad_()
    bias = torch.randn((shape[1],), device=DEVICE, generator=generator).requires_grad_()
    x_rounded = x.detach().to(dtype)
    context = f"{describe(*case)} {dtype} {layout} x={x_dtype} seed={seed}"
    expected = reference(x_rounded, weight, bias, stride, padding, dilation)

    poison_allocator(expected.numel() * 2, x.device)
    with torch.autocast("cuda", dtype=dtype):
        out = cute_dwconv.depthwise_conv2d(x, weight, bias, stride, padding, dilation)
    assert out.dtype == dtype and out.shape == expected.shape, context
    assert not torch.isnan(out).any(), f"{context}: unwritten output elements"
    torch.testing.assert_close(out.detach().double(), expected, **TOLERANCES[dtype], msg=lambda m: f"{context}: {m}")

    grad_out = randn(out.shape, dtype, generator)
    grads = torch.autograd.grad(out, [x, weight, bias], grad_out)
    ref = reference_grads(x_rounded, weight, bias, grad_out, stride, padding, dilation)
    assert grads[0].dtype == x_dtype and not torch.isnan(grads[0]).any(), context
    torch.testing.assert_close(grads[0].double(), ref[0], **TOLERANCES[dtype], msg=lambda m: f"{context} grad_x: {m}")
    # 16-bit products summed in float32 and kept float32: float32's tolerance.
    tol = reduction_tolerance(torch.float32, grad_out[:, 0].numel())
    for name, got, want in zip(("grad_weight", "grad_bias"), grads[1:], ref[1:]):
        assert got.dtype == torch.float32, f"{context} {name}: {got.dtype}"
        torch.testing.assert_close(got.double(), want, **tol, msg=lambda m: f"{context} {name}: {m}")


@pytest.mark.parametrize("x_dtype", [torch.float32, torch.bfloat16], ids=str)
def test_autocast_casts_no_parameter(x_dtype):
    """Forward and backward under autocast reach the float-parameter operators and no cast of
    weight or bias (a float32 x still needs its own cast to 16 bits, and its gradient one back)."""
    generator = seeded(random.randrange(2**31))
    x = randn((2, 4, 20, 21), x_dtype, generator).requires_grad_()
    weight = torch.randn(4, 1, 5, 5, device=DEVICE, generator=generator, requires_grad=True)
    bias = torch.randn(4, device=DEVICE, generator=generator, requires_grad=True)
    with OpLog() as log:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = cute_dwconv.depthwise_conv2d(x, weight, bias, 1, 2, 1)
        out.backward(torch.randn_like(out))
    casts = 1 if x_dtype == torch.float32 else 0
    assert log.count(lambda n: n == "aten::_to_copy") == 2 * casts, log.names
    assert sorted(log.ours()) == sorted(["cute_dwconv::_depthwise_conv2d_float_params",
                                         "cute_dwconv::_depthwise_conv2d_grad_input_float_params",
                                         "cute_dwconv::_depthwise_conv2d_grad_weight_float_params"]), log.names
    assert weight.grad.dtype == bias.grad.dtype == torch.float32 and x.grad.dtype == x_dtype


def test_autocast_leaves_float64_alone():
    generator = seeded(random.randrange(2**31))
    x = randn((2, 3, 20, 22), torch.float64, generator)
    weight, bias = make_params(3, (5, 3), torch.float64, True, generator)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = cute_dwconv.depthwise_conv2d(x, weight, bias, 1, "same", 1)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, reference(x, weight, bias, 1, "same", 1), **TOLERANCES[torch.float64])


def test_autocast_with_16_bit_parameters_casts_them():
    """16-bit parameters beside a float32 x under autocast: everything cast to autocast's dtype, as
    nn.Conv2d does."""
    generator = seeded(random.randrange(2**31))
    x = randn((2, 4, 20, 21), torch.float32, generator)
    weight = randn((4, 1, 3, 5), torch.float16, generator)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = cute_dwconv.depthwise_conv2d(x, weight, None, 1, (1, 2), 1)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.double(), reference(x.bfloat16(), weight.bfloat16(), None, 1, (1, 2), 1),
                               **TOLERANCES[torch.bfloat16])


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
def test_autocast_module(dtype):
    torch.manual_seed(random.randrange(2**31))
    reference_module = nn.Conv2d(8, 8, 7, padding=3, groups=8).cuda()
    ours = cute_dwconv.DepthwiseConv2d(8, 8, 7, padding=3, groups=8).cuda()
    ours.load_state_dict(reference_module.state_dict())
    x = torch.randn(2, 8, 26, 31, device=DEVICE)
    with torch.autocast("cuda", dtype=dtype), OpLog() as log:
        out = ours(x)
    with torch.autocast("cuda", dtype=dtype):
        expected = reference_module(x)
    assert log.ours(), f"DepthwiseConv2d under autocast did not run our operator: {log.names}"
    assert out.dtype == expected.dtype == dtype
    tol = TOLERANCES[dtype]
    torch.testing.assert_close(out.double(), expected.double(), rtol=2 * tol["rtol"], atol=2 * tol["atol"])


# ----------------------------------------------------------------------------------------------
# DepthwiseConv2d on the GPU


MODULE_ARGS = [
    dict(in_channels=8, out_channels=8, kernel_size=3, padding=1, groups=8),
    dict(in_channels=8, out_channels=8, kernel_size=(5, 3), stride=(2, 1), padding=(2, 1), groups=8, bias=False),
    dict(in_channels=6, out_channels=6, kernel_size=(2, 4), padding="same", dilation=(2, 1), groups=6),
    dict(in_channels=4, out_channels=4, kernel_size=31, padding=15, groups=4),
    dict(in_channels=4, out_channels=4, kernel_size=(7, 1), padding=(3, 0), groups=4),
    dict(in_channels=5, out_channels=5, kernel_size=5, stride=2, padding="valid", dilation=2, groups=5),
]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", HALF_AND_FLOAT, ids=str)
@pytest.mark.parametrize("kwargs", MODULE_ARGS, ids=str)
def test_module_runs_ours(kwargs, dtype, layout):
    torch.manual_seed(random.randrange(2**31))
    module = cute_dwconv.DepthwiseConv2d(**kwargs).to(DEVICE, dtype)
    assert cute_dwconv.is_depthwise_conv(module)
    c = kwargs["in_channels"]
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    x = torch.randn(2, c, 37, 35, device=DEVICE).to(dtype).contiguous(memory_format=fmt).requires_grad_()
    with OpLog() as log:
        out = module(x)
    assert log.ours() and log.count(lambda n: n == "aten::convolution") == 0, log.names
    args = (module.stride, module.padding, module.dilation)
    expected = reference(x, module.weight, module.bias, *args)
    taps = module.kernel_size[0] * module.kernel_size[1]
    torch.testing.assert_close(out.detach().double(), expected, **conv_tolerance(dtype, taps))
    grad_out = torch.randn(out.shape, device=DEVICE).to(dtype)
    out.backward(grad_out)
    ref_x, ref_w, ref_b = reference_grads(x, module.weight, module.bias, grad_out, *args)
    torch.testing.assert_close(x.grad.double(), ref_x, **conv_tolerance(dtype, taps))
    tol = reduction_tolerance(dtype, grad_out[:, 0].numel())
    torch.testing.assert_close(module.weight.grad.double(), ref_w, **tol)
    if module.bias is not None:
        torch.testing.assert_close(module.bias.grad.double(), ref_b, **tol)


FALLBACK_ARGS = [  # (constructor arguments, dtype): nn.Conv2d's own forward
    (dict(in_channels=4, out_channels=8, kernel_size=3, padding=1, groups=4), torch.float32),   # channel multiplier
    (dict(in_channels=8, out_channels=8, kernel_size=3, padding=1, groups=4), torch.float32),   # grouped
    (dict(in_channels=6, out_channels=6, kernel_size=3, padding=1, groups=6, padding_mode="reflect"), torch.float32),
    (dict(in_channels=6, out_channels=6, kernel_size=3, padding=1, groups=6), torch.float64),
]


@pytest.mark.parametrize("kwargs,dtype", FALLBACK_ARGS, ids=str)
def test_module_falls_back_to_conv2d(kwargs, dtype):
    torch.manual_seed(random.randrange(2**31))
    reference_module = nn.Conv2d(**kwargs).to(DEVICE, dtype)
    module = cute_dwconv.DepthwiseConv2d(**kwargs).to(DEVICE, dtype)
    module.load_state_dict(reference_module.state_dict())
    x = torch.randn(2, kwargs["in_channels"], 17, 19, device=DEVICE, dtype=dtype)
    with torch.no_grad(), OpLog() as log:
        out = module(x)
    assert not log.ours(), log.names
    with torch.no_grad():
        torch.testing.assert_close(out, reference_module(x), rtol=1e-6, atol=1e-6)


def test_module_follows_changed_attributes():
    """nn.Conv2d reads its attributes on every call: so does DepthwiseConv2d."""
    torch.manual_seed(random.randrange(2**31))
    module = cute_dwconv.DepthwiseConv2d(6, 6, 5, padding=2, groups=6).cuda()
    x = torch.randn(2, 6, 20, 21, device=DEVICE)
    with torch.no_grad():
        for padding, stride, dilation in [((2, 2), (1, 1), (1, 1)), ((0, 3), (1, 1), (1, 1)), ((4, 4), (2, 1), (2, 2)),
                                          ("same", (1, 1), (1, 2))]:
            module.padding, module.stride, module.dilation = padding, stride, dilation
            out = module(x)
            expected = reference(x, module.weight, module.bias, stride, padding, dilation)
            torch.testing.assert_close(out.double(), expected, **TOLERANCES[torch.float32],
                                       msg=lambda m: f"padding={padding} stride={stride} dilation={dilation}: {m}")


# ----------------------------------------------------------------------------------------------
# randomized: hypothesis draws windows, arguments, shapes, dtypes and layouts


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

HYPOTHESIS_LAYOUTS = ["contiguous", "channels_last", "channels_last_slice", "channel_slice", "transposed", "strided",
                      "unaligned"]

if given is not None:
    @st.composite
    def problems(draw):
        kind = draw(st.sampled_from(["random"] * 6 + ["51x5", "5x51"]))
        if kind == "random":
            kernel = (draw(st.integers(1, 31)), draw(st.integers(1, 31)))
        else:
            kernel = (51, 5) if kind == "51x5" else (5, 51)
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        if max(kernel) > 31:
            dilation = (1, 1)
        form = draw(st.sampled_from(["int", "pair", "same", "valid", "four"]))
        reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
        if form == "same":
            stride = (1, 1)
            padding, sides = "same", op_padding("same", kernel, dilation)
        elif form == "valid":
            padding, sides = "valid", [0, 0, 0, 0]
        elif form == "int":
            p = draw(st.integers(0, min(reach) // 2 + 1))
            padding, sides = p, [p] * 4
        elif form == "pair":
            padding = (draw(st.integers(0, reach[0] // 2 + 1)), draw(st.integers(0, reach[1] // 2 + 1)))
            sides = [padding[0], padding[0], padding[1], padding[1]]
        else:
            sides = [draw(st.integers(0, reach[0])), draw(st.integers(0, reach[0])),
                     draw(st.integers(0, reach[1])), draw(st.integers(0, reach[1]))]
            padding = list(sides)
        min_h = max(1, reach[0] - sides[0] - sides[1])
        min_w = max(1, reach[1] - sides[2] - sides[3])
        h = draw(st.integers(min_h, min_h + 40))
        w = draw(st.one_of(st.integers(min_w, min_w + 60),
                           st.integers(max(1, -(-min_w // 8)), 20).map(lambda v: 8 * v)))  # vector multiples
        return dict(
            kernel=kernel, stride=stride, padding=padding, dilation=dilation, via_op=form == "four",
            shape=(draw(st.integers(1, 2)), draw(st.sampled_from([1, 2, 3, 5, 8, 9, 16, 24])), h, w),
            with_bias=draw(st.booleans()), dtype=draw(st.sampled_from(ALL_DTYPES)),
            layout=draw(st.sampled_from(HYPOTHESIS_LAYOUTS)), seed=draw(st.integers(0, 2**31 - 1)),
        )

    @settings(max_examples=60, deadline=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(problem=problems())
    def test_random_problems_match_conv2d(problem):
        kernel, shape = problem["kernel"], problem["shape"]
        args = (problem["stride"], problem["padding"], problem["dilation"])
        assert valid(shape, kernel, *args), problem
        generator = seeded(problem["seed"])
        x = make_input(shape, problem["dtype"], problem["layout"], generator)
        weight, bias = make_params(shape[1], kernel, problem["dtype"], problem["with_bias"], generator)
        check_forward_backward(x, weight, bias, *args, generator, str(problem), via_op=problem["via_op"])
else:  # pragma: no cover
    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_random_problems_match_conv2d():
        pass
