"""StripConv2d, nn.Conv2d running our operator on the depthwise strip convolutions it can take, and
convert(model), which turns a model's eligible nn.Conv2d layers into StripConv2d in place."""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from .ops import strip_conv2d

_OUR_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


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

    def _runs_ours(self, x: torch.Tensor) -> bool:
        # Under autocast the operator casts to autocast's dtype itself, as nn.Conv2d's does.
        return (x.is_cuda and x.dim() == 4 and is_strip_conv(self) and x.dtype in _OUR_DTYPES
                and self.weight.dtype in _OUR_DTYPES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._runs_ours(x):
            return strip_conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
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
            converted.append(name)
    return converted
