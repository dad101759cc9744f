"""Backward: the gradient operators against PyTorch's autograd (in float64) over a grid of arguments,
layouts and dtypes; gradcheck; what autograd launches; determinism."""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch
import torch.nn.functional as F

import cute_dwconv
from conftest import TOLERANCES, poison_allocator, requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]
grad_input_op = torch.ops.cute_dwconv.dwconv_kx1_grad_input
grad_input_path_op = torch.ops.cute_dwconv._dwconv_kx1_grad_input_path
grad_weight_op = torch.ops.cute_dwconv.dwconv_kx1_grad_weight


def reference_grads(x, weight, bias, grad_out, stride, padding, dilation):
    """PyTorch's gradients of conv2d in float64, from the same (rounded) inputs."""
    xd = x.detach().double().requires_grad_()
    wd = weight.detach().double().requires_grad_()
    bd = bias.detach().double().requires_grad_() if bias is not None else None
    out = F.conv2d(xd, wd, bd, stride=stride, padding=padding, dilation=dilation, groups=x.shape[1])
    out.backward(grad_out.double())
    return xd.grad, wd.grad, None if bd is None else bd.grad


def reduction_tolerance(dtype, terms):
    """grad_weight sums `terms` products: float32 accumulation error grows with their count, and
    the result is rounded to the dtype once."""
    tol = TOLERANCES[dtype]
    return dict(rtol=tol["rtol"], atol=tol["atol"] * math.sqrt(terms))


def random_case(shape, k, dtype, with_bias, stride, padding, dilation, generator):
    n, c, h, w = shape
    x = torch.randn(shape, device="cuda", generator=generator).to(dtype)
    weight = torch.randn((c, 1, k, 1), device="cuda", generator=generator).to(dtype)
    bias = torch.randn((c,), device="cuda", generator=generator).to(dtype) if with_bias else None
    out_shape = cute_dwconv.output_shape(shape, k, stride, padding, dilation)
    grad_out = torch.randn(out_shape, device="cuda", generator=generator).to(dtype)
    return x, weight, bias, grad_out


def check_case(shape, k, stride, padding, dilation, with_bias, dtype, seed, input_path="auto", layout=None):
    generator = torch.Generator(device="cuda").manual_seed(seed)
    x, weight, bias, grad_out = random_case(shape, k, dtype, with_bias, stride, padding, dilation, generator)
    if layout is not None:
        x, grad_out = layout(x), layout(grad_out)
    ref_x, ref_w, ref_b = reference_grads(x, weight, bias, grad_out, stride, padding, dilation)
    context = f"shape={shape} K={k} stride={stride} padding={padding} dilation={dilation} dtype={dtype} seed={seed}"

    poison_allocator(x.numel() * x.element_size(), x.device)
    grad_x = grad_input_path_op(grad_out, weight, shape[2], shape[3], stride, padding, dilation, input_path)
    assert grad_x.shape == x.shape, context
    assert not torch.isnan(grad_x).any(), f"{context}: grad_input has unwritten elements"
    torch.testing.assert_close(grad_x.double(), ref_x, **TOLERANCES[dtype], msg=lambda m: f"{context}: {m}")

    grad_w, grad_b = grad_weight_op(grad_out, x, k, stride, padding, dilation)
    terms = grad_out[:, 0].numel()
    tol = reduction_tolerance(dtype, terms)
    torch.testing.assert_close(grad_w.double(), ref_w, **tol, msg=lambda m: f"{context} grad_weight: {m}")
    if bias is not None:
        torch.testing.assert_close(grad_b.double(), ref_b, **tol, msg=lambda m: f"{context} grad_bias: {m}")


# W = 264 is a multiple of every vector width (the tiled input gradient and the vectorised weight
# gradient); W = 45 is not (the general paths).
ARG_GRID = [(k, s, p, d) for k, s, p, d in itertools.product([1, 2, 3, 5, 7, 21], [1, 2, 3], [0, 1, 4, 8], [1, 2])]


