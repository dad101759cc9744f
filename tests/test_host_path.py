"""What one converted layer's call does on the host, counted, so that the short path from module to
launch cannot silently grow: Python frames, operators reaching the dispatcher, allocations, and
CUDA runtime calls. A converted network calls its layers thousands of times a training step, and
under autocast such a step is bound by the CPU (profiling/NOTES.md, host path)."""

from __future__ import annotations

import copy
import sys

import pytest
import torch
from torch import nn

import cute_dwconv
from conftest import OpLog, requires_cuda

pytestmark = [requires_cuda, pytest.mark.gpu]

SHAPE = (2, 12, 9, 9)
LAYERS = {"horizontal": ((1, 11), (0, 5)), "vertical": ((11, 1), (5, 0)), "same": ((1, 4), "same")}


def _pair(layer):
    kernel, padding = LAYERS[layer]
    torch.manual_seed(0)
    reference = nn.Conv2d(SHAPE[1], SHAPE[1], kernel, padding=padding, groups=SHAPE[1]).cuda()
    ours = copy.deepcopy(reference)
    assert cute_dwconv.convert(ours) == [""]
    return reference, ours


def _python_calls(fn) -> int:
    """Python function calls (frames entered) while fn runs."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("layer", list(LAYERS))
def test_forward_enters_no_more_python_than_nn_conv2d(layer):
    reference, ours = _pair(layer)
    x = torch.randn(SHAPE, device="cuda")
    reference(x), ours(x)  # first calls: lazy initialisation on either side
    theirs_calls = _python_calls(lambda: reference(x))
    ours_calls = _python_calls(lambda: ours(x))
    # nn.Conv2d: the module call, forward, _conv_forward, then F.conv2d in C++. Ours: the module
    # call, forward, the configuration check, then torch.ops' one Python frame before C++.
    assert ours_calls <= theirs_calls + 1, (ours_calls, theirs_calls)


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16_autocast"])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_forward_reaches_the_dispatcher_once(layer, autocast):
    _, ours = _pair(layer)
    x = torch.randn(SHAPE, device="cuda", dtype=torch.bfloat16 if autocast else torch.float32)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast), OpLog() as log:
        ours(x)
    # A 16-bit input under autocast needs no cast, and the float32 parameters are read as they are.
    expected = "cute_dwconv::_strip_conv2d_float_params" if autocast else "cute_dwconv::strip_conv2d"
    assert log.names == [expected], log.names


@pytest.mark.parametrize("layer", list(LAYERS))
def test_forward_allocates_only_its_output(layer):
    _, ours = _pair(layer)
    x = torch.randn(SHAPE, device="cuda")
    ours(x)
    torch.cuda.synchronize()
    before = torch.cuda.memory_stats()["allocation.all.allocated"]
    out = ours(x)
    after = torch.cuda.memory_stats()["allocation.all.allocated"]
    assert after - before == 1
    assert out.grad_fn is not None and out.grad_fn.name() == "StripConv2dBackward"


# (The profiler's own stop synchronises the device: cudaDeviceSynchronize is not on the list.)
RUNTIME_QUERIES = ("cudaFuncGetAttributes", "cudaFuncSetAttribute", "cudaDeviceGetAttribute", "cudaGetDeviceProperties",
                   "cudaOccupancy", "cudaStreamSynchronize", "cudaEventSynchronize", "cudaMemcpy")


@pytest.mark.parametrize("layer", list(LAYERS))
def test_forward_and_backward_make_no_runtime_queries(layer):
    """After the first call, a call is its launches: kernel attributes and device limits are read
    once per device, and nothing waits on the GPU."""
    _, ours = _pair(layer)
    x = torch.randn(SHAPE, device="cuda", requires_grad=True)
    grad_out = torch.randn_like(ours(x))
    ours(x).backward(grad_out)
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                            torch.profiler.ProfilerActivity.CUDA]) as prof:
        out = ours(x)
        out.backward(grad_out)
    torch.cuda.synchronize()
    names = [e.name for e in prof.events()]
    queries = [n for n in names if n.startswith(RUNTIME_QUERIES)]
    assert not queries, queries
    launches = [n for n in names if n in ("cudaLaunchKernel", "cuLaunchKernel", "cuLaunchKernelEx", "cudaLaunchKernelExC")]
    # One forward kernel, grad_input (one) and grad_weight with grad_bias (two), and gradient
    # accumulation into the three leaves' .grad, which nn.Conv2d's backward launches alike.
    assert 4 <= len(launches) <= 7, names
