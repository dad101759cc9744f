"""convert(model) with depthwise layers of any window, DepthwiseConv2d and is_depthwise_conv, without a
GPU: which layers become StripConv2d, which DepthwiseConv2d and which stay, the names convert
returns, the Parameters and state_dict it keeps, strips_only=True; DepthwiseConv2d on CPU tensors
is nn.Conv2d, bit for bit.

Nothing here touches cute_dwconv.DepthwiseConv2d or is_depthwise_conv at import time."""

from __future__ import annotations

import copy
import io
import random

import pytest
import torch
from torch import nn

import cute_dwconv
from conftest import OpLog


class SubclassedConv2d(nn.Conv2d):
    """A user's subclass of nn.Conv2d: not exactly nn.Conv2d, so convert leaves it alone."""


class MixedNet(nn.Module):
    """Every kind of convolution convert has to tell apart, in a network that runs on CPU tensors.
    STRIPS and DEPTHWISE list, by hand, what convert should take (named_modules() order)."""

    STRIPS = ["strip_v", "strip_h", "pointwise_dw", "nested.2", "strip_strided"]
    DEPTHWISE = ["dw3", "dw5", "dw7", "rect", "even_same", "nested.0", "one_channel"]

    def __init__(self, c: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)                                    # dense: stays
        self.dw3 = nn.Conv2d(c, c, 3, padding=1, groups=c)                           # -> DepthwiseConv2d
        self.strip_v = nn.Conv2d(c, c, (7, 1), padding=(3, 0), groups=c)             # -> StripConv2d
        self.dw5 = nn.Conv2d(c, c, 5, padding=2, groups=c, bias=False)               # -> DepthwiseConv2d
        self.strip_h = nn.Conv2d(c, c, (1, 5), padding="same", groups=c)             # -> StripConv2d
        self.grouped = nn.Conv2d(c, c, 3, padding=1, groups=c // 2)                  # grouped: stays
        self.dw7 = nn.Conv2d(c, c, 7, stride=2, padding=3, groups=c)                 # -> DepthwiseConv2d
        self.multiplier = nn.Conv2d(c, 2 * c, 3, padding=1, groups=c)                # out != in: stays
        self.merge = nn.Conv2d(2 * c, c, 1)                                          # dense 1x1: stays
        self.reflect = nn.Conv2d(c, c, 3, padding=1, groups=c, padding_mode="reflect")     # stays
        self.circular = nn.Conv2d(c, c, (1, 3), padding=(0, 1), groups=c, padding_mode="circular")  # stays
        self.subclass = SubclassedConv2d(c, c, 3, padding=1, groups=c)               # subclass: stays
        self.pointwise_dw = nn.Conv2d(c, c, 1, groups=c)                             # 1x1 depthwise: (K, 1), K = 1
        self.rect = nn.Conv2d(c, c, (3, 5), padding=(1, 2), groups=c)                # -> DepthwiseConv2d
        self.even_same = nn.Conv2d(c, c, (2, 4), padding="same", dilation=(1, 2), groups=c)  # -> DepthwiseConv2d
        self.nested = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c), nn.GELU(),
                                    nn.Conv2d(c, c, (5, 1), padding=(2, 0), groups=c))
        self.strip_strided = nn.Conv2d(c, c, (3, 1), stride=(2, 1), padding=(1, 0), groups=c, bias=False)
        self.squeeze = nn.Conv2d(c, 1, 1)                                            # dense: stays
        self.one_channel = nn.Conv2d(1, 1, 3, padding=1)                             # groups == in == out == 1
        self.already_strip = cute_dwconv.StripConv2d(1, 1, (3, 1), padding=(1, 0))  # already ours: not listed
        self.norm = nn.BatchNorm2d(c)
        self.act = nn.GELU()
        self.unused = nn.ModuleList([nn.Conv1d(c, c, 3, groups=c), nn.ConvTranspose2d(c, c, 3, groups=c)])

    def forward(self, x):
        y = self.act(self.norm(self.stem(x)))
        y = y + self.dw3(y)
        y = self.strip_h(self.dw5(self.strip_v(y)))
        y = self.act(self.grouped(y))
        y = self.dw7(y)
        y = self.merge(self.act(self.multiplier(y)))
        y = self.circular(self.reflect(y)) + self.subclass(y)
        y = self.even_same(self.rect(self.pointwise_dw(y)))
        y = self.strip_strided(self.nested(y))
        return self.already_strip(self.one_channel(self.squeeze(y)))


