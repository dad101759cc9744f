"""A representative set of calls for compute-sanitizer (see sanitize.sh): every forward dispatch
table entry, the general and direct paths, the fixed-shape instantiation, with padding, stride,
dilation, odd sizes and unaligned views; then the backward operators on each of their paths; then
the (kh, kw) window kernels and their gradients. Each
result is checked, so the run also fails on a wrong answer. Exits non-zero on any mismatch."""

from __future__ import annotations

import sys

import torch

import cute_dwconv
from conftest import (FLOAT_DTYPES, TOLERANCES, forward_channels_last_table, forward_table, random_problem, reference,
                      run_path, run_path_channels_last)

TILED_DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def one_element_past_alignment(x):
    """x's values in a view that starts one element past an aligned allocation."""
    return torch.cat([x.flatten()[:1], x.flatten()])[1:].view(x.shape)


def problem(shape, k, dtype, with_bias):
    """Random inputs drawn on the CPU and copied over: initcheck tracks copies exactly, while it does
    not follow every element that PyTorch's device-side random kernels write."""
    return tuple(None if t is None else t.to("cuda") for t in random_problem(shape, k, dtype, "cpu", with_bias))


def check(label, path, x, weight, bias, stride, padding, dilation, channels_last_out=False) -> bool:
    run = run_path_channels_last if channels_last_out else run_path
    out = run(path, x, weight, bias, stride, padding, dilation)
    torch.cuda.synchronize()
    expected = reference(x, weight, bias, stride, padding, dilation)
    ok = not torch.isnan(out).any() and torch.allclose(out.double(), expected, **TOLERANCES[x.dtype])
    if not ok:
        print(f"MISMATCH {label} path={path} dtype={x.dtype} stride={stride} padding={padding} dilation={dilation}")
    return ok


def check_backward(label, shape, k, dtype, stride, padding, dilation, input_path="auto") -> bool:
    x, w, _ = problem(shape, k, dtype, False)
    out_shape = cute_dwconv.output_shape(shape, k, stride, padding, dilation)
    grad_out = torch.randn(out_shape).to(dtype).to("cuda")
    ops = torch.ops.cute_dwconv
    grad_x = ops._dwconv_kx1_grad_input_path(grad_out, w, shape[2], shape[3], stride, padding, dilation, input_path)
    grad_w, grad_b = ops.dwconv_kx1_grad_weight(grad_out, x, k, stride, padding, dilation)
    torch.cuda.synchronize()
    xd, wd = x.double().requires_grad_(), w.double().requires_grad_()
    bd = torch.zeros(shape[1], dtype=torch.float64, device="cuda", requires_grad=True)
    reference_out = torch.nn.functional.conv2d(xd, wd, bd, stride, padding, dilation, shape[1])
    reference_out.backward(grad_out.double())
    tol = TOLERANCES[dtype]
    reduction = dict(rtol=tol["rtol"], atol=tol["atol"] * grad_out[:, 0].numel() ** 0.5)
    ok = (torch.allclose(grad_x.double(), xd.grad, **tol) and torch.allclose(grad_w.double(), wd.grad, **reduction)
          and torch.allclose(grad_b.double(), bd.grad, **reduction))
    if not ok:
        print(f"MISMATCH backward {label} dtype={dtype} K={k} stride={stride} padding={padding} dilation={dilation}")
    return ok


