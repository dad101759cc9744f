"""The (1, K) forward on tensor cores: every 16-bit call it takes against float64 F.conv2d, into
poisoned outputs (random K, dilation and one-sided paddings, row strides, rows across several
strips, 8-byte aligned rows, strided outputs), float32 weights beside 16-bit x as autocast calls it,
and the calls it must leave to the other paths."""

from __future__ import annotations

import random

import pytest
import torch

from conftest import TOLERANCES, poisoned, reference, reference_padded, requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]

ops = torch.ops.cute_dwconv
SIXTEEN_BIT = [torch.float16, torch.bfloat16]
MAX_REACH = 16 * 8 - 14  # the deepest band's reach at the worst column offset


def _random_call(rng):
    """(x shape, K, stride, (top, bottom, left, right), dilation) with a reach the bands cover."""
    dilation = rng.choice([1, 1, 1, 2, 3])
    k = rng.randint(2, min(40, (MAX_REACH - 1) // dilation + 1))  # (1, 1) counts as (K, 1)
    reach = (k - 1) * dilation + 1
    width = rng.choice([8, 40, 64, 128, 200, 256, 264, 300, 520, 12, 36])  # multiples of 4: 8-byte rows
    left, right = rng.randint(0, reach), rng.randint(0, reach)
    width = max(width, (reach - left - right + 3) // 4 * 4)
    top, bottom = rng.randint(0, 2), rng.randint(0, 2)
    stride = (rng.choice([1, 1, 2, 3]), 1)
    shape = (rng.randint(1, 2), rng.randint(1, 5), rng.randint(1, 40), width)
    return shape, k, stride, (top, bottom, left, right), dilation


def _run(x, weight, bias, stride, padding4, dilation, out):
    ops._strip_conv2d_path_out(x, weight, bias, list(stride), list(padding4), [1, dilation], "tensor_core", out)


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
def test_random_calls_into_poisoned_outputs(dtype):
    seed = random.randrange(2**31)
    rng = random.Random(seed)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    for _ in range(60):
        shape, k, stride, padding4, dilation = _random_call(rng)
        x = torch.randn(shape, device="cuda", generator=generator).to(dtype)
        weight = torch.randn((shape[1], 1, 1, k), device="cuda", generator=generator).to(dtype)
        bias = torch.randn(shape[1], device="cuda", generator=generator).to(dtype) if rng.random() < 0.5 else None
        expected = reference_padded(x, weight, bias, stride, padding4, (1, dilation))
        context = f"{dtype} shape={shape} K={k} stride={stride} padding={padding4} dilation={dilation} seed={seed}"
        out = poisoned(expected.shape, dtype, "cuda")
        _run(x, weight, bias, stride, padding4, dilation, out)
        assert not torch.isnan(out).any(), f"{context}: unwritten output elements"
        torch.testing.assert_close(out.double(), expected, **TOLERANCES[dtype], msg=lambda m: f"{context}: {m}")


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
def test_strided_outputs_and_sliced_inputs(dtype):
    """Outputs that take element stores (odd row starts, a transposed view) and a channel slice of x."""
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    holder = torch.randn((2, 7, 19, 264), device="cuda", generator=generator).to(dtype)
    x = holder[:, 2:6]
    weight = torch.randn((4, 1, 1, 21), device="cuda", generator=generator).to(dtype)
    bias = torch.randn(4, device="cuda", generator=generator).to(dtype)
    expected = reference_padded(x, weight, bias, (1, 1), (0, 0, 10, 10), (1, 1))
    n, c, ho, wo = expected.shape
    odd_rows = poisoned((n, c, ho, wo + 1), dtype, "cuda")[..., :wo]
    transposed = poisoned((n, c, wo, ho), dtype, "cuda").transpose(2, 3)
    for out in (odd_rows, transposed):
        _run(x, weight, bias, (1, 1), (0, 0, 10, 10), 1, out)
        assert not torch.isnan(out).any()
        torch.testing.assert_close(out.double(), expected, **TOLERANCES[dtype])


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
def test_float32_weights_count_as_they_are(dtype):
    """autocast's call: float32 weight and bias beside 16-bit x. On a constant row, taps that sum to
    about zero leave interior outputs near zero, where weights rounded to 16 bits would miss by
    64 * 2^-9 of each tap (2^-12 in float16): far past the tolerance, which a head and tail meet."""
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    for k, dilation in [(7, 1), (21, 1), (11, 3)]:
        x = torch.full((2, 3, 17, 256), 64.0, device="cuda").to(dtype)
        weight = torch.randn((3, 1, 1, k), device="cuda", generator=generator)
        weight -= weight.mean(dim=3, keepdim=True)
        bias = torch.randn(3, device="cuda", generator=generator)
        padding = (k - 1) * dilation // 2
        out = ops._strip_conv2d_float_params(x, weight, bias, [1, 1], [0, padding], [1, dilation])
        expected = reference(x, weight, bias, 1, (0, padding), (1, dilation))
        rounded = reference(x, weight.to(dtype), bias, 1, (0, padding), (1, dilation))
        assert (rounded - expected).abs().max().item() > 4 * TOLERANCES[dtype]["atol"], "the check could not fail"
        torch.testing.assert_close(out.double(), expected, **TOLERANCES[dtype], msg=lambda m: f"K={k} d={dilation}: {m}")


def test_calls_left_to_other_paths():
    x = torch.randn((1, 2, 9, 64), device="cuda").to(torch.bfloat16)
    refused = [  # (x, stride, left and right padding, dilation, K)
        (x.float(), (1, 1), 1, 1, 3),
        (x, (1, 2), 1, 1, 3),
        (x.contiguous(memory_format=torch.channels_last), (1, 1), 1, 1, 3),
        (torch.randn((1, 2, 9, 63), device="cuda").to(torch.bfloat16), (1, 1), 1, 1, 3),  # 2-byte aligned rows
        (x, (1, 1), 67, 3, 45),  # a reach of 133: deeper than the deepest band
    ]
    for data, stride, padding, dilation, k in refused:
        weight = torch.randn((2, 1, 1, k), device="cuda").to(data.dtype)
        shape = reference(data, weight, None, stride, (0, padding), (1, dilation)).shape
        out = poisoned(shape, data.dtype, "cuda")
        with pytest.raises(RuntimeError, match="cannot take"):
            _run(data, weight, None, stride, (0, 0, padding, padding), dilation, out)
