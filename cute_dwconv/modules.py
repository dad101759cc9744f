"""StripConv2d and DepthwiseConv2d, nn.Conv2d layers running our operators on the depthwise
convolutions they can take, and convert(model), which turns a model's eligible nn.Conv2d layers into
them in place."""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from .ops import resolve_conv_args

_OUR_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_strip_conv2d = torch.ops.cute_dwconv.strip_conv2d.default
_depthwise_conv2d = torch.ops.cute_dwconv.depthwise_conv2d.default


def is_depthwise_conv(conv: nn.Conv2d) -> bool:
    """Depthwise (groups == in_channels == out_channels), any window, zero padding."""
    return conv.groups == conv.in_channels == conv.out_channels and conv.padding_mode == "zeros"


def is_strip_conv(conv: nn.Conv2d) -> bool:
    """Depthwise (groups == in_channels == out_channels), a (K, 1) or (1, K) kernel, zero padding."""
    kh, kw = conv.kernel_size
    return is_depthwise_conv(conv) and (kh == 1 or kw == 1)


class _OperatorConv2d(nn.Conv2d):
    """nn.Conv2d whose forward runs `_operator` on 4-D CUDA float32, float16 and bfloat16 tensors
    when `_eligible` holds, and nn.Conv2d's own forward otherwise (CPU tensors, float64, other
    layers), so a converted model still runs everywhere."""

    _operator = None

    @staticmethod
    def _eligible(conv: nn.Conv2d) -> bool:
        raise NotImplementedError

    # (configuration, operator arguments): the layer's configuration when its arguments were last
    # resolved, and the operator's (stride, padding, dilation) for it, or None when the layer is not
    # eligible. Resolved once, not on every call: a layer runs thousands of times a training step,
    # and the host time of each call is what a small layer costs (profiling/NOTES.md, host path). A
    # changed attribute (padding, say) changes the configuration and resolves again. Resolved at
    # construction and conversion too, so that torch.compile traces no attribute write.
    _resolved = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._resolve()

    def _configuration(self) -> tuple:
        return (self.kernel_size, self.stride, self.padding, self.dilation, self.groups, self.in_channels,
                self.out_channels, self.padding_mode)

    def _resolve(self):
        configuration = self._configuration()
        eligible = self._eligible(self)
        args = resolve_conv_args(self.kernel_size, self.stride, self.padding, self.dilation) if eligible else None
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
            return type(self)._operator(x, weight, self.bias, *args)
        return super().forward(x)


class StripConv2d(_OperatorConv2d):
    """nn.Conv2d with the same constructor, parameters and state_dict keys. Its forward runs
    cute_dwconv's strip operator on 4-D CUDA tensors when the layer is a depthwise strip convolution
    and its input and weight are float32, float16 or bfloat16, and nn.Conv2d's own forward otherwise
    (CPU tensors, float64, other layers), so a converted model still runs everywhere."""

    _operator = _strip_conv2d
    _eligible = staticmethod(is_strip_conv)


class DepthwiseConv2d(_OperatorConv2d):
    """nn.Conv2d with the same constructor, parameters and state_dict keys. Its forward runs
    cute_dwconv's depthwise operator, any (kh, kw) window, on 4-D CUDA tensors when the layer is
    depthwise with zero padding and its input and weight are float32, float16 or bfloat16, and
    nn.Conv2d's own forward otherwise (CPU tensors, float64, other layers)."""

    _operator = _depthwise_conv2d
    _eligible = staticmethod(is_depthwise_conv)


def convert(model: nn.Module, strips_only: bool = False) -> List[str]:
    """Turns the depthwise layers of `model` whose type is exactly nn.Conv2d into our layers, in
    place, and returns their qualified names in named_modules() order: strip convolutions ((K, 1)
    and (1, K), see is_strip_conv) into StripConv2d, and, unless strips_only, every other depthwise
    layer with zero padding (any window, see is_depthwise_conv) into DepthwiseConv2d. The layers keep
    their parameters (the same Parameter objects, so an optimizer built before keeps working),
    buffers and hooks; state_dict keys and values do not change. Subclasses of nn.Conv2d are left
    alone: their forward may differ."""
    converted = []
    for name, module in model.named_modules():
        if type(module) is not nn.Conv2d:
            continue
        if is_strip_conv(module):
            module.__class__ = StripConv2d
        elif not strips_only and is_depthwise_conv(module):
            module.__class__ = DepthwiseConv2d
        else:
            continue
        module._resolve()
        converted.append(name)
    return converted
