"""Blocks with depthwise windows of several sizes (tests/depthwise_blocks.py: ConvNeXt's 7x7, MSCAN-T's
5x5, strips and MLP 3x3, MobileNetV2's strided 3x3, RepLKNet's 31x31 beside a 5x5), converted with
cute_dwconv.convert, against their unconverted copies: what convert takes (without a GPU); on the
GPU the outputs of every step of a few SGD steps and the parameters and buffers after them, in
float32 (NCHW and channels_last) and under bfloat16 autocast.

Nothing here touches cute_dwconv.DepthwiseConv2d at import time."""

from __future__ import annotations

import copy
import random

import pytest
import torch
from torch import nn

import cute_dwconv
from conftest import OpLog, requires_cuda
from depthwise_blocks import ConvNeXtBlock, InvertedResidual, MSCABlock, RepLKBlock, expected_conversions
from training_checks import aten_convolution, check_update_near_float32, conv_count, ours, relative_error, train_steps


def _msca_block(dim, ratio):
    block = MSCABlock(dim, ratio)
    with torch.no_grad():  # layer scales of 1e-2 would hide the branches in the output
        block.layer_scale_1.fill_(0.5)
        block.layer_scale_2.fill_(0.5)
    return block


# block: (constructor, input shape)
BLOCKS = {
    "convnext": (lambda: ConvNeXtBlock(32, layer_scale_init_value=0.5), (2, 32, 28, 28)),
    "mscan_t": (lambda: _msca_block(32, 8), (2, 32, 28, 28)),              # MSCAN-T's first stage
    "mobilenetv2": (lambda: InvertedResidual(32, 48, stride=2), (2, 32, 28, 28)),
    "mobilenetv2_residual": (lambda: InvertedResidual(32, 32, stride=1), (2, 32, 28, 28)),
    "replknet": (lambda: RepLKBlock(16, 16, block_lk_size=31, small_kernel=5), (2, 16, 40, 40)),
}


def _build(block, seed):
    torch.manual_seed(seed)
    return BLOCKS[block][0]()


def _check_conversion(reference, model, names, strips_only=False):
    depthwise, strips = expected_conversions(reference)
    order = [n for n, _ in reference.named_modules()]
    wanted = strips if strips_only else depthwise + strips
    assert names == sorted(wanted, key=order.index), names
    converted = dict(model.named_modules())
    for name, module in reference.named_modules():
        got = converted[name]
        if name in strips:
            assert type(got) is cute_dwconv.StripConv2d, name
        elif name in depthwise and not strips_only:
            assert type(got) is cute_dwconv.DepthwiseConv2d, name
        else:
            assert type(got) is type(module), f"{name} became {type(got).__name__}"
        if isinstance(module, nn.Conv2d):
            for attr in ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode"):
                assert getattr(got, attr) == getattr(module, attr), (name, attr)


# ----------------------------------------------------------------------------------------------
# without a GPU


