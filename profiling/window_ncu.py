"""Nsight Compute summary of the window kernels on one depthwise layer: time, DRAM throughput, FMA
pipe use, occupancy, registers and the top warp stalls of every window kernel one forward (and,
with --backward, one backward) launches.

    python profiling/window_ncu.py --kernel 7 --shape 64,96,56,56 [--dtype bfloat16] [--channels-last]
                                   [--stride 1] [--backward]
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

METRICS = {
    "gpu__time_duration.sum": "time",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed": "DRAM %",
    "sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active": "FMA pipe %",
    "sm__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active": "LSU %",
    "sm__inst_issued.avg.pct_of_peak_sustained_active": "issue %",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared.sum": "smem wavefronts",
    "l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum": "smem conflicts",
    "sm__warps_active.avg.pct_of_peak_sustained_active": "occupancy %",
    "launch__registers_per_thread": "regs",
    "launch__grid_size": "blocks",
    "smsp__average_warp_latency_issue_stalled_long_scoreboard.ratio": "stall long sb",
    "smsp__average_warp_latency_issue_stalled_short_scoreboard.ratio": "stall short sb",
    "smsp__average_warp_latency_issue_stalled_barrier.ratio": "stall barrier",
    "smsp__average_warp_latency_issue_stalled_math_pipe_throttle.ratio": "stall math",
    "smsp__average_warp_latency_issue_stalled_mio_throttle.ratio": "stall mio",
    "smsp__average_warp_latency_issue_stalled_lg_throttle.ratio": "stall lg",
    "smsp__average_warp_latency_issue_stalled_wait.ratio": "stall wait",
}


def run_target(opts) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import torch

    import cute_dwconv

    n, c, h, w = (int(v) for v in opts.shape.split(","))
    dtype = getattr(torch, opts.dtype)
    x = torch.randn(n, c, h, w, device="cuda", dtype=dtype)
    if opts.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(c, 1, opts.kernel, opts.kernel, device="cuda", dtype=dtype)
    x.requires_grad_(opts.backward)
    weight.requires_grad_(opts.backward)
    for step in range(3):  # the last is profiled (warm-up: kernel attributes, allocator)
        out = cute_dwconv.depthwise_conv2d(x, weight, None, opts.stride, opts.kernel // 2)
        if opts.backward:
            torch.autograd.grad(out, (x, weight), torch.ones_like(out))
    torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kernel", type=int, default=7)
    parser.add_argument("--shape", default="64,96,56,56")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--backward", action="store_true")
    parser.add_argument("--target", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.target:
        run_target(opts)
        return 0
    if shutil.which("ncu") is None:
        print("window_ncu.py: Nsight Compute (ncu) is not on the PATH", file=sys.stderr)
        return 2
    per_iteration = 3 if opts.backward else 1  # launches of our kernels per step, at most
    args = [sys.argv[0], "--target"] + [a for a in sys.argv[1:]]
    cmd = ["ncu", "--csv", "--clock-control", "none", "--kernel-name", "regex:window",
           "--launch-skip", str(2 * per_iteration), "--metrics", ",".join(METRICS), sys.executable] + args
    text = subprocess.run(cmd, capture_output=True, text=True).stdout
    rows = [r for r in csv.reader(io.StringIO(text[text.find('"ID"'):])) if r]
    if len(rows) < 2:
        print(text[-2000:])
        return 1
    header = rows[0]
    at = {name: header.index(name) for name in ("ID", "Kernel Name", "Metric Name", "Metric Unit", "Metric Value")}
    kernels: dict = {}
    for row in rows[1:]:
        key = (row[at["ID"]], row[at["Kernel Name"]].split("(")[0].split("<")[0].split("::")[-1])
        unit = row[at["Metric Unit"]]
        value = row[at["Metric Value"]] + (f" {unit}" if unit in ("usecond", "nsecond", "msecond") else "")
        kernels.setdefault(key, {})[row[at["Metric Name"]]] = value
    label = f"{opts.kernel}x{opts.kernel} {opts.shape} {opts.dtype} {'cl' if opts.channels_last else 'nchw'} s{opts.stride}"
    print(f"| {label} | kernel | " + " | ".join(METRICS.values()) + " |")
    print("|---|---|" + "---:|" * len(METRICS))
    for (launch, name), values in sorted(kernels.items(), key=lambda kv: int(kv[0][0])):
        cells = []
        for metric in METRICS:
            cells.append(values.get(metric, ""))
        print(f"| #{launch} | {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