@pytest.mark.parametrize("width", [264, 45])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_gradient_grid(dtype, width):
    seed = random.randrange(2**31)
    ran = 0
    for i, (k, stride, padding, dilation) in enumerate(ARG_GRID):
        shape = (2, 3, 37, width)
        if shape[2] + 2 * padding < dilation * (k - 1) + 1:
            continue
        check_case(shape, k, stride, padding, dilation, i % 2 == 0, dtype, seed + i)
        ran += 1
    assert ran > 0


@pytest.mark.parametrize("args", [(3, 1, 1, 1), (5, 1, 2, 2), (3, 2, 1, 1), (7, 3, 4, 2)], ids=str)
def test_strided_path_on_every_stride(args):
    """The gathering kernel, forced even where stride 1 would take the flipped forward."""
    k, stride, padding, dilation = args
    check_case((2, 5, 29, 40), k, stride, padding, dilation, True, torch.float32, 7, input_path="strided")


@pytest.mark.parametrize("layout", ["channels_last", "expanded", "sliced"])
def test_gradient_layouts(layout):
    if layout == "channels_last":
        to_layout = lambda t: t.contiguous(memory_format=torch.channels_last)  # noqa: E731
    elif layout == "sliced":
        to_layout = lambda t: torch.cat([t, t], dim=3)[..., ::2]  # noqa: E731  (column stride 2)
    else:  # grad_out of a sum(): one value broadcast through zero strides
        to_layout = lambda t: t[:1, :1, :1, :1].expand(t.shape)  # noqa: E731
    for k, stride, padding in [(3, 1, 1), (5, 2, 2), (7, 1, 3)]:
        check_case((3, 4, 30, 32), k, stride, padding, 1, True, torch.float32, 11, layout=to_layout)


def test_large_reduction_headline_like():
    """Many tiles per channel, 16-byte runs, the fixed-order reduction over them."""
    check_case((8, 4, 256, 256), 3, 1, 0, 1, True, torch.float32, 3)
    check_case((8, 4, 256, 256), 3, 1, 1, 1, True, torch.bfloat16, 4)


def test_weight_gradient_is_deterministic():
    generator = torch.Generator(device="cuda").manual_seed(5)
    x, weight, bias, grad_out = random_case((16, 4, 128, 128), 7, torch.float32, True, 1, 3, 1, generator)
    first = grad_weight_op(grad_out, x, 7, 1, 3, 1)
    for _ in range(5):
        again = grad_weight_op(grad_out, x, 7, 1, 3, 1)
        assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])


def test_empty_batch_gives_zero_parameter_gradients():
    x = torch.randn(0, 3, 10, 8, device="cuda")
    grad_out = torch.randn(0, 3, 8, 8, device="cuda")
    grad_w, grad_b = grad_weight_op(grad_out, x, 3, 1, 0, 1)
    assert torch.equal(grad_w, torch.zeros(3, 1, 3, 1, device="cuda"))
    assert torch.equal(grad_b, torch.zeros(3, device="cuda"))
    assert grad_input_op(grad_out, torch.randn(3, 1, 3, 1, device="cuda"), 10, 8, 1, 0, 1).shape == x.shape


GRADCHECK_GRID = list(itertools.product([1, 2, 3, 4], [1, 2, 3], [0, 1, 3], [1, 2], [False, True]))


@pytest.mark.parametrize("chunk", range(4))
def test_gradcheck_float64(chunk):
    generator = torch.Generator(device="cuda").manual_seed(chunk)
    for k, stride, padding, dilation, with_bias in GRADCHECK_GRID[chunk::4]:
        for width in (5, 8):  # the general paths and the vectorised ones (2 doubles per 16 bytes)
            shape = (2, 2, 9, width)
            if shape[2] + 2 * padding < dilation * (k - 1) + 1:
                continue
            x = torch.randn(shape, dtype=torch.float64, device="cuda", generator=generator, requires_grad=True)
            weight = torch.randn((2, 1, k, 1), dtype=torch.float64, device="cuda", generator=generator,
                                 requires_grad=True)
            bias = (torch.randn((2,), dtype=torch.float64, device="cuda", generator=generator, requires_grad=True)
                    if with_bias else None)
            inputs = (x, weight, bias, stride, padding, dilation)
            assert torch.autograd.gradcheck(cute_dwconv.dwconv_kx1, inputs), (k, stride, padding, dilation)