def _build(seed=0, c=8):
    torch.manual_seed(seed)
    return MixedNet(c)


def _expected(model, names):
    order = [name for name, _ in model.named_modules()]
    return sorted(names, key=order.index)


# ----------------------------------------------------------------------------------------------
# is_depthwise_conv


TRUTH_TABLE = [  # (constructor, is_depthwise_conv, is_strip_conv)
    (lambda: nn.Conv2d(8, 8, 3, groups=8), True, False),
    (lambda: nn.Conv2d(8, 8, (5, 7), padding=2, groups=8, bias=False), True, False),
    (lambda: nn.Conv2d(8, 8, 31, padding=15, groups=8), True, False),
    (lambda: nn.Conv2d(8, 8, (51, 5), groups=8, stride=2, dilation=(1, 2)), True, False),
    (lambda: nn.Conv2d(8, 8, (2, 2), padding="same", groups=8), True, False),
    (lambda: nn.Conv2d(8, 8, (7, 1), groups=8), True, True),
    (lambda: nn.Conv2d(8, 8, (1, 11), groups=8), True, True),
    (lambda: nn.Conv2d(8, 8, 1, groups=8), True, True),
    (lambda: nn.Conv2d(1, 1, 3), True, False),                                  # one channel: depthwise
    (lambda: nn.Conv2d(8, 8, 3, groups=4), False, False),                       # grouped
    (lambda: nn.Conv2d(8, 8, 3), False, False),                                 # dense
    (lambda: nn.Conv2d(8, 16, 3, groups=8), False, False),                      # channel multiplier
    (lambda: nn.Conv2d(8, 8, 3, groups=8, padding=1, padding_mode="reflect"), False, False),
    (lambda: nn.Conv2d(8, 8, 3, groups=8, padding=1, padding_mode="replicate"), False, False),
    (lambda: nn.Conv2d(8, 8, (1, 3), groups=8, padding=1, padding_mode="circular"), False, False),
    (lambda: SubclassedConv2d(8, 8, 3, groups=8), True, False),                 # the geometry, whatever the type
    (lambda: cute_dwconv.StripConv2d(8, 8, (3, 1), groups=8), True, True),
    (lambda: cute_dwconv.DepthwiseConv2d(8, 8, 3, groups=8), True, False),
    (lambda: cute_dwconv.DepthwiseConv2d(8, 16, 3, groups=8), False, False),
]


@pytest.mark.parametrize("index", range(len(TRUTH_TABLE)))
def test_is_depthwise_conv(index):
    make, depthwise, strip = TRUTH_TABLE[index]
    conv = make()
    assert cute_dwconv.is_depthwise_conv(conv) is depthwise, conv
    assert cute_dwconv.is_strip_conv(conv) is strip, conv
    assert not strip or depthwise, "every strip is depthwise"


# ----------------------------------------------------------------------------------------------
# convert


def test_convert_classes_and_names():
    reference = _build()
    model = copy.deepcopy(reference)
    names = cute_dwconv.convert(model)
    assert isinstance(names, list) and all(isinstance(n, str) for n in names)
    assert names == _expected(model, MixedNet.STRIPS + MixedNet.DEPTHWISE), names
    converted = dict(model.named_modules())
    for name, module in reference.named_modules():
        got = converted[name]
        if name in MixedNet.STRIPS:
            assert type(got) is cute_dwconv.StripConv2d, name
        elif name in MixedNet.DEPTHWISE:
            assert type(got) is cute_dwconv.DepthwiseConv2d, name
        else:
            assert type(got) is type(module), f"{name} ({type(module).__name__}) became {type(got).__name__}"
        if isinstance(module, nn.Conv2d):
            for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                         "padding_mode", "transposed", "output_padding"):
                assert getattr(got, attr) == getattr(module, attr), (name, attr)
            assert isinstance(got, nn.Conv2d)


