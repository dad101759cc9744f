"""depthwise_conv2d: wherever F.conv2d raises, we raise a RuntimeError, ValueError or TypeError whose
message starts with "cute_dwconv:" and names the argument, from torch.ops.cute_dwconv and from
cute_dwconv.depthwise_conv2d; never a crash. The private operators' own checks; the operators'
schemas; shape inference on meta and fake tensors against F.conv2d's (no GPU needed).

The argument checks run on CUDA tensors where a GPU is visible; without one they run on CPU tensors,
whose shape, value and dtype checks come before the device check, as for strip_conv2d. Each case's
premise, that F.conv2d raises too (or, where marked, that it does not: a 3-D x, a channel
multiplier), is checked on CPU tensors.

Nothing here touches cute_dwconv.depthwise_conv2d or the new operators at import time."""

from __future__ import annotations

import itertools
import re
from typing import NamedTuple, Optional

import pytest
import torch
import torch.nn.functional as F

import cute_dwconv
from conftest import HAS_CUDA, requires_cuda

ops = torch.ops.cute_dwconv  # the namespace only: its operators are looked up inside the tests
DEVICE = "cuda" if HAS_CUDA else "cpu"
ERRORS = (RuntimeError, ValueError, TypeError)


def assert_rejects(call, pattern, context=""):
    """call() raises one of ERRORS with a message that starts with "cute_dwconv:" and matches pattern."""
    with pytest.raises(ERRORS) as info:
        call()
    message = str(info.value)
    assert message.lstrip().startswith("cute_dwconv:"), f"{context}: no 'cute_dwconv:' prefix: {message!r}"
    assert re.search(pattern, message), f"{context}: the message does not match {pattern!r}: {message!r}"
    return message


def _problem(device=DEVICE, dtype=torch.float32, shape=(2, 3, 10, 12), kernel=(3, 3)):
    x = torch.randn(shape, dtype=dtype, device=device)
    weight = torch.randn((shape[1], 1) + kernel, dtype=dtype, device=device)
    bias = torch.randn((shape[1],), dtype=dtype, device=device)
    return x, weight, bias


class Case(NamedTuple):
    tensors: tuple                # (x, weight, bias)
    python: Optional[tuple]       # (stride, padding, dilation) in the Python entry's forms, or None
    op: Optional[tuple]           # the same in torch.ops' forms (int[2], int[] of 2 or 4, int[2]), or None
    pattern: str                  # what the message must mention
    conv2d_raises: Optional[bool]  # F.conv2d on CPU with the Python forms: raises / does not / not checked
    meta: bool                    # the fake implementation must reject it too (a shape-deciding check)


OK = ((1, 0, 1), ([1, 1], [0, 0], [1, 1]))


