"""Float32 weight and bias beside float16 or bfloat16 activations: what strip_conv2d, dwconv_kx1 and
the modules run under autocast, which leaves the parameters float32
(torch.ops.cute_dwconv._strip_conv2d_float_params and its two gradient operators). Checked against
F.conv2d in float64 from the unrounded parameters, forward and every gradient, into poisoned
memory; the routing autocast takes; opcheck; torch.compile; the checks of the private operators."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

import cute_dwconv
from conftest import TOLERANCES, OpLog, poison_allocator, requires_cuda
from test_strip_conv2d import (kernel_hw, make_input, op_args, randn, reduction_tolerance, reference, reference_grads,
                               valid, weight_shape)

pytestmark = [requires_cuda, pytest.mark.gpu]

ops = torch.ops.cute_dwconv
SIXTEEN_BIT = [torch.float16, torch.bfloat16]
ORIENTATIONS = ["vertical", "horizontal"]
# (K, stride, padding, dilation): the table's kernels, the general ones (K=4 d=3, K=33), the
# gathering input gradient (stride 2) and the flipped forward (stride 1) each read the weight.
CONFIGS = [
    (3, 1, 1, 1),
    (7, 1, "same", 1),
    (4, 1, "same", (3, 3)),
    (5, (2, 1), (2, 0), 1),
    (11, 1, (5, 5), 1),
    (21, 2, 10, 1),
    (33, 1, 16, 1),
]
LAYOUTS = {"contiguous": (2, 5, 37, 40), "channels_last": (3, 6, 35, 33), "channels_last_slice": (2, 3, 33, 37)}


def _params(c, k, orientation, generator, with_bias=True):
    weight = torch.randn(weight_shape(c, k, orientation), device="cuda", generator=generator).requires_grad_()
    bias = torch.randn((c,), device="cuda", generator=generator).requires_grad_() if with_bias else None
    return weight, bias


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_autocast_reads_float32_parameters(config, orientation, dtype, layout):
    k, stride, padding, dilation = config
    shape = LAYOUTS[layout]
    if not valid(shape, k, orientation, stride, padding, dilation):
        pytest.skip("no output for this shape")
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = make_input(shape, dtype, layout, generator).requires_grad_()
    weight, bias = _params(shape[1], k, orientation, generator, with_bias=k % 2 == 1)
    context = f"{config} {orientation} {dtype} {layout}"
    expected = reference(x, weight, bias, stride, padding, dilation)  # from the float32 parameters as they are

    poison_allocator(expected.numel() * x.element_size(), x.device)
    with torch.autocast("cuda", dtype=dtype):
        out = cute_dwconv.strip_conv2d(x, weight, bias, stride, padding, dilation)
    assert out.dtype == dtype and out.shape == expected.shape, context
    assert not torch.isnan(out).any(), f"{context}: unwritten output elements"
    torch.testing.assert_close(out.detach().double(), expected, **TOLERANCES[dtype], msg=lambda m: f"{context}: {m}")

    grad_out = randn(out.shape, dtype, generator)
    inputs = [x, weight] + ([bias] if bias is not None else [])
    poison_allocator(x.numel() * x.element_size(), x.device)
    grads = torch.autograd.grad(out, inputs, grad_out)
    ref = reference_grads(x, weight, bias, grad_out, stride, padding, dilation)
    assert grads[0].dtype == dtype and not torch.isnan(grads[0]).any(), context
    torch.testing.assert_close(grads[0].double(), ref[0], **TOLERANCES[dtype], msg=lambda m: f"{context} grad_x: {m}")
    # 16-bit products summed in float32 and kept float32: float32's tolerance.
    tol = reduction_tolerance(torch.float32, grad_out[:, 0].numel())
    for name, got, want in zip(("grad_weight", "grad_bias"), grads[1:], ref[1:]):
        assert got.dtype == torch.float32, f"{context} {name}: {got.dtype}"
        torch.testing.assert_close(got.double(), want, **tol, msg=lambda m: f"{context} {name}: {m}")


@pytest.mark.parametrize("x_dtype", [torch.float32, torch.bfloat16], ids=str)
def test_autocast_casts_no_parameter(x_dtype):
    """Forward and backward under autocast reach our operators and no cast of weight or bias (a
    float32 x still needs its own cast to 16 bits)."""
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = randn((2, 4, 20, 21), x_dtype, generator).requires_grad_()
    weight, bias = _params(4, 7, "horizontal", generator)
    with OpLog() as log:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = cute_dwconv.strip_conv2d(x, weight, bias, 1, (0, 3), 1)
        out.backward(torch.randn_like(out))
    casts = 1 if x_dtype == torch.float32 else 0
    assert log.count(lambda n: n == "aten::_to_copy") == 2 * casts, log.names  # x forward, its gradient back
    assert log.ours() == ["cute_dwconv::_strip_conv2d_float_params", "cute_dwconv::_strip_conv2d_grad_input_float_params",
                          "cute_dwconv::_strip_conv2d_grad_weight_float_params"], log.names
    assert weight.grad.dtype == bias.grad.dtype == torch.float32 and x.grad.dtype == x_dtype


def test_autocast_leaves_other_parameter_dtypes_to_casts():
    """16-bit parameters, or float64 input, take the cast path as before."""
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = randn((2, 4, 20, 21), torch.float32, generator)
    weight = randn((4, 1, 5, 1), torch.float16, generator)
    with torch.autocast("cuda", dtype=torch.bfloat16), OpLog() as log:
        out = cute_dwconv.strip_conv2d(x, weight, None, 1, (2, 0), 1)
    assert log.ours() == ["cute_dwconv::strip_conv2d"] and out.dtype == torch.bfloat16, log.names
    torch.testing.assert_close(out.double(), reference(x.bfloat16(), weight.bfloat16(), None, 1, (2, 0), 1),
                               **TOLERANCES[torch.bfloat16])


def test_dwconv_kx1_under_autocast():
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = randn((2, 4, 30, 17), torch.bfloat16, generator)
    weight, bias = _params(4, 5, "vertical", generator)
    with torch.autocast("cuda", dtype=torch.bfloat16), OpLog() as log:
        out = cute_dwconv.dwconv_kx1(x, weight, bias, 2, 2, 1)
    assert log.ours() == ["cute_dwconv::_strip_conv2d_float_params"], log.names
    torch.testing.assert_close(out.double(), reference(x, weight, bias, 2, 2, 1), **TOLERANCES[torch.bfloat16])
    # Its own checks and messages stay its own.
    with torch.autocast("cuda", dtype=torch.bfloat16):
        with pytest.raises(RuntimeError, match=r"weight must have shape \(C, 1, K, 1\)"):
            cute_dwconv.dwconv_kx1(x, weight.detach().transpose(2, 3), bias, 1, 0, 1)
        with pytest.raises(RuntimeError, match="stride must be >= 1, got 0"):
            torch.ops.cute_dwconv.dwconv_kx1(x, weight, bias, 0, 0, 1)


@pytest.mark.parametrize("module", ["vertical", "horizontal"])
def test_module_under_autocast_compiles(module):
    torch.manual_seed(random.randrange(2**31))
    kernel, padding = ((7, 1), (3, 0)) if module == "vertical" else ((1, 7), (0, 3))
    layer = cute_dwconv.StripConv2d(8, 8, kernel, padding=padding, groups=8).cuda()
    compiled = torch.compile(layer, fullgraph=True)
    x = torch.randn(2, 8, 24, 26, device="cuda", requires_grad=True)
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
    assert results[0][2].dtype == torch.float32


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_opcheck_float_parameter_operators(orientation):
    k = 5
    x = torch.randn(2, 4, 21, 16, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    weight = torch.randn(weight_shape(4, k, orientation), device="cuda", requires_grad=True)
    bias = torch.randn(4, device="cuda", requires_grad=True)
    stride, padding, dilation = op_args(k, orientation, (1, 2), 2, 1)
    torch.library.opcheck(ops._strip_conv2d_float_params.default, (x, weight, bias, stride, padding, dilation))
    with torch.no_grad():
        out = ops._strip_conv2d_float_params(x, weight, bias, stride, padding, dilation)
    grad_out = torch.randn_like(out)
    torch.library.opcheck(ops._strip_conv2d_grad_input_float_params.default,
                          (grad_out, weight.detach(), 21, 16, stride, padding, dilation))
    torch.library.opcheck(ops._strip_conv2d_grad_weight_float_params.default,
                          (grad_out, x.detach(), list(kernel_hw(k, orientation)), stride, padding, dilation))


def test_float_parameter_operators_check_dtypes():
    x = torch.randn(2, 4, 12, 12, device="cuda")
    weight = torch.randn(4, 1, 3, 1, device="cuda")
    args = ([1, 1], [1, 0], [1, 1])
    with pytest.raises(TypeError, match="weight must be float32 beside a float16 or bfloat16 x"):
        ops._strip_conv2d_float_params(x, weight, None, *args)  # float32 x
    with pytest.raises(TypeError, match="weight must be float32 beside"):
        ops._strip_conv2d_float_params(x.half(), weight.half(), None, *args)
    with pytest.raises(TypeError, match="bias must be float32 beside"):
        ops._strip_conv2d_float_params(x.half(), weight, torch.randn(4, device="cuda").double(), *args)
    grad_out = torch.randn(2, 4, 12, 12, device="cuda")
    with pytest.raises(TypeError, match="weight must be float32 beside a float16 or bfloat16 grad_out"):
        ops._strip_conv2d_grad_input_float_params(grad_out, weight, 12, 12, *args)
    with pytest.raises(TypeError, match="float32 weight gradients are for a float16 or bfloat16 x"):
        ops._strip_conv2d_grad_weight_float_params(grad_out, x, [3, 1], *args)


def test_public_operator_still_refuses_mixed_dtypes():
    """strip_conv2d itself raises where F.conv2d raises: only autocast takes the float32 parameters."""
    x = torch.randn(2, 4, 12, 12, device="cuda", dtype=torch.bfloat16)
    weight = torch.randn(4, 1, 3, 1, device="cuda")
    with pytest.raises(TypeError, match="weight has dtype"):
        cute_dwconv.strip_conv2d(x, weight, None, 1, (1, 0), 1)