def check_float_params(dtype, kh, kw, stride, padding, layout) -> bool:
    """_strip_conv2d_float_params and its gradient operators against float64, on inputs drawn on
    the CPU (see problem); layout "odd" is a view one element past an aligned start."""
    ops = torch.ops.cute_dwconv
    width = 71 if layout == "odd" else 72
    x = torch.randn(2, 8, 21, width).to(dtype)
    if layout == "odd":
        x = one_element_past_alignment(x.to("cuda"))
    else:
        x = x.to("cuda")
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(8, 1, kh, kw).to("cuda")
    b = torch.randn(8).to("cuda")
    args = (list(stride), list(padding), [1, 1])
    out = ops._strip_conv2d_float_params(x, w, b, *args)
    grad_out = torch.randn(tuple(out.shape)).to(dtype).to("cuda")
    grad_x = ops._strip_conv2d_grad_input_float_params(grad_out, w, x.shape[2], x.shape[3], *args)
    grad_w, grad_b = ops._strip_conv2d_grad_weight_float_params(grad_out, x, [kh, kw], *args)
    torch.cuda.synchronize()
    xd, wd, bd = (t.double().requires_grad_() for t in (x, w, b))
    expected = torch.nn.functional.conv2d(xd, wd, bd, stride, padding, 1, 8)
    expected.backward(grad_out.double())
    tol = TOLERANCES[dtype]
    reduction = dict(rtol=2e-5, atol=2e-5 * grad_out[:, 0].numel() ** 0.5)  # float32 sums, kept float32
    ok = (torch.allclose(out.double(), expected.detach(), **tol) and torch.allclose(grad_x.double(), xd.grad, **tol)
          and grad_w.dtype == grad_b.dtype == torch.float32 and torch.allclose(grad_w.double(), wd.grad, **reduction)
          and torch.allclose(grad_b.double(), bd.grad, **reduction))
    if not ok:
        print(f"MISMATCH float params dtype={dtype} kernel=({kh}, {kw}) stride={stride} padding={padding} {layout}")
    return ok


def strip_problem(shape, kh, kw, dtype, with_bias):
    x = torch.randn(shape).to(dtype).to("cuda")
    w = torch.randn(shape[1], 1, kh, kw).to(dtype).to("cuda")
    b = torch.randn(shape[1]).to(dtype).to("cuda") if with_bias else None
    return x, w, b


def check_strip(label, path, x, w, b, stride, padding, dilation) -> bool:
    """strip_conv2d (either tap axis, per-axis arguments) through one path, into a poisoned output."""
    shape = torch.nn.functional.conv2d(x.double(), w.double(), None, stride, padding, dilation, x.shape[1]).shape
    out = torch.full(shape, float("nan"), dtype=x.dtype, device="cuda")
    if x.stride(1) == 1 and x.shape[1] > 1:  # channels_last x: out in its layout, as strip_conv2d gives it
        out = out.contiguous(memory_format=torch.channels_last)
    torch.ops.cute_dwconv._strip_conv2d_path_out(x, w, b, list(stride), list(padding), list(dilation), path, out)
    torch.cuda.synchronize()
    expected = torch.nn.functional.conv2d(x.double(), w.double(), None if b is None else b.double(), stride, padding,
                                          dilation, x.shape[1])
    ok = not torch.isnan(out).any() and torch.allclose(out.double(), expected, **TOLERANCES[x.dtype])
    if not ok:
        print(f"MISMATCH {label} path={path} dtype={x.dtype} weight={tuple(w.shape)} stride={stride} "
              f"padding={padding} dilation={dilation}")
    return ok


def check_strip_backward(label, x, w, stride, padding, dilation, input_path="auto") -> bool:
    ops = torch.ops.cute_dwconv
    args = (list(stride), list(padding), list(dilation))
    xd, wd = x.double().requires_grad_(), w.double().requires_grad_()
    bd = torch.zeros(x.shape[1], dtype=torch.float64, device="cuda", requires_grad=True)
    reference_out = torch.nn.functional.conv2d(xd, wd, bd, stride, padding, dilation, x.shape[1])
    grad_out = torch.randn(reference_out.shape).to(x.dtype).to("cuda")
    if x.stride(1) == 1 and x.shape[1] > 1:  # channels_last x: grad_out in its layout, as autograd gives it
        grad_out = grad_out.contiguous(memory_format=torch.channels_last)
    reference_out.backward(grad_out.double())
    grad_x = ops._strip_conv2d_grad_input_path(grad_out, w, x.shape[2], x.shape[3], *args, input_path)
    grad_w, grad_b = ops.strip_conv2d_grad_weight(grad_out, x, list(w.shape[2:]), *args)
    torch.cuda.synchronize()
    tol = TOLERANCES[x.dtype]
    reduction = dict(rtol=tol["rtol"], atol=tol["atol"] * grad_out[:, 0].numel() ** 0.5)
    ok = (torch.allclose(grad_x.double(), xd.grad, **tol) and torch.allclose(grad_w.double(), wd.grad, **reduction)
          and torch.allclose(grad_b.double(), bd.grad, **reduction))
    if not ok:
        print(f"MISMATCH strip backward {label} dtype={x.dtype} weight={tuple(w.shape)} stride={stride} "
              f"padding={padding} dilation={dilation}")
    return ok


