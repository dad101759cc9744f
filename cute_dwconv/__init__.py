"""cute_dwconv: depthwise strip convolutions ((K, 1) and (1, K) kernels) for PyTorch, written with
CUTLASS/CuTe.

``strip_conv2d`` takes F.conv2d's arguments for a depthwise strip weight; ``StripConv2d`` is the
nn.Conv2d that runs it and ``convert(model)`` swaps a model's strip layers in place.
``dwconv_kx1`` is the (K, 1) case with int arguments; ``Model`` is the reference module of the
headline problem and ``ModelNew`` the same module running our kernel. The operators live under
``torch.ops.cute_dwconv``.
"""

import torch  # noqa: F401  (first: the extension links against libtorch and libc10)

from . import _C  # noqa: F401  (loading the library registers torch.ops.cute_dwconv)
from . import _fake  # noqa: F401  (fake implementations; the autograd formulas are in the library)
from .models import Model, ModelNew, get_init_inputs, get_inputs
from .modules import StripConv2d, convert, is_strip_conv
from .ops import dwconv_kx1, dwconv_kx1_out, output_shape, strip_conv2d, strip_conv2d_out

__all__ = [
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
