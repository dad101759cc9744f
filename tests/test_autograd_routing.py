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

    def window(x, w, b):
        return cute_dwconv.depthwise_conv2d(x, w, b, (1, 2), (1, 2), 1)

    def window_float_params(x, w, b):
        return ops._depthwise_conv2d_float_params(x, w, b, [1, 1], [1, 2], [1, 1])

    same = ("cute_dwconv::strip_conv2d_grad_input", "cute_dwconv::strip_conv2d_grad_weight")
    mixed = ("cute_dwconv::_strip_conv2d_grad_input_float_params",
             "cute_dwconv::_strip_conv2d_grad_weight_float_params")
    window_same = ("cute_dwconv::depthwise_conv2d_grad_input", "cute_dwconv::depthwise_conv2d_grad_weight")
    window_mixed = ("cute_dwconv::_depthwise_conv2d_grad_input_float_params",
                    "cute_dwconv::_depthwise_conv2d_grad_weight_float_params")
    # entry: (call, x dtype, parameter dtype, kernel, gradient operators, the graph node's name)
    return {
        "strip_conv2d": (strip, torch.bfloat16, torch.bfloat16, (1, 5), same, "StripConv2dBackward"),
        "float_params": (float_params, torch.bfloat16, torch.float32, (5, 1), mixed, "StripConv2dBackward"),
        "dwconv_kx1": (kx1, torch.float32, torch.float32, (3, 1), same, "StripConv2dBackward"),
        "depthwise_conv2d": (window, torch.float16, torch.float16, (3, 5), window_same, "DepthwiseConv2dBackward"),
        "depthwise_float_params": (window_float_params, torch.bfloat16, torch.float32, (5, 5), window_mixed,
                                   "DepthwiseConv2dBackward"),
    }


ENTRIES = _entries()


@pytest.mark.parametrize("wants", ["x", "weight", "bias", "weight_bias", "all"])
@pytest.mark.parametrize("entry", list(ENTRIES))
def test_backward_calls_what_each_gradient_needs(entry, wants):
    call, x_dtype, param_dtype, kernel, (grad_input_op, grad_weight_op), node = ENTRIES[entry]
    x = torch.empty(2, 4, 11, 12, device="meta", dtype=x_dtype).requires_grad_(wants in ("x", "all"))
    weight = torch.empty((4, 1) + kernel, device="meta", dtype=param_dtype)
    weight.requires_grad_(wants in ("weight", "weight_bias", "all"))
    bias = torch.empty(4, device="meta", dtype=param_dtype).requires_grad_(wants in ("bias", "weight_bias", "all"))
    with OpLog() as log:
        out = call(x, weight, bias)
        inputs = [t for t in (x, weight, bias) if t.requires_grad]
        grads = torch.autograd.grad(out, inputs, torch.empty_like(out))
    assert out.dtype == x_dtype
    assert out.grad_fn.name() == node
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


def test_forward_mode_ad_is_refused():
    import torch.autograd.forward_ad as fwAD

    x = torch.empty(2, 4, 11, 12, device="meta")
    weight = torch.empty(4, 1, 3, 3, device="meta")
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.empty_like(x))
        with pytest.raises(NotImplementedError, match="forward-mode"):
            cute_dwconv.depthwise_conv2d(dual, weight, None, 1, 1, 1)


def test_saved_inputs_modified_in_place_are_caught():
    """The node saves x (for grad_weight) with its version: a later in-place write to x makes the
    backward raise, as PyTorch's own nodes do, instead of computing with the changed values."""
    x = torch.empty(2, 4, 11, 12, device="meta")
    weight = torch.empty(4, 1, 3, 3, device="meta", requires_grad=True)
    out = cute_dwconv.depthwise_conv2d(x, weight, None, 1, 1, 1)
    x.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward(torch.empty_like(out))


TORCH_2_11 = tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 11)


@pytest.mark.skipif(not TORCH_2_11, reason="the nodes implement compiled autograd's hooks from torch 2.11 on")
@pytest.mark.parametrize("entry", list(ENTRIES))
def test_compiled_autograd_takes_the_nodes(entry):
    """Under compiled autograd each node's backward enters the compiled graph as one call (as
    PyTorch's own nodes do) and gives the gradients' shapes and dtypes."""
    call, x_dtype, param_dtype, kernel, _, node = ENTRIES[entry]
    x = torch.empty(2, 4, 11, 12, device="meta", dtype=x_dtype, requires_grad=True)
    weight = torch.empty((4, 1) + kernel, device="meta", dtype=param_dtype, requires_grad=True)
    bias = torch.empty(4, device="meta", dtype=param_dtype, requires_grad=True)
    targets = []

    def backend(gm, example_inputs):
        targets.extend(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
        return gm

    with torch._dynamo.compiled_autograd._enable(torch.compile(backend=backend)):
        call(x, weight, bias).sum().backward()
    assert any(node in t for t in targets), targets
    for tensor in (x, weight, bias):
        assert tensor.grad.shape == tensor.shape and tensor.grad.dtype == tensor.dtype
