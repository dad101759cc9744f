"""The weight and bias gradients of NCHW strips on staged rows (bwd_weight_staged.cuh).

(K, 1): a lane owns an output column and runs of 8 grad_out rows and streams each run's staged x
rows; (1, K): a lane owns 4 adjacent output columns of a row and reads the window under them as
vectors. Either way a block keeps one channel and walks a slice of its tiles, then writes one
partial per tap. Every stride-1 entry of the forward table runs there along both axes, in float32,
float16 and bfloat16, on shapes that reach each tiling: one and several strips and ragged ones,
planes shorter than a run and than a tile, column paddings at every offset within a vector and a
16-byte chunk, one-sided paddings and paddings past the window, one channel and many slices a
channel. The profiler confirms which kernel ran; two runs give the same bits. The calls it cannot
take (other strides, K or dilations, rows that do not stage in 16-byte chunks) keep the L1 kernel."""

import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from conftest import TOLERANCES, forward_table, poison_allocator, requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]

STAGED_KERNEL = "bwd_weight_staged_kernel"
L1_KERNEL = "bwd_weight_partial_kernel"
grad_weight_op = torch.ops.cute_dwconv.strip_conv2d_grad_weight

# (N, C, H, W) (W a multiple of 8: 16-byte chunks of 16-bit rows) and the padding: "same", "valid",
# or (before, after, other before, other after) along the taps' axis first: before and after 0 or 1
# for none or the window's reach, 2 for 3 past it; the other axis's in rows or columns.
VERTICAL_SHAPES = [
    ((2, 3, 40, 32), "same"),          # one strip of 32 columns
    ((1, 2, 7, 40), "same"),           # fewer rows than a run; a ragged second strip
    ((3, 2, 70, 104), (1, 0, 3, 3)),   # padding only above; x's columns off a chunk, grad_out's rows in words
    ((1, 1, 33, 264), (0, 1, 1, 1)),   # padding only below; many strips
    ((2, 2, 300, 64), (2, 2, 0, 0)),   # padding past the window; tall tiles, several of them
    ((40, 1, 24, 32), "valid"),        # one channel, many slices
]
HORIZONTAL_SHAPES = [
    ((2, 3, 20, 40), "same"),          # one ragged strip of 128 columns
    ((1, 2, 5, 200), "same"),          # two strips, fewer rows than the block's warps
    ((3, 2, 33, 104), (1, 0, 3, 3)),   # padding only left; rows padded above and below
    ((1, 1, 24, 264), (0, 1, 0, 1)),   # padding only right; three strips
    ((2, 2, 70, 64), (2, 2, 0, 0)),    # padding past the window; several row tiles
    ((40, 1, 16, 32), "valid"),        # one channel, many slices
]


def padding_for(spec, k, dilation, vertical):
    """(top, bottom, left, right)."""
    reach = (k - 1) * dilation
    if spec == "same":
        along, other = (reach // 2, reach - reach // 2), (0, 0)
    elif spec == "valid":
        along, other = (0, 0), (0, 0)
    else:
        before, after, other_before, other_after = spec
        along = tuple(side * reach if side < 2 else reach + 3 for side in (before, after))
        other = (other_before, other_after)
    return along + other if vertical else other + along


def reference(x, grad_out, kernel, padding, dilation):
    """conv2d's weight and bias gradients in float64 from the same (rounded) tensors."""
    top, bottom, left, right = padding
    xd = F.pad(x.double(), (left, right, top, bottom)).requires_grad_()
    wd = torch.zeros(x.shape[1], 1, *kernel, dtype=torch.float64, device=x.device, requires_grad=True)
    bd = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device, requires_grad=True)
    out = F.conv2d(xd, wd, bd, dilation=dilation, groups=x.shape[1])
    assert out.shape == grad_out.shape
    out.backward(grad_out.double())
    return wd.grad, bd.grad


def kernels_of(fn):
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        result = fn()
        torch.cuda.synchronize()
    return result, [event.name for event in prof.events()]


def staged_entries():
    return sorted((k, d) for k, s, d in forward_table() if s == 1 and k > 1)


