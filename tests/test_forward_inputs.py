"""Shapes, dtypes, layouts and sizes a user may pass, through the public entry points."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import cute_dwconv
from conftest import (FLOAT_DTYPES, assert_matches, poison_allocator, poisoned, random_problem, reference,
                      requires_cuda)

pytestmark = [requires_cuda, pytest.mark.gpu]

CONFIGS = [  # (K, stride, padding, dilation, bias)
    (3, 1, 1, 1, True),
    (1, 1, 0, 1, False),
    (7, 2, 6, 2, True),
    (5, 3, 2, 1, False),
    (4, 1, 3, 3, True),
]

SHAPES = [
    (1, 1, 1, 1),
    (1, 1, 1, 7),
    (1, 1, 9, 1),
    (3, 5, 17, 33),
    (2, 4, 64, 64),
    (1, 2, 130, 520),
    (2, 3, 9, 1001),
    (5, 1, 3, 4),
]


def _call(x, weight, bias, stride, padding, dilation):
    shape = cute_dwconv.output_shape(x.shape, weight.shape[2], stride, padding, dilation)
    poison_allocator(max(1, torch.Size(shape).numel()) * x.element_size(), x.device)
    return cute_dwconv.dwconv_kx1(x, weight, bias, stride, padding, dilation)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shapes(shape, dtype):
    for k, stride, padding, dilation, with_bias in CONFIGS:
        if shape[2] + 2 * padding < dilation * (k - 1) + 1:
            continue
        x, weight, bias = random_problem(shape, k, dtype, "cuda", with_bias)
        out = _call(x, weight, bias, stride, padding, dilation)
        assert_matches(out, reference(x, weight, bias, stride, padding, dilation), dtype)


def test_empty_batch():
    x, weight, bias = random_problem((0, 3, 10, 12), 3, torch.float32, "cuda", True)
    out = cute_dwconv.dwconv_kx1(x, weight, bias, 2, 1, 1)
    assert out.shape == F.conv2d(x, weight, bias, 2, 1, 1, 3).shape


LAYOUTS = {
    "channels_last": lambda x: x.contiguous(memory_format=torch.channels_last),
    "w_slice_misaligned": lambda x: torch.cat([x[..., :1], x, x[..., :3]], dim=3)[..., 1:1 + x.shape[3]],
    "h_slice": lambda x: torch.cat([x[:, :, :3], x, x], dim=2)[:, :, 3:3 + x.shape[2]],
    "c_stride_2": lambda x: torch.stack([x, x], dim=2).flatten(1, 2)[:, ::2],
    "transposed_back": lambda x: x.transpose(2, 3).contiguous().transpose(2, 3),
    "storage_offset_1": lambda x: torch.cat([x.flatten()[:1], x.flatten()])[1:].view(x.shape),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts(layout, dtype):
    base, weight, bias = random_problem((2, 6, 37, 64), 5, dtype, "cuda", True)
    x = LAYOUTS[layout](base)
    assert torch.equal(x, base)
    for stride, padding, dilation in [(1, 2, 1), (2, 1, 2)]:
        out = _call(x, weight, bias, stride, padding, dilation)
        assert_matches(out, reference(base, weight, bias, stride, padding, dilation), dtype)
        torch_out = F.conv2d(x, weight, bias, stride, padding, dilation, x.shape[1])
        for fmt in (torch.contiguous_format, torch.channels_last):
            assert out.is_contiguous(memory_format=fmt) == torch_out.is_contiguous(memory_format=fmt), fmt


def test_strided_weight_and_bias():
    x, weight, bias = random_problem((2, 4, 20, 32), 3, torch.float32, "cuda", True)
    wide_weight = torch.stack([weight, torch.zeros_like(weight)], dim=-1).flatten(-2)[..., ::2]
    wide_bias = torch.stack([bias, bias], dim=1)[:, 0]
    assert not wide_weight.is_contiguous() and not wide_bias.is_contiguous()
    out = cute_dwconv.dwconv_kx1(x, wide_weight, wide_bias, 1, 1, 1)
    assert_matches(out, reference(x, weight, bias, 1, 1, 1), torch.float32)


@pytest.mark.parametrize("out_layout", ["contiguous", "channels_last", "w_slice", "transposed"])
def test_out_variant_writes_only_out(out_layout):
    x, weight, bias = random_problem((2, 3, 40, 64), 3, torch.float32, "cuda", True)
    shape = cute_dwconv.output_shape(x.shape, 3, 1, 1, 1)
    if out_layout == "contiguous":
        holder = poisoned(shape, x.dtype, "cuda")
        out = holder
    elif out_layout == "channels_last":
        holder = poisoned(shape, x.dtype, "cuda", torch.channels_last)
        out = holder
    elif out_layout == "w_slice":
        holder = poisoned(shape[:3] + (shape[3] + 7,), x.dtype, "cuda")
        out = holder[..., 3:3 + shape[3]]
    else:
        holder = poisoned((shape[0], shape[1], shape[3], shape[2]), x.dtype, "cuda")
        out = holder.transpose(2, 3)
    returned = cute_dwconv.dwconv_kx1_out(x, weight, bias, 1, 1, 1, out)
    assert returned is out
    assert_matches(out, reference(x, weight, bias, 1, 1, 1), torch.float32)
    # Nothing outside out was touched.
    assert torch.isnan(holder).sum().item() == holder.numel() - out.numel()


def test_side_stream():
    x, weight, bias = random_problem((2, 4, 128, 128), 7, torch.float32, "cuda", True)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        out = cute_dwconv.dwconv_kx1(x, weight, bias, 1, 3, 1)
    stream.synchronize()
    assert_matches(out, reference(x, weight, bias, 1, 3, 1), torch.float32)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs a second GPU")
def test_second_device():
    with torch.cuda.device(0):
        x, weight, bias = random_problem((2, 4, 64, 64), 3, torch.float32, "cuda:1", True)
        out = cute_dwconv.dwconv_kx1(x, weight, bias, 1, 1, 1)
    assert out.device == x.device
    assert_matches(out, reference(x, weight, bias, 1, 1, 1), torch.float32)


def test_cuda_graph_replays():
    x, weight, bias = random_problem((2, 4, 96, 128), 5, torch.float32, "cuda", True)
    static_x = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        cute_dwconv.dwconv_kx1(static_x, weight, bias, 1, 2, 1)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = cute_dwconv.dwconv_kx1(static_x, weight, bias, 1, 2, 1)
    for _ in range(3):
        fresh = torch.randn_like(static_x)
        static_x.copy_(fresh)
        graph.replay()
        torch.cuda.synchronize()
        assert_matches(static_out, reference(fresh, weight, bias, 1, 2, 1), torch.float32)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_bitwise_repeatable(layout):
    x, weight, bias = random_problem((4, 8, 200, 256), 7, torch.float32, "cuda", True)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    first = cute_dwconv.dwconv_kx1(x, weight, bias, 1, 3, 2)
    for _ in range(3):
        assert torch.equal(cute_dwconv.dwconv_kx1(x, weight, bias, 1, 3, 2), first)


def test_one_launch_and_only_output_allocated():
    x, weight, bias = random_problem((4, 8, 256, 256), 3, torch.float32, "cuda", True)
    cute_dwconv.dwconv_kx1(x, weight, bias, 1, 1, 1)  # warm-up: module load, attributes
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        out = cute_dwconv.dwconv_kx1(x, weight, bias, 1, 1, 1)
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    assert len(kernels) == 1, [e.name for e in kernels]

    del out
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = cute_dwconv.dwconv_kx1(x, weight, bias, 1, 1, 1)
    out_bytes = -(-out.numel() * out.element_size() // 512) * 512
    assert torch.cuda.max_memory_allocated() - before == out_bytes
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    cute_dwconv.dwconv_kx1_out(x, weight, bias, 1, 1, 1, out)
    assert torch.cuda.max_memory_allocated() == before


@pytest.mark.slow
def test_more_than_2_31_elements():
    """64-bit offsets: a float16 input of 2.16e9 elements; the last plane lies past 2^31."""
    shape = (1, 2, 32768, 33000)
    assert torch.Size(shape).numel() > 2**31
    x = torch.randn(shape, dtype=torch.float16, device="cuda")
    weight = torch.randn((2, 1, 3, 1), dtype=torch.float16, device="cuda")
    bias = torch.randn((2,), dtype=torch.float16, device="cuda")
    out = poisoned(cute_dwconv.output_shape(shape, 3, 1, 1, 1), torch.float16, "cuda")
    expected_last = reference(x[:, 1:], weight[1:], bias[1:], 1, 1, 1)
    for path in ["auto", "direct"]:
        out.fill_(float("nan"))
        torch.ops.cute_dwconv._dwconv_kx1_path_out(x, weight, bias, 1, 1, 1, path, out)
        assert not torch.isnan(out).any()
        assert_matches(out[:, 1:], expected_last, torch.float16)


@pytest.mark.slow
def test_more_than_2_31_tiles():
    """Over 2^31 planes of one 8-byte-aligned row, each one tile: the tiled kernels index tiles as
    32-bit ints, so they decline the call and the direct path computes it."""
    channels = 32769
    shape = (65536, channels, 1, 4)  # 2^31 + 2^16 planes
    out_shape = cute_dwconv.output_shape(shape, 3, 1, 1, 1)
    needed = 2 * (torch.Size(shape).numel() + torch.Size(out_shape).numel())
    if torch.cuda.get_device_properties(0).total_memory < needed + (4 << 30):
        pytest.skip(f"needs {needed / 2**30:.0f} GiB of GPU memory")
    x = torch.randn(shape, dtype=torch.float16, device="cuda")
    weight = torch.randn((channels, 1, 3, 1), dtype=torch.float16, device="cuda")
    bias = torch.randn((channels,), dtype=torch.float16, device="cuda")
    out = poisoned(out_shape, torch.float16, "cuda")
    # The same rows in fewer planes are the table's to take: what it declines below is the count.
    torch.ops.cute_dwconv._dwconv_kx1_path_out(x[:2], weight, bias, 1, 1, 1, "table", out[:2])
    assert_matches(out[:2], reference(x[:2], weight, bias, 1, 1, 1), torch.float16)
    out[:2] = float("nan")
    with pytest.raises(RuntimeError, match="cannot take this call"):
        torch.ops.cute_dwconv._dwconv_kx1_path_out(x, weight, bias, 1, 1, 1, "table", out)
    torch.ops.cute_dwconv._dwconv_kx1_path_out(x, weight, bias, 1, 1, 1, "auto", out)
    for part in out.split(4096):  # a whole-tensor isnan would need 13 GB more
        assert not torch.isnan(part).any(), "output has NaN: an element was left unwritten"
    for images in (slice(0, 2), slice(-2, None)):
        assert_matches(out[images], reference(x[images], weight, bias, 1, 1, 1), torch.float16)