def _cases(device=DEVICE):
    x, w, b = _problem(device)
    cases = {}

    def add(name, tensors, python, op_form, pattern, conv2d_raises=True, meta=False):
        cases[name] = Case(tensors, python, op_form, pattern, conv2d_raises, meta)

    def randn(*shape):
        return torch.randn(shape, device=device)

    # weight is not (C, 1, kh, kw) for x's C
    weight = r"\bweight\b"
    for name, bad, raises in [
        ("weight_channels", w[:2], True),
        ("weight_groups", randn(3, 2, 3, 3), True),
        ("weight_3d", w[:, 0], True),
        ("weight_5d", w[..., None], True),
    ]:
        add(name, (x, bad, b), *OK, weight, raises, meta=True)
    # F.conv2d's channel multiplier (6 output channels from 3): a valid convolution, not a depthwise one
    add("weight_multiplier", (x, randn(6, 1, 3, 3), None), *OK, weight, False, meta=True)
    add("weight_zero_height", (x, randn(3, 1, 0, 3), b), *OK, weight, None)
    add("weight_zero_width", (x, randn(3, 1, 3, 0), b), *OK, weight, None)
    add("bias_shape", (x, w, b[:2]), *OK, r"\bbias\b")
    add("bias_2d", (x, w, b[None]), *OK, r"\bbias\b")
    add("x_3d", (x[0], w, b), *OK, r"\bx\b", False, meta=True)          # F.conv2d takes it unbatched
    add("x_5d", (x[None], w, b), *OK, r"\bx\b", meta=True)
    add("x_zero_channels", (x[:, :0], w[:0], b[:0]), *OK, r"\bx\b")
    add("x_zero_height", (x[:, :, :0], w, b), (1, 1, 1), ([1, 1], [1, 1], [1, 1]), r"\bx\b")

    # stride, dilation, padding out of range, in both forms
    for name, (python, op_form, pattern) in {
        "stride_0": ((0, 0, 1), ([0, 0], [0, 0], [1, 1]), r"\bstride\b"),
        "stride_negative": ((-1, 0, 1), ([-1, -1], [0, 0], [1, 1]), r"\bstride\b"),
        "stride_h_0": (((0, 1), 0, 1), ([0, 1], [0, 0], [1, 1]), r"\bstride\b"),
        "stride_w_negative": (((1, -2), 0, 1), ([1, -2], [0, 0], [1, 1]), r"\bstride\b"),
        "dilation_0": ((1, 0, 0), ([1, 1], [0, 0], [0, 0]), r"\bdilation\b"),
        "dilation_w_0": ((1, 0, (1, 0)), ([1, 1], [0, 0], [1, 0]), r"\bdilation\b"),
        "dilation_h_negative": ((1, 0, (-1, 1)), ([1, 1], [0, 0], [-1, 1]), r"\bdilation\b"),
        "padding_negative": ((1, -1, 1), ([1, 1], [-1, -1], [1, 1]), r"\bpadding\b"),
        "padding_w_negative": ((1, (0, -2), 1), ([1, 1], [0, -2], [1, 1]), r"\bpadding\b"),
    }.items():
        add(name, (x, w, b), python, op_form, pattern, meta=True)
    add("padding_left_negative", (x, w, b), None, ([1, 1], [0, 1, -1, 0], [1, 1]), r"\bpadding\b", meta=True)

    # the Python forms only
    for name, (args, pattern) in {
        "padding_string": ((1, "full", 1), r"\bpadding\b"),
        "padding_string_case": ((1, "SAME", 1), r"\bpadding\b"),
        "same_stride_2": ((2, "same", 1), r"padding='same'"),
        "same_stride_h": (((2, 1), "same", 1), r"padding='same'"),
        "same_stride_w": (([1, 3], "same", 1), r"padding='same'"),
        "stride_3_tuple": (((1, 1, 1), 0, 1), r"\bstride\b"),
        "stride_empty": (((), 0, 1), r"\bstride\b"),
        "stride_float": ((1.5, 0, 1), r"\bstride\b"),
        "padding_3_tuple": ((1, (1, 1, 1), 1), r"\bpadding\b"),
        "padding_4_tuple": ((1, (1, 1, 1, 1), 1), r"\bpadding\b"),   # one-sided paddings are torch.ops'
        "padding_float": ((1, (1.5, 0), 1), r"\bpadding\b"),
        "dilation_3_list": ((1, 0, [1, 1, 1]), r"\bdilation\b"),
    }.items():
        add(name, (x, w, b), args, None, pattern, meta=True)

    # the torch.ops forms only
    add("op_padding_3", (x, w, b), None, ([1, 1], [1, 1, 1], [1, 1]), r"\bpadding\b", meta=True)
    add("op_padding_5", (x, w, b), None, ([1, 1], [1, 1, 1, 1, 1], [1, 1]), r"\bpadding\b", meta=True)
    add("op_stride_3", (x, w, b), None, ([1, 1, 1], [0, 0], [1, 1]), r"\bstride\b")
    add("op_dilation_3", (x, w, b), None, ([1, 1], [0, 0], [1, 1, 1]), r"\bdilation\b")

    # dtypes
    add("weight_dtype", (x, w.double(), b), *OK, r"\bweight\b")
    add("bias_dtype", (x, w, b.half()), *OK, r"\bbias\b")
    add("x_half_params_float", (x.half(), w, b), *OK, r"\bweight\b")      # outside autocast: no mixing
    add("x_double_params_float", (x.double(), w, b), *OK, r"\bweight\b")
    add("int_dtype", (x.int(), w.int(), b.int()), *OK, r"dtype", None)  # (CPU's F.conv2d takes ints)
    add("bool_dtype", (x > 0, w > 0, b > 0), *OK, r"dtype", None)

    # output size <= 0 along each axis: the window's reach past the padded plane
    output_h, output_w = r"output height", r"output width"
    add("output_height", (x, randn(3, 1, 12, 3), b), *OK, output_h, meta=True)
    add("output_height_dilation", (x, w, b), (1, 0, (6, 1)), ([1, 1], [0, 0], [6, 1]), output_h, meta=True)
    add("output_height_valid", (x, randn(3, 1, 11, 1), b), (1, "valid", 1), None, output_h, meta=True)
    add("output_height_padding_elsewhere", (x, randn(3, 1, 12, 3), b), (1, (0, 5), 1),
        ([1, 1], [0, 0, 5, 5], [1, 1]), output_h, meta=True)
    add("output_width", (x, randn(3, 1, 3, 14), b), *OK, output_w, meta=True)
    add("output_width_dilation", (x, w, b), (1, 0, (1, 7)), ([1, 1], [0, 0], [1, 7]), output_w, meta=True)
    add("output_width_valid", (x, randn(3, 1, 1, 13), b), (1, "valid", (3, 1)), None, output_w, meta=True)
    add("output_width_one_sided", (x, randn(3, 1, 3, 15), b), None, ([1, 1], [3, 3, 0, 2], [1, 1]), output_w,
        meta=True)
    add("output_31x31", (x, randn(3, 1, 31, 31), b), (1, 5, 1), ([1, 1], [5, 5], [1, 1]), r"output (height|width)",
        meta=True)
    add("output_51x5", (x, randn(3, 1, 51, 5), b), (1, (20, 2), 1), ([1, 1], [20, 2], [1, 1]), output_h, meta=True)

    xc, wc, bc = _problem("cpu")
    add("cpu_tensors", (xc, wc, bc), *OK, r"x must be a CUDA tensor", None)
    return cases


