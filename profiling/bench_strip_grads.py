"""Benchmark: the weight and bias gradients of strip layers, ours against PyTorch's, each against its
copy floor (grad_out read + x read).

    python profiling/bench_strip_grads.py [--cases k21_p10,segnext21x1] [--dtypes float32,bfloat16]
                                          [--json out.json]

Cases: the backward rows of bench.py (torch.ops.cute_dwconv.dwconv_kx1_grad_weight: nn.Conv2d's
(K, 1) with an int padding, which pads the columns too), and the strips of bench_strip.py's first
table on 16x64x256x256 with "same" padding along the taps (torch.ops.cute_dwconv.strip_conv2d_grad_weight),
NCHW. PyTorch: aten's convolution_backward asked for the weight and bias gradients. CUDA events, L2
flushed, the median of 50 runs. Each result is checked against PyTorch's in float32 (relative error
above 1e-3, or 3e-2 for 16-bit: FAIL). To time the L1 kernel that the staged-row kernel replaced,
run with CUTE_DWCONV_BWD_WEIGHT_STAGED_MIN_TAPS=1000.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cute_dwconv  # noqa: E402,F401
from cute_dwconv.benchmarking import L2Flusher, copy_bandwidth, time_ms  # noqa: E402

ops = torch.ops.cute_dwconv
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class StripCase:
    name: str
    shape: tuple
    kernel: tuple  # (kh, kw)
    padding: tuple  # (top, bottom, left, right)
    dilation: int = 1
    stride: int = 1


def _same(k: int, d: int, vertical: bool) -> tuple:
    reach = (k - 1) * d
    along = (reach // 2, reach - reach // 2)
    return along + (0, 0) if vertical else (0, 0) + along


def _strip(name: str, k: int, vertical: bool, d: int = 1) -> StripCase:
    kernel = (k, 1) if vertical else (1, k)
    return StripCase(name, (16, 64, 256, 256), kernel, _same(k, d, vertical), d)


CASES = [
    # bench.py's backward rows: an int padding pads both axes.
    StripCase("headline", (64, 8, 512, 512), (3, 1), (0, 0, 0, 0)),
    StripCase("c64_k3_p1", (32, 64, 128, 128), (3, 1), (1, 1, 1, 1)),
    StripCase("k7_d2_p6", (64, 8, 512, 512), (7, 1), (6, 6, 6, 6), dilation=2),
    StripCase("k3_s2_p1", (64, 8, 512, 512), (3, 1), (1, 1, 1, 1), stride=2),
    StripCase("k21_p10", (16, 64, 128, 128), (21, 1), (10, 10, 10, 10)),
    # bench_strip.py's first table, NCHW.
    _strip("strip7x1", 7, True), _strip("strip1x7", 7, False),
    _strip("strip21x1", 21, True), _strip("strip1x21", 21, False),
    _strip("lska11x1d3", 11, True, 3), _strip("lska1x11d3", 11, False, 3),
    _strip("lska17x1d3", 17, True, 3),
]


def run_case(case: StripCase, dtype, bandwidth: float, flusher) -> dict:
    n, c, h, w = case.shape
    kh, kw = case.kernel
    top, bottom, left, right = case.padding
    vertical = kw == 1
    x = torch.randn(case.shape, device="cuda", dtype=dtype)
    weight = torch.randn(c, 1, kh, kw, device="cuda", dtype=dtype)
    dilation = [case.dilation, 1] if vertical else [1, case.dilation]
    ho = (h + top + bottom - (kh - 1) * dilation[0] - 1) // case.stride + 1
    wo = (w + left + right - (kw - 1) * dilation[1] - 1) // case.stride + 1
    grad_out = torch.randn(n, c, ho, wo, device="cuda", dtype=dtype)
    stride = [case.stride, case.stride]
    ours = lambda i: ops.strip_conv2d_grad_weight(grad_out, x, [kh, kw], stride, list(case.padding), dilation)

    # PyTorch takes symmetric paddings; the cases' paddings are symmetric per axis or fall back to a pad.
    symmetric = top == bottom and left == right
    x_padded = x if symmetric else torch.nn.functional.pad(x, (left, right, top, bottom))
    aten_padding = [top, left] if symmetric else [0, 0]
    theirs = lambda i: torch.ops.aten.convolution_backward(grad_out, x_padded, weight, [c], stride, aten_padding,
                                                           dilation, False, [0, 0], c, [False, True, True])

    got_w, got_b = ours(0)
    ref_w, ref_b = theirs(0)[1:]
    error = max(((got.float() - ref.float()).norm() / ref.float().norm()).item()
                for got, ref in ((got_w, ref_w), (got_b, ref_b)))
    floor_ms = (grad_out.numel() + x.numel()) * x.element_size() / bandwidth * 1e3
    ours_ms = time_ms(ours, flusher=flusher)
    theirs_ms = time_ms(theirs, flusher=flusher)
    return {"case": case.name, "dtype": str(dtype).replace("torch.", ""), "ms": ours_ms, "pytorch_ms": theirs_ms,
            "floor_ms": floor_ms, "rel_error": error,
            "ok": error < (1e-3 if dtype == torch.float32 else 3e-2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(case.name for case in CASES))
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    cases = {case.name: case for case in CASES}
    device = torch.device("cuda")
    flusher = L2Flusher(device)
    bandwidth = copy_bandwidth(device)
    print(f"copy {bandwidth / 1e9:.0f} GB/s; grad_weight + grad_bias, ms (% of the copy floor)")
    print(f"{'case':<12} {'dtype':<9} {'ours':>16} {'PyTorch':>16} {'ours / PyTorch':>15}")
    results, failed = [], False
    for name in args.cases.split(","):
        for dtype_name in args.dtypes.split(","):
            r = run_case(cases[name], DTYPES[dtype_name], bandwidth, flusher)
            results.append(r)
            failed |= not r["ok"]
            print(f"{r['case']:<12} {r['dtype']:<9} {r['ms']:>8.4f} ({100 * r['floor_ms'] / r['ms']:4.1f}%) "
                  f"{r['pytorch_ms']:>8.4f} ({100 * r['floor_ms'] / r['pytorch_ms']:4.1f}%) "
                  f"{r['pytorch_ms'] / r['ms']:>14.2f}x" + ("" if r["ok"] else f"  FAIL {r['rel_error']:.1e}"))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
