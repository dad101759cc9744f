"""Model and ModelNew: same constructor, same parameters, same state_dict, same answer."""

from __future__ import annotations

import pytest
import torch

import cute_dwconv
from cute_dwconv import Model, ModelNew
from conftest import TOLERANCES, requires_cuda

INIT_ARGS = [
    (8, 3),
    (8, 3, 1, 0, 1, False),
    (16, 7, 2, 3, 2, True),
    (4, 21, 1, 10, 1, True),
]


@pytest.mark.parametrize("args", INIT_ARGS, ids=str)
def test_same_parameters_under_one_seed(args):
    torch.manual_seed(1234)
    reference = Model(*args)
    after_reference = torch.rand(1)
    torch.manual_seed(1234)
    ours = ModelNew(*args)
    after_ours = torch.rand(1)
    assert list(reference.state_dict()) == list(ours.state_dict())
    for (name, a), (_, b) in zip(reference.named_parameters(), ours.named_parameters()):
        assert torch.equal(a, b), name
    assert torch.equal(after_reference, after_ours), "constructors consumed different amounts of randomness"


def test_state_dicts_load_both_ways():
    reference, ours = Model(6, 5, bias=True), ModelNew(6, 5, bias=True)
    ours.load_state_dict(reference.state_dict())
    reference.load_state_dict(ours.state_dict())
    assert set(ours.state_dict()) == {"conv2d.weight", "conv2d.bias"}


def test_headline_inputs():
    init = cute_dwconv.get_init_inputs()
    assert init == [8, 3, 1, 0, 1, False]
    (x,) = cute_dwconv.get_inputs()
    assert x.shape == (64, 8, 512, 512) and x.dtype == torch.float32


@requires_cuda
@pytest.mark.gpu
@pytest.mark.parametrize("args", INIT_ARGS[1:], ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_forward_matches(args, dtype):
    torch.manual_seed(0)
    reference = Model(*args).cuda().to(dtype)
    torch.manual_seed(0)
    ours = ModelNew(*args).cuda().to(dtype)
    x = torch.randn(3, args[0], 64, 48, device="cuda", dtype=dtype)
    with torch.no_grad():
        expected = torch.nn.functional.conv2d(
            x.double(), reference.conv2d.weight.double(),
            None if reference.conv2d.bias is None else reference.conv2d.bias.double(),
            reference.conv2d.stride, reference.conv2d.padding, reference.conv2d.dilation, args[0])
        got = ours(x)
    torch.testing.assert_close(got.double(), expected, **TOLERANCES[dtype])


@requires_cuda
@pytest.mark.gpu
def test_compiled_model_matches():
    torch.manual_seed(0)
    ours = ModelNew(8, 7, 1, 3, 1, True).cuda()
    compiled = torch.compile(ours, fullgraph=True)
    x = torch.randn(2, 8, 64, 64, device="cuda")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), ours(x))


@requires_cuda
@pytest.mark.gpu
def test_opcheck():
    x = torch.randn(2, 4, 20, 16, device="cuda")
    weight = torch.randn(4, 1, 3, 1, device="cuda")
    bias = torch.randn(4, device="cuda")
    torch.library.opcheck(torch.ops.cute_dwconv.dwconv_kx1.default, (x, weight, bias, 1, 1, 1))
    torch.library.opcheck(torch.ops.cute_dwconv.dwconv_kx1.default, (x, weight, None, 2, 0, 2))
    out = torch.empty(cute_dwconv.output_shape(x.shape, 3, 1, 1, 1), device="cuda")
    torch.library.opcheck(torch.ops.cute_dwconv.dwconv_kx1_out.default, (x, weight, bias, 1, 1, 1, out))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without a GPU gets")
def test_main_job_without_gpu_says_so():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "cute_dwconv"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "no CUDA GPU is visible" in done.stderr
