"""Randomized: hypothesis draws arguments, shapes, dtypes and layouts, and every draw must match
nn.Conv2d's float64 answer. Bounded: small shapes, a fixed number of examples, no deadline (the
first call of a configuration may wait on the caching allocator)."""

from __future__ import annotations

import pytest
import torch

from conftest import assert_matches, poison_allocator, reference, requires_cuda

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cute_dwconv  # noqa: E402

pytestmark = [requires_cuda, pytest.mark.gpu]

LAYOUTS = ["contiguous", "channels_last", "sliced", "unaligned", "transposed_back"]
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]


@st.composite
def problems(draw):
    k = draw(st.integers(1, 31))
    stride = draw(st.integers(1, 4))
    dilation = draw(st.integers(1, 4))
    padding = draw(st.integers(0, k * dilation + 2))
    # H must leave at least one output row: H + 2p >= d(K-1) + 1.
    min_h = max(1, dilation * (k - 1) + 1 - 2 * padding)
    h = draw(st.integers(min_h, min_h + 70))
    # W often a multiple of the vector width (the tiled paths), sometimes not (the direct path).
    w = draw(st.one_of(st.integers(1, 300), st.integers(1, 40).map(lambda v: 8 * v)))
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 9))
    return dict(
        shape=(n, c, h, w), k=k, stride=stride, padding=padding, dilation=dilation,
        with_bias=draw(st.booleans()), dtype=draw(st.sampled_from(DTYPES)),
        layout=draw(st.sampled_from(LAYOUTS)), seed=draw(st.integers(0, 2**31 - 1)),
    )


def _input_in_layout(shape, dtype, layout, generator):
    """A float input of `shape` held in the memory layout the draw names, with fresh random values."""
    n, c, h, w = shape

    def fresh(size):
        return torch.randn(size, device="cuda", generator=generator).to(dtype)

    if layout == "contiguous":
        return fresh(shape)
    if layout == "channels_last":
        return fresh(shape).contiguous(memory_format=torch.channels_last)
    if layout == "sliced":  # every other column of a wider tensor: column stride 2
        return fresh((n, c, h, 2 * w))[..., ::2]
    if layout == "unaligned":  # data pointer one element past an allocation's 16-byte boundary
        return fresh(n * c * h * w + 1)[1:].view(shape)
    if layout == "transposed_back":  # H and W swapped in memory, viewed back as NCHW
        return fresh((n, c, w, h)).transpose(2, 3)
    raise AssertionError(layout)


@settings(max_examples=60, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(problem=problems())
def test_random_problems_match_conv2d(problem):
    generator = torch.Generator(device="cuda").manual_seed(problem["seed"])
    dtype, k = problem["dtype"], problem["k"]
    c = problem["shape"][1]
    x = _input_in_layout(problem["shape"], dtype, problem["layout"], generator)
    weight = torch.randn((c, 1, k, 1), device="cuda", generator=generator).to(dtype)
    bias = torch.randn((c,), device="cuda", generator=generator).to(dtype) if problem["with_bias"] else None
    args = (problem["stride"], problem["padding"], problem["dilation"])

    out_shape = cute_dwconv.output_shape(x.shape, k, *args)
    poison_allocator(torch.Size(out_shape).numel() * x.element_size(), x.device)
    out = cute_dwconv.dwconv_kx1(x, weight, bias, *args)

    expected = reference(x, weight, bias, *args)
    assert_matches(out, expected, dtype)
    # The layout PyTorch's conv2d would give: channels_last in, channels_last out.
    if problem["layout"] == "channels_last" and not x.is_contiguous():
        assert out.is_contiguous(memory_format=torch.channels_last)