def window_problem(shape, kh, kw, dtype, with_bias, channels_last=False):
    n, c, h, w = shape
    x = torch.randn(shape).to(dtype)
    weight = torch.randn((c, 1, kh, kw)).to(dtype)
    bias = torch.randn((c,)).to(dtype) if with_bias else None
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return tuple(None if t is None else t.to("cuda") for t in (x, weight, bias))


def check_window(label, path, x, w, b, stride, padding, dilation) -> bool:
    """depthwise_conv2d's window kernels through one forced path, into a NaN-filled output."""
    expected = torch.nn.functional.conv2d(x.double(), w.double(), None if b is None else b.double(), stride,
                                          padding, dilation, x.shape[1])
    out = torch.full(expected.shape, float("nan"), dtype=x.dtype, device="cuda")
    out = out.contiguous(memory_format=torch.channels_last) if path.startswith("channels_last") else out
    torch.ops.cute_dwconv._depthwise_conv2d_path_out(x, w, b, list(stride), list(padding), list(dilation), path, out)
    torch.cuda.synchronize()
    taps = w.shape[2] * w.shape[3]
    tol = {k: v * max(1.0, taps / 32) for k, v in TOLERANCES[x.dtype].items()}
    ok = not torch.isnan(out).any() and torch.allclose(out.double(), expected, **tol)
    if not ok:
        print(f"MISMATCH window {label} path={path} dtype={x.dtype} kernel={tuple(w.shape[2:])} stride={stride} "
              f"padding={padding} dilation={dilation}")
    return ok


def check_window_backward(label, x, w, stride, padding, dilation, float_params=False) -> bool:
    """The window gradient operators (flipped forward or gather; the weight gradient) against float64."""
    ops = torch.ops.cute_dwconv
    w_used = w.float() if float_params else w
    xd, wd = x.double().requires_grad_(), w_used.double().requires_grad_()
    bd = torch.zeros(x.shape[1], dtype=torch.float64, device="cuda", requires_grad=True)
    reference_out = torch.nn.functional.conv2d(xd, wd, bd, stride, padding, dilation, x.shape[1])
    grad_out = torch.randn(reference_out.shape).to(x.dtype).to("cuda")
    if x.stride(1) == 1 and x.shape[1] > 1:  # channels_last x: grad_out in its layout, as autograd gives it
        grad_out = grad_out.contiguous(memory_format=torch.channels_last)
    reference_out.backward(grad_out.double())
    args = (list(stride), list(padding), list(dilation))
    if float_params:
        grad_x = ops._depthwise_conv2d_grad_input_float_params(grad_out, w_used, x.shape[2], x.shape[3], *args)
        grad_w, grad_b = ops._depthwise_conv2d_grad_weight_float_params(grad_out, x, list(w.shape[2:]), *args)
    else:
        grad_x = ops.depthwise_conv2d_grad_input(grad_out, w, x.shape[2], x.shape[3], *args)
        grad_w, grad_b = ops.depthwise_conv2d_grad_weight(grad_out, x, list(w.shape[2:]), *args)
    torch.cuda.synchronize()
    tol = TOLERANCES[x.dtype]
    taps = w.shape[2] * w.shape[3]
    input_tol = {k: v * max(1.0, taps / 32) for k, v in tol.items()}
    reduction = dict(rtol=tol["rtol"], atol=tol["atol"] * grad_out[:, 0].numel() ** 0.5)
    ok = (torch.allclose(grad_x.double(), xd.grad, **input_tol) and torch.allclose(grad_w.double(), wd.grad, **reduction)
          and torch.allclose(grad_b.double(), bd.grad, **reduction))
    if not ok:
        print(f"MISMATCH window backward {label} dtype={x.dtype} kernel={tuple(w.shape[2:])} stride={stride}")
    return ok


