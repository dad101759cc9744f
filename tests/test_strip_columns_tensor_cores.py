"""The (K, 1) forward on tensor cores: every 16-bit call it takes against float64 F.conv2d, into
poisoned outputs (random K, dilation and one-sided paddings, row counts that end inside a 16-row
step, strips cut by the image's right edge, column paddings of whole 16-byte chunks, strided
outputs), float32 weights beside 16-bit x as autocast calls it, the input gradient that runs on it,
and the calls it must leave to the other paths."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import TOLERANCES, poisoned, reference_padded, requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]

ops = torch.ops.cute_dwconv
SIXTEEN_BIT = [torch.float16, torch.bfloat16]
MAX_REACH = 16 * 8 - 15  # the deepest band's reach


def _random_call(rng):
    """(x shape, K, (top, bottom, left, right), dilation) with a reach the bands cover."""
    dilation = rng.choice([1, 1, 1, 2, 3])
    k = rng.randint(2, min(45, (MAX_REACH - 1) // dilation + 1))
    reach = (k - 1) * dilation + 1
    height = rng.choice([1, 5, 16, 17, 40, 64, 100])
    top, bottom = rng.randint(0, reach), rng.randint(0, reach)
    height = max(height, reach - top - bottom)
    width = rng.choice([8, 40, 128, 136, 256, 264])  # 16-byte rows
    left, right = rng.choice([0, 0, 8, 16]), rng.choice([0, 0, 8, 3])
    shape = (rng.randint(1, 2), rng.randint(1, 4), height, width)
    return shape, k, (top, bottom, left, right), dilation


def _run(x, weight, bias, padding4, dilation, out):
    ops._strip_conv2d_path_out(x, weight, bias, [1, 1], list(padding4), [dilation, 1], "tensor_core", out)


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
def test_random_calls_into_poisoned_outputs(dtype):
    seed = random.randrange(2**31)
    rng = random.Random(seed)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    for _ in range(60):
        shape, k, padding4, dilation = _random_call(rng)
        x = torch.randn(shape, device="cuda", generator=generator).to(dtype)
        weight = torch.randn((shape[1], 1, k, 1), device="cuda", generator=generator).to(dtype)
        bias = torch.randn(shape[1], device="cuda", generator=generator).to(dtype) if rng.random() < 0.5 else None
        expected = reference_padded(x, weight, bias, 1, padding4, (dilation, 1))
        context = f"{dtype} shape={shape} K={k} padding={padding4} dilation={dilation} seed={seed}"
        out = poisoned(expected.shape, dtype, "cuda")
        _run(x, weight, bias, padding4, dilation, out)
        assert not torch.isnan(out).any(), f"{context}: unwritten output elements"
        torch.testing.assert_close(out.double(), expected, **TOLERANCES[dtype], msg=lambda m: f"{context}: {m}")


@pytest.mark.parametrize("dtype", SIXTEEN_BIT, ids=str)
def test_strided_outputs_and_sliced_inputs(dtype):
    """Outputs that take element stores (odd row starts, a transposed view) and a channel slice of x."""
    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    holder = torch.randn((2, 7, 70, 136), device="cuda", generator=generator).to(dtype)
    x = holder[:, 2:6]
    weight = torch.randn((4, 1, 21, 1), device="cuda", generator=generator).to(dtype)
    bias = torch.randn(4, device="cuda", generator=generator).to(dtype)
    expected = reference_padded(x, weight, bias, 1, (10, 10, 0, 0), (1, 1))
    n, c, ho, wo = expected.shape
    odd_rows = poisoned((n, c, ho, wo + 1), dtype, "cuda")[..., :wo]
    transposed = poisoned((n, c, wo, ho), dtype, "cuda").transpose(2, 3)
    for out in (odd_rows, transposed):
        _run(x, weight, bias, (10, 10, 0, 0), 1, out)
        assert not torch.isnan(out).any()
        torch.testing.assert_close(out.double(), expected, **TOLERANCES[dtype])


# Run where auto sends every 16-bit (K, 1) call to the tensor cores, so that the float-parameter
# operator and the input gradient (a forward of the flipped window) take them.
_FORCED_CHECK = r"""
import torch
from conftest import TOLERANCES, reference
ops = torch.ops.cute_dwconv
checked = 0
for dtype in (torch.float16, torch.bfloat16):
    for k, dilation in [(7, 1), (21, 1), (11, 3), (17, 3)]:
        # float32 taps that sum to about zero on a constant column: rounded to 16 bits they would
        # miss by far more than the tolerance, which a head and tail meet.
        x = torch.full((2, 3, 70, 256), 64.0, device="cuda").to(dtype)
        weight = torch.randn((3, 1, k, 1), device="cuda")
        weight -= weight.mean(dim=2, keepdim=True)
        bias = torch.randn(3, device="cuda")
        padding = (k - 1) * dilation // 2
        out = ops._strip_conv2d_float_params(x, weight, bias, [1, 1], [padding, 0], [dilation, 1])
        expected = reference(x, weight, bias, 1, (padding, 0), (dilation, 1))
        rounded = reference(x, weight.to(dtype), bias, 1, (padding, 0), (dilation, 1))
        assert (rounded - expected).abs().max().item() > 4 * TOLERANCES[dtype]["atol"], "the check could not fail"
        torch.testing.assert_close(out.double(), expected, **TOLERANCES[dtype])
        # The input gradient: a stride-1 forward of the flipped window over grad_out.
        x = torch.randn((2, 3, 70, 256), device="cuda").to(dtype).requires_grad_()
        weight = torch.randn((3, 1, k, 1), device="cuda").to(dtype)
        out = ops.strip_conv2d(x, weight, None, [1, 1], [padding, 0], [dilation, 1])
        grad_out = torch.randn_like(out)
        (grad_x,) = torch.autograd.grad(out, x, grad_out)
        x64 = x.detach().double().requires_grad_()
        out64 = torch.nn.functional.conv2d(x64, weight.double(), None, 1, (padding, 0), (dilation, 1), 3)
        (expected,) = torch.autograd.grad(out64, x64, grad_out.double())
        torch.testing.assert_close(grad_x.double(), expected, **TOLERANCES[dtype])
        checked += 1
