"""cute_dwconv: depthwise convolutions for PyTorch, written with CUTLASS/CuTe.

``depthwise_conv2d`` takes F.conv2d's arguments for any depthwise weight (C, 1, kh, kw);
``strip_conv2d`` for a strip weight ((K, 1) or (1, K)). ``DepthwiseConv2d`` and ``StripConv2d``
are the nn.Conv2d layers that run them, and ``convert(model)`` swaps a model's depthwise layers in
place (``strips_only=True``: its strip layers only).
``dwconv_kx1`` is the (K, 1) case with int arguments; ``Model`` is the reference module of the
headline problem and ``ModelNew`` the same module running our kernel. The operators live under
``torch.ops.cute_dwconv``.
"""

import torch  # noqa: F401  (first: the extension links against libtorch and libc10)

from . import _C  # noqa: F401  (loading the library registers torch.ops.cute_dwconv)
from . import _fake  # noqa: F401  (fake implementations; the autograd formulas are in the library)
from .models import Model, ModelNew, get_init_inputs, get_inputs
from .modules import DepthwiseConv2d, StripConv2d, convert, is_depthwise_conv, is_strip_conv
from .ops import depthwise_conv2d, dwconv_kx1, dwconv_kx1_out, output_shape, strip_conv2d, strip_conv2d_out

__all__ = [
    "depthwise_conv2d",
    "DepthwiseConv2d",
    "is_depthwise_conv",
    "strip_conv2d",
    "strip_conv2d_out",
    "StripConv2d",
    "convert",
    "is_strip_conv",
    "dwconv_kx1",
    "dwconv_kx1_out",
    "output_shape",
    "Model",
    "ModelNew",
    "get_inputs",
    "get_init_inputs",
]
