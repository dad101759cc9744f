"""The channels_last (K, 1) column kernel and the (1, K) image rows it runs as columns: random calls
of every table entry against float64 F.conv2d, into poisoned channels_last outputs (row counts that
end inside a 16-row step and span several segments, rows of W * C columns cut by a strip's end, odd
channel counts whose 16-bit lanes straddle two channels, column paddings of whole and partial copy
chunks, narrow image rows side by side in one strip), float32 weights beside 16-bit x, outputs that
take element stores, and the kernel's name in the profiler where it must run."""

from __future__ import annotations

import random

import pytest
import torch

from conftest import TOLERANCES, forward_channels_last_table, poisoned, reference_padded, requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]

ops = torch.ops.cute_dwconv
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _check(x, weight, bias, padding4, dilation, context, float_params=False):
    expected = reference_padded(x, weight, bias, 1, padding4, dilation)
    if float_params:
        out = ops._strip_conv2d_float_params(x, weight, bias, [1, 1], list(padding4), list(dilation))
    else:
        out = poisoned(expected.shape, x.dtype, "cuda", torch.channels_last)
        ops._strip_conv2d_path_out(x, weight, bias, [1, 1], list(padding4), list(dilation), "auto", out)
    assert not torch.isnan(out).any(), f"{context}: unwritten output elements"
    torch.testing.assert_close(out.double(), expected, **TOLERANCES[x.dtype], msg=lambda m: f"{context}: {m}")


def _random_problem(rng, generator, dtype, vertical):
    k, _, d = rng.choice(sorted(forward_channels_last_table()))
    reach = (k - 1) * d + 1
    n = rng.randint(1, 3)
    c = rng.choice([1, 3, 4, 8, 12, 20, 64, 72, 200] if vertical else [4, 8, 12, 16, 24, 64, 96, 200])
    along = rng.choice([1, 15, 16, 17, 40, 100, 300])  # the rows the taps run down
    across = rng.choice([1, 3, 8, 33])  # the other axis
    lead, trail = rng.randint(0, reach), rng.randint(0, reach)
    along = max(along, reach - lead - trail)
    side = rng.choice([(0, 0), (0, 0), (1, 2), (2, 0)])  # padding across the taps
    if vertical:
        shape, taps = (n, c, along, across), (k, 1)
        padding4 = (lead, trail) + side
        dilation = (d, 1)
    else:
        shape, taps = (n, c, across, along), (1, k)
        padding4 = (0, 0, lead, trail) if rng.random() < 0.75 else side + (lead, trail)
        dilation = (1, d)
    x = torch.randn(shape, device="cuda", generator=generator).to(dtype).contiguous(memory_format=torch.channels_last)
    weight = torch.randn((c, 1) + taps, device="cuda", generator=generator).to(dtype)
    bias = torch.randn(c, device="cuda", generator=generator).to(dtype) if rng.random() < 0.5 else None
    return x, weight, bias, padding4, dilation


@pytest.mark.parametrize("vertical", [True, False], ids=["Kx1", "1xK"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_random_calls_into_poisoned_outputs(dtype, vertical):
    seed = random.randrange(2**31)
    rng = random.Random(seed)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    for _ in range(40):
        x, weight, bias, padding4, dilation = _random_problem(rng, generator, dtype, vertical)
        context = f"{dtype} shape={tuple(x.shape)} taps={tuple(weight.shape[2:])} padding={padding4} " \
                  f"dilation={dilation} seed={seed}"
        _check(x, weight, bias, padding4, dilation, context)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_float32_weights(dtype):
    """Autocast's float32 weight and bias beside 16-bit x, read as float32 by the lanes."""
    seed = random.randrange(2**31)
    rng = random.Random(seed)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    for vertical in (True, False):
        for _ in range(10):
            x, weight, bias, padding4, dilation = _random_problem(rng, generator, dtype, vertical)
            weight = weight.float()
            bias = bias.float() if bias is not None else None
            _check(x, weight, bias, padding4, dilation, f"{dtype} seed={seed}", float_params=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_outputs_that_take_element_stores(dtype):
    """An output one element past a word boundary (16-bit pairs go element by element) and a channel
    slice of a wider channels_last output."""
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    x = torch.randn((2, 64, 40, 9), device="cuda", generator=generator).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn((64, 1, 21, 1), device="cuda", generator=generator).to(dtype)
    bias = torch.randn(64, device="cuda", generator=generator).to(dtype)
    expected = reference_padded(x, weight, bias, 1, (10, 10, 0, 0), (1, 1))
    n, c, ho, wo = expected.shape
    flat = poisoned((n * c * ho * wo + 1,), dtype, "cuda")
    shifted = flat[1:].view(n, ho, wo, c).permute(0, 3, 1, 2)
    wider = poisoned((n, c + 8, ho, wo), dtype, "cuda", torch.channels_last)[:, 4 : 4 + c]
    for name, out in (("shifted", shifted), ("channel slice", wider)):
        ops._strip_conv2d_path_out(x, weight, bias, [1, 1], [10, 10, 0, 0], [1, 1], "auto", out)
        assert not torch.isnan(out).any(), f"{name}: unwritten output elements"
        torch.testing.assert_close(out.double(), expected, **TOLERANCES[dtype], msg=lambda m: f"{name}: {m}")


def _kernels_run(fn):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return [event.name for event in prof.events() if event.device_type == torch.autograd.DeviceType.CUDA]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_long_channels_last_strips_run_on_the_columns(dtype):
    """Both orientations of a long channels_last strip, as a network calls them, take the column
    kernel; rows of 8-byte alignment take the tiles instead, and agree."""
    x = torch.randn((2, 64, 48, 48), device="cuda").to(dtype).contiguous(memory_format=torch.channels_last)
    for taps in [(21, 1), (1, 21)]:
        weight = torch.randn((64, 1) + taps, device="cuda").to(dtype)
        padding = (taps[0] // 2, taps[1] // 2)
        names = _kernels_run(lambda: ops.strip_conv2d(x, weight, None, [1, 1], list(padding), [1, 1]))
        assert any("fwd_channels_last_columns" in name for name in names), names
    narrow = torch.randn((2, 6 if dtype == torch.float32 else 4, 30, 7), device="cuda").to(dtype)
    narrow = narrow.contiguous(memory_format=torch.channels_last)  # W * C = 42 or 28: 8-byte rows
    weight = torch.randn((narrow.shape[1], 1, 21, 1), device="cuda").to(dtype)
    names = _kernels_run(lambda: ops.strip_conv2d(narrow, weight, None, [1, 1], [10, 0], [1, 1]))
    assert not any("fwd_channels_last_columns" in name for name in names), names
    _check(narrow, weight, None, (10, 10, 0, 0), (1, 1), "8-byte rows")
