"""Training with our operator: opcheck on every operator, ModelNew's gradients against Model's, and
torch.compile(fullgraph=True) of ModelNew and of a small network, forward and backward."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cute_dwconv
from cute_dwconv import Model, ModelNew
from conftest import requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]

ops = torch.ops.cute_dwconv


@pytest.mark.parametrize("args", [(3, 1, 1, 1, True), (5, 2, 2, 2, False), (4, 3, 0, 1, True)], ids=str)
def test_opcheck_with_autograd(args):
    k, stride, padding, dilation, with_bias = args
    x = torch.randn(2, 4, 21, 16, device="cuda", requires_grad=True)
    weight = torch.randn(4, 1, k, 1, device="cuda", requires_grad=True)
    bias = torch.randn(4, device="cuda", requires_grad=True) if with_bias else None
    torch.library.opcheck(ops.dwconv_kx1.default, (x, weight, bias, stride, padding, dilation))


@pytest.mark.parametrize("args", [(3, 1, 1, 1), (5, 2, 2, 2)], ids=str)
def test_opcheck_backward_operators(args):
    k, stride, padding, dilation = args
    x = torch.randn(2, 4, 21, 16, device="cuda")
    weight = torch.randn(4, 1, k, 1, device="cuda")
    grad_out = torch.randn(cute_dwconv.output_shape(x.shape, k, stride, padding, dilation), device="cuda")
    torch.library.opcheck(ops.dwconv_kx1_grad_input.default, (grad_out, weight, 21, 16, stride, padding, dilation))
    torch.library.opcheck(ops._dwconv_kx1_grad_input_path.default,
                          (grad_out, weight, 21, 16, stride, padding, dilation, "strided"))
    torch.library.opcheck(ops.dwconv_kx1_grad_weight.default, (grad_out, x, k, stride, padding, dilation))


def _twins(args, dtype=torch.float32):
    torch.manual_seed(0)
    reference = Model(*args).cuda().to(dtype)
    ours = ModelNew(*args).cuda().to(dtype)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


@pytest.mark.parametrize("args", [(8, 3, 1, 1, 1, True), (16, 7, 2, 3, 2, True), (4, 21, 1, 10, 1, False)], ids=str)
def test_model_new_gradients_match_model(args):
    reference, ours = _twins(args)
    x = torch.randn(3, args[0], 64, 48, device="cuda")
    grads = []
    for module in (reference, ours):
        xi = x.clone().requires_grad_()
        module.zero_grad()
        (module(xi) ** 2).sum().backward()
        grads.append([xi.grad] + [p.grad for p in module.parameters()])
    for expected, got in zip(*grads):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-3)


def test_compiled_model_new_forward_and_backward():
    _, ours = _twins((8, 7, 1, 3, 1, True))
    compiled = torch.compile(ours, fullgraph=True)
    x = torch.randn(2, 8, 64, 64, device="cuda")
    results = []
    for module in (ours, compiled):
        xi = x.clone().requires_grad_()
        module.zero_grad()
        out = module(xi)
        out.square().mean().backward()
        results.append([out, xi.grad] + [p.grad.clone() for p in ours.parameters()])
    for eager, comp in zip(*results):
        torch.testing.assert_close(comp, eager, rtol=1e-5, atol=1e-5)


class StripBlock(nn.Module):
    """A factorised block as in strip-convolution backbones: 1x1, then (K, 1) depthwise strips
    mixed with ordinary layers."""

    def __init__(self, channels: int, conv_factory):
        super().__init__()
        self.expand = nn.Conv2d(3, channels, kernel_size=1)
        self.strip7 = conv_factory(channels, 7, 1, 3, 1, True)
        self.norm = nn.BatchNorm2d(channels)
        self.strip21 = conv_factory(channels, 21, 1, 10, 1, False)
        self.down = conv_factory(channels, 3, 2, 1, 1, True)
        self.head = nn.Linear(channels, 5)

    def forward(self, x):
        y = self.expand(x)
        y = torch.relu(self.norm(self.strip7(y)))
        y = self.strip21(y)  # its padding applies to both axes, as in nn.Conv2d: W grows by 20
        y = torch.nn.functional.gelu(self.down(y))
        return self.head(y.mean(dim=(2, 3)))


def test_compiled_network_matches_eager_and_reference():
    torch.manual_seed(0)
    reference = StripBlock(16, Model).cuda()
    ours = StripBlock(16, ModelNew).cuda()
    ours.load_state_dict(reference.state_dict())
    compiled = torch.compile(ours, fullgraph=True)
    x = torch.randn(4, 3, 40, 32, device="cuda")
    target = torch.randn(4, 5, device="cuda")
    runs = []
    for module in (reference, ours, compiled):
        module.zero_grad()
        loss = torch.nn.functional.mse_loss(module(x), target)
        loss.backward()
        params = reference if module is reference else ours
        runs.append([loss.detach()] + [p.grad.clone() for p in params.parameters()])
    for reference_value, eager_value, compiled_value in zip(*runs):
        torch.testing.assert_close(eager_value, reference_value, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(compiled_value, eager_value, rtol=1e-4, atol=1e-5)


def test_compiled_backward_has_no_graph_break():
    _, ours = _twins((8, 3, 1, 1, 1, True))
    counts = torch._dynamo.utils.counters
    counts.clear()
    compiled = torch.compile(ours, fullgraph=True)
    x = torch.randn(2, 8, 32, 32, device="cuda", requires_grad=True)
    compiled(x).sum().backward()
    assert not counts["graph_break"], dict(counts["graph_break"])
    assert x.grad is not None and ours.conv2d.weight.grad is not None


def test_opcheck_remaining_operators():
    """The forced-path forward and the dispatch-table listings: with the tests above and those of
    test_strip_conv2d.py, every operator in the library has been through opcheck."""
    x = torch.randn(2, 4, 21, 16, device="cuda")
    weight = torch.randn(4, 1, 3, 1, device="cuda")
    bias = torch.randn(4, device="cuda")
    out = torch.empty(cute_dwconv.output_shape(x.shape, 3, 1, 1, 1), device="cuda")
    for path in ("table", "direct"):
        torch.library.opcheck(ops._dwconv_kx1_path_out.default, (x, weight, bias, 1, 1, 1, path, out))
    torch.library.opcheck(ops._forward_table.default, ())
    torch.library.opcheck(ops._forward_channels_last_table.default, ())
    torch.library.opcheck(ops._planning_limits.default, (0,))
    defined = {schema.name.split("::")[1] for schema in torch._C._jit_get_all_schemas()
               if schema.name.startswith("cute_dwconv::")}
    # The strip_conv2d family goes through opcheck in test_strip_conv2d.py, the float-parameter
    # operators autocast calls in test_float_params.py.
    checked = {"_strip_conv2d_float_params", "_strip_conv2d_grad_input_float_params",
               "_strip_conv2d_grad_weight_float_params", "dwconv_kx1", "dwconv_kx1_out", "_dwconv_kx1_path_out", "_forward_table",
               "_forward_channels_last_table", "dwconv_kx1_grad_input", "_dwconv_kx1_grad_input_path",
               "dwconv_kx1_grad_weight", "strip_conv2d", "strip_conv2d_out", "_strip_conv2d_path_out",
               "strip_conv2d_grad_input", "_strip_conv2d_grad_input_path", "strip_conv2d_grad_weight",
               "_planning_limits",
               # The depthwise_conv2d family goes through opcheck in test_depthwise.py.
               "depthwise_conv2d", "_depthwise_conv2d_float_params", "_depthwise_conv2d_path_out",
               "depthwise_conv2d_grad_input", "_depthwise_conv2d_grad_input_float_params",
               "depthwise_conv2d_grad_weight", "_depthwise_conv2d_grad_weight_float_params"}
    assert defined == checked, defined ^ checked
