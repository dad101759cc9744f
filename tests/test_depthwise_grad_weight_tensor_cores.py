"""The weight and bias gradients of 16-bit NCHW windows on tensor cores (window_grad_weight_mma.cuh).

Auto sends windows of at least 49 taps there; a subprocess lowers that bound to 1, so that every
bucket (8 x 8, 16 x 16, 32 x 32, 8 x 56 and 56 x 8 taps by staged rows), the windows at their edges,
every column offset of the staged input (the left padding mod 8), several strips a row, many slices
a channel and sliced inputs run on it. The profiler confirms which kernel ran."""

import pytest

from conftest import last_words_of_script, requires_cuda

pytestmark = requires_cuda

_FORCED_CHECK = """
import random
import sys
import torch
from torch.profiler import ProfilerActivity, profile
from test_depthwise import check_forward_backward, seeded, make_params

cases = [  # kernel, (top, bottom, left, right) padding, (N, C, H, W), channel slice of a wider x
    ((3, 3), (1, 1, 1, 1), (2, 5, 20, 24), False),
    ((7, 7), (3, 3, 3, 3), (2, 3, 56, 56), False),
    ((5, 5), (2, 2, 2, 2), (3, 4, 33, 40), True),
    ((7, 8), (3, 3, 3, 4), (1, 2, 30, 32), False),         # the 8 x 8 bucket's edge: Kh + 1 = 8 rows
    ((8, 8), (4, 3, 3, 4), (1, 2, 30, 32), False),         # one row more: the 16 x 16 bucket
    ((15, 8), (7, 7, 3, 4), (1, 2, 30, 32), False),        # its edge
    ((16, 8), (8, 7, 3, 4), (1, 2, 30, 32), False),        # one row more: the 32 x 32 bucket
    ((13, 13), (6, 6, 6, 6), (2, 2, 33, 40), False),
    ((31, 31), (15, 15, 15, 15), (1, 3, 40, 136), False),  # two strips of 72 columns
    ((5, 51), (2, 2, 25, 25), (1, 2, 20, 64), False),
    ((51, 5), (25, 25, 2, 2), (1, 2, 80, 24), False),
    ((7, 7), (3, 3, 3, 3), (1, 2, 12, 264), False),        # three strips of 88 columns
    ((7, 7), (3, 3, 3, 3), (40, 3, 24, 32), False),        # many slices a channel
    ((7, 9), (0, 0, 0, 0), (2, 3, 22, 32), False),         # valid
]
# Every left padding mod 8 (the staged rows' offset), the right one making Wo a multiple of 8.
for left in range(8):
    right = (-(48 + left - 6)) % 8
    cases.append(((7, 7), (2, 4, left, right), (2, 3, 21, 48), False))

checked = on_tensor_cores = 0
for kernel, padding, shape, sliced in cases:
    for dtype in (torch.bfloat16, torch.float16):
        seed = random.randrange(2**31)
        generator = seeded(seed)
        n, c, h, w = shape
        wide = torch.randn((n, c + 2, h, w), device="cuda", generator=generator).to(dtype)
        x = wide[:, 1:c + 1] if sliced else wide[:, :c].contiguous()
        weight, bias = make_params(c, kernel, dtype, True, generator)
        context = f"{kernel} padding={padding} {shape} sliced={sliced} {dtype} seed={seed}"
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            check_forward_backward(x, weight, bias, 1, padding, 1, generator, context, via_op=True)
        names = [event.name for event in prof.events()]
        on_tensor_cores += any("bwd_window_weight_mma_kernel" in name for name in names)
        checked += 1
    # The same bits on every run.
    x = x.detach().requires_grad_()
    w = weight.detach().requires_grad_()
    out = torch.ops.cute_dwconv.depthwise_conv2d(x, w, None, [1, 1], list(padding), [1, 1])
    grad_out = torch.randn(out.shape, device="cuda", generator=generator).to(dtype)
    first = torch.autograd.grad(out, w, grad_out, retain_graph=True)[0]
    second = torch.autograd.grad(out, w, grad_out)[0]
    assert torch.equal(first, second), f"{context}: two runs differ"
print("checked", checked, "on_tensor_cores", on_tensor_cores)
"""


def _last_words(script, min_taps):
    """script's last four words, run with the tap bound at min_taps (None: the default), which is read
    once per process."""
    return last_words_of_script(script, 4, {"CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_MIN_TAPS": min_taps})


def test_weight_gradients_on_tensor_cores():
    assert _last_words(_FORCED_CHECK, "1") == ["checked", "44", "on_tensor_cores", "44"]


@pytest.mark.parametrize("min_taps", [None, "1"])
def test_windows_the_tensor_cores_refuse(min_taps):
    """float32, channels_last, stride 2, dilation 2 and rows that are not whole 16-byte chunks take the
    other weight gradients, with the same answers."""
    assert _last_words(_REFUSED_CHECK, min_taps) == ["checked", "5", "on_tensor_cores", "0"]


_REFUSED_CHECK = """
import random
import torch
from torch.profiler import ProfilerActivity, profile
from test_depthwise import check_forward_backward, seeded, make_params

cases = [  # kernel, stride, padding, dilation, (N, C, H, W), dtype, channels_last
    ((7, 7), 1, 3, 1, (2, 3, 24, 32), torch.float32, False),
    ((7, 7), 1, 3, 1, (2, 3, 24, 32), torch.bfloat16, True),
    ((7, 7), 2, 3, 1, (2, 3, 24, 32), torch.bfloat16, False),
    ((7, 7), 1, 6, 2, (2, 3, 24, 32), torch.bfloat16, False),
    ((7, 7), 1, 3, 1, (2, 3, 24, 30), torch.bfloat16, False),
]
checked = on_tensor_cores = 0
for kernel, stride, padding, dilation, shape, dtype, channels_last in cases:
    seed = random.randrange(2**31)
    generator = seeded(seed)
    x = torch.randn(shape, device="cuda", generator=generator).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight, bias = make_params(shape[1], kernel, dtype, True, generator)
    context = f"{kernel} stride={stride} dilation={dilation} {shape} {dtype} seed={seed}"
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator, context)
    on_tensor_cores += any("bwd_window_weight_mma_kernel" in event.name for event in prof.events())
    checked += 1
print("checked", checked, "on_tensor_cores", on_tensor_cores)
"""