@pytest.mark.parametrize("wants", ["x", "weight", "bias", "all"])
def test_autograd_only_computes_what_is_asked(wants):
    x = torch.randn(2, 3, 20, 16, device="cuda", requires_grad=wants in ("x", "all"))
    weight = torch.randn(3, 1, 5, 1, device="cuda", requires_grad=wants in ("weight", "all"))
    bias = torch.randn(3, device="cuda", requires_grad=wants in ("bias", "all"))
    out = cute_dwconv.dwconv_kx1(x, weight, bias, 1, 2, 1)
    grad_out = torch.randn_like(out)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        out.backward(grad_out)
        torch.cuda.synchronize()
    kernels = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    ref = reference_grads(x, weight, bias, grad_out, 1, 2, 1)
    for tensor, expected in zip((x, weight, bias), ref):
        if tensor.requires_grad:
            torch.testing.assert_close(tensor.grad.double(), expected, rtol=1e-4, atol=1e-4)
    weight_kernels = [k for k in kernels if "bwd_weight" in k]
    assert bool(weight_kernels) == (wants != "x"), kernels
    gathered_or_forward = [k for k in kernels if "fwd_" in k or "bwd_input" in k]
    assert bool(gathered_or_forward) == (wants in ("x", "all")), kernels


@pytest.mark.parametrize("padding", [1, 3])
def test_grad_input_past_the_last_whole_strip(padding):
    """grad_input 258 columns wide: two columns past a whole float32 strip, summed apart by the
    flipped forward, whose column padding is negative."""
    check_case((2, 3, 30, 258), 3, 1, padding, 1, True, torch.float32, 13)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, "float_params"], ids=str)
def test_channels_last_strip_weight_gradients(dtype):
    """channels_last strips within the window family's register buckets take its weight gradient
    kernels: both orientations, strides 1 and 2, channel counts those kernels do and do not tile,
    16-bit x with 16-bit or (autocast's) float32 gradients; the same bits on a second call."""
    float_params = dtype == "float_params"
    dtype = torch.bfloat16 if float_params else dtype
    op = (torch.ops.cute_dwconv._strip_conv2d_grad_weight_float_params if float_params
          else torch.ops.cute_dwconv.strip_conv2d_grad_weight)
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    for (kh, kw), stride, c in itertools.product([(3, 1), (1, 5), (7, 1), (1, 7)], [1, 2], [8, 6, 64]):
        padding = (kh // 2, kw // 2)
        x = torch.randn((3, c, 29, 34), device="cuda", generator=generator).to(dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        weight = torch.randn((c, 1, kh, kw), device="cuda", generator=generator).to(dtype)
        out_shape = F.conv2d(x, weight, None, stride, padding, 1, c).shape
        grad_out = torch.randn(out_shape, device="cuda", generator=generator).to(dtype)
        grad_out = grad_out.contiguous(memory_format=torch.channels_last)
        _, ref_w, ref_b = reference_grads(x, weight, torch.zeros(c, device="cuda", dtype=dtype), grad_out, stride,
                                          padding, 1)
        grad_w, grad_b = op(grad_out, x, [kh, kw], [stride, stride], list(padding), [1, 1])
        assert grad_w.dtype == (torch.float32 if float_params else dtype)
        tol = reduction_tolerance(torch.float32 if float_params else dtype, grad_out[:, 0].numel())
        context = f"({kh}, {kw}) stride {stride} C={c} {dtype} float_params={float_params}"
        torch.testing.assert_close(grad_w.double(), ref_w, **tol, msg=lambda m: f"{context}: {m}")
        torch.testing.assert_close(grad_b.double(), ref_b, **tol, msg=lambda m: f"{context} bias: {m}")
        again = op(grad_out, x, [kh, kw], [stride, stride], list(padding), [1, 1])
        assert torch.equal(again[0], grad_w) and torch.equal(again[1], grad_b), context
