"""Where a block's forward + backward spends its GPU time, kernel by kernel (torch.profiler), eager
against converted, for the blocks and strip layers of bench_strip.py.

    python profiling/profile_kernels.py [--cases inceptionnext_f32,segnext_bf16_autocast] [--rows 12]
"""

from __future__ import annotations

import argparse
import copy
import sys
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import cute_dwconv  # noqa: E402
from strip_blocks import InceptionNeXtMixer, SegNeXtAttention  # noqa: E402


def strip_layer(kernel, padding):
    return nn.Conv2d(64, 64, kernel, padding=padding, groups=64)


CASES = {
    "inceptionnext_f32": (lambda: InceptionNeXtMixer(96), (64, 96, 56, 56), None),
    "segnext_f32": (lambda: SegNeXtAttention(32), (16, 32, 128, 128), None),
    "segnext_bf16_autocast": (lambda: SegNeXtAttention(32), (16, 32, 128, 128), torch.bfloat16),
    "k21_h_f32": (lambda: strip_layer((1, 21), (0, 10)), (16, 64, 256, 256), None),
    "k21_h_bf16": (lambda: strip_layer((1, 21), (0, 10)).bfloat16(), (16, 64, 256, 256), "bf16-data"),
    "k11_h_f32": (lambda: strip_layer((1, 11), (0, 5)), (16, 64, 256, 256), None),
}


def kernel_table(model, x, autocast_dtype, rows: int) -> str:
    context = torch.autocast("cuda", dtype=autocast_dtype) if isinstance(autocast_dtype, torch.dtype) else nullcontext()

    def step():
        with context:
            out = model(x)
        out.float().square().mean().backward()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            step()
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="cuda_time_total", row_limit=rows, max_name_column_width=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--rows", type=int, default=12)
    opts = parser.parse_args()
    wanted = set(filter(None, opts.cases.split(",")))
    for name, (make, shape, autocast_dtype) in CASES.items():
        if wanted and name not in wanted:
            continue
        torch.manual_seed(0)
        eager = make().cuda()
        converted = copy.deepcopy(eager)
        cute_dwconv.convert(converted)
        dtype = torch.bfloat16 if autocast_dtype == "bf16-data" else torch.float32
        x = torch.randn(shape, device="cuda", dtype=dtype).requires_grad_()
        for label, model in (("eager", eager), ("converted", converted)):
            print(f"\n### {name}: {label} (5 forward + backward steps)\n")
            print(kernel_table(model, x, autocast_dtype, opts.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