@pytest.mark.parametrize("strips_only", [False, True])
@pytest.mark.parametrize("block", list(BLOCKS))
def test_convert_on_cpu(block, strips_only):
    reference = _build(block, 0)
    model = copy.deepcopy(reference)
    params_before = dict(model.named_parameters())
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    names = cute_dwconv.convert(model, strips_only=strips_only)
    _check_conversion(reference, model, names, strips_only)
    for name, p in model.named_parameters():
        assert p is params_before[name], name
    assert list(model.state_dict()) == list(state_before)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state_before[key]), key
    x = torch.randn(BLOCKS[block][1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), OpLog() as log:
        out = model.eval()(x)
    assert not log.ours(), log.names
    with torch.no_grad():
        assert torch.equal(out, reference.eval()(x)), "on CPU tensors the converted block is nn.Conv2d's"


# ----------------------------------------------------------------------------------------------
# on the GPU


MODES = {  # mode: (memory format, autocast dtype)
    "float32": (torch.contiguous_format, None),
    "float32_channels_last": (torch.channels_last, None),
    "bf16_autocast": (torch.contiguous_format, torch.bfloat16),
    "bf16_autocast_channels_last": (torch.channels_last, torch.bfloat16),
}
STEPS = 3


def _is_channels_last(t):
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("block", list(BLOCKS))
def test_training_matches_unconverted(block, mode, no_tf32):
    """A forward, then SGD steps (momentum, so each step's gradients carry on) on the converted block
    and on an unconverted copy: the same outputs at every step (the first is the plain forward), the
    same parameters and buffers after. The float32 tolerances grow with the step: each step's
    difference feeds the next."""
    memory_format, autocast_dtype = MODES[mode]
    seed = random.randrange(2**31)
    reference = _build(block, seed).cuda().to(memory_format=memory_format)
    model = copy.deepcopy(reference)
    # Under autocast, both 16-bit runs are measured against this float32 one.
    full_precision = copy.deepcopy(reference) if autocast_dtype is not None else None
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (reference, model)]
    names = cute_dwconv.convert(model)  # after the optimizer was built: it must keep working
    _check_conversion(reference, model, names)

    generator = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(BLOCKS[block][1], device="cuda", generator=generator).contiguous(memory_format=memory_format)
    probe = copy.deepcopy(model)  # (a forward in training mode would move BatchNorm's running statistics)
    layouts = []  # (layer, input is channels_last, output is channels_last) for each converted layer
    probe_modules = dict(probe.named_modules())
    for name in names:
        probe_modules[name].register_forward_hook(lambda module, args, out, name=name: layouts.append(
            (name, _is_channels_last(args[0]), _is_channels_last(out))))
    with OpLog() as log, torch.no_grad():
        with torch.autocast("cuda", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            probe_out = probe(x)
    target = torch.randn(probe_out.shape, device="cuda", generator=generator)
    converted = len(names)
    assert log.count(ours) == converted, f"expected {converted} calls of our operators: {log.names}"
    assert log.count(aten_convolution) == conv_count(reference) - converted, log.names
    assert len(layouts) == converted
    for name, channels_last_in, channels_last_out in layouts:  # channels_last in, channels_last out
        assert channels_last_in == channels_last_out, \
            f"{name}: channels_last in {channels_last_in}, out {channels_last_out}"

    initial = {n: p.detach().clone() for n, p in reference.named_parameters()}
    expected_outputs = train_steps(reference, optimizers[0], x, target, STEPS, autocast_dtype)
    outputs = train_steps(model, optimizers[1], x, target, STEPS, autocast_dtype)
    if full_precision is not None:
        train_steps(full_precision, torch.optim.SGD(full_precision.parameters(), lr=0.05, momentum=0.9), x, target,
               STEPS, None)
        full_params = dict(full_precision.named_parameters())
    context = f"{block} {mode} seed={seed}"
    for step, (got, expected) in enumerate(zip(outputs, expected_outputs)):
        assert got.dtype == expected.dtype, f"{context} step {step}: {got.dtype} vs {expected.dtype}"
        assert got.shape == expected.shape, f"{context} step {step}"
        assert not torch.isnan(got).any(), f"{context} step {step}: NaN in the output"
        scale = expected.abs().max().item()
        growth = step + 1
        if autocast_dtype is None:
            torch.testing.assert_close(got, expected, rtol=1e-4 * growth, atol=1e-4 * growth * scale,
                                       msg=lambda m: f"{context} step {step} output: {m}")
        else:
            assert relative_error(got, expected) < 2e-2 * growth, f"{context} step {step}"
            torch.testing.assert_close(got.float(), expected.float(), rtol=5e-2, atol=5e-2 * growth * scale,
                                       msg=lambda m: f"{context} step {step} output: {m}")
    reference_params = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        expected = reference_params[name].detach()
        moved, expected_moved = p.detach() - initial[name], expected - initial[name]
        # A parameter whose gradient is zero in exact arithmetic (a bias before BatchNorm) moves by
        # rounding noise only: its update is compared through the parameter itself, to an absolute
        # floor (such a bias starts at zero, so its own scale is the noise's).
        noise = 1e-5
        meaningful = expected_moved.norm() > 1e-4 * initial[name].norm() and expected_moved.abs().max() > noise
        if autocast_dtype is None:
            torch.testing.assert_close(p.detach(), expected, rtol=1e-4 * STEPS,
                                       atol=max(1e-4 * STEPS * expected.abs().max().item(), noise),
                                       msg=lambda m: f"{context} {name}: {m}")
            assert not meaningful or relative_error(moved, expected_moved) < 1e-3 * STEPS, \
                f"{context} {name}: update differs"
        else:
            check_update_near_float32(moved, expected_moved, full_params[name].detach() - initial[name], meaningful,
                                      f"{context} {name}")
    for (name, got), (_, expected) in zip(model.named_buffers(), reference.named_buffers()):
        if got.is_floating_point():
            torch.testing.assert_close(got, expected, rtol=1e-4 if autocast_dtype is None else 5e-2,
                                       atol=1e-5 if autocast_dtype is None else 5e-3,
                                       msg=lambda m: f"{context} buffer {name}: {m}")


GRAPH_MODES = ["float32", "float32_channels_last", "bf16_autocast"]


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("mode", GRAPH_MODES)
@pytest.mark.parametrize("block", ["mscan_t", "mobilenetv2", "convnext"])
def test_training_step_replays_in_cuda_graph(block, mode, no_tf32):
    """A converted block's forward and backward captured in one CUDA graph: each replay on fresh input
    gives the outputs and gradients of the same converted block run eagerly (every kernel, the
    backward's workspaces included, must be capturable and read only its graph's memory)."""
    memory_format, autocast_dtype = MODES[mode]
    seed = random.randrange(2**31)
    model = _build(block, seed).cuda().to(memory_format=memory_format)
    cute_dwconv.convert(model)
    eager = copy.deepcopy(model)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    shape = BLOCKS[block][1]
    static_x = torch.randn(shape, device="cuda", generator=generator).contiguous(memory_format=memory_format)

    def forward_backward(module, x):
        # Autocast's cast cache would hold tensors of the capture across replays.
        with torch.autocast("cuda", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None,
                            cache_enabled=False):
            out = module(x)
        (out.float() * weights_of_out).sum().backward()
        return out

    with torch.no_grad():
        weights_of_out = torch.randn(model(static_x).shape, device="cuda", generator=generator)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            forward_backward(model, static_x)
            model.zero_grad(set_to_none=True)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = forward_backward(model, static_x)

    eager_params = dict(eager.named_parameters())
    for replay in range(2):
        static_x.copy_(torch.randn(shape, device="cuda", generator=generator))
        graph.replay()
        eager.zero_grad(set_to_none=True)
        expected = forward_backward(eager, static_x)
        torch.cuda.synchronize()
        context = f"{block} {mode} seed={seed} replay {replay}"
        torch.testing.assert_close(static_out, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item(),
                                   msg=lambda m: f"{context} output: {m}")
        for name, p in model.named_parameters():
            want = eager_params[name].grad
            assert p.grad is not None and want is not None, f"{context} {name}: no gradient"
            torch.testing.assert_close(p.grad, want, rtol=1e-4, atol=1e-4 * want.abs().max().item() + 1e-7,
                                       msg=lambda m: f"{context} {name} gradient: {m}")


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("block", ["convnext", "replknet"])
def test_half_precision_blocks(block, dtype, no_tf32):
    """Blocks cast to float16 / bfloat16 (no autocast) run our operators and match nn.Conv2d's."""
    seed = random.randrange(2**31)
    reference = _build(block, seed).cuda().to(dtype).eval()
    model = copy.deepcopy(reference)
    names = cute_dwconv.convert(model)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(BLOCKS[block][1], device="cuda", generator=generator).to(dtype)
    with torch.no_grad(), OpLog() as log:
        out = model(x)
    assert log.count(ours) == len(names), log.names
    with torch.no_grad():
        expected = reference(x)
    assert out.dtype == dtype
    assert relative_error(out, expected) < (5e-3 if dtype == torch.float16 else 2e-2)


@requires_cuda
@pytest.mark.gpu
def test_float64_blocks_fall_back():
    reference = _build("replknet", 0).cuda().double().eval()
    model = copy.deepcopy(reference)
    cute_dwconv.convert(model)
    x = torch.randn(BLOCKS["replknet"][1], dtype=torch.float64, device="cuda")
    with torch.no_grad(), OpLog() as log:
        out = model(x)
    assert log.count(ours) == 0, log.names
    with torch.no_grad():
        torch.testing.assert_close(out, reference(x), rtol=1e-12, atol=1e-12)
