"""cute_dwconv: depthwise (K, 1) convolutions for PyTorch, written with CUTLASS/CuTe.

``torch.ops.cute_dwconv.dwconv_kx1`` is the operator; ``dwconv_kx1`` its Python entry;
``Model`` the reference module and ``ModelNew`` the same module running our kernel.
"""

import torch  # noqa: F401  (first: the extension links against libtorch and libc10)

from . import _C  # noqa: F401  (loading the library registers torch.ops.cute_dwconv)
from .ops import dwconv_kx1, dwconv_kx1_out, output_shape
from .models import Model, ModelNew, get_init_inputs, get_inputs

__all__ = [
    "dwconv_kx1",
    "dwconv_kx1_out",
    "output_shape",
    "Model",
    "ModelNew",
    "get_inputs",
    "get_init_inputs",
]
