"""Benchmark: each forward kernel of the window family on the same call, beside PyTorch's best layout
and the floor, to choose between kernels (profiling/NOTES.md keeps the figures).

    python profiling/bench_window_paths.py [--cases convnext7x7,mscan3x3] [--dtypes float32,bfloat16]
                                           [--paths channels_last_tile,channels_last_l1,tiled,tensor_core,planes,
                                                    channels_last_tensor_core]

Each path runs on x in the layout it reads (channels_last_* on channels_last, tiled on NCHW) into an
output of the same layout, through torch.ops.cute_dwconv._depthwise_conv2d_path_out; a path that
cannot take a call shows "-". The path "float_params" is what autocast runs on NCHW: 16-bit x with
float32 weight and bias (torch.ops.cute_dwconv._depthwise_conv2d_float_params, whichever kernel
auto picks; float32 x shows "-"). Cases are bench_depthwise.py's, plus the strips of bench_strip.py's
first table on 16x64x256x256 (their channels_last forms run on the window kernels when forced).
% floor = max(copy floor, FMA floor) / time, as in bench_depthwise.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "profiling"))

from bench_depthwise import DTYPES, ROWS, Row, _rel_error  # noqa: E402

STRIP_ROWS = [
    Row("strip1x7", "(1,7)", (16, 64, 256, 256), (1, 7)),
    Row("strip7x1", "(7,1)", (16, 64, 256, 256), (7, 1)),
    Row("strip21x1", "(21,1)", (16, 64, 256, 256), (21, 1)),
    Row("strip1x21", "(1,21)", (16, 64, 256, 256), (1, 21)),
]
NHWC_PATHS = ("channels_last", "channels_last_tile", "channels_last_l1", "channels_last_tensor_core")


def main() -> int:
    from cute_dwconv.benchmarking import L2Flusher, copy_bandwidth, conv_bytes, inputs_to_rotate, time_ms
    from fma_rate import measure_fma_rate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rows = {r.name: r for r in ROWS + STRIP_ROWS}
    parser.add_argument("--cases", default="mscan3x3,segnext5x5,convnext7x7,mobilenet3x3s2")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--paths", default="channels_last_tile,channels_last_l1,tiled")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-peer", action="store_true", help="leave PyTorch out (sweeps of one path's settings)")
    args = parser.parse_args()

    device = torch.device("cuda")
    torch.backends.cudnn.allow_tf32 = False
    flusher = L2Flusher(device)
    bandwidth = copy_bandwidth(device)
    fmas_per_s = measure_fma_rate(device)
    paths = args.paths.split(",")
    print(f"copy {bandwidth / 1e9:.0f} GB/s, FP32 FMA {fmas_per_s / 1e12:.1f} T/s; ms (% floor)")
    peers = [] if args.no_peer else ["pytorch"]
    print(f"{'case':<16} {'dtype':<9} " + " ".join(f"{p:>22}" for p in paths) +
          ("" if args.no_peer else f" {'PyTorch best':>22}"))
    for name in args.cases.split(","):
        row = rows[name]
        n, c, h, w = row.shape
        for dtype_name in args.dtypes.split(","):
            dtype = DTYPES[dtype_name]
            out_shape = row.out_shape()
            weight = torch.randn(c, 1, *row.kernel, device=device, dtype=dtype) / (row.kernel[0] * row.kernel[1])
            bias = torch.randn(c, device=device, dtype=dtype)
            stride, padding = [row.stride] * 2, list(row.padding)
            x_nchw = torch.randn(row.shape, device=device, dtype=dtype)
            floor_ms = max(conv_bytes(x_nchw, out_shape) / bandwidth,
                           n * c * out_shape[2] * out_shape[3] * row.kernel[0] * row.kernel[1] / fmas_per_s) * 1e3
            reference = F.conv2d(x_nchw.double(), weight.double(), bias.double(), row.stride, row.padding, 1, c)
            cells = []
            weight32, bias32 = weight.float(), bias.float()
            for path in paths + peers:
                fmts = ([torch.contiguous_format, torch.channels_last] if path == "pytorch" else
                        [torch.channels_last if path in NHWC_PATHS else torch.contiguous_format])
                best = None
                for fmt in fmts:
                    xs = inputs_to_rotate(lambda: x_nchw.contiguous(memory_format=fmt).clone(),
                                          x_nchw.numel() * x_nchw.element_size(), device)
                    out = torch.empty(out_shape, device=device, dtype=dtype).contiguous(memory_format=fmt)
                    if path == "pytorch":
                        def run(i, xs=xs):
                            return F.conv2d(xs[i % len(xs)], weight, bias, row.stride, row.padding, 1, c)
                    elif path == "float_params":
                        if dtype == torch.float32:
                            continue

                        def run(i, xs=xs):
                            return torch.ops.cute_dwconv._depthwise_conv2d_float_params(
                                xs[i % len(xs)], weight32, bias32, stride, padding, [1, 1])
                    else:
                        def run(i, xs=xs, out=out, path=path):
                            torch.ops.cute_dwconv._depthwise_conv2d_path_out(xs[i % len(xs)], weight, bias, stride,
                                                                             padding, [1, 1], path, out)
                            return out
                    try:
                        got = run(0)
                    except RuntimeError:
                        continue
                    error = _rel_error(got, reference)
                    ms = time_ms(run, repeats=args.repeats, flusher=flusher)
                    flag = "" if error < (1e-3 if dtype == torch.float32 else 3e-2) else " FAIL"
                    if best is None or ms < best[0]:
                        best = (ms, flag)
                cells.append("-" if best is None else f"{best[0]:.4f} ({100 * floor_ms / best[0]:.0f}%){best[1]}")
            print(f"{name:<16} {dtype_name:<9} " + " ".join(f"{cell:>22}" for cell in cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
