"""The backward operators' argument checks: a clear error naming the argument. Shapes and values
are checked before the device, so most of these run without a GPU."""

from __future__ import annotations

import pytest
import torch

import cute_dwconv  # noqa: F401  (registers torch.ops.cute_dwconv)
from conftest import requires_cuda

grad_input_op = torch.ops.cute_dwconv.dwconv_kx1_grad_input
grad_weight_op = torch.ops.cute_dwconv.dwconv_kx1_grad_weight


def _bad_grad_input_calls():
    g = torch.randn(2, 3, 8, 10)
    w = torch.randn(3, 1, 3, 1)
    return {
        "grad_out_3d": ((g[0], w, 10, 10, 1, 0, 1), "grad_out must be a 4-D"),
        "weight_shape": ((g, w[:2], 10, 10, 1, 0, 1), r"weight must have shape \(C, 1, K, 1\)"),
        "height_0": ((g, w, 0, 10, 1, 0, 1), "height and width must be >= 1"),
        "stride_0": ((g, w, 10, 10, 0, 0, 1), "stride must be >= 1"),
        "padding_negative": ((g, w, 10, 10, 1, -1, 1), "padding must be >= 0"),
        "wrong_grad_shape": ((g, w, 12, 10, 1, 0, 1), r"grad_out must have the forward output's shape \(2, 3, 10, 10\)"),
        "dtype": ((g, w.double(), 10, 10, 1, 0, 1), "weight has dtype"),
        "int_dtype": ((g.int(), w, 10, 10, 1, 0, 1), "grad_out has dtype"),
        "cpu": ((g, w, 10, 10, 1, 0, 1), "grad_out must be a CUDA tensor"),
    }


@pytest.mark.parametrize("case", list(_bad_grad_input_calls()))
def test_grad_input_rejects(case):
    args, message = _bad_grad_input_calls()[case]
    with pytest.raises((RuntimeError, TypeError), match=message):
        grad_input_op(*args)


def _bad_grad_weight_calls():
    x = torch.randn(2, 3, 10, 10)
    g = torch.randn(2, 3, 8, 10)
    return {
        "x_3d": ((g, x[0], 3, 1, 0, 1), "x must be a 4-D"),
        "k_0": ((g, x, 0, 1, 0, 1), "kernel_size must be >= 1"),
        "dilation_0": ((g, x, 3, 1, 0, 0), "dilation must be >= 1"),
        "grad_out_3d": ((g[0], x, 3, 1, 0, 1), "grad_out must be a 4-D"),
        "wrong_grad_shape": ((g, x, 5, 1, 0, 1), r"grad_out must have the forward output's shape \(2, 3, 6, 10\)"),
        "no_output": ((g, x, 12, 1, 0, 1), "has no output"),
        "dtype": ((g.half(), x, 3, 1, 0, 1), "grad_out has dtype"),
        "cpu": ((g, x, 3, 1, 0, 1), "x must be a CUDA tensor"),
    }


@pytest.mark.parametrize("case", list(_bad_grad_weight_calls()))
def test_grad_weight_rejects(case):
    args, message = _bad_grad_weight_calls()[case]
    with pytest.raises((RuntimeError, TypeError), match=message):
        grad_weight_op(*args)


@requires_cuda
@pytest.mark.gpu
def test_grad_weight_rejects_tensors_on_two_devices():
    x = torch.randn(2, 3, 10, 10, device="cuda")
    with pytest.raises(RuntimeError, match="grad_out must be on x's device"):
        grad_weight_op(torch.randn(2, 3, 8, 10), x, 3, 1, 0, 1)
