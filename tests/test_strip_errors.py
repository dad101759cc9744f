"""strip_conv2d: invalid calls get a clear error, from torch.ops.cute_dwconv.strip_conv2d and from
cute_dwconv.strip_conv2d; the operators' schemas; shape inference on meta and fake tensors against
F.conv2d's (no GPU needed).

The argument checks run on CUDA tensors where a GPU is visible; without one they run on CPU tensors,
whose shape, value and dtype checks come before the device check, as for dwconv_kx1."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import cute_dwconv
from conftest import HAS_CUDA, requires_cuda

op = torch.ops.cute_dwconv.strip_conv2d
DEVICE = "cuda" if HAS_CUDA else "cpu"
WEIGHT_SHAPE = r"weight must have shape \(C, 1, K, 1\) or \(C, 1, 1, K\)"


def _problem(device=DEVICE, dtype=torch.float32, shape=(2, 3, 10, 12), kernel=(3, 1)):
    x = torch.randn(shape, dtype=dtype, device=device)
    weight = torch.randn((shape[1], 1) + kernel, dtype=dtype, device=device)
    bias = torch.randn((shape[1],), dtype=dtype, device=device)
    return x, weight, bias


def _cases():
    """name: (python args or None, the Python entry's exception type, op args or None, message).
    Python args take the Python forms (int, pair, "same"); op args the schema's (int[2] stride,
    int[] padding of 2 or 4, int[2] dilation)."""
    x, w, b = _problem()
    wh = torch.randn(3, 1, 1, 3, device=DEVICE)
    both = lambda stride, padding, dilation, op_stride, op_padding, op_dilation: (  # noqa: E731
        (stride, padding, dilation), (op_stride, op_padding, op_dilation))
    cases = {}

    def add(name, tensors, python, op_form, exc, message):
        cases[name] = (None if python is None else tensors + python, exc,
                       None if op_form is None else tensors + op_form, message)

    for name, weight in {
        "weight_3x3": torch.randn(3, 1, 3, 3, device=DEVICE),
        "weight_groups_vertical": torch.randn(3, 2, 3, 1, device=DEVICE),
        "weight_groups_horizontal": torch.randn(3, 2, 1, 3, device=DEVICE),
        "weight_3d": w[:, 0],
        "weight_5d": w[..., None],
        "weight_channels": w[:2],
    }.items():
        add(name, (x, weight, b), (1, 0, 1), ([1, 1], [0, 0], [1, 1]), RuntimeError, WEIGHT_SHAPE)
    add("bias_shape", (x, w, b[:2]), (1, 0, 1), ([1, 1], [0, 0], [1, 1]), (RuntimeError, ValueError), "bias")
    add("x_3d", (x[0], w, b), (1, 0, 1), ([1, 1], [0, 0], [1, 1]), (RuntimeError, ValueError), "4-D")

    for name, (python, op_form, message) in {
        "stride_0": both(0, 0, 1, [0, 0], [0, 0], [1, 1]) + ("stride must be >= 1",),
        "stride_negative": both(-1, 0, 1, [-1, -1], [0, 0], [1, 1]) + ("stride must be >= 1",),
        "stride_h_0": both((0, 1), 0, 1, [0, 1], [0, 0], [1, 1]) + ("stride must be >= 1",),
        "stride_w_negative": both((1, -2), 0, 1, [1, -2], [0, 0], [1, 1]) + ("stride must be >= 1",),
        "dilation_0": both(1, 0, 0, [1, 1], [0, 0], [0, 0]) + ("dilation must be >= 1",),
        "dilation_w_0": both(1, 0, (1, 0), [1, 1], [0, 0], [1, 0]) + ("dilation must be >= 1",),
        "dilation_h_negative": both(1, 0, (-1, 1), [1, 1], [0, 0], [-1, 1]) + ("dilation must be >= 1",),
        "padding_negative": both(1, -1, 1, [1, 1], [-1, -1], [1, 1]) + ("padding must be >= 0",),
        "padding_w_negative": both(1, (0, -2), 1, [1, 1], [0, -2], [1, 1]) + ("padding must be >= 0",),
    }.items():
        add(name, (x, w, b), python, op_form, ValueError, message)
    add("padding_left_negative", (x, w, b), None, ([1, 1], [0, 1, -1, 0], [1, 1]), ValueError, "padding must be >= 0")

    # Python forms only.
    for name, (args, message) in {
        "padding_string": ((1, "full", 1), "padding must be"),
        "padding_string_case": ((1, "SAME", 1), "padding must be"),
        "same_stride_2": ((2, "same", 1), "padding='same' is not supported for strided convolutions"),
        "same_stride_h": (((2, 1), "same", 1), "padding='same' is not supported for strided convolutions"),
        "same_stride_w": (([1, 3], "same", 1), "padding='same' is not supported for strided convolutions"),
        "stride_3_tuple": (((1, 1, 1), 0, 1), "must be an int or a pair"),
        "stride_empty": (((), 0, 1), "must be an int or a pair"),
        "padding_3_tuple": ((1, (1, 1, 1), 1), "must be an int or a pair"),
        "padding_4_tuple": ((1, (1, 1, 1, 1), 1), "must be an int or a pair"),
        "dilation_3_list": ((1, 0, [1, 1, 1]), "must be an int or a pair"),
    }.items():
        add(name, (x, w, b), args, None, ValueError, message)

    # torch.ops forms only.
    add("op_padding_3", (x, w, b), None, ([1, 1], [1, 1, 1], [1, 1]), RuntimeError, "padding")
    add("op_padding_5", (x, w, b), None, ([1, 1], [1, 1, 1, 1, 1], [1, 1]), RuntimeError, "padding")
    add("op_stride_3", (x, w, b), None, ([1, 1, 1], [0, 0], [1, 1]), RuntimeError, "stride")

    for name, tensors, message in [
        ("weight_dtype", (x, w.double(), b), "weight has dtype"),
        ("bias_dtype", (x, w, b.half()), "bias has dtype"),
        ("x_dtype", (x.half(), w, b), "weight has dtype|x has dtype"),
        ("int_dtype", (x.int(), w.int(), b.int()), "dtype"),
    ]:
        add(name, tensors, (1, 0, 1), ([1, 1], [0, 0], [1, 1]), TypeError, message)

    xc, wc, bc = _problem("cpu")
    add("cpu_tensors", (xc, wc, bc), (1, 0, 1), ([1, 1], [0, 0], [1, 1]), RuntimeError, "x must be a CUDA tensor")

    # Output size <= 0 along each axis: the kernel's reach past the padded plane.
    add("output_height", (x, torch.randn(3, 1, 12, 1, device=DEVICE), b), (1, 0, 1), ([1, 1], [0, 0], [1, 1]),
        RuntimeError, "output height would be")
    add("output_height_dilation", (x, w, b), (1, 0, (6, 1)), ([1, 1], [0, 0], [6, 1]), RuntimeError,
        "output height would be")
    add("output_height_valid", (x, torch.randn(3, 1, 11, 1, device=DEVICE), b), (1, "valid", 1), None,
        RuntimeError, "output height would be")
    add("output_height_padding_elsewhere", (x, torch.randn(3, 1, 12, 1, device=DEVICE), b), (1, (0, 5), 1),
        ([1, 1], [0, 0, 5, 5], [1, 1]), RuntimeError, "output height would be")
    add("output_width", (x, torch.randn(3, 1, 1, 13, device=DEVICE), b), (1, 0, 1), ([1, 1], [0, 0], [1, 1]),
        RuntimeError, "output width would be")
    add("output_width_dilation", (x, wh, b), (1, 0, (1, 7)), ([1, 1], [0, 0], [1, 7]), RuntimeError,
        "output width would be")
    add("output_width_valid", (x, torch.randn(3, 1, 1, 13, device=DEVICE), b), (1, "valid", (3, 1)), None,
        RuntimeError, "output width would be")
    add("output_width_one_sided", (x, torch.randn(3, 1, 1, 15, device=DEVICE), b), None,
        ([1, 1], [3, 3, 0, 2], [1, 1]), RuntimeError, "output width would be")
    return cases


CASES = _cases()
OP_CASES = [name for name, case in CASES.items() if case[2] is not None]
PYTHON_CASES = [name for name, case in CASES.items() if case[0] is not None]


@pytest.mark.parametrize("case", OP_CASES)
def test_torch_ops_rejects(case):
    _, _, args, message = CASES[case]
    with pytest.raises((RuntimeError, TypeError, ValueError), match=message):
        op(*args)


@pytest.mark.parametrize("case", PYTHON_CASES)
def test_python_entry_rejects(case):
    args, exc, _, message = CASES[case]
    with pytest.raises(exc, match=message):
        cute_dwconv.strip_conv2d(*args)


@pytest.mark.parametrize("case", ["weight_3x3", "stride_h_0", "padding_string", "same_stride_2", "weight_dtype",
                                  "output_width"])
def test_out_entry_rejects_the_same(case):
    args, exc, _, message = CASES[case]
    out = torch.empty(2, 3, 8, 12, device=args[0].device)
    with pytest.raises(exc, match=message):
        cute_dwconv.strip_conv2d_out(*args, out)


def test_python_entry_type_errors():
    x, w, b = _problem()
    with pytest.raises(ValueError, match="x"):
        cute_dwconv.strip_conv2d(x.cpu().tolist(), w)
    with pytest.raises(ValueError, match="weight"):
        cute_dwconv.strip_conv2d(x, w.tolist())
    with pytest.raises(ValueError, match="bias"):
        cute_dwconv.strip_conv2d(x, w, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="stride"):
        cute_dwconv.strip_conv2d(x, w, b, stride=1.5)
    with pytest.raises(ValueError, match="padding"):
        cute_dwconv.strip_conv2d(x, w, b, padding=(1.5, 0))


def test_unknown_path_is_rejected():
    x, w, b = _problem()
    out = torch.empty(2, 3, 8, 12, device=DEVICE)
    with pytest.raises(RuntimeError, match="x must be a CUDA tensor|path"):
        torch.ops.cute_dwconv._strip_conv2d_path_out(x, w, b, [1, 1], [0, 0], [1, 1], "fastest", out)


@requires_cuda
@pytest.mark.gpu
class TestOnDevice:
    @pytest.mark.parametrize("kernel", [(3, 1), (1, 3)])
    def test_weight_on_cpu(self, kernel):
        x, w, b = _problem("cuda", kernel=kernel)
        with pytest.raises(RuntimeError, match="weight must be on x's device"):
            op(x, w.cpu(), b, [1, 1], [0, 0], [1, 1])
        with pytest.raises(RuntimeError, match="weight must be on x's device"):
            cute_dwconv.strip_conv2d(x, w.cpu(), b)

    @pytest.mark.parametrize("kernel", [(3, 1), (1, 3)])
    def test_bias_on_cpu(self, kernel):
        x, w, b = _problem("cuda", kernel=kernel)
        with pytest.raises(RuntimeError, match="bias must be on x's device"):
            op(x, w, b.cpu(), [1, 1], [0, 0], [1, 1])
        with pytest.raises(RuntimeError, match="bias must be on x's device"):
            cute_dwconv.strip_conv2d(x, w, b.cpu())

    def test_x_on_cpu_weight_on_gpu(self):
        x, w, b = _problem("cuda")
        with pytest.raises(RuntimeError, match="x must be a CUDA tensor"):
            op(x.cpu(), w, b, [1, 1], [0, 0], [1, 1])
        with pytest.raises(RuntimeError, match="x must be a CUDA tensor"):
            cute_dwconv.strip_conv2d(x.cpu(), w, b)

    @pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs a second GPU")
    def test_weight_on_another_gpu(self):
        x, w, b = _problem("cuda:0")
        with pytest.raises(RuntimeError, match="weight must be on x's device"):
            op(x, w.to("cuda:1"), b, [1, 1], [0, 0], [1, 1])

    def test_unknown_path(self):
        x, w, b = _problem("cuda")
        out = torch.empty(2, 3, 8, 12, device="cuda")
        with pytest.raises(RuntimeError, match="path"):
            torch.ops.cute_dwconv._strip_conv2d_path_out(x, w, b, [1, 1], [0, 0], [1, 1], "fastest", out)

    @pytest.mark.parametrize("bad", ["shape", "shape_transposed", "dtype", "device", "overlaps_x"])
    def test_bad_out(self, bad):
        x, w, b = _problem("cuda", shape=(2, 3, 10, 12))
        out = torch.empty(2, 3, 8, 12, device="cuda")
        if bad == "shape":
            out = torch.empty(2, 3, 8, 11, device="cuda")
        elif bad == "shape_transposed":
            out = torch.empty(2, 3, 12, 8, device="cuda")
        elif bad == "dtype":
            out = out.half()
        elif bad == "device":
            out = out.cpu()
        else:
            out = x[:, :, :8]
        with pytest.raises((RuntimeError, TypeError, ValueError), match="out"):
            torch.ops.cute_dwconv.strip_conv2d_out(x, w, b, [1, 1], [0, 0], [1, 1], out)
        with pytest.raises((RuntimeError, TypeError, ValueError), match="out"):
            cute_dwconv.strip_conv2d_out(x, w, b, 1, 0, 1, out)

    def test_grad_out_of_the_wrong_shape(self):
        x, w, _ = _problem("cuda", kernel=(1, 3))
        grad_out = torch.randn(2, 3, 10, 11, device="cuda")  # the forward gives (2, 3, 10, 10)
        with pytest.raises(RuntimeError, match="grad_out"):
            torch.ops.cute_dwconv.strip_conv2d_grad_input(grad_out, w, 10, 12, [1, 1], [0, 0], [1, 1])
        with pytest.raises(RuntimeError, match="grad_out"):
            torch.ops.cute_dwconv.strip_conv2d_grad_weight(grad_out, x, [1, 3], [1, 1], [0, 0], [1, 1])


# ----------------------------------------------------------------------------------------------
# schemas


def _arguments(overload):
    return [a.name for a in overload._schema.arguments]


def test_schemas():
    ops = torch.ops.cute_dwconv
    conv = ["x", "weight", "bias", "stride", "padding", "dilation"]
    assert _arguments(ops.strip_conv2d.default) == conv
    assert len(ops.strip_conv2d.default._schema.returns) == 1
    for overload, extra in [(ops.strip_conv2d_out.default, ["out"]),
                            (ops._strip_conv2d_path_out.default, ["path", "out"])]:
        schema = overload._schema
        assert _arguments(overload) == conv + extra, str(schema)
        assert schema.returns == [] and schema.arguments[-1].alias_info.is_write, str(schema)
    assert _arguments(ops.strip_conv2d_grad_input.default) == [
        "grad_out", "weight", "height", "width", "stride", "padding", "dilation"]
    assert _arguments(ops._strip_conv2d_grad_input_path.default) == [
        "grad_out", "weight", "height", "width", "stride", "padding", "dilation", "path"]
    assert _arguments(ops.strip_conv2d_grad_weight.default) == [
        "grad_out", "x", "kernel_size", "stride", "padding", "dilation"]
    assert len(ops.strip_conv2d_grad_weight.default._schema.returns) == 2


# ----------------------------------------------------------------------------------------------
# shape inference on meta tensors


def _meta_reference_shape(shape, kernel, stride, padding, dilation):
    """F.conv2d's output shape on meta tensors, or None where it would not be positive."""
    n, c, h, w = shape
    top, bottom, left, right = padding if len(padding) == 4 else (padding[0], padding[0], padding[1], padding[1])
    ho = (h + top + bottom - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    wo = (w + left + right - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    if ho <= 0 or wo <= 0:
        return None
    x = torch.empty(shape, device="meta")
    if len(padding) == 4:
        x = F.pad(x, (left, right, top, bottom))
        padding = (0, 0)
    expected = F.conv2d(x, torch.empty((c, 1) + kernel, device="meta"), None, tuple(stride), tuple(padding),
                        tuple(dilation), c)
    assert tuple(expected.shape) == (n, c, ho, wo)
    return tuple(expected.shape)


META_SHAPES = [(2, 3, 17, 16), (1, 4, 1, 9), (3, 2, 40, 7), (0, 3, 8, 8), (2, 5, 6, 33)]
META_ARGS = list(itertools.product(
    [1, 2, 5, 11],
    [(1, 1), (2, 1), (1, 3)],
    [(0, 0), (1, 0), (0, 5), (2, 0, 1, 3), (0, 4, 0, 0)],
    [(1, 1), (2, 1), (1, 3)],
))


@pytest.mark.parametrize("shape", META_SHAPES, ids=str)
@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_meta_shape_matches_conv2d(orientation, shape):
    x = torch.empty(shape, device="meta")
    valid = 0
    for k, stride, padding, dilation in META_ARGS:
        kernel = (k, 1) if orientation == "vertical" else (1, k)
        weight = torch.empty((shape[1], 1) + kernel, device="meta")
        expected = _meta_reference_shape(shape, kernel, stride, padding, dilation)
        context = f"{orientation} {shape} K={k} stride={stride} padding={padding} dilation={dilation}"
        if expected is None:
            with pytest.raises(RuntimeError):
                op(x, weight, None, list(stride), list(padding), list(dilation))
            continue
        got = op(x, weight, None, list(stride), list(padding), list(dilation))
        assert tuple(got.shape) == expected, context
        assert got.device.type == "meta" and got.dtype == x.dtype, context
        valid += 1
    assert valid > 0


@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_meta_keeps_channels_last(orientation):
    kernel = (3, 1) if orientation == "vertical" else (1, 3)
    x = torch.empty((2, 8, 16, 15), device="meta").contiguous(memory_format=torch.channels_last)
    out = op(x, torch.empty((8, 1) + kernel, device="meta"), None, [1, 2], [1, 0], [1, 1])
    assert out.is_contiguous(memory_format=torch.channels_last)
    x = torch.empty((2, 8, 16, 15), device="meta")
    out = op(x, torch.empty((8, 1) + kernel, device="meta"), None, [1, 2], [1, 0], [1, 1])
    assert out.is_contiguous()


@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_meta_backward_operators(orientation):
    kernel = [5, 1] if orientation == "vertical" else [1, 5]
    x = torch.empty((2, 6, 21, 19), device="meta")
    weight = torch.empty([6, 1] + kernel, device="meta")
    stride, padding, dilation = [2, 1], [1, 3, 0, 2], [1, 2]
    out_shape = _meta_reference_shape(x.shape, tuple(kernel), stride, padding, dilation)
    grad_out = torch.empty(out_shape, device="meta")
    ops = torch.ops.cute_dwconv
    assert ops.strip_conv2d(x, weight, None, stride, padding, dilation).shape == out_shape
    assert ops.strip_conv2d_grad_input(grad_out, weight, 21, 19, stride, padding, dilation).shape == x.shape
    assert ops._strip_conv2d_grad_input_path(grad_out, weight, 21, 19, stride, padding, dilation,
                                             "strided").shape == x.shape
    grad_w, grad_b = ops.strip_conv2d_grad_weight(grad_out, x, kernel, stride, padding, dilation)
    assert grad_w.shape == weight.shape and grad_b.shape == (6,)


def test_fake_tensor_mode():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x = torch.empty(4, 6, 32, 30)
        for kernel in [(5, 1), (1, 5)]:
            weight = torch.empty((6, 1) + kernel)
            out = op(x, weight, None, [2, 1], [2, 1], [1, 2])
            expected = F.conv2d(x, weight, None, (2, 1), (2, 1), (1, 2), 6)
            assert out.shape == expected.shape, kernel
