"""Networks with strip convolutions: SegNeXt's attention, InceptionNeXt's mixer, LSKA (k = 23 and
35) and a small classifier, converted with cute_dwconv.convert, against their unconverted copies: what convert takes
and leaves, state_dicts, outputs and parameters after SGD steps (float32, channels_last, bfloat16
autocast), torch.compile; and, without a GPU, the converted model on CPU tensors."""

from __future__ import annotations

import copy
import random

import pytest
import torch
from torch import nn

import cute_dwconv
from conftest import OpLog, requires_cuda
from strip_blocks import (LSKA, InceptionNeXtMixer, SegNeXtAttention, StripNet, SubclassedConv2d,
                          is_depthwise_strip, strip_conv_names)
from training_checks import aten_convolution, check_update_near_float32, conv_count, ours, relative_error, train_steps


# block name: (constructor, input shape, expected number of strip convolutions)
BLOCKS = {
    "segnext": (lambda: SegNeXtAttention(8), (2, 8, 40, 36), 6),
    "inceptionnext": (lambda: InceptionNeXtMixer(32), (2, 32, 23, 30), 2),
    "stripnet": (lambda: StripNet(16), (3, 3, 32, 28), 10),
    "lska23": (lambda: LSKA(8, 23), (2, 8, 40, 36), 4),  # (1, 5)/(5, 1), then (1, 7)/(7, 1) at dilation 3
    "lska35": (lambda: LSKA(8, 35), (2, 8, 40, 36), 4),  # (1, 11)/(11, 1) at dilation 3
}


def _build(block, seed):
    torch.manual_seed(seed)
    return BLOCKS[block][0]()


def _check_conversion(reference, model, names, expected_count):
    assert len(names) == expected_count, names
    assert names == strip_conv_names(reference), "convert took other modules than the strip convolutions"
    assert names == [n for n, m in reference.named_modules() if is_depthwise_strip(m)]
    converted = dict(model.named_modules())
    for name, module in reference.named_modules():
        if not isinstance(module, nn.Conv2d):
            continue
        got = converted[name]
        if name in names:
            assert type(got) is cute_dwconv.StripConv2d, name
            assert isinstance(got, nn.Conv2d)
            for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                         "padding_mode"):
                assert getattr(got, attr) == getattr(module, attr), (name, attr)
        else:
            assert type(got) is type(module), f"{name} is not a depthwise strip conv, yet became {type(got)}"


# ----------------------------------------------------------------------------------------------
# without a GPU


@pytest.mark.parametrize("block", list(BLOCKS))
def test_convert_on_cpu(block):
    reference = _build(block, 0)
    model = copy.deepcopy(reference)
    params_before = dict(model.named_parameters())
    state_before = model.state_dict()
    names = cute_dwconv.convert(model, strips_only=True)
    _check_conversion(reference, model, names, BLOCKS[block][2])
    params_after = dict(model.named_parameters())
    assert list(params_after) == list(params_before)
    for name, p in params_after.items():
        assert p is params_before[name], f"{name} is a new Parameter: optimizers built before convert would miss it"
    state_after = model.state_dict()
    assert list(state_after) == list(state_before)
    for key, value in state_after.items():
        assert torch.equal(value, state_before[key]), key
    assert cute_dwconv.convert(model, strips_only=True) == [], "a second convert converted again"


def test_convert_skips_what_is_not_a_strip():
    model = nn.Sequential(
        nn.Conv2d(3, 8, (1, 5)),                                          # dense strip
        nn.Conv2d(8, 8, (5, 1), groups=4),                                # grouped
        nn.Conv2d(8, 8, (1, 5), groups=8, padding=(0, 2), padding_mode="reflect"),
        nn.Conv2d(8, 8, (1, 5), groups=8, padding=(0, 2), padding_mode="circular"),
        nn.Conv2d(8, 8, 3, groups=8, padding=1),                          # square depthwise
        nn.Conv2d(8, 16, (5, 1), groups=8),                               # channel multiplier
        SubclassedConv2d(8, 8, (5, 1), groups=8),                         # not exactly nn.Conv2d
        nn.Conv1d(8, 8, 5, groups=8),
        nn.Conv2d(8, 8, (5, 1), groups=8, padding=(2, 0)),                # the one strip
        cute_dwconv.StripConv2d(8, 8, (1, 5), groups=8, padding=(0, 2)),  # already converted
    )
    before = [type(m) for m in model]
    assert cute_dwconv.convert(model, strips_only=True) == ["8"]
    assert [type(m) for m in model] == before[:8] + [cute_dwconv.StripConv2d, cute_dwconv.StripConv2d]


@pytest.mark.parametrize("block", list(BLOCKS))
def test_state_dict_loads_across_convert(block):
    reference = _build(block, 1)
    saved = reference.state_dict()
    model = _build(block, 2)  # other parameters
    cute_dwconv.convert(model, strips_only=True)
    assert list(model.state_dict()) == list(saved)
    model.load_state_dict(saved)  # strict
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    fresh = _build(block, 3)
    fresh.load_state_dict(model.state_dict())  # and back into an unconverted model


