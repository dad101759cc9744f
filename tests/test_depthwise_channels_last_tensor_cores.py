"""channels_last windows of 16-bit inputs on tensor cores (window_mma_channels_last.cuh).

A block stages 8 channels of a tile of 16 output rows x 64 columns, transposes them into channel
planes and back. The forced path covers both band depths and their edges (9 and 25 taps wide), tiles
that cross every edge of the image, several strips and row tiles, paddings past the window, 8 to 48
channels, outputs that take pairs of channels and ones that take one element at a time, float32
parameters beside 16-bit inputs; auto takes ConvNeXt's 7x7 there (the profiler says which kernel
ran), and the gradients through it match, but not where one block fills an SM (sm_86's shared memory)
unless the window has 100 taps or more; the calls the kernel cannot take are refused."""

import random

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from conftest import TOLERANCES, last_words_of_script, poison_allocator, requires_cuda
from test_depthwise import (DEVICE, SIXTEEN_BIT, assert_wrote_exactly_out, check_forward_backward,
                            check_path_into_poisoned_outs, describe, forced_case, make_input, make_params, op_args,
                            poisoned_out, reference, seeded)

pytestmark = requires_cuda
ops = torch.ops.cute_dwconv
PATH = "channels_last_tensor_core"

CASES = [  # kernel, stride, padding (ours or torch.ops' four sides), (N, C, H, W)
    ((7, 7), 1, 3, (2, 16, 28, 28)),             # ConvNeXt's
    ((7, 7), 1, 3, (1, 8, 40, 150)),             # three strips, three row tiles, ragged both ways
    ((3, 3), 1, 1, (3, 24, 17, 65)),             # one column past a strip
    ((5, 5), 1, 2, (2, 8, 16, 64)),              # whole tiles
    ((9, 9), 1, 4, (1, 16, 21, 70)),             # the shallow band's widest
    ((10, 10), 1, 5, (1, 8, 23, 66)),            # the deep band's narrowest
    ((25, 25), 1, 12, (1, 8, 30, 80)),           # its widest
    ((3, 25), 1, (1, 12), (2, 16, 19, 40)),
    ((25, 3), 1, (12, 1), (1, 8, 50, 24)),
    ((7, 6), 1, (3, 2), (2, 8, 20, 37)),         # even width, odd output width
    ((1, 1), 1, 0, (2, 8, 9, 10)),
    ((5, 5), 1, 6, (1, 8, 7, 9)),                # padding past the window: bias-only borders
    ((7, 7), 1, [0, 5, 6, 1], (1, 8, 18, 33)),   # one-sided paddings
    ((7, 9), 1, 0, (2, 48, 22, 32)),             # valid, six chunks of channels
]
IDS = [describe(k, s, p, 1, shape) for k, s, p, shape in CASES]


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forced_into_poisoned_outputs(case, dtype):
    """Into a channels_last output (pairs of channels a store), a channel slice of a wider one and an
    NCHW one (an element a store): exactly out, nothing else."""
    c = forced_case(case, dtype, "channels_last")
    check_path_into_poisoned_outs(PATH, c.x, c.weight, c.bias, c.args, c.expected, c.context)
    out, holder = poisoned_out(tuple(c.expected.shape), dtype, "other_format", c.x)
    ops._depthwise_conv2d_path_out(c.x, c.weight, c.bias, *c.args, PATH, out)
    assert_wrote_exactly_out(out, holder, c.expected, c.weight.shape[2] * c.weight.shape[3], f"{c.context} out=NCHW")


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
@pytest.mark.parametrize("case", [CASES[4], CASES[5], CASES[12]], ids=[IDS[4], IDS[5], IDS[12]])
def test_float32_parameters(case, dtype):
    """Autocast's call through auto (windows of 49 taps or more on rows of 32 to 64 outputs, or of 81
    taps or more): float32 weight and bias, split into 16-bit heads and tails, count as they are."""
    c = forced_case(case, dtype, "channels_last")
    weight32 = torch.randn(c.weight.shape, device=DEVICE, generator=c.generator)
    bias32 = torch.randn(c.bias.shape, device=DEVICE, generator=c.generator)
    poison_allocator(c.x.numel() * 2 * c.x.element_size(), c.x.device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        out = ops._depthwise_conv2d_float_params(c.x, weight32, bias32, *c.args)
        torch.cuda.synchronize()
    assert any("fwd_window_mma_channels_last_kernel" in e.name for e in prof.events()), f"{c.context}: ran elsewhere"
    assert not torch.isnan(out).any(), f"{c.context}: unwritten output elements"
    torch.testing.assert_close(out.double(), reference(c.x, weight32, bias32, 1, c.args[1], 1), **TOLERANCES[dtype],
                               msg=lambda m: f"{c.context} float32 parameters: {m}")


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
def test_auto_takes_convnext_window(dtype):
    """Auto runs a channels_last 16-bit 7x7 on the kernel; its input gradient (the flipped window) and
    the weight gradient match float64."""
    seed = random.randrange(2**31)
    generator = seeded(seed)
    x = make_input((2, 16, 30, 44), dtype, "channels_last", generator)
    weight, bias = make_params(16, (7, 7), dtype, True, generator)
    context = f"7x7 channels_last {dtype} seed={seed}"
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        check_forward_backward(x, weight, bias, 1, 3, 1, generator, context)
    launches = sum("fwd_window_mma_channels_last_kernel" in e.name for e in prof.events())
    assert launches >= 2, f"{context}: the forward and the input gradient ran elsewhere ({launches} launches)"


REFUSED = [  # what the kernel cannot take: (why, dtype, layout, kernel, stride, padding, dilation, shape)
    ("float32", torch.float32, "channels_last", (7, 7), 1, 3, 1, (1, 8, 20, 20)),
    ("NCHW x", torch.bfloat16, "contiguous", (7, 7), 1, 3, 1, (1, 8, 20, 20)),
    ("C not a multiple of 8", torch.bfloat16, "channels_last", (7, 7), 1, 3, 1, (1, 12, 20, 20)),
    ("pixels off 16 bytes", torch.bfloat16, "channels_last_slice", (7, 7), 1, 3, 1, (1, 8, 20, 20)),
    ("stride 2", torch.float16, "channels_last", (7, 7), 2, 3, 1, (1, 8, 20, 20)),
    ("dilation 2", torch.float16, "channels_last", (7, 7), 1, 6, 2, (1, 8, 20, 20)),
    ("26 wide", torch.bfloat16, "channels_last", (3, 26), 1, (1, 12), 1, (1, 8, 20, 40)),
]


@pytest.mark.parametrize("why, dtype, layout, kernel, stride, padding, dilation, shape", REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_refused_calls_leave_out_alone(why, dtype, layout, kernel, stride, padding, dilation, shape):
    generator = seeded(random.randrange(2**31))
    x = make_input(shape, dtype, layout, generator)
    weight, bias = make_params(shape[1], kernel, dtype, True, generator)
    expected = reference(x, weight, bias, stride, padding, dilation)
    out, holder = poisoned_out(tuple(expected.shape), dtype, "suggested", x)
    with pytest.raises(RuntimeError, match="cannot take this call"):
        ops._depthwise_conv2d_path_out(x, weight, bias, *op_args(kernel, stride, padding, dilation), PATH, out)
    torch.cuda.synchronize()
    assert torch.isnan(holder).all(), f"{why}: a refused call wrote into out"


_ONE_BLOCK_CHECK = """
import torch
from torch.profiler import ProfilerActivity, profile
from test_depthwise import make_input, make_params, reference, seeded

ran = []
for kernel in ((7, 7), (13, 13)):
    generator = seeded(7)
    x = make_input((2, 8, 30, 44), torch.bfloat16, "channels_last", generator)
    weight, bias = make_params(8, kernel, torch.bfloat16, True, generator)
    padding = [kernel[0] // 2, kernel[1] // 2]
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        out = torch.ops.cute_dwconv.depthwise_conv2d(x, weight, bias, [1, 1], padding, [1, 1])
        torch.cuda.synchronize()
    torch.testing.assert_close(out.double(), reference(x, weight, bias, 1, padding, 1), atol=0.1, rtol=0.02)
    ran.append(str(any("fwd_window_mma_channels_last_kernel" in e.name for e in prof.events())))
print("7x7", ran[0], "13x13", ran[1])
"""


def test_one_block_an_sm_takes_only_long_windows():
    """With sm_86's limits (read once per process, so in a fresh one) a 7x7's plan fits one block an
    SM and auto keeps the FP32 tiles; a 13x13 (169 taps) still runs on tensor cores."""
    words = last_words_of_script(_ONE_BLOCK_CHECK, 4, {"CUTE_DWCONV_DEVICE_LIMITS": "sm_86"})
    assert words == ["7x7", "False", "13x13", "True"]
