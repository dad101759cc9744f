"""Fake (shape-only) implementations of the operators, for meta tensors, FakeTensorMode and
torch.compile. They mirror the C++ checks that decide the output's shape."""

from __future__ import annotations

import torch
from torch._prims_common import suggest_memory_format

from .ops import strip_output_shape


def _kernel_hw(weight, allow_horizontal: bool, any_window: bool = False):
    if any_window:
        torch._check(weight.dim() == 4 and weight.shape[1] == 1,
                     lambda: f"cute_dwconv: weight must have shape (C, 1, kh, kw), got {tuple(weight.shape)}")
        return weight.shape[2], weight.shape[3]
    vertical = weight.dim() == 4 and weight.shape[1] == 1 and weight.shape[3] == 1
    horizontal = allow_horizontal and weight.dim() == 4 and weight.shape[1] == 1 and weight.shape[2] == 1
    expected = "(C, 1, K, 1) or (C, 1, 1, K)" if allow_horizontal else "(C, 1, K, 1)"
    torch._check(vertical or horizontal,
                 lambda: f"cute_dwconv: weight must have shape {expected}, got {tuple(weight.shape)}")
    return weight.shape[2], weight.shape[3]


def _pairs(stride, padding, dilation):
    torch._check(len(padding) in (1, 2, 4), lambda: f"cute_dwconv: padding must have 1, 2 or 4 values, got {padding}")
    padding = [padding[0], padding[-1]] if len(padding) < 4 else list(padding)
    stride, dilation = [stride[0], stride[-1]], [dilation[0], dilation[-1]]
    torch._check(min(stride) >= 1, lambda: f"cute_dwconv: stride must be >= 1, got {stride}")
    torch._check(min(dilation) >= 1, lambda: f"cute_dwconv: dilation must be >= 1, got {dilation}")
    torch._check(min(padding) >= 0, lambda: f"cute_dwconv: padding must be >= 0, got {padding}")
    return stride, padding, dilation


def _forward_shape(x, weight, stride, padding, dilation, allow_horizontal=True, any_window=False):
    torch._check(x.dim() == 4, lambda: f"cute_dwconv: x must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    kernel_hw = _kernel_hw(weight, allow_horizontal, any_window)
    torch._check(weight.shape[0] == x.shape[1],
                 lambda: f"cute_dwconv: weight must have shape (C, 1, kh, kw) with C = {x.shape[1]}")
    stride, padding, dilation = _pairs(stride, padding, dilation)
    shape = strip_output_shape(x.shape, kernel_hw, stride, padding, dilation)
    torch._check(shape[2] > 0, lambda: f"cute_dwconv: output height would be {shape[2]}")
    torch._check(shape[3] > 0, lambda: f"cute_dwconv: output width would be {shape[3]}")
    return shape


def _new_output(x, shape):
    return x.new_empty(shape).to(memory_format=suggest_memory_format(x))


@torch.library.register_fake("cute_dwconv::strip_conv2d")
def _(x, weight, bias, stride, padding, dilation):
    return _new_output(x, _forward_shape(x, weight, stride, padding, dilation))


@torch.library.register_fake("cute_dwconv::_strip_conv2d_float_params")
def _(x, weight, bias, stride, padding, dilation):
    return _new_output(x, _forward_shape(x, weight, stride, padding, dilation))


@torch.library.register_fake("cute_dwconv::dwconv_kx1")
def _(x, weight, bias, stride, padding, dilation):
    return _new_output(x, _forward_shape(x, weight, [stride], [padding], [dilation], allow_horizontal=False))


@torch.library.register_fake("cute_dwconv::depthwise_conv2d")
def _(x, weight, bias, stride, padding, dilation):
    return _new_output(x, _forward_shape(x, weight, stride, padding, dilation, any_window=True))


@torch.library.register_fake("cute_dwconv::_depthwise_conv2d_float_params")
def _(x, weight, bias, stride, padding, dilation):
    return _new_output(x, _forward_shape(x, weight, stride, padding, dilation, any_window=True))


for _name in ("strip_conv2d_out", "_strip_conv2d_path_out", "dwconv_kx1_out", "_dwconv_kx1_path_out",
              "_depthwise_conv2d_path_out"):
    torch.library.register_fake(f"cute_dwconv::{_name}")(lambda *args: None)


def _fake_grad_input(grad_out, height, width):
    torch._check(grad_out.dim() == 4, lambda: f"cute_dwconv: grad_out must be 4-D, got shape {tuple(grad_out.shape)}")
    n, c = grad_out.shape[0], grad_out.shape[1]
    return _new_output(grad_out, (n, c, height, width))


@torch.library.register_fake("cute_dwconv::strip_conv2d_grad_input")
def _(grad_out, weight, height, width, stride, padding, dilation):
    return _fake_grad_input(grad_out, height, width)


@torch.library.register_fake("cute_dwconv::_strip_conv2d_grad_input_path")
def _(grad_out, weight, height, width, stride, padding, dilation, path):
    return _fake_grad_input(grad_out, height, width)


@torch.library.register_fake("cute_dwconv::_strip_conv2d_grad_input_float_params")
def _(grad_out, weight, height, width, stride, padding, dilation):
    return _fake_grad_input(grad_out, height, width)


@torch.library.register_fake("cute_dwconv::depthwise_conv2d_grad_input")
def _(grad_out, weight, height, width, stride, padding, dilation):
    return _fake_grad_input(grad_out, height, width)


@torch.library.register_fake("cute_dwconv::_depthwise_conv2d_grad_input_float_params")
def _(grad_out, weight, height, width, stride, padding, dilation):
    return _fake_grad_input(grad_out, height, width)


@torch.library.register_fake("cute_dwconv::dwconv_kx1_grad_input")
def _(grad_out, weight, height, width, stride, padding, dilation):
    return _fake_grad_input(grad_out, height, width)


@torch.library.register_fake("cute_dwconv::_dwconv_kx1_grad_input_path")
def _(grad_out, weight, height, width, stride, padding, dilation, path):
    return _fake_grad_input(grad_out, height, width)


def _fake_grad_weight(x, kh, kw, dtype=None):
    torch._check(x.dim() == 4, lambda: f"cute_dwconv: x must be 4-D, got shape {tuple(x.shape)}")
    c = x.shape[1]
    return x.new_empty((c, 1, kh, kw), dtype=dtype), x.new_empty((c,), dtype=dtype)


@torch.library.register_fake("cute_dwconv::strip_conv2d_grad_weight")
def _(grad_out, x, kernel_size, stride, padding, dilation):
    return _fake_grad_weight(x, kernel_size[0], kernel_size[1])


@torch.library.register_fake("cute_dwconv::_strip_conv2d_grad_weight_float_params")
def _(grad_out, x, kernel_size, stride, padding, dilation):
    return _fake_grad_weight(x, kernel_size[0], kernel_size[1], dtype=torch.float32)


@torch.library.register_fake("cute_dwconv::dwconv_kx1_grad_weight")
def _(grad_out, x, kernel_size, stride, padding, dilation):
    return _fake_grad_weight(x, kernel_size, 1)


@torch.library.register_fake("cute_dwconv::depthwise_conv2d_grad_weight")
def _(grad_out, x, kernel_size, stride, padding, dilation):
    return _fake_grad_weight(x, kernel_size[0], kernel_size[1])


@torch.library.register_fake("cute_dwconv::_depthwise_conv2d_grad_weight_float_params")
def _(grad_out, x, kernel_size, stride, padding, dilation):
    return _fake_grad_weight(x, kernel_size[0], kernel_size[1], dtype=torch.float32)
