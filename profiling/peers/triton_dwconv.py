"""The Triton peer: a straightforward 2-D tiled Triton kernel for the same operation, autotuned over
tile height, tile width and warps. Each output tile loads its K shifted input tiles directly (the
caches absorb the re-reads), which is the obvious way to write this op in Triton."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

_CONFIGS = [
    triton.Config({"BLOCK_H": bh, "BLOCK_W": bw}, num_warps=nw)
    for bh in (4, 8, 16, 32)
    for bw in (64, 128, 256)
    for nw in (4, 8)
    if bh * bw <= 8192
]


@triton.autotune(configs=_CONFIGS, key=["H", "W", "Ho", "Wo", "K", "STRIDE", "PADDING", "DILATION", "sxh", "sxw"])
@triton.jit
def _dwconv_kx1_kernel(x_ptr, w_ptr, b_ptr, out_ptr, C, H, W, Ho, Wo,
                       sxn, sxc, sxh, sxw, son, soc, soh, sow,
                       K: tl.constexpr, STRIDE: tl.constexpr, PADDING: tl.constexpr, DILATION: tl.constexpr,
                       HAS_BIAS: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
    pid_w = tl.program_id(0)
    pid_h = tl.program_id(1)
    plane = tl.program_id(2).to(tl.int64)
    n = plane // C
    c = plane % C
    rows = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)
    cols = pid_w * BLOCK_W + tl.arange(0, BLOCK_W)
    in_cols = cols * STRIDE - PADDING
    col_ok = (cols < Wo) & (in_cols >= 0) & (in_cols < W)
    x_plane = x_ptr + n * sxn + c * sxc
    acc = tl.zeros((BLOCK_H, BLOCK_W), dtype=tl.float32)
    for k in tl.static_range(K):
        in_rows = rows * STRIDE - PADDING + k * DILATION
        row_ok = (rows < Ho) & (in_rows >= 0) & (in_rows < H)
        ptrs = x_plane + in_rows[:, None].to(tl.int64) * sxh + in_cols[None, :].to(tl.int64) * sxw
        xv = tl.load(ptrs, mask=row_ok[:, None] & col_ok[None, :], other=0.0)
        wk = tl.load(w_ptr + c * K + k)
        acc += xv.to(tl.float32) * wk.to(tl.float32)
    if HAS_BIAS:
        acc += tl.load(b_ptr + c).to(tl.float32)
    out_ptrs = out_ptr + n * son + c * soc + rows[:, None].to(tl.int64) * soh + cols[None, :].to(tl.int64) * sow
    tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=(rows < Ho)[:, None] & (cols < Wo)[None, :])


def dwconv_kx1_triton(x, weight, bias=None, stride=1, padding=0, dilation=1):
    n, c, h, w = x.shape
    k = weight.shape[2]
    ho = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    wo = (w + 2 * padding - 1) // stride + 1
    out = torch.empty((n, c, ho, wo), device=x.device, dtype=x.dtype,
                      memory_format=torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
                      and not x.is_contiguous() else torch.contiguous_format)
    weight = weight.reshape(c, k).contiguous()
    grid = lambda meta: (triton.cdiv(wo, meta["BLOCK_W"]), triton.cdiv(ho, meta["BLOCK_H"]), n * c)
    _dwconv_kx1_kernel[grid](x, weight, bias if bias is not None else weight, out, c, h, w, ho, wo,
                             *x.stride(), *out.stride(), K=k, STRIDE=stride, PADDING=padding, DILATION=dilation,
                             HAS_BIAS=bias is not None)
    return out