@pytest.mark.parametrize("block", list(BLOCKS))
def test_converted_model_on_cpu_is_conv2d(block):
    """On CPU tensors the converted modules run nn.Conv2d's own forward: the same bits."""
    seed = random.randrange(2**31)
    reference = _build(block, seed)
    model = copy.deepcopy(reference)
    cute_dwconv.convert(model, strips_only=True)
    x = torch.randn(BLOCKS[block][1], generator=torch.Generator().manual_seed(seed))
    results = []
    for m in (reference, model):
        xi = x.clone().requires_grad_()
        with OpLog() as log:
            out = m(xi)
            out.square().sum().backward()
        assert log.count(ours) == 0, log.names
        results.append([out.detach(), xi.grad] + [p.grad for p in m.parameters()])
    for expected, got in zip(*results):
        assert torch.equal(got, expected)


def test_float64_on_cpu_falls_back():
    reference = SegNeXtAttention(4).double()
    model = copy.deepcopy(reference)
    cute_dwconv.convert(model, strips_only=True)
    x = torch.randn(2, 4, 24, 26, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


CONSTRUCTOR_ARGS = [
    dict(in_channels=8, out_channels=8, kernel_size=(1, 7), padding=(0, 3), groups=8),
    dict(in_channels=8, out_channels=8, kernel_size=(7, 1), padding=(3, 0), groups=8, bias=False),
    dict(in_channels=6, out_channels=6, kernel_size=(4, 1), padding="same", groups=6, dilation=(2, 1)),
    dict(in_channels=6, out_channels=6, kernel_size=(1, 5), stride=(1, 2), padding=1, groups=6,
         padding_mode="reflect"),
    dict(in_channels=4, out_channels=8, kernel_size=3, padding=1),  # not a strip: still nn.Conv2d's
]


@pytest.mark.parametrize("kwargs", CONSTRUCTOR_ARGS, ids=str)
def test_strip_conv2d_module_is_conv2d(kwargs):
    """Same constructor, parameters, initialisation, randomness used and state_dict keys as nn.Conv2d;
    on CPU tensors the same answer."""
    torch.manual_seed(1234)
    reference = nn.Conv2d(**kwargs)
    after_reference = torch.rand(1)
    torch.manual_seed(1234)
    module = cute_dwconv.StripConv2d(**kwargs)
    after_module = torch.rand(1)
    assert isinstance(module, nn.Conv2d)
    assert torch.equal(after_reference, after_module), "the constructors used different amounts of randomness"
    assert list(module.state_dict()) == list(reference.state_dict())
    for (name, a), (other, b) in zip(reference.named_parameters(), module.named_parameters()):
        assert name == other and torch.equal(a, b), name
    module.load_state_dict(reference.state_dict())
    reference.load_state_dict(module.state_dict())
    x = torch.randn(2, kwargs["in_channels"], 15, 17)
    with torch.no_grad():
        assert torch.equal(module(x), reference(x))
    for dtype in (torch.float64, torch.bfloat16):
        module_t, reference_t = copy.deepcopy(module).to(dtype), copy.deepcopy(reference).to(dtype)
        with torch.no_grad():
            assert torch.equal(module_t(x.to(dtype)), reference_t(x.to(dtype))), dtype


# ----------------------------------------------------------------------------------------------
# on the GPU


MODES = {  # mode: (memory format, autocast dtype)
    "float32": (torch.contiguous_format, None),
    "float32_channels_last": (torch.channels_last, None),
    "bf16_autocast": (torch.contiguous_format, torch.bfloat16),
}


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("block", list(BLOCKS))
def test_training_matches_unconverted(block, mode, no_tf32):
    """Three SGD steps (momentum, so each step's gradients carry on) on the converted model and on
    an unconverted copy: the same outputs at every step, the same parameters and buffers after."""
    memory_format, autocast_dtype = MODES[mode]
    seed = random.randrange(2**31)
    reference = _build(block, seed).cuda().to(memory_format=memory_format)
    model = copy.deepcopy(reference)
    # Under autocast, both 16-bit runs are measured against this float32 one.
    full_precision = copy.deepcopy(reference) if autocast_dtype is not None else None
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (reference, model)]
    names = cute_dwconv.convert(model, strips_only=True)  # after the optimizer was built: it must keep working
    _check_conversion(reference, model, names, BLOCKS[block][2])

    generator = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(BLOCKS[block][1], device="cuda", generator=generator).contiguous(memory_format=memory_format)
    probe = copy.deepcopy(model)  # (a forward in training mode would move BatchNorm's running statistics)
    with OpLog() as log, torch.no_grad():
        with torch.autocast("cuda", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            out_shape = probe(x).shape
    target = torch.randn(out_shape, device="cuda", generator=generator)
    strips = BLOCKS[block][2]
    assert log.count(ours) == strips, f"expected {strips} calls of our operators: {log.names}"
    assert log.count(aten_convolution) == conv_count(reference) - strips, log.names

    initial = {n: p.detach().clone() for n, p in reference.named_parameters()}
    expected_outputs = train_steps(reference, optimizers[0], x, target, 3, autocast_dtype)
    outputs = train_steps(model, optimizers[1], x, target, 3, autocast_dtype)
    if full_precision is not None:
        train_steps(full_precision, torch.optim.SGD(full_precision.parameters(), lr=0.05, momentum=0.9), x, target, 3,
               None)
        full_params = dict(full_precision.named_parameters())
    context = f"{block} {mode} seed={seed}"
    for step, (got, expected) in enumerate(zip(outputs, expected_outputs)):
        assert got.dtype == expected.dtype, f"{context} step {step}: {got.dtype} vs {expected.dtype}"
        assert not torch.isnan(got).any(), f"{context} step {step}: NaN in the output"
        scale = expected.abs().max().item()
        if autocast_dtype is None:
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * scale,
                                       msg=lambda m: f"{context} step {step} output: {m}")
        else:
            assert relative_error(got, expected) < 2e-2, f"{context} step {step}"
            torch.testing.assert_close(got.float(), expected.float(), rtol=5e-2, atol=5e-2 * scale,
                                       msg=lambda m: f"{context} step {step} output: {m}")
    reference_params = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        expected = reference_params[name].detach()
        moved, expected_moved = p.detach() - initial[name], expected - initial[name]
        # A parameter whose gradient is zero in exact arithmetic (a bias before BatchNorm) moves by
        # rounding noise only: its update is compared through the parameter itself.
        meaningful = expected_moved.norm() > 1e-4 * initial[name].norm()
        if autocast_dtype is None:
            torch.testing.assert_close(p.detach(), expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item(),
                                       msg=lambda m: f"{context} {name}: {m}")
            assert not meaningful or relative_error(moved, expected_moved) < 1e-3, f"{context} {name}: update differs"
        else:
            check_update_near_float32(moved, expected_moved, full_params[name].detach() - initial[name], meaningful,
                                      f"{context} {name}")
    for (name, got), (_, expected) in zip(model.named_buffers(), reference.named_buffers()):
        if got.is_floating_point():
            torch.testing.assert_close(got, expected, rtol=1e-4 if autocast_dtype is None else 5e-2,
                                       atol=1e-5 if autocast_dtype is None else 5e-3,
                                       msg=lambda m: f"{context} buffer {name}: {m}")


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("block", list(BLOCKS))
def test_compiled_converted_matches_eager(block, no_tf32):
    seed = random.randrange(2**31)
    torch._dynamo.reset()
    reference = _build(block, seed).cuda()
    model = copy.deepcopy(reference)
    cute_dwconv.convert(model, strips_only=True)
    compiled = torch.compile(model, fullgraph=True)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(BLOCKS[block][1], device="cuda", generator=generator)
    grad_out = None
    results = []
    for m, params in ((reference, reference), (model, model), (compiled, model)):
        xi = x.clone().requires_grad_()
        out = m(xi)
        if grad_out is None:
            grad_out = torch.randn(out.shape, device="cuda", generator=generator)
        inputs = [xi] + list(params.parameters())
        results.append([out.detach()] + list(torch.autograd.grad(out, inputs, grad_out)))
    names = ["output", "grad_x"] + [n for n, _ in model.named_parameters()]
    # Inductor fuses and reorders the BatchNorm, GELU and elementwise work around our operator, so
    # gradients deep in the network differ in their last bits: each tensor is compared as a whole
    # (relative norm) and elementwise against its own largest value.
    for name, expected, eager, comp in zip(names, *results):
        scale = expected.abs().max().item()
        for label, got, want in (("eager", eager, expected), ("compiled", comp, eager)):
            assert relative_error(got, want) < 1e-3, f"{block} seed={seed} {label} {name}"
            torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3 * scale,
                                       msg=lambda m: f"{block} seed={seed} {label} {name}: {m}")


