"""Benchmark: the two gradients of a depthwise window one at a time, ours against PyTorch's, each
against its copy floor, so that a slow one cannot hide inside bench_depthwise.py's forward+backward.

    python profiling/bench_window_grads.py [--cases mscan3x3,convnext7x7] [--dtypes float32,bfloat16]
                                           [--layouts nchw,channels_last] [--json out.json]

Cases are bench_depthwise.py's. Per case, dtype and layout:
  - grad_input: torch.ops.cute_dwconv.depthwise_conv2d_grad_input against aten's
    convolution_backward asked for the input gradient only; floor: grad_out read + grad_x written;
  - grad_weight: torch.ops.cute_dwconv.depthwise_conv2d_grad_weight (weight and bias) against
    convolution_backward asked for those two only; floor: grad_out read + x read.
PyTorch runs in the case's layout (cuDNN's choice for it). Timing as bench_depthwise.py: CUDA events,
L2 flushed, the median of up to 50 runs. Each of our gradients is checked against PyTorch's in float32
(relative error above 1e-3, or 3e-2 for 16-bit: FAIL).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "profiling"))

import cute_dwconv  # noqa: E402,F401
from bench_depthwise import ROWS, _rel_error, _tolerance, timed_ms  # noqa: E402
from cute_dwconv.benchmarking import L2Flusher, copy_bandwidth  # noqa: E402

ops = torch.ops.cute_dwconv
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def run_case(row, dtype, layout: str, bandwidth: float, flusher, budget_ms: float) -> dict:
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    n, c, h, w = row.shape
    kh, kw = row.kernel
    stride, padding, dilation = [row.stride, row.stride], list(row.padding), [1, 1]
    x = torch.randn(row.shape, device="cuda", dtype=dtype).contiguous(memory_format=fmt)
    weight = torch.randn(c, 1, kh, kw, device="cuda", dtype=dtype) / (kh * kw) ** 0.5
    grad_out = torch.randn(row.out_shape(), device="cuda", dtype=dtype).contiguous(memory_format=fmt)
    size = x.element_size()

    def aten(mask):
        return torch.ops.aten.convolution_backward(grad_out, x, weight, [c], stride, padding, dilation, False,
                                                   [0, 0], c, mask)

    ours_input = lambda i: ops.depthwise_conv2d_grad_input(grad_out, weight, h, w, stride, padding, dilation)
    ours_weight = lambda i: ops.depthwise_conv2d_grad_weight(grad_out, x, [kh, kw], stride, padding, dilation)
    theirs_input = lambda i: aten([True, False, False])
    theirs_weight = lambda i: aten([False, True, True])

    result = {"case": row.name, "dtype": str(dtype).replace("torch.", ""), "layout": layout}
    tol = _tolerance(dtype)
    ref_input = theirs_input(0)[0]
    ref_weight, ref_bias = theirs_weight(0)[1:]
    got_weight, got_bias = ours_weight(0)
    errors = [_rel_error(ours_input(0), ref_input), _rel_error(got_weight, ref_weight), _rel_error(got_bias, ref_bias)]
    result["check"] = "ok" if max(errors) <= tol else f"FAIL {max(errors):.2e}"
    # Both gradients move the same bytes: grad_out read, and x's size read (grad_weight) or written
    # (grad_input).
    floor_ms = (grad_out.numel() + x.numel()) * size / bandwidth * 1e3
    for name, ours, theirs in (("grad_input", ours_input, theirs_input), ("grad_weight", ours_weight, theirs_weight)):
        ours_ms = timed_ms(ours, flusher, budget_ms)
        theirs_ms = timed_ms(theirs, flusher, budget_ms)
        result[name] = {"ours_ms": ours_ms, "pytorch_ms": theirs_ms, "floor_ms": floor_ms}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="mscan3x3,segnext5x5,convnext7x7,mobilenet3x3s2,replknet31x31")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--layouts", default="nchw,channels_last")
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_window_grads: needs a CUDA GPU")
        return 1
    torch.backends.cudnn.allow_tf32 = False
    rows = {r.name: r for r in ROWS}
    bandwidth = copy_bandwidth(torch.device("cuda"))
    flusher = L2Flusher(torch.device("cuda"))
    print(f"# window gradients, {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"copy bandwidth {bandwidth / 1e9:.0f} GB/s\n")
    print("| case | dtype | layout | gradient | ours ms | PyTorch ms | floor ms | ours % floor | PyTorch / ours | check |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---|")
    results = []
    for name in args.cases.split(","):
        for dtype_name in args.dtypes.split(","):
            for layout in args.layouts.split(","):
                r = run_case(rows[name], DTYPES[dtype_name], layout, bandwidth, flusher, args.budget_ms)
                results.append(r)
                for grad in ("grad_input", "grad_weight"):
                    f = r[grad]
                    print(f"| {name} | {dtype_name} | {layout} | {grad} | {f['ours_ms']:.3f} | {f['pytorch_ms']:.3f} | "
                          f"{f['floor_ms']:.3f} | {100 * f['floor_ms'] / f['ours_ms']:.1f}% | "
                          f"{f['pytorch_ms'] / f['ours_ms']:.2f} | {r['check']} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