CASES = _cases("cpu")  # (the names and forms; each test builds its tensors on its device)
OP_CASES = [name for name, case in CASES.items() if case.op is not None]
PYTHON_CASES = [name for name, case in CASES.items() if case.python is not None]
META_CASES = [name for name, case in CASES.items() if case.meta]


@pytest.mark.parametrize("case", OP_CASES)
def test_torch_ops_rejects(case):
    tensors, _, op_form, pattern, _, _ = _cases()[case]
    assert_rejects(lambda: ops.depthwise_conv2d(*tensors, *op_form), pattern, case)


@pytest.mark.parametrize("case", PYTHON_CASES)
def test_python_entry_rejects(case):
    tensors, python, _, pattern, _, _ = _cases()[case]
    assert_rejects(lambda: cute_dwconv.depthwise_conv2d(*tensors, *python), pattern, case)


@pytest.mark.parametrize("case", [name for name in PYTHON_CASES if CASES[name].conv2d_raises is not None])
def test_premise_against_conv2d(case):
    """Where the cases say F.conv2d raises, it does (on CPU tensors); where they say it does not, it
    does not, and we raise all the same (x must be 4-D; weight must be depthwise)."""
    tensors, python, _, _, raises, _ = CASES[case]
    x, weight, bias = tensors

    def conv2d():
        return F.conv2d(x, weight, bias, *python, groups=x.shape[-3])

    if raises:
        with pytest.raises(ERRORS):
            conv2d()
    else:
        conv2d()


@pytest.mark.parametrize("case", META_CASES)
def test_meta_rejects(case):
    """The fake implementation rejects what decides the output's shape, as the operator does."""
    tensors, python, op_form, pattern, _, _ = _cases()[case]
    meta = tuple(None if t is None else torch.empty(t.shape, dtype=t.dtype, device="meta") for t in tensors)
    if op_form is not None:
        assert_rejects(lambda: ops.depthwise_conv2d(*meta, *op_form), pattern, f"{case} torch.ops")
    if python is not None:
        assert_rejects(lambda: cute_dwconv.depthwise_conv2d(*meta, *python), pattern, f"{case} Python")


