"""The planner's device limits: read from the device, or, under CUTE_DWCONV_DEVICE_LIMITS=sm_86,
those of a compute capability 8.6 GPU, so that sm_86's plans can be run on any GPU:

    CUTE_DWCONV_DEVICE_LIMITS=sm_86 python -m pytest tests/test_forward_grid.py tests/test_backward.py \\
        tests/test_strip_conv2d.py -q
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import cute_dwconv  # noqa: F401
from conftest import requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]

FIELDS = ["multiprocessors", "smem_per_block_optin", "smem_per_sm", "threads_per_sm", "blocks_per_sm",
          "registers_per_sm", "emulated"]


def _limits_in_fresh_process(env_value):
    env = dict(os.environ)
    env.pop("CUTE_DWCONV_DEVICE_LIMITS", None)
    if env_value is not None:
        env["CUTE_DWCONV_DEVICE_LIMITS"] = env_value
    code = "import cute_dwconv, torch; print(list(torch.ops.cute_dwconv._planning_limits(0)))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return dict(zip(FIELDS, eval(out.stdout.strip().splitlines()[-1])))


def test_limits_are_the_devices():
    limits = _limits_in_fresh_process(None)
    props = torch.cuda.get_device_properties(0)
    assert limits["multiprocessors"] == props.multi_processor_count
    assert limits["threads_per_sm"] == props.max_threads_per_multi_processor
    assert limits["smem_per_sm"] == props.shared_memory_per_multiprocessor
    assert limits["emulated"] == 0


def test_sm86_limits_replace_the_devices():
    limits = _limits_in_fresh_process("sm_86")
    assert limits == {"multiprocessors": 82, "smem_per_block_optin": 99 * 1024, "smem_per_sm": 100 * 1024,
                      "threads_per_sm": 1536, "blocks_per_sm": 16, "registers_per_sm": 65536, "emulated": 1}


def test_sm86_plans_compute_the_same_answer():
    """A ring that fits an H200's 227 KB per block but not sm_86's 99 KB takes another path there."""
    code = """
import torch, torch.nn.functional as F, cute_dwconv
torch.manual_seed(0)
ok = True
for k, stride, dilation, dtype in [(31, 2, 3, torch.float32), (21, 1, 1, torch.bfloat16), (7, 2, 1, torch.float16)]:
    x = torch.randn(2, 3, 300, 260, device="cuda").to(dtype)
    for shape in [(3, 1, k, 1), (3, 1, 1, k)]:
        w = torch.randn(shape, device="cuda").to(dtype)
        pad = (k // 2 * dilation, 0) if shape[2] > 1 else (0, k // 2 * dilation)
        got = cute_dwconv.strip_conv2d(x, w, None, stride, pad, dilation).double()
        ref = F.conv2d(x.double(), w.double(), None, stride, pad, dilation, 3)
        ok &= torch.allclose(got, ref, rtol=2e-2, atol=2e-2)
print(ok)
"""
    env = dict(os.environ, CUTE_DWCONV_DEVICE_LIMITS="sm_86")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True"
