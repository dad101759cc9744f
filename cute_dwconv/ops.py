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