@pytest.mark.parametrize("case", ["weight_groups", "stride_h_0", "padding_w_negative", "op_padding_5", "weight_dtype",
                                  "int_dtype", "output_width_one_sided", "x_3d"])
def test_path_out_rejects_the_same(case):
    """The forced-path operator runs the same checks, for every path."""
    tensors, _, op_form, pattern, _, _ = _cases()[case]
    out = torch.empty(2, 3, 8, 10, device=DEVICE)
    for path in ("auto", "tiled", "channels_last", "direct"):
        assert_rejects(lambda: ops._depthwise_conv2d_path_out(*tensors, *op_form, path, out), pattern,
                       f"{case} path={path}")


def test_python_entry_type_errors():
    x, w, b = _problem()
    assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x.cpu().tolist(), w), r"\bx\b")
    assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x, w.tolist()), r"\bweight\b")
    assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x, w, [1.0, 2.0, 3.0]), r"\bbias\b")
    assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x, w, b, stride="1"), r"\bstride\b")
    assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x, w, b, dilation=None), r"\bdilation\b")


def test_unknown_path_is_rejected():
    x, w, b = _problem()
    out = torch.empty(2, 3, 8, 10, device=DEVICE)
    assert_rejects(lambda: ops._depthwise_conv2d_path_out(x, w, b, [1, 1], [0, 0], [1, 1], "fastest", out),
                   r"x must be a CUDA tensor|\bpath\b")


def test_gradient_operators_reject_cpu_and_bad_shapes():
    """Without a GPU the gradient operators still raise cleanly."""
    x, w, _ = _problem()
    grad_out = torch.randn(2, 3, 8, 10, device=DEVICE)
    assert_rejects(lambda: ops.depthwise_conv2d_grad_input(grad_out[:, :, :7], w, 10, 12, [1, 1], [0, 0], [1, 1]),
                   r"\bgrad_out\b")
    assert_rejects(lambda: ops.depthwise_conv2d_grad_weight(grad_out[:, :, :7], x, [3, 3], [1, 1], [0, 0], [1, 1]),
                   r"\bgrad_out\b")
    assert_rejects(lambda: ops.depthwise_conv2d_grad_weight(grad_out, x, [3, 0], [1, 1], [0, 0], [1, 1]),
                   r"\bkernel_size\b")
    assert_rejects(lambda: ops.depthwise_conv2d_grad_input(grad_out, w[:2], 10, 12, [1, 1], [0, 0], [1, 1]),
                   r"\bweight\b")


