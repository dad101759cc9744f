"""What the network tests share: the op-log filters, SGD steps and the
comparison of a 16-bit run's parameter updates through a float32 run."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def ours(name):
    return name.startswith("cute_dwconv::")


def aten_convolution(name):
    return name == "aten::convolution"


def conv_count(model):
    return sum(1 for m in model.modules() if isinstance(m, nn.Conv2d))


def train_steps(model, optimizer, x, target, steps, autocast_dtype):
    """`steps` SGD steps on an MSE loss (under autocast to autocast_dtype, if given); the outputs."""
    outputs = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            out = model(x)
        loss = F.mse_loss(out.float(), target)
        loss.backward()
        optimizer.step()
        outputs.append(out.detach())
    return outputs


def relative_error(got, expected):
    expected = expected.double()
    return ((got.double() - expected).norm() / expected.norm().clamp_min(1e-30)).item()


def check_update_near_float32(moved, expected_moved, full_moved, meaningful, label):
    """Two 16-bit runs round differently (ours reads float32 weights as they are, where nn.Conv2d
    rounds them to 16 bits first), and a bias update is a sum with cancellation: two such runs'
    updates differed by 0.13-1.2 on some seeds. So each is measured against a float32 run's update,
    full_moved: ours must be about as close to it as eager's is."""
    ours_error = relative_error(moved, full_moved)
    eager_error = relative_error(expected_moved, full_moved)
    assert not meaningful or ours_error < 2 * eager_error + 0.05, \
        f"{label}: update off float32's by {ours_error:.3f}, eager's by {eager_error:.3f}"
