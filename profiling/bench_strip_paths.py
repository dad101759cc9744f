"""Benchmark: each forward kernel path of the strip operator on the same call, against the copy floor,
to choose between kernels (profiling/NOTES.md keeps the figures).

    python profiling/bench_strip_paths.py [--strips 1x7,1x21,1x11d3] [--dtypes bfloat16,float16]
                                          [--paths table,general,tensor_core] [--shape 16,64,256,256]
                                          [--float-params] [--channels-last]

A strip is "1xK" or "Kx1", with "dN" for dilation N, padded to keep the size ("same"), on NCHW x
into an NCHW output, through torch.ops.cute_dwconv._strip_conv2d_path_out; a path that cannot take
the call shows "-", one whose answer is off shows FAIL. --float-params hands float32 weight and bias
beside 16-bit x, as autocast calls the operator (_strip_conv2d_float_params: auto's path, whatever
--paths says). --channels-last hands x and the output in channels_last.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def parse_strip(text: str):
    """'1x21d3' -> ((1, 21), 3)."""
    match = re.fullmatch(r"(\d+)x(\d+)(?:d(\d+))?", text)
    if not match or 1 not in (int(match.group(1)), int(match.group(2))):
        raise SystemExit(f"--strips: expected 1xK or Kx1 with an optional dN, got '{text}'")
    return (int(match.group(1)), int(match.group(2))), int(match.group(3) or 1)


def main() -> int:
    from cute_dwconv.benchmarking import L2Flusher, conv_bytes, copy_bandwidth, inputs_to_rotate, time_ms

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strips", default="1x3,1x5,1x7,1x11,1x21,1x31,1x5d2,1x11d3,1x17d3")
    parser.add_argument("--dtypes", default="bfloat16,float16")
    parser.add_argument("--paths", default="auto,table,general,tensor_core")
    parser.add_argument("--shape", default="16,64,256,256")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--float-params", action="store_true", help="float32 weight and bias (autocast's)")
    parser.add_argument("--channels-last", action="store_true", help="x and the output in channels_last")
    args = parser.parse_args()

    device = torch.device("cuda")
    flusher = L2Flusher(device)
    bandwidth = copy_bandwidth(device)
    shape = tuple(int(v) for v in args.shape.split(","))
    paths = args.paths.split(",")
    params = "; float32 weight and bias" if args.float_params else ""
    params += "; channels_last" if args.channels_last else ""
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    print(f"copy {bandwidth / 1e9:.0f} GB/s; x {shape}{params}; ms (% of the copy floor)")
    print(f"{'strip':<10} {'dtype':<9} " + " ".join(f"{p:>16}" for p in paths))
    for text in args.strips.split(","):
        kernel, dilation = parse_strip(text)
        padding = [(k - 1) * dilation // 2 for k in kernel]
        for dtype_name in args.dtypes.split(","):
            dtype = DTYPES[dtype_name]
            x = torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=layout)
            param_dtype = torch.float32 if args.float_params else dtype
            weight = torch.randn(shape[1], 1, *kernel, device=device, dtype=param_dtype) / max(kernel)
            bias = torch.randn(shape[1], device=device, dtype=param_dtype)
            reference = F.conv2d(x.double(), weight.double(), bias.double(), 1, padding, dilation, shape[1])
            out = torch.empty(reference.shape, device=device, dtype=dtype).contiguous(memory_format=layout)
            floor_ms = conv_bytes(x, reference.shape) / bandwidth * 1e3
            xs = inputs_to_rotate(lambda: x.clone(memory_format=layout), x.numel() * x.element_size(), device)
            cells = []
            for path in paths:
                def run(i, path=path):
                    if args.float_params:  # auto's choice only: the float-parameter operator has no path
                        return torch.ops.cute_dwconv._strip_conv2d_float_params(xs[i % len(xs)], weight, bias, [1, 1],
                                                                                padding, [dilation, dilation])
                    torch.ops.cute_dwconv._strip_conv2d_path_out(xs[i % len(xs)], weight, bias, [1, 1], padding,
                                                                 [dilation, dilation], path, out)
                    return out
                try:
                    got = run(0).double()
                except RuntimeError:
                    cells.append("-")
                    continue
                error = ((got - reference).abs().max() / reference.abs().max()).item()
                ms = time_ms(run, repeats=args.repeats, flusher=flusher)
                flag = "" if error < (1e-4 if dtype == torch.float32 else 2e-2) else " FAIL"
                cells.append(f"{ms:.4f} ({100 * floor_ms / ms:.0f}%){flag}")
            print(f"{text:<10} {dtype_name:<9} " + " ".join(f"{cell:>16}" for cell in cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