@requires_cuda
@pytest.mark.gpu
class TestOnDevice:
    def test_weight_on_cpu(self):
        x, w, b = _problem("cuda")
        assert_rejects(lambda: ops.depthwise_conv2d(x, w.cpu(), b, [1, 1], [0, 0], [1, 1]), r"\bweight\b")
        assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x, w.cpu(), b), r"\bweight\b")

    def test_bias_on_cpu(self):
        x, w, b = _problem("cuda")
        assert_rejects(lambda: ops.depthwise_conv2d(x, w, b.cpu(), [1, 1], [0, 0], [1, 1]), r"\bbias\b")
        assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x, w, b.cpu()), r"\bbias\b")

    def test_x_on_cpu_weight_on_gpu(self):
        x, w, b = _problem("cuda")
        assert_rejects(lambda: ops.depthwise_conv2d(x.cpu(), w, b, [1, 1], [0, 0], [1, 1]), r"\bx\b.*CUDA")
        assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x.cpu(), w, b), r"\bx\b.*CUDA")

    def test_int_dtype_on_cuda(self):
        x, w, b = _problem("cuda")
        with pytest.raises(ERRORS):  # F.conv2d has no integer CUDA kernel either
            F.conv2d(x.int(), w.int(), b.int(), groups=3)
        assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x.int(), w.int(), b.int()), "dtype")

    @pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs a second GPU")
    def test_weight_on_another_gpu(self):
        x, w, b = _problem("cuda:0")
        assert_rejects(lambda: ops.depthwise_conv2d(x, w.to("cuda:1"), b, [1, 1], [0, 0], [1, 1]), r"\bweight\b")

    def test_unknown_path(self):
        x, w, b = _problem("cuda")
        out = torch.empty(2, 3, 8, 10, device="cuda")
        assert_rejects(lambda: ops._depthwise_conv2d_path_out(x, w, b, [1, 1], [0, 0], [1, 1], "fastest", out),
                       r"\bpath\b")

    @pytest.mark.parametrize("bad", ["shape", "shape_transposed", "dtype", "device", "overlaps_x", "expanded"])
    def test_bad_out(self, bad):
        x, w, b = _problem("cuda", shape=(2, 3, 10, 12))
        out = torch.empty(2, 3, 8, 10, device="cuda")
        if bad == "shape":
            out = torch.empty(2, 3, 8, 11, device="cuda")
        elif bad == "shape_transposed":
            out = torch.empty(2, 3, 10, 8, device="cuda")
        elif bad == "dtype":
            out = out.half()
        elif bad == "device":
            out = out.cpu()
        elif bad == "overlaps_x":
            out = x[:, :, :8, :10]
        else:
            out = torch.empty(1, 1, 1, 1, device="cuda").expand(2, 3, 8, 10)
        for path in ("auto", "direct"):
            assert_rejects(lambda: ops._depthwise_conv2d_path_out(x, w, b, [1, 1], [0, 0], [1, 1], path, out),
                           r"\bout\b", f"{bad} path={path}")

    def test_path_out_refuses_autograd(self):
        x, w, b = _problem("cuda")
        out = torch.empty(2, 3, 8, 10, device="cuda")
        with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
            ops._depthwise_conv2d_path_out(x, w.requires_grad_(), b, [1, 1], [0, 0], [1, 1], "auto", out)

    def test_gradient_operators(self):
        x, w, _ = _problem("cuda")
        grad_out = torch.randn(2, 3, 8, 10, device="cuda")
        args = ([1, 1], [0, 0], [1, 1])
        assert_rejects(lambda: ops.depthwise_conv2d_grad_input(grad_out[..., :9], w, 10, 12, *args), r"\bgrad_out\b")
        assert_rejects(lambda: ops.depthwise_conv2d_grad_input(grad_out, w.double(), 10, 12, *args), r"\bweight\b")
        assert_rejects(lambda: ops.depthwise_conv2d_grad_input(grad_out, w, 0, 12, *args), r"height|width")
        assert_rejects(lambda: ops.depthwise_conv2d_grad_weight(grad_out[..., :9], x, [3, 3], *args), r"\bgrad_out\b")
        assert_rejects(lambda: ops.depthwise_conv2d_grad_weight(grad_out.half(), x, [3, 3], *args), r"\bgrad_out\b")
        assert_rejects(lambda: ops.depthwise_conv2d_grad_weight(grad_out, x, [3, 3, 1], *args), r"\bkernel_size\b")
        assert_rejects(lambda: ops.depthwise_conv2d_grad_weight(grad_out, x, [0, 3], *args), r"\bkernel_size\b")

    def test_float_parameter_operators_check_dtypes(self):
        x, w, b = _problem("cuda")
        args = ([1, 1], [0, 0], [1, 1])
        assert_rejects(lambda: ops._depthwise_conv2d_float_params(x, w, b, *args), r"\bweight\b")  # float32 x
        assert_rejects(lambda: ops._depthwise_conv2d_float_params(x.half(), w.half(), b, *args), r"\bweight\b")
        assert_rejects(lambda: ops._depthwise_conv2d_float_params(x.half(), w, b.double(), *args), r"\bbias\b")
        grad_out = torch.randn(2, 3, 8, 10, device="cuda")
        assert_rejects(lambda: ops._depthwise_conv2d_grad_input_float_params(grad_out, w, 10, 12, *args),
                       r"\bweight\b")
        assert_rejects(lambda: ops._depthwise_conv2d_grad_weight_float_params(grad_out, x, [3, 3], *args),
                       r"\bx\b")

    def test_public_operator_refuses_mixed_dtypes_outside_autocast(self):
        x, w, b = _problem("cuda")
        assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x.bfloat16(), w, b), r"\bweight\b")
        assert_rejects(lambda: cute_dwconv.depthwise_conv2d(x.bfloat16(), w.bfloat16(), b), r"\bbias\b")