def test_convert_keeps_parameters_buffers_and_state_dict():
    model = _build(1)
    params_before = dict(model.named_parameters())
    buffers_before = dict(model.named_buffers())
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # built before convert: must keep working
    cute_dwconv.convert(model)
    params_after = dict(model.named_parameters())
    assert list(params_after) == list(params_before)
    for name, p in params_after.items():
        assert p is params_before[name], f"{name} is a new Parameter: optimizers built before convert would miss it"
    for name, b in model.named_buffers():
        assert b is buffers_before[name], name
    state_after = model.state_dict()
    assert list(state_after) == list(state_before)
    for key, value in state_after.items():
        assert torch.equal(value, state_before[key]), key
    x = torch.randn(2, 3, 20, 18)
    model(x).square().mean().backward()
    optimizer.step()
    assert not torch.equal(model.dw3.weight, state_before["dw3.weight"]), "the optimizer no longer moves dw3"


def test_convert_twice_converts_nothing():
    model = _build(2)
    assert cute_dwconv.convert(model)
    assert cute_dwconv.convert(model) == []
    assert cute_dwconv.convert(model, strips_only=True) == []


def test_strips_only_keeps_the_old_behaviour():
    reference = _build(3)
    model = copy.deepcopy(reference)
    names = cute_dwconv.convert(model, strips_only=True)
    assert names == _expected(model, MixedNet.STRIPS)
    for name, module in model.named_modules():
        if name in MixedNet.STRIPS:
            assert type(module) is cute_dwconv.StripConv2d, name
        elif name in MixedNet.DEPTHWISE:
            assert type(module) is nn.Conv2d, f"{name}: strips_only converted a depthwise layer that is no strip"
    assert not any(type(m) is cute_dwconv.DepthwiseConv2d for m in model.modules())
    # then the full conversion takes the rest, and only the rest
    assert cute_dwconv.convert(model) == _expected(model, MixedNet.DEPTHWISE)


def test_convert_keyword_and_default():
    model = _build(4)
    assert cute_dwconv.convert(model, strips_only=False) == _expected(model, MixedNet.STRIPS + MixedNet.DEPTHWISE)
    lone = nn.Conv2d(4, 4, 3, padding=1, groups=4)
    assert cute_dwconv.convert(lone) == [""]  # the root module itself
    assert type(lone) is cute_dwconv.DepthwiseConv2d


def test_convert_keeps_hooks():
    model = _build(5)
    calls = []
    model.dw3.register_forward_hook(lambda module, args, out: calls.append(type(module).__name__))
    model.strip_v.register_forward_pre_hook(lambda module, args: calls.append("pre " + type(module).__name__))
    cute_dwconv.convert(model)
    model(torch.randn(1, 3, 16, 16))
    assert calls == ["DepthwiseConv2d", "pre StripConv2d"], calls


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
def test_converted_model_on_cpu_is_conv2d(dtype):
    """On CPU tensors every converted layer runs nn.Conv2d's own forward: the same bits, forward and
    backward, and none of our operators."""
    seed = random.randrange(2**31)
    reference = _build(seed).to(dtype)
    model = copy.deepcopy(reference)
    cute_dwconv.convert(model)
    x = torch.randn(2, 3, 21, 18, generator=torch.Generator().manual_seed(seed)).to(dtype)
    results = []
    for m in (reference, model):
        xi = x.clone().requires_grad_()
        with OpLog() as log:
            out = m(xi)
            out.float().square().sum().backward()
        assert not log.ours(), log.names
        results.append([out.detach(), xi.grad] + [p.grad for p in m.parameters()])
    for expected, got in zip(*results):
        assert (got is None) == (expected is None)  # (the unused layers get no gradient)
        assert got is None or torch.equal(got, expected)


