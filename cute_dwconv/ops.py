"""Python entries for torch.ops.cute_dwconv, with F.conv2d's argument forms resolved here."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch

_ops = torch.ops.cute_dwconv

IntOrPair = Union[int, Sequence[int]]
Padding = Union[int, Sequence[int], str]


def _out_extent(size: int, padding: int, taps: int, stride: int, dilation: int) -> int:
    return (size + padding - dilation * (taps - 1) - 1) // stride + 1


def output_shape(x_shape, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1):
    """(N, C, Ho, Wo) that nn.Conv2d with a (kernel_size, 1) kernel gives for an input of x_shape."""
    n, c, h, w = x_shape
    return (n, c, _out_extent(h, 2 * padding, kernel_size, stride, dilation), _out_extent(w, 2 * padding, 1, stride, 1))


def strip_output_shape(x_shape, kernel_hw, stride, padding, dilation):
    """(N, C, Ho, Wo) for resolved arguments: kernel (kh, kw), stride and dilation (h, w), padding
    (h, w) or (top, bottom, left, right)."""
    n, c, h, w = x_shape
    top, bottom, left, right = (padding[0], padding[0], padding[1], padding[1]) if len(padding) == 2 else padding
    return (n, c, _out_extent(h, top + bottom, kernel_hw[0], stride[0], dilation[0]),
            _out_extent(w, left + right, kernel_hw[1], stride[1], dilation[1]))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(name: str, value, minimum: int) -> int:
    if not _is_int(value):
        raise ValueError(f"cute_dwconv: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"cute_dwconv: {name} must be >= {minimum}, got {value}")
    return value


def _pair(name: str, value, minimum: int) -> tuple:
    """An int, or a sequence of one or two ints, as F.conv2d takes it, as (h, w)."""
    if _is_int(value):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(_is_int(v) for v in value):
        pair = (value[0], value[-1])
    else:
        raise ValueError(f"cute_dwconv: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"cute_dwconv: {name} must be >= {minimum}, got {value!r}")
    return pair


def _padding(padding, kernel_hw, stride, dilation) -> tuple:
    """(h, w), or (top, bottom, left, right) where "same" needs an extra row or column: F.conv2d
    puts it below and to the right."""
    if not isinstance(padding, str):
        return _pair("padding", padding, 0)
    if padding == "valid":
        return (0, 0)
    if padding != "same":
        raise ValueError(f"cute_dwconv: padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}")
    if stride != (1, 1):
        raise ValueError("cute_dwconv: padding='same' is not supported for strided convolutions")
    totals = [d * (k - 1) for k, d in zip(kernel_hw, dilation)]
    return (totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2)


def _check_tensors(x, weight, bias) -> None:
    for name, value in (("x", x), ("weight", weight)):
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"cute_dwconv: {name} must be a torch.Tensor, got {type(value).__name__}")
    if bias is not None and not isinstance(bias, torch.Tensor):
        raise ValueError(f"cute_dwconv: bias must be a torch.Tensor or None, got {type(bias).__name__}")


def resolve_conv_args(kernel_hw, stride: IntOrPair, padding: Padding, dilation: IntOrPair) -> tuple:
    """(stride, padding, dilation) as torch.ops.cute_dwconv.strip_conv2d takes them, for a kernel of
    kernel_hw = (kh, kw) (it matters only to "same")."""
    stride = _pair("stride", stride, 1)
    dilation = _pair("dilation", dilation, 1)
    return stride, _padding(padding, kernel_hw, stride, dilation), dilation


def resolve_weight_args(weight: torch.Tensor, stride: IntOrPair, padding: Padding, dilation: IntOrPair) -> tuple:
    """(stride, padding, dilation) as torch.ops.cute_dwconv.strip_conv2d and depthwise_conv2d take them
    for this weight (its (kh, kw) matters only to "same")."""
    kernel_hw = tuple(weight.shape[2:]) if weight.dim() == 4 else (1, 1)
    return resolve_conv_args(kernel_hw, stride, padding, dilation)


def strip_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, dilation, groups=C)`` for x of shape (N, C, H, W)
    and a depthwise strip weight of shape (C, 1, K, 1) or (C, 1, 1, K). stride and dilation take an
    int or an (h, w) pair; padding also "same" and "valid"."""
    _check_tensors(x, weight, bias)
    return _ops.strip_conv2d.default(x, weight, bias, *resolve_weight_args(weight, stride, padding, dilation))


def strip_conv2d_out(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: IntOrPair,
    padding: Padding,
    dilation: IntOrPair,
    out: torch.Tensor,
) -> torch.Tensor:
    """strip_conv2d written into ``out`` (any strides, the exact output shape); returns ``out``.
    Like PyTorch's out= functions, it does not support autograd."""
    _check_tensors(x, weight, bias)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"cute_dwconv: out must be a torch.Tensor, got {type(out).__name__}")
    _ops.strip_conv2d_out.default(x, weight, bias, *resolve_weight_args(weight, stride, padding, dilation), out)
    return out


def depthwise_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, dilation, groups=C)`` for x of shape (N, C, H, W)
    and any depthwise weight of shape (C, 1, kh, kw): square and rectangular windows, strips
    included. stride and dilation take an int or an (h, w) pair; padding also "same" and "valid"."""
    _check_tensors(x, weight, bias)
    return _ops.depthwise_conv2d.default(x, weight, bias, *resolve_weight_args(weight, stride, padding, dilation))


def _check_int_args(stride, padding, dilation) -> None:
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
    dilation, groups=C)`` for x of shape (N, C, H, W) and weight of shape (C, 1, K, 1), with one int
    each for stride, padding and dilation (strip_conv2d takes per-axis arguments)."""
    _check_tensors(x, weight, bias)
    _check_int_args(stride, padding, dilation)
    return _ops.dwconv_kx1.default(x, weight, bias, stride, padding, dilation)


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
    _check_tensors(x, weight, bias)
    _check_int_args(stride, padding, dilation)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"cute_dwconv: out must be a torch.Tensor, got {type(out).__name__}")
    _ops.dwconv_kx1_out.default(x, weight, bias, stride, padding, dilation, out)
    return out
