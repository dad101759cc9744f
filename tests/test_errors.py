"""Invalid arguments get a clear error that names the argument, from torch.ops and from Python.

Shape, value and dtype checks come before the device check, so most of these run without a GPU."""

from __future__ import annotations

import pytest
import torch

import cute_dwconv
from conftest import requires_cuda

op = torch.ops.cute_dwconv.dwconv_kx1


def _problem(device="cpu", dtype=torch.float32, shape=(2, 3, 10, 12), k=3):
    x = torch.randn(shape, dtype=dtype, device=device)
    weight = torch.randn((shape[1], 1, k, 1), dtype=dtype, device=device)
    bias = torch.randn((shape[1],), dtype=dtype, device=device)
    return x, weight, bias


def _cases():
    x, w, b = _problem()
    return {
        "x_3d": ((x[0], w, b, 1, 0, 1), "x must be a 4-D"),
        "x_5d": ((x[None], w, b, 1, 0, 1), "x must be a 4-D"),
        "zero_height": ((x[:, :, :0], w, b, 1, 1, 1), "C, H and W of at least 1"),
        "weight_channels": ((x, w[:2], b, 1, 0, 1), r"weight must have shape \(C, 1, K, 1\)"),
        "weight_kxk": ((x, torch.randn(3, 1, 3, 3), b, 1, 0, 1), r"weight must have shape \(C, 1, K, 1\)"),
        "weight_3d": ((x, w[:, 0], b, 1, 0, 1), r"weight must have shape \(C, 1, K, 1\)"),
        "weight_groups": ((x, torch.randn(3, 3, 3, 1), b, 1, 0, 1), r"weight must have shape \(C, 1, K, 1\)"),
        "bias_shape": ((x, w, b[:2], 1, 0, 1), r"bias must have shape \(3,\)"),
        "bias_2d": ((x, w, b[None], 1, 0, 1), r"bias must have shape \(3,\)"),
        "stride_0": ((x, w, b, 0, 0, 1), "stride must be >= 1"),
        "stride_negative": ((x, w, b, -2, 0, 1), "stride must be >= 1"),
        "dilation_0": ((x, w, b, 1, 0, 0), "dilation must be >= 1"),
        "padding_negative": ((x, w, b, 1, -1, 1), "padding must be >= 0"),
        "output_height": ((x, torch.randn(3, 1, 12, 1), b, 1, 0, 1), "output height would be"),
        "output_height_dilation": ((x, w, b, 1, 0, 6), "output height would be"),
        "weight_dtype": ((x, w.double(), b, 1, 0, 1), "weight has dtype"),
        "bias_dtype": ((x, w, b.half(), 1, 0, 1), "bias has dtype"),
        "int_dtype": ((x.int(), w.int(), b.int(), 1, 0, 1), "supported dtypes are"),
        "cpu_tensors": ((x, w, b, 1, 0, 1), "x must be a CUDA tensor"),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_torch_ops_rejects(case):
    args, message = CASES[case]
    with pytest.raises((RuntimeError, TypeError), match=message):
        op(*args)


@pytest.mark.parametrize("case", list(CASES))
def test_python_entry_rejects(case):
    args, message = CASES[case]
    with pytest.raises((RuntimeError, TypeError, ValueError), match=message):
        cute_dwconv.dwconv_kx1(*args)


@pytest.mark.parametrize("name,value,message", [
    ("stride", 1.5, "stride must be an int"),
    ("stride", (1, 1), "stride must be an int"),
    ("padding", True, "padding must be an int"),
    ("dilation", 0, "dilation must be >= 1"),
    ("padding", -3, "padding must be >= 0"),
])
def test_python_entry_value_errors(name, value, message):
    x, w, b = _problem()
    kwargs = dict(stride=1, padding=0, dilation=1)
    kwargs[name] = value
    with pytest.raises(ValueError, match=message):
        cute_dwconv.dwconv_kx1(x, w, b, **kwargs)


def test_python_entry_type_errors():
    x, w, b = _problem()
    # A nested list holds x's values but is no tensor; the error names what was passed.
    with pytest.raises(ValueError, match="x must be a torch.Tensor, got list"):
        cute_dwconv.dwconv_kx1(x.tolist(), w)
    with pytest.raises(ValueError, match="weight must be a torch.Tensor, got list"):
        cute_dwconv.dwconv_kx1(x, w.tolist())
    with pytest.raises(ValueError, match="bias must be a torch.Tensor or None"):
        cute_dwconv.dwconv_kx1(x, w, [1.0, 2.0, 3.0])


def test_unknown_path_is_rejected():
    x, w, b = _problem()
    out = torch.empty(2, 3, 8, 12)
    with pytest.raises(RuntimeError, match="x must be a CUDA tensor|path must be one of"):
        torch.ops.cute_dwconv._dwconv_kx1_path_out(x, w, b, 1, 0, 1, "fastest", out)


@requires_cuda
@pytest.mark.gpu
class TestOnDevice:
    def test_weight_on_cpu(self):
        x, w, b = _problem("cuda")
        with pytest.raises(RuntimeError, match="weight must be on x's device"):
            op(x, w.cpu(), b, 1, 0, 1)

    def test_bias_on_cpu(self):
        x, w, b = _problem("cuda")
        with pytest.raises(RuntimeError, match="bias must be on x's device"):
            op(x, w, b.cpu(), 1, 0, 1)

    def test_x_on_cpu_weight_on_gpu(self):
        x, w, b = _problem("cuda")
        with pytest.raises(RuntimeError, match="x must be a CUDA tensor"):
            op(x.cpu(), w, b, 1, 0, 1)

    def test_unknown_path(self):
        x, w, b = _problem("cuda")
        out = torch.empty(2, 3, 8, 12, device="cuda")
        with pytest.raises(RuntimeError, match="path must be one of"):
            torch.ops.cute_dwconv._dwconv_kx1_path_out(x, w, b, 1, 0, 1, "fastest", out)

    @pytest.mark.parametrize("bad", ["shape", "dtype", "device", "overlaps_x", "internal_overlap"])
    def test_bad_out(self, bad):
        x, w, b = _problem("cuda", shape=(2, 3, 10, 12))
        out = torch.empty(2, 3, 8, 12, device="cuda")
        message = {"shape": r"out must have shape \(2, 3, 8, 12\)", "dtype": "out has dtype",
                   "device": "out must be on x's device", "overlaps_x": "out must not overlap the memory of x",
                   "internal_overlap": "out must not have elements that share memory"}[bad]
        if bad == "shape":
            out = torch.empty(2, 3, 8, 11, device="cuda")
        elif bad == "dtype":
            out = out.half()
        elif bad == "device":
            out = out.cpu()
        elif bad == "overlaps_x":
            out = x[:, :, :8]
        else:
            out = torch.empty(1, device="cuda").expand(2, 3, 8, 12)
        with pytest.raises((RuntimeError, TypeError), match=message):
            torch.ops.cute_dwconv.dwconv_kx1_out(x, w, b, 1, 0, 1, out)