def check(shape, k, padding, dilation, vertical, dtype, expect_kernel, x_view=None):
    seed = random.randrange(2**31)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn(shape, device="cuda", generator=generator).to(dtype)
    if x_view is not None:
        x = x_view(x)
    kernel = (k, 1) if vertical else (1, k)
    dilations = (dilation, 1) if vertical else (1, dilation)
    top, bottom, left, right = padding
    n, c, h, w = x.shape
    out_shape = (n, c, h + top + bottom - (kernel[0] - 1) * dilations[0],
                 w + left + right - (kernel[1] - 1) * dilations[1])
    grad_out = torch.randn(out_shape, device="cuda", generator=generator).to(dtype)
    context = f"{tuple(x.shape)} kernel={kernel} d={dilation} padding={padding} {dtype} seed={seed}"
    poison_allocator(4 * c * (k + 1), x.device)
    args = (list(kernel), [1, 1], list(padding), list(dilations))
    (grad_w, grad_b), names = kernels_of(lambda: grad_weight_op(grad_out, x, *args))
    assert any(expect_kernel in name for name in names), f"{context}: ran {names}"
    ref_w, ref_b = reference(x, grad_out, kernel, padding, dilations)
    tol = dict(rtol=TOLERANCES[dtype]["rtol"], atol=TOLERANCES[dtype]["atol"] * math.sqrt(grad_out[:, 0].numel()))
    torch.testing.assert_close(grad_w.double(), ref_w, **tol, msg=lambda m: f"{context} grad_weight: {m}")
    torch.testing.assert_close(grad_b.double(), ref_b, **tol, msg=lambda m: f"{context} grad_bias: {m}")
    again_w, again_b = grad_weight_op(grad_out, x, *args)
    assert torch.equal(grad_w, again_w) and torch.equal(grad_b, again_b), f"{context}: two runs differ"


@pytest.mark.parametrize("vertical", [True, False], ids=["k_by_1", "1_by_k"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_every_table_entry_on_staged_rows(dtype, vertical):
    entries = staged_entries()
    assert len(entries) >= 14
    shapes = VERTICAL_SHAPES if vertical else HORIZONTAL_SHAPES
    for index, (k, dilation) in enumerate(entries):
        # Each entry on two of the shapes, so that every shape meets several windows.
        for shape, spec in (shapes[index % len(shapes)], shapes[(index + 3) % len(shapes)]):
            padding = padding_for(spec, k, dilation, vertical)
            n, c, h, w = shape
            reach = (k - 1) * dilation
            if vertical and h + padding[0] + padding[1] <= reach:
                shape = (n, c, reach + 2, w)
            if not vertical and w + padding[2] + padding[3] <= reach:
                shape = (n, c, h, (reach + 9) // 8 * 8)
            check(shape, k, padding, dilation, vertical, dtype, STAGED_KERNEL)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_long_planes_and_wide_rows(dtype):
    # Many tiles a slice, and strips with a ragged last one.
    check((4, 3, 300, 304), 21, (10, 10, 0, 0), 1, True, dtype, STAGED_KERNEL)
    check((2, 4, 260, 520), 7, (6, 6, 6, 6), 2, True, dtype, STAGED_KERNEL)
    check((4, 3, 300, 304), 21, (0, 0, 10, 10), 1, False, dtype, STAGED_KERNEL)
    check((2, 4, 130, 520), 11, (1, 1, 15, 15), 3, False, dtype, STAGED_KERNEL)


@pytest.mark.parametrize(
    "case",
    [
        ("K not in the table", dict(shape=(2, 3, 30, 32), k=4, padding=(1, 2, 0, 0), dilation=1)),
        ("dilation not in the table", dict(shape=(2, 3, 30, 32), k=3, padding=(2, 2, 0, 0), dilation=3)),
        ("rows not whole chunks", dict(shape=(2, 3, 30, 45), k=3, padding=(1, 1, 0, 0), dilation=1)),
        ("x not 16-byte aligned", dict(shape=(2, 3, 30, 33), k=3, padding=(1, 1, 0, 0), dilation=1,
                                       x_view=lambda x: x[..., 1:])),
        ("16-bit grad_out rows of odd length", dict(shape=(2, 3, 30, 32), k=3, padding=(1, 1, 1, 0), dilation=1,
                                                    dtype=torch.bfloat16)),
        ("(1, K), K not in the table", dict(shape=(2, 3, 30, 32), k=4, padding=(0, 0, 1, 2), dilation=1,
                                            vertical=False)),
    ],
    ids=lambda case: case[0],
)
def test_calls_it_cannot_take_keep_the_l1_kernel(case):
    _, args = case
    check(args["shape"], args["k"], args["padding"], args["dilation"], args.get("vertical", True),
          args.get("dtype", torch.float32), L1_KERNEL, x_view=args.get("x_view"))


@pytest.mark.parametrize("kernel", [(3, 1), (1, 3)])
def test_stride_two_keeps_the_l1_kernel(kernel):
    x = torch.randn(2, 3, 31, 32, device="cuda")
    out_shape = (2, 3, 16, 17) if kernel == (3, 1) else (2, 3, 17, 16)  # padding 1 on both axes
    grad_out = torch.randn(out_shape, device="cuda")
    (grad_w, _), names = kernels_of(lambda: grad_weight_op(grad_out, x, list(kernel), [2, 2], [1, 1], [1, 1]))
    assert any(L1_KERNEL in name for name in names) and not any(STAGED_KERNEL in name for name in names)
    xd = x.double().requires_grad_()
    wd = torch.zeros(3, 1, *kernel, dtype=torch.float64, device="cuda", requires_grad=True)
    F.conv2d(xd, wd, None, stride=2, padding=1, groups=3).backward(grad_out.double())
    torch.testing.assert_close(grad_w.double(), wd.grad, rtol=1e-5, atol=1e-4)
