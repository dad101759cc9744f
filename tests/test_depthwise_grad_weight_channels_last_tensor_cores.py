"""The weight and bias gradients of channels_last 16-bit windows on tensor cores
(window_grad_weight_mma_channels_last.cuh).

A block stages 8 channels of a tile of 8 or 16 output rows x one strip of at most 64 columns,
transposes them into channel planes and grad_out tables, and runs each channel's row pairs through
the NCHW kernel's MMAs. Auto sends windows of at least 25 taps there (but not rows of at most 8
outputs that the register kernels hold); a subprocess lowers that bound to 1, so that every bucket
(8 x 8, 16 x 16, 32 x 32, 8 x 56 and 56 x 8 taps by staged rows) and its edges, both tile heights,
ragged row tiles and strips, one-sided paddings and paddings past the window, several chunks of
channels, channel slices and many slices a chunk run on it. The profiler confirms which kernel ran;
two runs give the same bits. The calls it cannot take keep their other kernels, and with sm_86's
shared memory (one block an SM) only windows of 100 taps or more take it."""

import pytest

from conftest import last_words_of_script, requires_cuda

pytestmark = requires_cuda

KERNEL_NAME = "bwd_window_weight_mma_channels_last_kernel"
MIN_TAPS_VARIABLE = "CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_CHANNELS_LAST_MIN_TAPS"  # read once per process

_FORCED_CHECK = """
import random
import torch
from torch.profiler import ProfilerActivity, profile
from test_depthwise import check_forward_backward, make_input, make_params, seeded

cases = [  # kernel, (top, bottom, left, right) padding, (N, C, H, W), x a channel slice of a wider one, bias
    ((3, 3), (1, 1, 1, 1), (2, 16, 20, 24), False, True),
    ((7, 7), (3, 3, 3, 3), (2, 16, 56, 56), False, True),    # ConvNeXt's rows: one strip of 56
    ((5, 5), (2, 2, 2, 2), (3, 8, 33, 40), True, True),      # a slice of a 24-channel x
    ((7, 8), (3, 3, 3, 4), (1, 8, 30, 32), False, True),     # the 8 x 8 bucket's edge: Kh + 1 = 8 rows
    ((8, 8), (4, 3, 3, 4), (1, 8, 30, 32), False, False),    # one row more: the 16 x 16 bucket
    ((15, 16), (7, 7, 8, 7), (1, 8, 30, 32), False, True),   # its edge
    ((16, 8), (8, 7, 3, 4), (1, 8, 30, 32), False, True),    # one row more: the 32 x 32 bucket
    ((13, 13), (6, 6, 6, 6), (2, 16, 33, 40), False, True),
    ((31, 31), (15, 15, 15, 15), (1, 8, 40, 136), False, True),  # three strips of 48 columns
    ((5, 51), (2, 2, 25, 25), (1, 8, 20, 64), False, True),
    ((51, 5), (25, 25, 2, 2), (1, 8, 80, 24), False, True),
    ((7, 7), (3, 3, 3, 3), (1, 8, 12, 264), False, True),    # five strips of 56 columns
    ((7, 7), (3, 3, 3, 3), (40, 8, 24, 32), False, True),    # many slices a chunk
    ((7, 9), (0, 0, 0, 0), (2, 24, 22, 32), False, True),    # valid, three chunks
    ((7, 7), (0, 5, 6, 1), (1, 8, 18, 33), False, True),     # one-sided paddings
    ((5, 5), (6, 6, 6, 6), (1, 8, 7, 9), False, True),       # padding past the window
    ((7, 7), (3, 3, 3, 3), (1, 8, 1, 70), False, True),      # one row: a pair's second row past the plane
]

checked = on_tensor_cores = 0
for kernel, padding, shape, sliced, with_bias in cases:
    for dtype in (torch.bfloat16, torch.float16):
        seed = random.randrange(2**31)
        generator = seeded(seed)
        n, c, h, w = shape
        if sliced:
            x = make_input((n, 3 * c, h, w), dtype, "channels_last", generator)[:, c:2 * c]
        else:
            x = make_input(shape, dtype, "channels_last", generator)
        weight, bias = make_params(c, kernel, dtype, with_bias, generator)
        context = f"{kernel} padding={padding} {shape} sliced={sliced} {dtype} seed={seed}"
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            check_forward_backward(x, weight, bias, 1, padding, 1, generator, context, via_op=True)
        on_tensor_cores += any("KERNEL_NAME" in event.name for event in prof.events())
        checked += 1
    # The same bits on every run.
    x = x.detach().requires_grad_()
    w = weight.detach().requires_grad_()
    out = torch.ops.cute_dwconv.depthwise_conv2d(x, w, None, [1, 1], list(padding), [1, 1])
    grad_out = torch.randn(out.shape, device="cuda", generator=generator).to(dtype)
    grad_out = grad_out.contiguous(memory_format=torch.channels_last)
    first = torch.autograd.grad(out, w, grad_out, retain_graph=True)[0]
    second = torch.autograd.grad(out, w, grad_out)[0]
    assert torch.equal(first, second), f"{context}: two runs differ"
print("checked", checked, "on_tensor_cores", on_tensor_cores)
""".replace("KERNEL_NAME", KERNEL_NAME)


