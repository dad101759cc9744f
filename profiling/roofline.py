"""Roofline of the depthwise windows: a PNG from a `bench_depthwise.py --json` file.

    python profiling/roofline.py bench_depthwise.json [--pass fwd] [--out profiling/roofline_windows.png]

x: FMAs per byte moved (the case's FMAs over the bytes of its copy floor); y: FMAs per second
achieved. The roof is the measured copy bandwidth times the intensity, capped by the measured FP32
FMA rate, both from the same run. Each case is drawn twice: ours (filled) and the better of
PyTorch's NCHW and channels_last runs (hollow), joined by a line. Needs matplotlib.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MARKERS = {("float32", "nchw"): "o", ("float32", "channels_last"): "s", ("bfloat16", "nchw"): "^",
           ("bfloat16", "channels_last"): "D", ("float16", "nchw"): "v", ("float16", "channels_last"): "P"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", type=Path)
    parser.add_argument("--pass", dest="which", default="fwd", choices=("fwd", "f+b"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "roofline_windows.png")
    opts = parser.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("roofline.py: needs matplotlib", file=sys.stderr)
        return 2

    data = json.loads(opts.json.read_text())
    run = data["runs"][0]
    bandwidth, fma_rate = run["copy_bandwidth"], run["fma_rate"]
    cases = sorted({r["case"] for r in run["results"]})
    colors = {case: plt.get_cmap("tab10")(i % 10) for i, case in enumerate(cases)}

    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=110)
    intensities = [r["fmas"][opts.which] / r["bytes"][opts.which] for r in run["results"]]
    lo, hi = min(intensities) / 2, max(intensities) * 2
    ridge = fma_rate / bandwidth
    xs = [lo, ridge, hi]
    ax.plot(xs, [min(fma_rate, x * bandwidth) / 1e12 for x in xs], color="black", linewidth=1.5)
    ax.annotate(f"copy {bandwidth / 1e9:.0f} GB/s", (lo * 1.1, lo * 1.3 * bandwidth / 1e12), fontsize=8)
    ax.annotate(f"FP32 FMA {fma_rate / 1e12:.1f} TFMA/s", (ridge * 1.1, fma_rate / 1e12 * 1.08), fontsize=8)

    for r in run["results"]:
        timing = r["passes"].get(opts.which) or {}
        ours_ms, theirs_ms = timing.get("ours_ms"), timing.get("pytorch_best_ms")
        if not ours_ms or not theirs_ms:
            continue
        x = r["fmas"][opts.which] / r["bytes"][opts.which]
        ours = r["fmas"][opts.which] / (ours_ms * 1e-3) / 1e12
        theirs = r["fmas"][opts.which] / (theirs_ms * 1e-3) / 1e12
        marker = MARKERS.get((r["dtype"], r["layout"]), "o")
        color = colors[r["case"]]
        ax.plot([x, x], [theirs, ours], color=color, linewidth=0.8, alpha=0.6)
        ax.scatter([x], [ours], marker=marker, color=color, s=36, zorder=3)
        ax.scatter([x], [theirs], marker=marker, facecolors="none", edgecolors=color, s=36, zorder=3)

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FMAs per byte moved")
    ax.set_ylabel("TFMA/s achieved")
    title = "forward" if opts.which == "fwd" else "forward + backward"
    ax.set_title(f"Depthwise windows, {title}: ours (filled) and PyTorch's best layout (hollow); "
                 f"{data.get('gpu', '')}, torch {data.get('torch', '')}", fontsize=9)
    case_handles = [plt.Line2D([], [], color=colors[c], marker="o", linestyle="", label=c) for c in cases]
    kind_handles = [plt.Line2D([], [], color="gray", marker=m, linestyle="", label=f"{d} {l}")
                    for (d, l), m in MARKERS.items()
                    if any(r["dtype"] == d and r["layout"] == l for r in run["results"])]
    ax.legend(handles=case_handles + kind_handles, fontsize=7, loc="lower right", ncol=2)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(opts.out)
    print(f"wrote {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