def test_state_dict_loads_across_convert():
    saved = _build(6).state_dict()
    model = _build(7)
    cute_dwconv.convert(model)
    assert list(model.state_dict()) == list(saved)
    model.load_state_dict(saved)  # strict
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    fresh = _build(8)
    fresh.load_state_dict(model.state_dict())  # and back into an unconverted model
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_deepcopy_and_pickle_of_converted_model():
    model = _build(9)
    cute_dwconv.convert(model)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for clone in (copy.deepcopy(model), torch.load(buffer, weights_only=False)):
        assert type(clone.dw3) is cute_dwconv.DepthwiseConv2d and type(clone.strip_v) is cute_dwconv.StripConv2d
        x = torch.randn(1, 3, 12, 12)
        with torch.no_grad():
            assert torch.equal(clone(x), model(x))


# ----------------------------------------------------------------------------------------------
# DepthwiseConv2d is nn.Conv2d


CONSTRUCTOR_ARGS = [
    dict(in_channels=8, out_channels=8, kernel_size=3, padding=1, groups=8),
    dict(in_channels=8, out_channels=8, kernel_size=(5, 7), padding=(2, 3), groups=8, bias=False),
    dict(in_channels=6, out_channels=6, kernel_size=(2, 4), padding="same", groups=6, dilation=(2, 1)),
    dict(in_channels=6, out_channels=6, kernel_size=31, padding=15, groups=6),
    dict(in_channels=6, out_channels=6, kernel_size=5, stride=(2, 1), padding="valid", groups=6),
    dict(in_channels=6, out_channels=6, kernel_size=3, stride=2, padding=1, groups=6, padding_mode="reflect"),
    dict(in_channels=4, out_channels=8, kernel_size=3, padding=1, groups=4),   # not depthwise: still nn.Conv2d's
    dict(in_channels=4, out_channels=8, kernel_size=3, padding=1),
]


@pytest.mark.parametrize("kwargs", CONSTRUCTOR_ARGS, ids=str)
def test_depthwise_module_is_conv2d(kwargs):
    """Same constructor, parameters, initialisation, randomness used and state_dict keys as nn.Conv2d;
    on CPU tensors the same answer, forward and backward, in every dtype."""
    torch.manual_seed(1234)
    reference = nn.Conv2d(**kwargs)
    after_reference = torch.rand(1)
    torch.manual_seed(1234)
    module = cute_dwconv.DepthwiseConv2d(**kwargs)
    after_module = torch.rand(1)
    assert isinstance(module, nn.Conv2d)
    assert torch.equal(after_reference, after_module), "the constructors used different amounts of randomness"
    assert list(module.state_dict()) == list(reference.state_dict())
    for (name, a), (other, b) in zip(reference.named_parameters(), module.named_parameters()):
        assert name == other and torch.equal(a, b), name
    module.load_state_dict(reference.state_dict())
    reference.load_state_dict(module.state_dict())
    assert repr(module).replace("DepthwiseConv2d", "Conv2d") == repr(reference)
    x = torch.randn(2, kwargs["in_channels"], 35, 33)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        module_t, reference_t = copy.deepcopy(module).to(dtype), copy.deepcopy(reference).to(dtype)
        results = []
        for m in (reference_t, module_t):
            xi = x.detach().to(dtype).clone().requires_grad_()
            with OpLog() as log:
                out = m(xi)
                out.float().sum().backward()
            assert not log.ours(), log.names
            results.append([out.detach(), xi.grad] + [p.grad for p in m.parameters()])
        for expected, got in zip(*results):
            assert torch.equal(got, expected), dtype


def test_depthwise_module_on_meta_tensors():
    module = cute_dwconv.DepthwiseConv2d(8, 8, 7, padding=3, groups=8, device="meta")
    out = module(torch.empty(2, 8, 20, 22, device="meta"))
    assert out.shape == (2, 8, 20, 22) and out.device.type == "meta"
