"""Nsight Compute profile of our forward kernel on the headline problem (or another bench case).

    python profiling/ncu.py [--out profiling/out] [--case headline] [--kernel-regex fwd_tiled]

Runs ncu (full set, clock control off, warm-up launches skipped) on a child process of this script,
writes <case>.ncu-rep, then prints duration, DRAM throughput, achieved occupancy, registers, shared
memory and the top warp-stall reasons."""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

WARMUP_CALLS = 3

SUMMARY_METRICS = {
    "gpu__time_duration.sum": "duration",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed": "DRAM throughput (% of peak)",
    "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed": "DRAM throughput (% of peak)",
    "dram__bytes_read.sum": "DRAM bytes read",
    "dram__bytes_write.sum": "DRAM bytes written",
    "sm__warps_active.avg.pct_of_peak_sustained_active": "achieved occupancy (%)",
    "sm__maximum_warps_per_active_cycle_pct": "theoretical occupancy (%)",
    "launch__registers_per_thread": "registers per thread",
    "launch__shared_mem_per_block_dynamic": "dynamic shared memory per block",
    "launch__block_size": "threads per block",
    "launch__grid_size": "blocks",
}


def run_target(case_name: str) -> None:
    """The profiled workload: warm-up calls, then the call ncu records."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch

    from bench import CASES
    from cute_dwconv import ModelNew

    case = next(c for c in CASES if c.name == case_name)
    dtype = getattr(torch, case.dtype)
    model = ModelNew(case.shape[1], case.k, case.stride, case.padding, case.dilation, case.bias).cuda().to(dtype)
    x = torch.rand(case.shape, device="cuda", dtype=dtype)
    if case.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(WARMUP_CALLS):
            model(x)
        with torch.cuda.nvtx.range(f"cute_dwconv_{case_name}"):
            model(x)
    torch.cuda.synchronize()


def raw_metrics(report: Path) -> dict:
    text = subprocess.run(["ncu", "--import", str(report), "--page", "raw", "--csv"], check=True,
                          capture_output=True, text=True).stdout
    rows = list(csv.reader(io.StringIO(text)))
    header, units, values = rows[0], rows[1], rows[2]
    return {name: (value, unit) for name, unit, value in zip(header, units, values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    parser.add_argument("--kernel-regex", default="fwd_tiled")
    parser.add_argument("--case", default="headline", help="a case name from bench.py")
    parser.add_argument("--target", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.target:
        run_target(opts.case)
        return 0
    if shutil.which("ncu") is None:
        print("ncu.py: Nsight Compute (ncu) is not on the PATH", file=sys.stderr)
        return 2
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    report = out / f"{opts.case}.ncu-rep"
    subprocess.run(["ncu", "--clock-control", "none", "--kernel-name", f"regex:{opts.kernel_regex}",
                    "--launch-skip", str(WARMUP_CALLS), "--launch-count", "1", "--set", "full",
                    "-f", "-o", str(report.with_suffix("")), sys.executable, __file__, "--target", "--case", opts.case], check=True)
    metrics = raw_metrics(report)
    print(f"kernel: {metrics.get('Kernel Name', ('?', ''))[0]}")
    for name, label in SUMMARY_METRICS.items():
        if name in metrics:
            value, unit = metrics[name]
            print(f"{label:34s} {value} {unit}")
    scale = {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "ns": 1e-9, "us": 1e-6, "usecond": 1e-6,
             "ms": 1e-3, "msecond": 1e-3, "nsecond": 1e-9}
    try:
        moved = sum(float(metrics[m][0].replace(",", "")) * scale[metrics[m][1]]
                    for m in ("dram__bytes_read.sum", "dram__bytes_write.sum"))
        seconds = float(metrics["gpu__time_duration.sum"][0].replace(",", "")) * scale[metrics["gpu__time_duration.sum"][1]]
        print(f"{'DRAM bandwidth (read + write)':34s} {moved / seconds / 1e9:.0f} GB/s")
    except (KeyError, ValueError):
        pass
    stalls = []
    prefix, suffix = "smsp__average_warps_issue_stalled_", "_per_issue_active.ratio"
    for name, (value, _) in metrics.items():
        if name.startswith(prefix) and name.endswith(suffix) and "not_issued" not in name:
            try:
                stalls.append((float(value), name[len(prefix):-len(suffix)]))
            except ValueError:
                pass
    print("top warp-stall reasons (warps stalled per issued instruction):")
    for value, reason in sorted(stalls, reverse=True)[:6]:
        print(f"  {reason:28s} {value:.3f}")
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
