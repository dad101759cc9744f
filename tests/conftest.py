"""Shared helpers: the float64 reference, per-dtype tolerances, poisoned outputs, scripts run in a
fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import cute_dwconv  # noqa: F401  (registers torch.ops.cute_dwconv)

HAS_CUDA = torch.cuda.is_available()
requires_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")

FLOAT_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]

# Inputs are rounded to the dtype before the float64 reference sees them, so these bound only our
# float32 accumulation and the final rounding of the output to the dtype.
TOLERANCES = {
    torch.float32: dict(atol=2e-5, rtol=2e-5),
    torch.float16: dict(atol=2e-3, rtol=2e-3),
    torch.bfloat16: dict(atol=1.6e-2, rtol=1.6e-2),
    torch.float64: dict(atol=1e-12, rtol=1e-12),
}

PATHS = ["auto", "table", "general", "direct"]


def last_words_of_script(script, count, env_overrides):
    """Runs script in a fresh process (for settings read once per process) with the tests on its path
    and env_overrides (name: value, None leaves it unset) in its environment; its last `count` words
    of output."""
    tests = str(Path(__file__).resolve().parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    env.update({name: value for name, value in env_overrides.items() if value is not None})
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split()[-count:]


def reference(x, weight, bias, stride, padding, dilation):
    """nn.Conv2d's answer, computed in float64 from the same (rounded) inputs."""
    return F.conv2d(x.double(), weight.double(), None if bias is None else bias.double(),
                    stride=stride, padding=padding, dilation=dilation, groups=x.shape[1])


def reference_padded(x, weight, bias, stride, padding4, dilation):
    """reference() under a (top, bottom, left, right) padding, the 4-int form torch.ops' strips take."""
    top, bottom, left, right = padding4
    return reference(F.pad(x.double(), (left, right, top, bottom)), weight, bias, stride, 0, dilation)


def random_problem(shape, k, dtype, device, with_bias, generator=None):
    n, c, h, w = shape
    x = torch.randn(shape, dtype=torch.float32, device=device, generator=generator).to(dtype)
    weight = torch.randn((c, 1, k, 1), dtype=torch.float32, device=device, generator=generator).to(dtype)
    bias = torch.randn((c,), dtype=torch.float32, device=device, generator=generator).to(dtype) if with_bias else None
    return x, weight, bias


def poisoned(shape, dtype, device, memory_format=torch.contiguous_format):
    """An output buffer full of NaN, so that any element a kernel fails to write shows."""
    return torch.full(shape, float("nan"), dtype=dtype, device=device).contiguous(memory_format=memory_format)


def poison_allocator(nbytes: int, device) -> None:
    """Leaves a NaN-filled block in the caching allocator for the next allocation of that size."""
    block = torch.full((max(nbytes // 4, 1),), float("nan"), dtype=torch.float32, device=device)
    del block


def assert_matches(out, expected, dtype):
    assert out.shape == expected.shape
    assert not torch.isnan(out).any(), "output has NaN: an element was left unwritten"
    torch.testing.assert_close(out.double(), expected, **TOLERANCES[dtype])


def forward_table():
    flat = torch.ops.cute_dwconv._forward_table()
    return {tuple(flat[i:i + 3]) for i in range(0, len(flat), 3)}


def run_path(path, x, weight, bias, stride, padding, dilation, out=None):
    """Our forward through one kernel path, into a poisoned (or given) output."""
    shape = cute_dwconv.output_shape(x.shape, weight.shape[2], stride, padding, dilation)
    if out is None:
        out = poisoned(shape, x.dtype, x.device)
    torch.ops.cute_dwconv._dwconv_kx1_path_out(x, weight, bias, stride, padding, dilation, path, out)
    return out


def forward_channels_last_table():
    flat = torch.ops.cute_dwconv._forward_channels_last_table()
    return {tuple(flat[i:i + 3]) for i in range(0, len(flat), 3)}


def run_path_channels_last(path, x, weight, bias, stride, padding, dilation):
    """run_path into a poisoned channels_last output, the layout the channels_last tiles write."""
    shape = cute_dwconv.output_shape(x.shape, weight.shape[2], stride, padding, dilation)
    out = poisoned(shape, x.dtype, x.device, torch.channels_last)
    return run_path(path, x.contiguous(memory_format=torch.channels_last), weight, bias, stride, padding, dilation,
                    out=out)


class OpLog(TorchDispatchMode):
    """Records every operator that reaches the dispatcher, as 'namespace::name'."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(f"{func.namespace}::{func._opname}")
        return func(*args, **(kwargs or {}))

    def ours(self):
        return [n for n in self.names if n.startswith("cute_dwconv::")]

    def count(self, predicate):
        return sum(1 for n in self.names if predicate(n))


@pytest.fixture
def no_tf32():
    """TF32 would round the dense convolutions and the Linear layers at 10 bits, so that tiny
    differences upstream flip roundings and hide what is compared; both models run in true float32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
