"""Python entries for torch.ops.cute_dwconv and the operators' fake (shape-only) implementations."""

from __future__ import annotations

from typing import Optional

import torch
from torch._prims_common import suggest_memory_format

_ops = torch.ops.cute_dwconv


def _out_extent(size: int, padding: int, taps: int, stride: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (taps - 1) - 1) // stride + 1


def output_shape(x_shape, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1):
    """(N, C, Ho, Wo) that nn.Conv2d with a (kernel_size, 1) kernel gives for an input of x_shape."""
    n, c, h, w = x_shape
    return (n, c, _out_extent(h, padding, kernel_size, stride, dilation), _out_extent(w, padding, 1, stride, 1))


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"cute_dwconv: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"cute_dwconv: {name} must be >= {minimum}, got {value}")
    return value


def _check_call(x, weight, bias, stride, padding, dilation) -> None:
    for name, value in (("x", x), ("weight", weight)):
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"cute_dwconv: {name} must be a torch.Tensor, got {type(value).__name__}")
    if bias is not None and not isinstance(bias, torch.Tensor):
        raise ValueError(f"cute_dwconv: bias must be a torch.Tensor or None, got {type(bias).__name__}")
    _check_int("stride", stride, 1)
    _check_int("padding", padding, 0)
    _check_int("dilation", dilation, 1)


def dwconv_kx1(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """Depthwise convolution with a (K, 1) kernel: ``F.conv2d(x, weight, bias, stride, padding,
    dilation, groups=C)`` for x of shape (N, C, H, W) and weight of shape (C, 1, K, 1)."""
    _check_call(x, weight, bias, stride, padding, dilation)
    return _ops.dwconv_kx1(x, weight, bias, stride, padding, dilation)


def dwconv_kx1_out(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: int,
    padding: int,
    dilation: int,
    out: torch.Tensor,
) -> torch.Tensor:
    """dwconv_kx1 written into ``out`` (any strides, the exact output shape); returns ``out``."""
    _check_call(x, weight, bias, stride, padding, dilation)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"cute_dwconv: out must be a torch.Tensor, got {type(out).__name__}")
    _ops.dwconv_kx1_out(x, weight, bias, stride, padding, dilation, out)
    return out


def _fake_forward(x, weight, bias, stride, padding, dilation):
    torch._check(x.dim() == 4, lambda: f"cute_dwconv: x must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    torch._check(
        weight.dim() == 4 and weight.shape[0] == x.shape[1] and weight.shape[1] == 1 and weight.shape[3] == 1,
        lambda: f"cute_dwconv: weight must have shape (C, 1, K, 1), got {tuple(weight.shape)}",
    )
    torch._check(stride >= 1 and dilation >= 1 and padding >= 0, lambda: "cute_dwconv: bad stride/padding/dilation")
    shape = output_shape(x.shape, weight.shape[2], stride, padding, dilation)
    torch._check(shape[2] > 0 and shape[3] > 0, lambda: f"cute_dwconv: output size {shape} is not positive")
    return x.new_empty(shape).to(memory_format=suggest_memory_format(x))


@torch.library.register_fake("cute_dwconv::dwconv_kx1")
def _(x, weight, bias, stride, padding, dilation):
    return _fake_forward(x, weight, bias, stride, padding, dilation)


@torch.library.register_fake("cute_dwconv::dwconv_kx1_out")
def _(x, weight, bias, stride, padding, dilation, out):
    return None


@torch.library.register_fake("cute_dwconv::_dwconv_kx1_path_out")
def _(x, weight, bias, stride, padding, dilation, path, out):
    return None


def _fake_grad_input(grad_out, weight, height, width, stride, padding, dilation):
    torch._check(grad_out.dim() == 4, lambda: f"cute_dwconv: grad_out must be 4-D, got shape {tuple(grad_out.shape)}")
    n, c = grad_out.shape[0], grad_out.shape[1]
    return grad_out.new_empty((n, c, height, width)).to(memory_format=suggest_memory_format(grad_out))


@torch.library.register_fake("cute_dwconv::dwconv_kx1_grad_input")
def _(grad_out, weight, height, width, stride, padding, dilation):
    return _fake_grad_input(grad_out, weight, height, width, stride, padding, dilation)


@torch.library.register_fake("cute_dwconv::_dwconv_kx1_grad_input_path")
def _(grad_out, weight, height, width, stride, padding, dilation, path):
    return _fake_grad_input(grad_out, weight, height, width, stride, padding, dilation)


@torch.library.register_fake("cute_dwconv::dwconv_kx1_grad_weight")
def _(grad_out, x, kernel_size, stride, padding, dilation):
    torch._check(x.dim() == 4, lambda: f"cute_dwconv: x must be 4-D, got shape {tuple(x.shape)}")
    c = x.shape[1]
    return x.new_empty((c, 1, kernel_size, 1)), x.new_empty((c,))


def _setup_context(ctx, inputs, output):
    x, weight, bias, stride, padding, dilation = inputs
    ctx.save_for_backward(x, weight)
    ctx.conv_args = (stride, padding, dilation)
    ctx.has_bias = bias is not None


def _backward(ctx, grad_out):
    x, weight = ctx.saved_tensors
    stride, padding, dilation = ctx.conv_args
    wants_x, wants_weight, wants_bias = ctx.needs_input_grad[:3]
    wants_bias = wants_bias and ctx.has_bias
    grad_x = grad_weight = grad_bias = None
    if wants_x:
        grad_x = _ops.dwconv_kx1_grad_input(grad_out, weight, x.shape[2], x.shape[3], stride, padding, dilation)
    if wants_weight or wants_bias:
        both = _ops.dwconv_kx1_grad_weight(grad_out, x, weight.shape[2], stride, padding, dilation)
        grad_weight = both[0] if wants_weight else None
        grad_bias = both[1] if wants_bias else None
    return grad_x, grad_weight, grad_bias, None, None, None


torch.library.register_autograd("cute_dwconv::dwconv_kx1", _backward, setup_context=_setup_context)