def test_weight_gradients_on_tensor_cores():
    words = last_words_of_script(_FORCED_CHECK, 4, {MIN_TAPS_VARIABLE: "1"})
    assert words == ["checked", "34", "on_tensor_cores", "34"]


_REFUSED_CHECK = """
import random
import torch
from torch.profiler import ProfilerActivity, profile
from test_depthwise import check_forward_backward, make_input, make_params, seeded

cases = [  # why, kernel, stride, padding, dilation, (N, C, H, W), dtype, layout
    ("float32", (7, 7), 1, 3, 1, (2, 8, 24, 32), torch.float32, "channels_last"),
    ("NCHW", (7, 7), 1, 3, 1, (2, 8, 24, 32), torch.bfloat16, "contiguous"),
    ("C not a multiple of 8", (7, 7), 1, 3, 1, (2, 12, 24, 32), torch.bfloat16, "channels_last"),
    ("pixels off 16 bytes", (7, 7), 1, 3, 1, (2, 8, 24, 32), torch.bfloat16, "channels_last_slice"),
    ("stride 2", (7, 7), 2, 3, 1, (2, 8, 24, 32), torch.float16, "channels_last"),
    ("dilation 2", (7, 7), 1, 6, 2, (2, 8, 24, 32), torch.float16, "channels_last"),
    ("57 wide", (3, 57), 1, (1, 28), 1, (1, 8, 12, 80), torch.bfloat16, "channels_last"),
]
checked = on_tensor_cores = 0
for why, kernel, stride, padding, dilation, shape, dtype, layout in cases:
    seed = random.randrange(2**31)
    generator = seeded(seed)
    x = make_input(shape, dtype, layout, generator)
    weight, bias = make_params(shape[1], kernel, dtype, True, generator)
    context = f"{why}: {kernel} {shape} {dtype} {layout} seed={seed}"
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        check_forward_backward(x, weight, bias, stride, padding, dilation, generator, context)
    on_tensor_cores += any("KERNEL_NAME" in event.name for event in prof.events())
    checked += 1
print("checked", checked, "on_tensor_cores", on_tensor_cores)
""".replace("KERNEL_NAME", KERNEL_NAME)


@pytest.mark.parametrize("min_taps", [None, "1"])
def test_windows_the_kernel_refuses(min_taps):
    """float32, NCHW, channels not a multiple of 8, pixels off 16 bytes, stride 2, dilation 2 and a
    window wider than every bucket take the other weight gradients, with the same answers."""
    words = last_words_of_script(_REFUSED_CHECK, 4, {MIN_TAPS_VARIABLE: min_taps})
    assert words == ["checked", "7", "on_tensor_cores", "0"]


_AUTO_CHECK = """
import torch
from torch.profiler import ProfilerActivity, profile
from test_depthwise import check_forward_backward, make_input, make_params, seeded

ran = []
for kernel, shape in (((3, 3), (2, 8, 30, 44)), ((5, 5), (2, 8, 30, 44)), ((7, 7), (2, 8, 30, 44)),
                      ((7, 7), (4, 8, 7, 7)), ((13, 13), (2, 8, 30, 44))):
    generator = seeded(11)
    x = make_input(shape, torch.bfloat16, "channels_last", generator)
    weight, bias = make_params(8, kernel, torch.bfloat16, True, generator)
    padding = (kernel[0] // 2, kernel[1] // 2)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        check_forward_backward(x, weight, bias, 1, padding, 1, generator, f"{kernel}")
    ran += [f"{kernel[0]}x{kernel[1]}-on-{shape[3]}", str(any("KERNEL_NAME" in e.name for e in prof.events()))]
print(*ran)
""".replace("KERNEL_NAME", KERNEL_NAME)


@pytest.mark.parametrize("limits, expected", [
    (None, ["3x3-on-44", "False", "5x5-on-44", "True", "7x7-on-44", "True", "7x7-on-7", "False", "13x13-on-44",
            "True"]),
    # One block an SM (sm_86's shared memory, read once per process): 100 taps or more only.
    ("sm_86", ["3x3-on-44", "False", "5x5-on-44", "False", "7x7-on-44", "False", "7x7-on-7", "False",
               "13x13-on-44", "True"]),
], ids=["sm_90", "sm_86 limits"])
def test_auto_takes_windows_of_25_taps(limits, expected):
    """Auto: windows of 25 taps or more, but not rows of at most 8 outputs that the register kernels
    hold (7x7 on 7x7 images)."""
    words = last_words_of_script(_AUTO_CHECK, 10, {"CUTE_DWCONV_DEVICE_LIMITS": limits})
    assert words == expected