# ----------------------------------------------------------------------------------------------
# schemas


def _arguments(overload):
    return [a.name for a in overload._schema.arguments]


def test_schemas():
    conv = ["x", "weight", "bias", "stride", "padding", "dilation"]
    for overload in (ops.depthwise_conv2d.default, ops._depthwise_conv2d_float_params.default):
        assert _arguments(overload) == conv, str(overload._schema)
        assert len(overload._schema.returns) == 1
    path_out = ops._depthwise_conv2d_path_out.default._schema
    assert [a.name for a in path_out.arguments] == conv + ["path", "out"], str(path_out)
    assert path_out.returns == [] and path_out.arguments[-1].alias_info.is_write, str(path_out)
    for overload in (ops.depthwise_conv2d_grad_input.default, ops._depthwise_conv2d_grad_input_float_params.default):
        assert _arguments(overload) == ["grad_out", "weight", "height", "width", "stride", "padding", "dilation"]
        assert "SymInt height" in str(overload._schema)
    for overload in (ops.depthwise_conv2d_grad_weight.default, ops._depthwise_conv2d_grad_weight_float_params.default):
        assert _arguments(overload) == ["grad_out", "x", "kernel_size", "stride", "padding", "dilation"]
        assert len(overload._schema.returns) == 2


def test_public_names():
    for name in ("depthwise_conv2d", "DepthwiseConv2d", "is_depthwise_conv", "convert", "StripConv2d"):
        assert hasattr(cute_dwconv, name), name
        assert name in cute_dwconv.__all__, name


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
    expected = F.conv2d(x, torch.empty((c, 1) + tuple(kernel), device="meta"), None, tuple(stride), tuple(padding),
                        tuple(dilation), c)
    assert tuple(expected.shape) == (n, c, ho, wo)
    return tuple(expected.shape)


META_SHAPES = [(2, 3, 17, 16), (1, 4, 1, 9), (3, 2, 40, 7), (0, 3, 8, 8), (2, 5, 60, 33)]
META_KERNELS = [(1, 1), (3, 3), (2, 3), (5, 5), (7, 1), (1, 11), (31, 31), (51, 5), (5, 51)]
META_ARGS = list(itertools.product(
    [(1, 1), (2, 1), (1, 3), (2, 2)],
    [(0, 0), (1, 0), (3, 15), (25, 2), (2, 25), (2, 0, 1, 3), (0, 30, 0, 25)],
    [(1, 1), (2, 1), (1, 3)],
))


@pytest.mark.parametrize("kernel", META_KERNELS, ids=str)
@pytest.mark.parametrize("shape", META_SHAPES, ids=str)
def test_meta_shape_matches_conv2d(shape, kernel):
    x = torch.empty(shape, device="meta")
    weight = torch.empty((shape[1], 1) + kernel, device="meta")
    valid = 0
    for stride, padding, dilation in META_ARGS:
        expected = _meta_reference_shape(shape, kernel, stride, padding, dilation)
        context = f"{shape} kernel={kernel} stride={stride} padding={padding} dilation={dilation}"
        if expected is None:
            assert_rejects(lambda: ops.depthwise_conv2d(x, weight, None, list(stride), list(padding), list(dilation)),
                           r"output (height|width)", context)
            continue
        got = ops.depthwise_conv2d(x, weight, None, list(stride), list(padding), list(dilation))
        assert tuple(got.shape) == expected, context
        assert got.device.type == "meta" and got.dtype == x.dtype, context
        valid += 1
    if shape[2] > 1:
        assert valid > 0


