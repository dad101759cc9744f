"""The autograd formulas' plumbing on meta tensors (no GPU needed): which gradient operators a
backward calls for each forward and for each set of inputs that require grad, and the gradients'
shapes and dtypes. Values are checked against PyTorch on the GPU (test_strip_conv2d.py,
test_backward.py, test_float_params.py)."""

from __future__ import annotations

import pytest
import torch

import cute_dwconv
from conftest import OpLog

ops = torch.ops.cute_dwconv


def _entries():
    def strip(x, w, b):
        return cute_dwconv.strip_conv2d(x, w, b, (2, 1), (1, 2), 1)

    def float_params(x, w, b):
        return ops._strip_conv2d_float_params(x, w, b, [2, 1], [1, 2], [1, 1])

    def kx1(x, w, b):
        return cute_dwconv.dwconv_kx1(x, w, b, 2, 1, 1)

    same = ("cute_dwconv::strip_conv2d_grad_input", "cute_dwconv::strip_conv2d_grad_weight")
    mixed = ("cute_dwconv::_strip_conv2d_grad_input_float_params",
             "cute_dwconv::_strip_conv2d_grad_weight_float_params")
    # entry: (call, x dtype, parameter dtype, kernel, gradient operators)
    return {
        "strip_conv2d": (strip, torch.bfloat16, torch.bfloat16, (1, 5), same),
        "float_params": (float_params, torch.bfloat16, torch.float32, (5, 1), mixed),
        "dwconv_kx1": (kx1, torch.float32, torch.float32, (3, 1), same),
    }


ENTRIES = _entries()


@pytest.mark.parametrize("wants", ["x", "weight", "bias", "weight_bias", "all"])
@pytest.mark.parametrize("entry", list(ENTRIES))
def test_backward_calls_what_each_gradient_needs(entry, wants):
    call, x_dtype, param_dtype, kernel, (grad_input_op, grad_weight_op) = ENTRIES[entry]
    x = torch.empty(2, 4, 11, 12, device="meta", dtype=x_dtype).requires_grad_(wants in ("x", "all"))
    weight = torch.empty((4, 1) + kernel, device="meta", dtype=param_dtype)
    weight.requires_grad_(wants in ("weight", "weight_bias", "all"))
    bias = torch.empty(4, device="meta", dtype=param_dtype).requires_grad_(wants in ("bias", "weight_bias", "all"))
    with OpLog() as log:
        out = call(x, weight, bias)
        inputs = [t for t in (x, weight, bias) if t.requires_grad]
        grads = torch.autograd.grad(out, inputs, torch.empty_like(out))
    assert out.dtype == x_dtype
    backward = log.ours()[1:]
    assert (grad_input_op in backward) == x.requires_grad, backward
    assert (grad_weight_op in backward) == (weight.requires_grad or bias.requires_grad), backward
    assert len(backward) == len(set(backward)), backward  # each gradient operator at most once
    for tensor, grad in zip(inputs, grads):
        assert grad.shape == tensor.shape and grad.dtype == tensor.dtype


def test_no_graph_without_grad():
    x = torch.empty(2, 4, 11, 12, device="meta")
    weight = torch.empty(4, 1, 3, 1, device="meta")
    assert cute_dwconv.strip_conv2d(x, weight, None, 1, (1, 0), 1).grad_fn is None
    with torch.no_grad():
        weight.requires_grad_()
        assert cute_dwconv.strip_conv2d(x, weight, None, 1, (1, 0), 1).grad_fn is None