print("checked", checked)
"""


def test_float32_weights_and_input_gradient_on_tensor_cores():
    tests = str(Path(__file__).resolve().parent)
    env = dict(os.environ, CUTE_DWCONV_VERTICAL_MMA_MIN_TAPS="2",
               PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", _FORCED_CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split()[-2:] == ["checked", "8"], done.stdout


def test_calls_left_to_other_paths():
    x = torch.randn((1, 2, 64, 9), device="cuda").to(torch.bfloat16)
    wide = torch.randn((1, 2, 64, 64), device="cuda").to(torch.bfloat16)
    refused = [  # (x, stride, (top, bottom, left, right) padding, dilation, K)
        (wide.float(), (1, 1), (1, 1, 0, 0), 1, 3),
        (wide, (2, 2), (1, 1, 0, 0), 1, 3),
        (wide.contiguous(memory_format=torch.channels_last), (1, 1), (1, 1, 0, 0), 1, 3),
        (x, (1, 1), (1, 1, 0, 0), 1, 3),  # 18-byte rows
        (wide, (1, 1), (1, 1, 4, 4), 1, 3),  # columns that start inside a 16-byte chunk
        (wide, (1, 1), (60, 60, 0, 0), 3, 41),  # a reach of 121: deeper than the deepest band
    ]
    for data, stride, padding4, dilation, k in refused:
        weight = torch.randn((2, 1, k, 1), device="cuda").to(data.dtype)
        shape = reference_padded(data, weight, None, stride, padding4, (dilation, 1)).shape
        out = poisoned(shape, data.dtype, "cuda")
        with pytest.raises(RuntimeError, match="cannot take"):
            ops._strip_conv2d_path_out(data, weight, None, list(stride), list(padding4), [dilation, 1],
                                       "tensor_core", out)