@pytest.mark.parametrize("padding", [0, 2, (1, 3), "same", "valid"], ids=str)
def test_meta_python_entry_matches_conv2d(padding):
    x = torch.empty(2, 4, 23, 19, device="meta")
    for kernel in [(3, 3), (2, 4), (5, 1), (7, 7)]:
        weight = torch.empty((4, 1) + kernel, device="meta")
        for stride, dilation in [(1, 1), (1, (2, 1)), ((2, 1), 1)]:
            if padding == "same" and stride != 1:
                continue
            got = cute_dwconv.depthwise_conv2d(x, weight, None, stride, padding, dilation)
            expected = F.conv2d(x, weight, None, stride, padding, dilation, 4)
            assert got.shape == expected.shape, (kernel, stride, padding, dilation)


def test_meta_keeps_channels_last():
    for kernel in [(3, 3), (5, 1)]:
        x = torch.empty((2, 8, 16, 15), device="meta").contiguous(memory_format=torch.channels_last)
        out = ops.depthwise_conv2d(x, torch.empty((8, 1) + kernel, device="meta"), None, [1, 2], [1, 0], [1, 1])
        assert out.is_contiguous(memory_format=torch.channels_last), kernel
        x = torch.empty((2, 8, 16, 15), device="meta")
        out = ops.depthwise_conv2d(x, torch.empty((8, 1) + kernel, device="meta"), None, [1, 2], [1, 0], [1, 1])
        assert out.is_contiguous(), kernel


def test_meta_backward_operators():
    x = torch.empty((2, 6, 21, 19), device="meta")
    kernel = [5, 3]
    weight = torch.empty([6, 1] + kernel, device="meta")
    stride, padding, dilation = [2, 1], [1, 3, 0, 2], [1, 2]
    out_shape = _meta_reference_shape(x.shape, tuple(kernel), stride, padding, dilation)
    grad_out = torch.empty(out_shape, device="meta")
    assert ops.depthwise_conv2d(x, weight, None, stride, padding, dilation).shape == out_shape
    assert ops.depthwise_conv2d_grad_input(grad_out, weight, 21, 19, stride, padding, dilation).shape == x.shape
    grad_w, grad_b = ops.depthwise_conv2d_grad_weight(grad_out, x, kernel, stride, padding, dilation)
    assert grad_w.shape == weight.shape and grad_b.shape == (6,)
    assert grad_w.dtype == grad_b.dtype == torch.float32
    x16, g16 = x.bfloat16(), grad_out.bfloat16()
    assert ops._depthwise_conv2d_float_params(x16, weight, None, stride, padding, dilation).dtype == torch.bfloat16
    assert ops._depthwise_conv2d_grad_input_float_params(g16, weight, 21, 19, stride, padding,
                                                         dilation).dtype == torch.bfloat16
    grad_w, grad_b = ops._depthwise_conv2d_grad_weight_float_params(g16, x16, kernel, stride, padding, dilation)
    assert grad_w.shape == weight.shape and grad_w.dtype == grad_b.dtype == torch.float32


def test_meta_autograd():
    """Autograd through the operator on meta tensors: the gradients' shapes and dtypes."""
    x = torch.empty((2, 6, 21, 19), device="meta", requires_grad=True)
    weight = torch.empty((6, 1, 5, 3), device="meta", requires_grad=True)
    bias = torch.empty((6,), device="meta", requires_grad=True)
    out = cute_dwconv.depthwise_conv2d(x, weight, bias, (2, 1), (2, 1), (1, 2))
    grads = torch.autograd.grad(out, [x, weight, bias], torch.empty_like(out))
    assert [g.shape for g in grads] == [x.shape, weight.shape, bias.shape]


def test_fake_tensor_mode():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        x = torch.empty(4, 6, 32, 30)
        for kernel in [(5, 5), (3, 7), (31, 31), (1, 5)]:
            weight = torch.empty((6, 1) + kernel)
            out = ops.depthwise_conv2d(x, weight, None, [2, 1], [15, 15], [1, 1])
            expected = F.conv2d(x, weight, None, (2, 1), (15, 15), (1, 1), 6)
            assert out.shape == expected.shape, kernel