def check_windows() -> bool:
    """Every window bucket (NCHW tiles and channels_last), the general tiles, the direct path, the
    copy to NCHW of long channels_last windows, and the gradients, with odd sizes and partial tiles."""
    ok = True
    for dtype in TILED_DTYPES:
        for kh, kw, s in [(3, 3, 1), (5, 5, 1), (7, 7, 1), (9, 13, 1), (31, 31, 1), (5, 51, 1), (3, 3, 2), (7, 5, 2)]:
            p = (kh // 2, kw // 2)
            for width in (37, 72):
                x, w, b = window_problem((2, 3, 21 + kh, width + kw), kh, kw, dtype, width == 37)
                ok &= check_window("tiled", "tiled", x, w, b, (s, s), p, (1, 1))
            if kw <= 7:
                x, w, b = window_problem((2, 12, 9 + kh, 11 + kw), kh, kw, dtype, True, channels_last=True)
                ok &= check_window("channels_last", "channels_last", x, w, b, (s, s), p, (1, 1))
                ok &= check_window("channels_last through L1", "channels_last_l1", x, w, b, (s, s), p, (1, 1))
                # a partial chunk of channels (20: 16 + 4 in float32, 8-byte copies at 16 bits)
                x, w, b = window_problem((2, 20, 9 + kh, 40 + kw), kh, kw, dtype, True, channels_last=True)
                ok &= check_window("channels_last staged", "channels_last_tile", x, w, b, (s, s), p, (1, 1))
                # small images stacked down a tile, the last stack part full
                x, w, b = window_problem((37, 20, 7, 9), kh, kw, dtype, True, channels_last=True)
                ok &= check_window("channels_last stacked", "channels_last_tile", x, w, b, (s, s), p, (1, 1))
        x, w, b = window_problem((2, 3, 30, 41), 4, 6, dtype, True)
        ok &= check_window("general tiles", "tiled", x, w, b, (2, 1), (1, 3), (2, 1))
        # Small planes stacked down a tile, the last stack part full: plain loads (7 wide), 16-byte
        # copies with exact windows, a window wider than its exact bucket, stride 2.
        for kh, kw, s, shape in [(7, 7, 1, (3, 37, 7, 7)), (7, 7, 1, (2, 41, 14, 16)), (3, 3, 1, (4, 50, 14, 8)),
                                 (5, 3, 1, (2, 33, 9, 24)), (3, 3, 2, (2, 45, 14, 16)), (5, 5, 2, (3, 19, 13, 9))]:
            x, w, b = window_problem(shape, kh, kw, dtype, True)
            ok &= check_window("stacked planes", "tiled", x, w, b, (s, s), (kh // 2, kw // 2), (1, 1))
        # Whole small planes: the last block part full, a padding past the window, stride 2, and
        # 14-wide planes whose 16-bit chunks break across rows and planes.
        for k, s, pad, shape in [(7, 1, 3, (3, 37, 7, 7)), (3, 1, 3, (2, 7, 5, 9)), (5, 2, 2, (3, 19, 13, 9)),
                                 (7, 1, 3, (2, 41, 14, 14))]:
            x, w, b = window_problem(shape, k, k, dtype, True)
            ok &= check_window("whole planes", "planes", x, w, b, (s, s), (pad, pad), (1, 1))
            if (k, s) != (7, 2):  # and the weight gradient on the same planes, within its buckets
                x, w, _ = window_problem(shape, k, k, dtype, False)
                ok &= check_window_backward("nchw", x, w, (s, s), (pad, pad), (1, 1))
        # x one element past a 16-byte boundary: its run's ends copied apart from its chunks
        x, w, b = window_problem((2, 41, 14, 14), 7, 7, dtype, True)
        x = one_element_past_alignment(x)
        ok &= check_window("whole planes, unaligned", "planes", x, w, b, (1, 1), (3, 3), (1, 1))
        if dtype in (torch.float16, torch.bfloat16):  # tensor cores: every band depth, two row tiles
            for kh, kw, rows in [(3, 3, 70), (7, 7, 40), (13, 9, 30), (31, 31, 25), (5, 51, 20)]:
                x, w, b = window_problem((2, 3, rows, 72), kh, kw, dtype, True)
                ok &= check_window("tensor cores", "tensor_core", x, w, b, (1, 1), (kh // 2, kw // 2), (1, 1))
            # channels_last on tensor cores: both band depths, ragged row tiles and strips, two chunks
            for kh, kw in [(7, 7), (5, 25)]:
                x, w, b = window_problem((2, 16, 37, 70), kh, kw, dtype, True, channels_last=True)
                ok &= check_window("channels_last tensor cores", "channels_last_tensor_core", x, w, b, (1, 1),
                                   (kh // 2, kw // 2), (1, 1))
            # and their weight gradient: ragged row tiles and strips, two chunks; a tall window at one
            # block an SM
            for kh, kw, rows in [(7, 7, 37), (51, 5, 60)]:
                x, w, _ = window_problem((2, 16, rows, 70), kh, kw, dtype, False, channels_last=True)
                ok &= check_window_backward("channels_last tensor cores", x, w, (1, 1), (kh // 2, kw // 2), (1, 1))
        x, w, b = window_problem((2, 8, 40, 40), 11, 11, dtype, True, channels_last=True)
        ok &= check_window("channels_last copied to NCHW", "auto", x, w, b, (1, 1), (5, 5), (1, 1))
    for dtype in FLOAT_DTYPES:
        x, w, b = window_problem((2, 3, 17, 19), 3, 5, dtype, True)
        ok &= check_window("direct", "direct", x, w, b, (2, 1), (1, 2), (1, 2))
        for kh, kw, stride, padding in [(3, 3, (1, 1), (1, 1)), (5, 5, (2, 2), (2, 2)), (7, 3, (1, 2), (3, 0))]:
            x, w, _ = window_problem((2, 3, 23, 29), kh, kw, dtype, False)
            ok &= check_window_backward("nchw", x, w, stride, padding, (1, 1))
        # Weight gradients of 16-byte-aligned rows, of many channels (600), and of channels_last
        # windows 3, 5 and 7 wide.
        # (3, 3, 2) on 40 columns: grad_out rows of 20 (float32: whole 16-byte chunks), so the input
        # gradient stages them in 16-byte copies; (5, 5, 2) on 63 columns likewise with 32 (the
        # "nchw" calls above stage 15 columns element by element).
        for kh, kw, s, shape in [(5, 5, 1, (2, 3, 23, 32)), (7, 7, 1, (2, 600, 12, 16)), (3, 3, 2, (2, 5, 21, 40)),
                                 (5, 5, 2, (2, 3, 17, 63))]:
            x, w, _ = window_problem(shape, kh, kw, dtype, False)
            ok &= check_window_backward("nchw registers", x, w, (s, s), (kh // 2, kw // 2), (1, 1))
        # Planes past the whole-plane kernels' (more than 28 x 28 outputs): the register weight
        # gradient with grad_out staged at each padding's shift (1 and 3 elements, none at stride 2),
        # with x read at the padding's alignment where an aligned origin would cost a strip (64 and
        # 128 columns) and, for rows not whole 16-byte chunks (46 columns), grad_out loaded by the lanes.
        for kh, kw, s, pad, shape in [(3, 3, 1, 1, (2, 3, 37, 48)), (5, 5, 1, 2, (2, 3, 33, 64)),
                                      (7, 7, 1, 3, (2, 3, 40, 56)), (5, 5, 2, 2, (2, 3, 80, 64)),
                                      (3, 3, 1, 0, (2, 3, 37, 48)), (3, 3, 1, 1, (1, 3, 30, 64)),
                                      (3, 3, 1, 1, (1, 2, 9, 128))]:
            x, w, _ = window_problem(shape, kh, kw, dtype, False)
            ok &= check_window_backward("nchw staged grad_out", x, w, (s, s), (pad, pad), (1, 1))
        # Stacked small planes: the weight gradient's images of a channel, the stride-2 input
        # gradient's planes (grad_out rows of 8 float32: whole 16-byte chunks).
        # One image (1, 5, 28, 32): a stack of one keeps the whole tile.
        for k, s, shape in [(7, 1, (3, 37, 7, 8)), (5, 1, (5, 30, 16, 16)), (3, 2, (5, 24, 14, 16)),
                            (7, 1, (1, 5, 28, 32))]:
            x, w, _ = window_problem(shape, k, k, dtype, False)
            ok &= check_window_backward("nchw stacked", x, w, (s, s), (k // 2, k // 2), (1, 1))
        for k, s in [(3, 1), (5, 1), (7, 1), (3, 2), (5, 2)]:
            x, w, _ = window_problem((2, 8, 15, 13), k, k, dtype, False, channels_last=True)
            ok &= check_window_backward("channels_last", x, w, (s, s), (k // 2, k // 2), (1, 1))
            # a partial chunk of channels in the staged weight gradient (20: 16 + 4 in float32)
            x, w, _ = window_problem((3, 20, 17, 30), k, k, dtype, False, channels_last=True)
            ok &= check_window_backward("channels_last staged", x, w, (s, s), (k // 2, k // 2), (1, 1))
    for dtype in (torch.float16, torch.bfloat16):
        x, w, _ = window_problem((2, 8, 19, 21), 5, 5, dtype, False)
        ok &= check_window_backward("float params", x, w, (1, 1), (2, 2), (1, 1), float_params=True)
        # the input gradient on tensor cores, 16-bit and float32 weights (a head and a tail each)
        x, w, _ = window_problem((2, 4, 30, 48), 7, 7, dtype, False)
        ok &= check_window_backward("tensor cores", x, w, (1, 1), (3, 3), (1, 1))
        ok &= check_window_backward("tensor cores, float params", x, w, (1, 1), (3, 3), (1, 1), float_params=True)
        # the weight gradient on tensor cores: a row in two strips, a tall and a wide window
        for shape, kh, kw in (((1, 3, 20, 136), 7, 7), ((1, 2, 40, 40), 31, 31), ((1, 2, 12, 64), 5, 51)):
            x, w, _ = window_problem(shape, kh, kw, dtype, False)
            ok &= check_window_backward("weight gradient on tensor cores", x, w, (1, 1), (kh // 2, kw // 2), (1, 1))
    return ok


def main() -> int:
    torch.manual_seed(0)
    ok = True
    # Every table entry, with an aligned and a misaligned padding, on an odd height and a partial strip.
    for k, stride, dilation in sorted(forward_table()):
        for dtype in TILED_DTYPES:
            for padding in (0, 1, 3):
                x, w, b = problem((1, 2, 23 + k * dilation, 136), k, dtype, padding == 1)
                ok &= check(f"table K={k}", "table", x, w, b, stride, padding, dilation)
    # Rows only 8-byte aligned: staged with 8-byte copies.
    for dtype in TILED_DTYPES:
        width = 130 if dtype == torch.float32 else 132
        for k, stride, padding in [(3, 1, 1), (5, 2, 3)]:
            x, w, b = problem((1, 2, 27, width), k, dtype, True)
            ok &= check(f"8-byte rows K={k}", "table", x, w, b, stride, padding, 1)
            ok &= check(f"8-byte rows K={k}", "general", x, w, b, stride, padding, 1)
    for k, stride, dilation in sorted(forward_channels_last_table()):
        for dtype in TILED_DTYPES:
            for padding in (0, 1):
                x, w, b = problem((1, 12, 21 + k * dilation, 6), k, dtype, padding == 1)
                ok &= check(f"channels_last table K={k}", "table", x, w, b, stride, padding, dilation, True)
    # The general tiled path (run-time taps) and the direct path, including unaligned views.
    for dtype in FLOAT_DTYPES:
        for k, stride, padding, dilation in [(4, 1, 2, 1), (6, 3, 5, 2), (2, 2, 0, 3), (13, 1, 6, 1)]:
            x, w, b = problem((2, 3, 31, 72), k, dtype, True)
            if dtype != torch.float64:
                ok &= check("general", "general", x, w, b, stride, padding, dilation)
            ok &= check("direct", "direct", x, w, b, stride, padding, dilation)
            unaligned = one_element_past_alignment(x)
            ok &= check("auto unaligned", "auto", unaligned, w, b, stride, padding, dilation)
            channels_last = x.contiguous(memory_format=torch.channels_last)
            ok &= check("auto channels_last", "auto", channels_last, w, b, stride, padding, dilation)
    x, w, _ = problem((1, 1, 512, 512), 3, torch.float32, False)
    ok &= check("fixed shape", "fixed_shape", x, w, None, 1, 0, 1)
    # Backward: the flipped forward (tiled and direct), the gathering kernel, the window family's
    # stride-2 phases, and the weight gradient with 16-byte and element-wise runs, 4 and 16 taps per
    # walk, and more than 16 taps.
    for dtype in FLOAT_DTYPES:
        for k, stride, padding, dilation in [(3, 1, 0, 1), (3, 1, 1, 1), (5, 2, 2, 1), (7, 1, 3, 2), (21, 1, 10, 1)]:
            for width in (64, 45):
                shape = (2, 3, 30 + k * dilation, width)
                ok &= check_backward("auto", shape, k, dtype, stride, padding, dilation)
        ok &= check_backward("strided", (2, 3, 27, 40), 3, dtype, 1, 1, 1, input_path="strided")
        # stride 2 with grad_out rows of 32 columns: the window family's phases in one pass
        ok &= check_backward("stride-2 phases", (2, 3, 33, 62), 3, dtype, 2, 1, 1)
    # (1, K) kernels: every table entry with an aligned and misaligned column padding and a partial
    # strip, 8-byte rows, the general path, per-axis arguments; channels_last rows on the vertical
    # tiles; then their gradients (flipped forward, gathering kernel, weight gradient).
    for k, stride, dilation in sorted(forward_table()):
        for dtype in TILED_DTYPES:
            for padding in ((0, 0), (1, 3), (2, k // 2 * dilation)):
                x, w, b = strip_problem((1, 2, 9, 200), 1, k, dtype, padding[1] == 3)
                ok &= check_strip(f"horizontal table K={k}", "table", x, w, b, (2, stride), padding, (1, dilation))
    for dtype in TILED_DTYPES:
        width = 130 if dtype == torch.float32 else 132
        x, w, b = strip_problem((1, 2, 11, width), 1, 5, dtype, True)
        ok &= check_strip("horizontal 8-byte rows", "table", x, w, b, (1, 1), (0, 2), (1, 1))
        for k, stride, padding, dilation in [(4, 1, 2, 1), (6, 3, 5, 2), (13, 1, 6, 1)]:
            x, w, b = strip_problem((2, 3, 7, 72), 1, k, dtype, True)
            ok &= check_strip("horizontal general", "general", x, w, b, (1, stride), (1, padding), (1, dilation))
            ok &= check_strip("horizontal direct", "direct", x, w, b, (2, stride), (0, padding), (1, dilation))
        if dtype != torch.float32:  # the tensor cores: each band depth, 16- and 8-byte rows, a partial m-tile
            for k, padding, dilation, width in [(3, 1, 1, 264), (21, 10, 1, 300), (17, 25, 3, 132), (40, 5, 2, 100)]:
                x, w, b = strip_problem((1, 2, 9, width), 1, k, dtype, True)
                ok &= check_strip(f"horizontal tensor cores K={k}", "tensor_core", x, w, b, (2, 1), (1, padding),
                                  (1, dilation))
            # and the (K, 1) tensor cores: each band depth, rows that end inside a step, a strip the
            # image's edge cuts, element stores
            for k, padding, dilation, shape in [(3, 1, 1, (1, 2, 37, 264)), (21, 10, 1, (1, 2, 50, 136)),
                                                (17, 25, 3, (1, 2, 20, 128)), (40, 5, 2, (1, 2, 80, 64))]:
                x, w, b = strip_problem(shape, k, 1, dtype, True)
                ok &= check_strip(f"vertical tensor cores K={k}", "tensor_core", x, w, b, (1, 1), (padding, 0),
                                  (dilation, 1))
        x, w, b = strip_problem((2, 64, 9, 12), 1, 7, dtype, True)
        channels_last = x.contiguous(memory_format=torch.channels_last)
        ok &= check_strip("horizontal channels_last", "auto", channels_last, w, b, (1, 1), (0, 3), (1, 1))
        # Narrow image rows side by side in one strip (a part-full last group), and a channel slice.
        for c, k, dilation in [(12, 21, 1), (20, 11, 3)]:
            x, w, b = strip_problem((3, c, 5, 9 + dilation * (k - 1)), 1, k, dtype, True)
            channels_last = x.contiguous(memory_format=torch.channels_last)
            ok &= check_strip("horizontal narrow rows", "table", channels_last, w, b, (1, 1), (0, 1), (1, dilation))
        x, w, b = strip_problem((2, 40, 5, 30), 1, 11, dtype, True)
        sliced = x.contiguous(memory_format=torch.channels_last)[:, :12]
        ok &= check_strip("horizontal channel slice", "auto", sliced, w[:12], b[:12], (1, 1), (0, 5), (1, 1))
    x, w, b = strip_problem((2, 3, 40, 36), 7, 1, torch.float32, True)
    ok &= check_strip("vertical per-axis", "auto", x, w, b, (2, 1), (3, 0), (1, 1))
    for dtype in FLOAT_DTYPES:
        for kh, kw, stride, padding, dilation in [(1, 7, (1, 1), (0, 3), (1, 1)), (1, 11, (1, 1), (1, 4), (1, 2)),
                                                  (1, 5, (2, 2), (1, 2), (1, 1)), (7, 1, (1, 1), (3, 0), (1, 1)),
                                                  (11, 1, (1, 1), (15, 3), (3, 1)),   # staged rows
                                                  (1, 17, (1, 1), (1, 25), (1, 3))]:
            x, w, _ = strip_problem((2, 3, 13, 72), kh, kw, dtype, False)
            ok &= check_strip_backward("auto", x, w, stride, padding, dilation)
        x, w, _ = strip_problem((2, 3, 13, 40), 1, 5, dtype, False)
        ok &= check_strip_backward("strided", x, w, (1, 1), (0, 2), (1, 1), input_path="strided")
        # channels_last: the window register weight gradients (short strips), NCHW copies (long ones).
        for kh, kw, stride, padding, dilation in [(7, 1, (1, 1), (3, 0), (1, 1)), (1, 5, (2, 2), (0, 2), (1, 1)),
                                                  (21, 1, (1, 1), (10, 0), (1, 1)), (1, 11, (1, 1), (0, 15), (1, 3))]:
            x, w, _ = strip_problem((2, 8, 25, 30), kh, kw, dtype, False)
            channels_last = x.contiguous(memory_format=torch.channels_last)
            ok &= check_strip_backward("channels_last", channels_last, w, stride, padding, dilation)
    # Float32 weight and bias beside 16-bit x (autocast's operators): a table kernel of each axis,
    # the general, direct and channels_last paths, the flipped forward and gathering grad_input,
    # and float32 weight gradients.
    for dtype in (torch.float16, torch.bfloat16):
        for kh, kw, stride, padding, layout in [(7, 1, (1, 1), (3, 0), "nchw"), (1, 11, (1, 1), (0, 5), "nchw"),
                                                (1, 6, (1, 2), (0, 2), "nchw"), (33, 1, (1, 1), (16, 0), "nchw"),
                                                (5, 1, (1, 1), (2, 0), "channels_last"), (1, 5, (2, 2), (1, 2), "odd")]:
            ok &= check_float_params(dtype, kh, kw, stride, padding, layout)
    ok &= check_windows()
    print("all sanitizer calls matched the reference" if ok else "some calls MISMATCHED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
