"""Two GPUs: calls on cuda:1 while cuda:0 is current (forward, backward, a side stream, a CUDA
graph), and a two-process DistributedDataParallel training run of converted strip layers that must
end with the parameters of the same training on one GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import cute_dwconv

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")]

HERE = Path(__file__).resolve().parent


def _problem(kernel, device):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 48, 64, generator=generator).to(device)
    weight = torch.randn(8, 1, *kernel, generator=generator).to(device)
    bias = torch.randn(8, generator=generator).to(device)
    return x, weight, bias


@pytest.mark.parametrize("kernel,padding", [((5, 1), (2, 0)), ((1, 7), (0, 3))], ids=str)
def test_second_gpu_forward_and_backward(kernel, padding):
    with torch.cuda.device(0):
        x, weight, bias = (t.requires_grad_() for t in _problem(kernel, "cuda:1"))
        out = cute_dwconv.strip_conv2d(x, weight, bias, 1, padding)
        grad_out = torch.randn_like(out)
        grads = torch.autograd.grad(out, (x, weight, bias), grad_out)
    assert out.device == torch.device("cuda", 1) and all(g.device == out.device for g in grads)
    xd, wd, bd = (t.detach().double().requires_grad_() for t in (x, weight, bias))
    expected = F.conv2d(xd, wd, bd, 1, padding, 1, 8)
    expected_grads = torch.autograd.grad(expected, (xd, wd, bd), grad_out.double())
    torch.testing.assert_close(out.double(), expected, rtol=2e-5, atol=2e-5)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-3)


def test_second_gpu_side_stream_and_graph():
    x, weight, bias = _problem((1, 11), "cuda:1")
    expected = F.conv2d(x.double(), weight.double(), bias.double(), 1, (0, 5), 1, 8)
    with torch.cuda.device(0):
        stream = torch.cuda.Stream(device=1)
        with torch.cuda.stream(stream):
            out = cute_dwconv.strip_conv2d(x, weight, bias, 1, "same")
        stream.synchronize()
        torch.testing.assert_close(out.double(), expected, rtol=2e-5, atol=2e-5)
        static_x = x.clone()
        with torch.cuda.device(1):
            stream.wait_stream(torch.cuda.current_stream(1))
            with torch.cuda.stream(stream):
                cute_dwconv.strip_conv2d(static_x, weight, bias, 1, "same")  # warm-up outside capture
            torch.cuda.current_stream(1).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            # torch.cuda.graph's default capture stream belongs to whichever device first used it.
            with torch.cuda.graph(graph, stream=torch.cuda.Stream(device=1)):
                static_out = cute_dwconv.strip_conv2d(static_x, weight, bias, 1, "same")
            fresh = torch.randn_like(static_x)
            static_x.copy_(fresh)
            graph.replay()
            torch.cuda.synchronize(1)
    want = F.conv2d(fresh.double(), weight.double(), bias.double(), 1, (0, 5), 1, 8)
    torch.testing.assert_close(static_out.double(), want, rtol=2e-5, atol=2e-5)


def test_ddp_training_matches_one_gpu(tmp_path):
    script = HERE / "ddp_strip_train.py"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    single, ddp = tmp_path / "single.pt", tmp_path / "ddp.pt"
    subprocess.run([sys.executable, str(script), str(single), "--single"], env=env, check=True, timeout=300)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script), str(ddp)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    one, two, init = torch.load(single), torch.load(ddp), torch.load(str(single) + ".init")
    assert one.keys() == two.keys() == init.keys()
    for name in one:
        assert not torch.allclose(one[name], init[name]), f"{name} did not train"
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
