"""StripConv2d, nn.Conv2d running our operator on the depthwise strip convolutions it can take, and
convert(model), which turns a model's eligible nn.Conv2d layers into StripConv2d in place."""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from .ops import resolve_conv_args

_OUR_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_strip_conv2d = torch.ops.cute_dwconv.strip_conv2d.default


def is_strip_conv(conv: nn.Conv2d) -> bool:
    """Depthwise (groups == in_channels == out_channels), a (K, 1) or (1, K) kernel, zero padding."""
    kh, kw = conv.kernel_size
    return (conv.groups == conv.in_channels == conv.out_channels and (kh == 1 or kw == 1)
            and conv.padding_mode == "zeros")


class StripConv2d(nn.Conv2d):
    """nn.Conv2d with the same constructor, parameters and state_dict keys. Its forward runs
    cute_dwconv's operator on 4-D CUDA tensors when the layer is a depthwise strip convolution and
    its input and weight are float32, float16 or bfloat16, and nn.Conv2d's own forward otherwise
    (CPU tensors, float64, other layers), so a converted model still runs everywhere."""

    # (configuration, operator arguments): the layer's configuration when its arguments were last
    # resolved, and the operator's (stride, padding, dilation) for it, or None when the layer is not
    # a strip convolution. Resolved once, not on every call: a layer runs thousands of times a
    # training step, and the host time of each call is what a small layer costs (profiling/NOTES.md,
    # host path). A changed attribute (padding, say) changes the configuration and resolves again.
    # Resolved at construction and conversion too, so that torch.compile traces no attribute write.
    _resolved = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._resolve()

    def _configuration(self) -> tuple:
        return (self.kernel_size, self.stride, self.padding, self.dilation, self.groups, self.in_channels,
                self.out_channels, self.padding_mode)

    def _resolve(self):
        configuration = self._configuration()
        args = resolve_conv_args(self.kernel_size, self.stride, self.padding, self.dilation) if is_strip_conv(self) else None
        self._resolved = (configuration, args)
        return args

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        resolved = self._resolved
        args = resolved[1] if resolved is not None and resolved[0] == self._configuration() else self._resolve()
        weight = self.weight
        # Under autocast the operator casts x to autocast's dtype itself, as nn.Conv2d's does (and
        # reads float32 parameters as they are).
        if (args is not None and x.is_cuda and x.dim() == 4 and x.dtype in _OUR_DTYPES
                and weight.dtype in _OUR_DTYPES):
            return _strip_conv2d(x, weight, self.bias, *args)
        return super().forward(x)


def convert(model: nn.Module) -> List[str]:
    """Turns every layer of `model` whose type is exactly nn.Conv2d and which is a depthwise strip
    convolution (see is_strip_conv) into a StripConv2d, in place, and returns their qualified names
    in named_modules() order. The layers keep their parameters (the same Parameter objects, so an
    optimizer built before keeps working), buffers and hooks; state_dict keys and values do not
    change. Subclasses of nn.Conv2d are left alone: their forward may differ."""
    converted = []
    for name, module in model.named_modules():
        if type(module) is nn.Conv2d and is_strip_conv(module):
            module.__class__ = StripConv2d
            module._resolve()
            converted.append(name)
    return converted
