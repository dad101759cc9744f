"""The operators exist with their schemas, and shape inference (no GPU) agrees with PyTorch's."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import cute_dwconv


def test_schemas():
    ops = torch.ops.cute_dwconv
    assert str(ops.dwconv_kx1.default._schema) == (
        "cute_dwconv::dwconv_kx1(Tensor x, Tensor weight, Tensor? bias, SymInt stride, SymInt padding, "
        "SymInt dilation) -> Tensor"
    ) or "dwconv_kx1(Tensor x, Tensor weight, Tensor? bias, int stride, int padding, int dilation) -> Tensor" in str(
        ops.dwconv_kx1.default._schema)
    out_schema = str(ops.dwconv_kx1_out.default._schema)
    assert "Tensor(a!) out" in out_schema and out_schema.endswith("-> ()")


def test_table_is_listed():
    flat = torch.ops.cute_dwconv._forward_table()
    entries = {tuple(flat[i:i + 3]) for i in range(0, len(flat), 3)}
    assert (3, 1, 1) in entries and (21, 1, 1) in entries and len(flat) % 3 == 0


SHAPE_GRID = list(itertools.product(
    [(2, 3, 17, 16), (1, 4, 1, 9), (3, 2, 40, 7), (0, 3, 8, 8)],
    [1, 3, 4, 7],
    [1, 2, 3],
    [0, 1, 5],
    [1, 2],
))


@pytest.mark.parametrize("shape,k,stride,padding,dilation", SHAPE_GRID)
def test_fake_shape_matches_conv2d(shape, k, stride, padding, dilation):
    x = torch.empty(shape, device="meta")
    weight = torch.empty((shape[1], 1, k, 1), device="meta")
    try:
        expected = F.conv2d(x, weight, None, stride, padding, dilation, shape[1])
        valid = expected.shape[2] > 0 and expected.shape[3] > 0
    except RuntimeError:  # some PyTorch versions' meta kernels raise, others return a 0-size output
        valid = False
    if not valid:
        with pytest.raises(RuntimeError, match="output (height|width) would be"):
            torch.ops.cute_dwconv.dwconv_kx1(x, weight, None, stride, padding, dilation)
        return
    got = torch.ops.cute_dwconv.dwconv_kx1(x, weight, None, stride, padding, dilation)
    assert got.shape == expected.shape
    assert cute_dwconv.output_shape(shape, k, stride, padding, dilation) == tuple(expected.shape)


def test_fake_keeps_channels_last():
    x = torch.empty((2, 8, 16, 16), device="meta").contiguous(memory_format=torch.channels_last)
    out = torch.ops.cute_dwconv.dwconv_kx1(x, torch.empty((8, 1, 3, 1), device="meta"), None, 1, 1, 1)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_fake_tensor_mode():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x = torch.empty(4, 6, 32, 30)
        weight = torch.empty(6, 1, 5, 1)
        out = torch.ops.cute_dwconv.dwconv_kx1(x, weight, None, 2, 2, 1)
        expected = F.conv2d(x, weight, None, 2, 2, 1, 6)
    assert out.shape == expected.shape == (4, 6, 16, 17)