@requires_cuda
@pytest.mark.gpu
def test_float64_on_gpu_falls_back():
    reference = SegNeXtAttention(4).cuda().double()
    model = copy.deepcopy(reference)
    cute_dwconv.convert(model, strips_only=True)
    x = torch.randn(2, 4, 24, 26, dtype=torch.float64, device="cuda")
    with torch.no_grad(), OpLog() as log:
        out = model(x)
    assert log.count(ours) == 0, log.names
    with torch.no_grad():
        torch.testing.assert_close(out, reference(x), rtol=1e-12, atol=1e-12)


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_precision_models(dtype, no_tf32):
    """Models cast to float16 / bfloat16 (no autocast) run our operator and match nn.Conv2d's."""
    seed = random.randrange(2**31)
    reference = _build("segnext", seed).cuda().to(dtype)
    model = copy.deepcopy(reference)
    cute_dwconv.convert(model, strips_only=True)
    x = torch.randn(BLOCKS["segnext"][1], device="cuda", generator=torch.Generator(device="cuda").manual_seed(seed))
    x = x.to(dtype)
    with torch.no_grad(), OpLog() as log:
        out = model(x)
    assert log.count(ours) == 6, log.names
    with torch.no_grad():
        expected = reference(x)
    assert out.dtype == dtype
    assert relative_error(out, expected) < (5e-3 if dtype == torch.float16 else 2e-2)
