"""Benchmark: general depthwise convolutions (cute_dwconv.depthwise_conv2d) against PyTorch's
F.conv2d(groups=C), on layers of real networks, forward and forward + backward, against a floor.

    python profiling/bench_depthwise.py [--cases mscan3x3,replknet31x31] [--dtypes float32,bfloat16]
                                        [--layouts nchw,channels_last] [--no-backward] [--runs 1]
                                        [--json out.json] [--budget-ms 300] [--cudnn-benchmark]

Cases (padding K//2 unless given, so the output keeps the input's size; stride 1 unless given; bias):

    mscan3x3        3x3 (MSCAN MLP)          8x256x128x128
    segnext5x5      5x5 (SegNeXt attention)  8x32x128x128
    convnext7x7     7x7 (ConvNeXt)           64x96x56x56
    mobilenet3x3s2  3x3 stride 2 (MobileNet) 64x144x112x112, padding 1
    replknet31x31   31x31 (RepLKNet)         16x128x56x56, padding 15
    slak51x5        51x5 (SLaK)              16x64x56x56, padding (25, 2)
    slak5x51        5x51 (SLaK)              16x64x56x56, padding (2, 25)

The later stages of the same networks, on small planes:

    convnext7x7_28  7x7 (ConvNeXt stage 2)   64x192x28x28
    convnext7x7_14  7x7 (ConvNeXt stage 3)   64x384x14x14
    convnext7x7_7   7x7 (ConvNeXt stage 4)   64x768x7x7
    mscan5x5_16     5x5 (MSCAN-T stage 4)    8x256x16x16
    mscan3x3_32     3x3 (MSCAN-T stage 3 MLP) 8x640x32x32
    mscan5x5_32     5x5 (MSCAN-T stage 3)    8x160x32x32
    mobilenet3x3_28 3x3 (MobileNetV2 32-ch)  64x192x28x28
    mobilenet3x3_14 3x3 (MobileNetV2 96-ch)  64x576x14x14
    mobilenet3x3_7  3x3 (MobileNetV2 160-ch) 64x960x7x7
    mobilenet3x3s2_28  3x3 stride 2 (MobileNetV2 32-ch)  64x192x28x28
    mobilenet3x3s2_14  3x3 stride 2 (MobileNetV2 96-ch)  64x576x14x14

Each case runs in every --dtypes and --layouts: ours in that layout (its output follows x's memory
format), PyTorch in both NCHW and channels_last, the faster of its two beside ours (the table says
which). "fwd" is a forward under no_grad; "f+b" is forward + torch.autograd.grad of a fixed random
grad_out (in the output's layout) for x, weight and bias, all three requiring grad.

Timing is the project's (cute_dwconv.benchmarking): CUDA events around each run, L2 flushed (and the
GPU kept busy) before it, inputs rotated when they would fit in L2, the median of the runs. How many
runs adapts to the time one takes (--budget-ms per figure: 50 runs of a fast kernel, down to 3 of a
slow one), so the slow PyTorch cases do not dominate the wall time.

The floor of each figure is max(copy floor, FMA floor):
  - copy floor: the fewest bytes the pass must move at the measured device-to-device copy bandwidth
    (cute_dwconv.benchmarking.copy_bandwidth, read + written, measured once per --runs).
      forward  = x read + out written
      backward = grad_out read + x read (for grad_weight) + grad_x written
      f+b      = forward + backward
    Weight, bias and their gradients are left out (at most ~2% of the bytes, on the 31x31 case).
  - FMA floor: the FMAs at the measured FP32 FMA rate (profiling/fma_rate.py, once per --runs).
      forward  = N*C*Ho*Wo*Kh*Kw (every tap, padding included)
      backward = 2x forward (grad_input and grad_weight)
      f+b      = 3x forward
    16-bit cases use the FP32 rate too (their arithmetic runs in float32).
The table marks the bound: m (copy) or f (FMA). "% floor" = floor / time.

Correctness: once per case, ours' forward against F.conv2d in float32 (TF32 off) on the same
values, and ours' three gradients against float32 autograd; a relative error (||ours - ref|| /
||ref||) above 1e-3 (float32) or 3e-2 (16-bit), or an output not in x's memory format, marks the row
FAIL, an exception marks it ERROR (and its figures "-"), and the benchmark carries on. TF32 is off for cuDNN throughout (true float32 in both columns).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "profiling"))


@dataclass
class Row:
    name: str
    layer: str
    shape: tuple  # N, C, H, W
    kernel: tuple  # Kh, Kw
    stride: int = 1
    padding: tuple = None  # (ph, pw); None: (Kh // 2, Kw // 2)

    def __post_init__(self):
        if self.padding is None:
            self.padding = (self.kernel[0] // 2, self.kernel[1] // 2)

    def out_shape(self) -> tuple:
        n, c, h, w = self.shape
        (kh, kw), (ph, pw), s = self.kernel, self.padding, self.stride
        return (n, c, (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1)


ROWS = [
    Row("mscan3x3", "3x3 (MSCAN MLP)", (8, 256, 128, 128), (3, 3)),
    Row("segnext5x5", "5x5 (SegNeXt attention)", (8, 32, 128, 128), (5, 5)),
    Row("convnext7x7", "7x7 (ConvNeXt)", (64, 96, 56, 56), (7, 7)),
    Row("mobilenet3x3s2", "3x3 stride 2 (MobileNet)", (64, 144, 112, 112), (3, 3), stride=2, padding=(1, 1)),
    Row("replknet31x31", "31x31 (RepLKNet)", (16, 128, 56, 56), (31, 31), padding=(15, 15)),
    Row("slak51x5", "51x5 (SLaK)", (16, 64, 56, 56), (51, 5), padding=(25, 2)),
    Row("slak5x51", "5x51 (SLaK)", (16, 64, 56, 56), (5, 51), padding=(2, 25)),
    Row("convnext7x7_28", "7x7 (ConvNeXt stage 2)", (64, 192, 28, 28), (7, 7)),
    Row("convnext7x7_14", "7x7 (ConvNeXt stage 3)", (64, 384, 14, 14), (7, 7)),
    Row("convnext7x7_7", "7x7 (ConvNeXt stage 4)", (64, 768, 7, 7), (7, 7)),
    Row("mscan5x5_16", "5x5 (MSCAN-T stage 4)", (8, 256, 16, 16), (5, 5)),
    Row("mscan3x3_32", "3x3 (MSCAN-T stage 3 MLP)", (8, 640, 32, 32), (3, 3)),
    Row("mscan5x5_32", "5x5 (MSCAN-T stage 3)", (8, 160, 32, 32), (5, 5)),
    Row("mobilenet3x3_28", "3x3 (MobileNetV2, 32 channels x 6)", (64, 192, 28, 28), (3, 3)),
    Row("mobilenet3x3_14", "3x3 (MobileNetV2, 96 channels x 6)", (64, 576, 14, 14), (3, 3)),
    Row("mobilenet3x3_7", "3x3 (MobileNetV2, 160 channels x 6)", (64, 960, 7, 7), (3, 3)),
    Row("mobilenet3x3s2_28", "3x3 stride 2 (MobileNetV2, 32 channels x 6)", (64, 192, 28, 28), (3, 3), stride=2,
        padding=(1, 1)),
    Row("mobilenet3x3s2_14", "3x3 stride 2 (MobileNetV2, 96 channels x 6)", (64, 576, 14, 14), (3, 3), stride=2,
        padding=(1, 1)),
]

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}
LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last, "cl": torch.channels_last}
SHORT = {"nchw": "nchw", "channels_last": "cl"}
PASSES = ("fwd", "f+b")


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _tolerance(dtype) -> float:
    return 1e-3 if dtype == torch.float32 else 3e-2


def _rel_error(got, expected) -> float:
    expected = expected.double()
    return ((got.double() - expected).norm() / expected.norm().clamp_min(1e-30)).item()


def timed_ms(run, flusher, budget_ms: float) -> float:
    """Median ms of run(i) as cute_dwconv.benchmarking.time_ms takes it, the number of runs fitted to
    budget_ms: one untimed call (algorithm selection, allocation), one timed to estimate, then up to
    50 runs (at least 5; 3 where one run alone takes longer than the budget)."""
    from cute_dwconv.benchmarking import time_ms

    run(0)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    flusher()
    start.record()
    run(1)
    end.record()
    torch.cuda.synchronize()
    estimate = start.elapsed_time(end)
    if estimate >= budget_ms:
        return time_ms(run, repeats=3, warmup=0, flusher=flusher)
    repeats = int(min(50, max(5, budget_ms // (estimate + 0.2))))
    return time_ms(run, repeats=repeats, warmup=2 if estimate < 10 else 0, flusher=flusher)


def _bytes_and_fmas(row: Row, dtype) -> tuple:
    size = torch.tensor([], dtype=dtype).element_size()
    x = torch.Size(row.shape).numel() * size
    out = torch.Size(row.out_shape()).numel() * size
    fmas = torch.Size(row.out_shape()).numel() * row.kernel[0] * row.kernel[1]
    moved = {"fwd": x + out, "bwd": out + x + x}
    moved["f+b"] = moved["fwd"] + moved["bwd"]
    return moved, {"fwd": fmas, "bwd": 2 * fmas, "f+b": 3 * fmas}


def run_row(row: Row, dtype, layouts: list, backward: bool, bandwidth: float, fma_rate: float, flusher,
            budget_ms: float) -> list:
    """Every --layouts case of one row in one dtype: one result per layout of ours, sharing the
    PyTorch figures (both layouts) and the float32 reference."""
    import cute_dwconv

    device = torch.device("cuda")
    n, c, h, w = row.shape
    torch.manual_seed(0)
    weight = (torch.randn(c, 1, *row.kernel, device=device) / (row.kernel[0] * row.kernel[1]) ** 0.5).to(dtype)
    bias = torch.randn(c, device=device).to(dtype)
    weight.requires_grad_()
    bias.requires_grad_()
    params = [weight, bias]
    base = torch.randn(row.shape, device=device, dtype=dtype)
    grad_base = torch.randn(row.out_shape(), device=device, dtype=dtype)
    conv_args = (row.stride, row.padding, 1)

    def ours(xi):
        return cute_dwconv.depthwise_conv2d(xi, weight, bias, *conv_args)

    def pytorch(xi):
        return F.conv2d(xi, weight, bias, row.stride, row.padding, 1, c)

    moved, fmas = _bytes_and_fmas(row, dtype)
    floors, bound = {}, {}
    for p in PASSES:
        copy_ms, fma_ms = moved[p] / bandwidth * 1e3, fmas[p] / fma_rate * 1e3
        floors[p], bound[p] = max(copy_ms, fma_ms), ("m" if copy_ms >= fma_ms else "f")

    # float32 reference on the same values (NCHW: PyTorch's own depthwise kernel, true float32).
    reference = {}
    try:
        xf = base.detach().float().requires_grad_()
        wf, bf = weight.detach().float().requires_grad_(), bias.detach().float().requires_grad_()
        out = F.conv2d(xf, wf, bf, row.stride, row.padding, 1, c)
        reference["out"] = out.detach()
        if backward:
            reference["grads"] = [g.detach() for g in torch.autograd.grad(out, [xf, wf, bf], grad_base.float())]
        del xf, wf, bf, out
    except Exception as error:  # noqa: BLE001 (reported, not fatal)
        reference["error"] = f"{type(error).__name__}: {error}"

    torch_ms = {}  # (layout, pass) -> ms
    ours_ms = {}
    checks = {}
    for layout in ("nchw", "channels_last"):
        fmt = LAYOUTS[layout]
        first = base.contiguous(memory_format=fmt)
        xs = [first] + [torch.randn(row.shape, device=device, dtype=dtype).contiguous(memory_format=fmt)
                        for _ in range(max(0, _rotation(first, device) - 1))]
        for x in xs:
            x.requires_grad_()
        grad_out = grad_base.contiguous(memory_format=fmt)
        impls = [("pytorch", pytorch)]
        if layout in layouts:
            impls.insert(0, ("ours", ours))
            checks[layout] = _check(ours, first, grad_out, params, reference, dtype, backward)
        for who, fn in impls:
            if who == "ours" and checks[layout].get("forward_raised"):
                continue  # nothing to time
            target = ours_ms if who == "ours" else torch_ms

            def forward(i, fn=fn):
                with torch.no_grad():
                    return fn(xs[i % len(xs)])

            def forward_backward(i, fn=fn):
                xi = xs[i % len(xs)]
                return torch.autograd.grad(fn(xi), [xi] + params, grad_out)

            for p, run in (("fwd", forward), ("f+b", forward_backward)):
                if p == "f+b" and (not backward or (who == "ours" and checks[layout].get("backward_raised"))):
                    continue
                try:
                    target[(layout, p)] = timed_ms(run, flusher, budget_ms)
                except Exception as error:  # noqa: BLE001
                    print(f"  {row.name}/{_dtype_name(dtype)}/{layout}/{who} {p}: {type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''}", file=sys.stderr)
                    if who == "ours":
                        checks[layout]["status"] = "ERROR"
                        checks[layout]["errors"].append(f"{p}: {type(error).__name__}: {error}")
        del xs, first, grad_out
        torch.cuda.empty_cache()

    results = []
    for layout in [lay for lay in ("nchw", "channels_last") if lay in layouts]:
        result = {"case": row.name, "layer": row.layer, "shape": list(row.shape), "kernel": list(row.kernel),
                  "stride": row.stride, "padding": list(row.padding), "dtype": _dtype_name(dtype), "layout": layout,
                  "bytes": {p: moved[p] for p in PASSES}, "fmas": {p: fmas[p] for p in PASSES},
                  "floor_ms": floors, "bound": bound, "check": checks[layout], "passes": {}}
        for p in PASSES:
            if p == "f+b" and not backward:
                continue
            candidates = {lay: torch_ms[(lay, p)] for lay in ("nchw", "channels_last") if (lay, p) in torch_ms}
            best = min(candidates, key=candidates.get) if candidates else None
            result["passes"][p] = {
                "ours_ms": ours_ms.get((layout, p)),
                "pytorch_ms": {lay: candidates[lay] for lay in candidates},
                "pytorch_best_layout": best,
                "pytorch_best_ms": candidates[best] if best else None,
            }
        results.append(result)
    return results


def _rotation(x, device) -> int:
    """How many inputs to cycle through so that they do not hit in L2 (as inputs_to_rotate)."""
    l2 = torch.cuda.get_device_properties(device).L2_cache_size
    nbytes = x.numel() * x.element_size()
    return max(1, min(16, -(-3 * l2 // max(nbytes, 1))))


def _check(ours, x, grad_out, params, reference, dtype, backward: bool) -> dict:
    """Ours' forward (and gradients) on x against the float32 reference: {"status", "rel_error", "errors"}."""
    check = {"status": "ok", "rel_error": {}, "errors": []}
    if "error" in reference:
        check["status"] = "no ref"
        check["errors"].append(f"reference: {reference['error']}")
        return check
    tolerance = _tolerance(dtype)
    try:
        with torch.no_grad():
            out = ours(x)
        if out.shape != reference["out"].shape:
            raise RuntimeError(f"output shape {tuple(out.shape)}, expected {tuple(reference['out'].shape)}")
        check["rel_error"]["out"] = _rel_error(out, reference["out"])
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        check["output_layout_follows_x"] = out.is_contiguous(memory_format=fmt)
        del out
    except Exception as error:  # noqa: BLE001
        check["status"] = "ERROR"
        check["forward_raised"] = True
        check["errors"].append(f"forward: {type(error).__name__}: {error}")
        return check
    if backward and "grads" in reference:
        try:
            xg = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
            grads = torch.autograd.grad(ours(xg), [xg] + params, grad_out)
            for label, got, expected in zip(("grad_x", "grad_weight", "grad_bias"), grads, reference["grads"]):
                check["rel_error"][label] = _rel_error(got, expected)
            del xg, grads
        except Exception as error:  # noqa: BLE001
            check["status"] = "ERROR"
            check["backward_raised"] = True
            check["errors"].append(f"backward: {type(error).__name__}: {error}")
            return check
    failed = [k for k, v in check["rel_error"].items() if not v < tolerance]
    if failed:
        check["status"] = "FAIL"
        check["errors"].append("above tolerance: " + ", ".join(f"{k} {check['rel_error'][k]:.1e}" for k in failed))
    if not check["output_layout_follows_x"]:
        check["status"] = "FAIL"
        check["errors"].append("the output does not follow x's memory format")
    return check


def _fmt(v, digits=3) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}f}" if v < 100 else f"{v:.1f}"


def _pct(floor, ms) -> str:
    return f"{100 * floor / ms:.0f}%" if ms else "-"


def markdown(results: list, backward: bool) -> str:
    head = "| case | dtype | layout |"
    rule = "|---|---|---|"
    for p in PASSES if backward else PASSES[:1]:
        head += f" {p} floor | ours | % | PyTorch | % | speedup |"
        rule += "---:|---:|---:|---:|---:|---:|"
    lines = [head + " check |", rule + "---|"]
    for r in results:
        line = f"| {r['case']} | {r['dtype'].replace('float', 'fp').replace('bfp', 'bf')} | {SHORT[r['layout']]} |"
        for p, figures in r["passes"].items():
            floor, ours, best = r["floor_ms"][p], figures["ours_ms"], figures["pytorch_best_ms"]
            best_layout = SHORT.get(figures["pytorch_best_layout"], "-")
            speedup = f"{best / ours:.2f}x" if ours and best else "-"
            line += (f" {_fmt(floor)} {r['bound'][p]} | {_fmt(ours)} | {_pct(floor, ours)} | "
                     f"{_fmt(best)} {best_layout} | {_pct(floor, best)} | {speedup} |")
        check = r["check"]
        worst = max(check["rel_error"].values()) if check["rel_error"] else None
        status = check["status"] + (f" {worst:.0e}" if worst is not None and check["status"] != "ERROR" else "")
        lines.append(line + f" {status} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="", help=f"comma list of {', '.join(r.name for r in ROWS)} (default: all)")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma list of float32, bfloat16, float16")
    parser.add_argument("--layouts", default="nchw,channels_last",
                        help="ours' layouts, comma list of nchw, channels_last (PyTorch always runs both)")
    parser.add_argument("--no-backward", action="store_true", help="forward only")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole table (to show the spread)")
    parser.add_argument("--json", default="", help="write every figure here")
    parser.add_argument("--budget-ms", type=float, default=300.0,
                        help="GPU time to spend timing one figure (sets the number of runs, 3 to 50)")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="torch.backends.cudnn.benchmark on (PyTorch's default is off)")
    opts = parser.parse_args()

    names = [r.name for r in ROWS]
    wanted = [s for s in opts.cases.split(",") if s]
    if [s for s in wanted if s not in names]:
        parser.error(f"unknown cases {[s for s in wanted if s not in names]}; known: {', '.join(names)}")
    rows = [r for r in ROWS if not wanted or r.name in wanted]
    try:
        dtypes = list(dict.fromkeys(DTYPES[s] for s in opts.dtypes.split(",") if s))
        layouts = list(dict.fromkeys("channels_last" if s == "cl" else s for s in opts.layouts.split(",") if s))
        if any(lay not in LAYOUTS for lay in layouts):
            raise KeyError(opts.layouts)
    except KeyError as error:
        parser.error(f"unknown dtype or layout {error}")
    backward = not opts.no_backward

    if not torch.cuda.is_available():
        print("bench_depthwise: needs a CUDA GPU", file=sys.stderr)
        return 2
    try:
        import cute_dwconv
    except Exception as error:  # noqa: BLE001
        print(f"bench_depthwise: cannot import cute_dwconv ({type(error).__name__}: {error}); build it first "
              "(pip install --no-build-isolation -e .)", file=sys.stderr)
        return 2
    if not hasattr(cute_dwconv, "depthwise_conv2d"):
        print(f"bench_depthwise: this cute_dwconv ({Path(cute_dwconv.__file__).parent}) has no depthwise_conv2d: "
              "an older build or tree. Rebuild from a tree that has it (pip install --no-build-isolation -e .).",
              file=sys.stderr)
        return 2
    from cute_dwconv.benchmarking import L2Flusher, copy_bandwidth
    from fma_rate import measure_fma_rate_detailed

    device = torch.device("cuda")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = opts.cudnn_benchmark
    flusher = L2Flusher(device)
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "gpu": torch.cuda.get_device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
              "cudnn_benchmark": opts.cudnn_benchmark, "budget_ms": opts.budget_ms,
              "rows": [asdict(r) for r in rows], "runs": []}
    for run in range(opts.runs):
        bandwidth = copy_bandwidth(device)
        fma = measure_fma_rate_detailed(device)
        results = []
        for row in rows:
            for dtype in dtypes:
                print(f"run {run + 1}: {row.name} {_dtype_name(dtype)}", file=sys.stderr, flush=True)
                results += run_row(row, dtype, layouts, backward, bandwidth, fma["rate"], flusher, opts.budget_ms)
                torch.cuda.empty_cache()
        report["runs"].append({"copy_bandwidth": bandwidth, "fma_rate": fma["rate"], "fma_method": fma["method"],
                               "fma_sizes": fma["sizes"], "results": results})
        print(f"\n### run {run + 1} of {opts.runs}: {report['gpu']}, torch {report['torch']}, CUDA {report['cuda']}, "
              f"cudnn.benchmark {'on' if opts.cudnn_benchmark else 'off'}, TF32 off")
        print(f"copy bandwidth (read + write) {bandwidth / 1e9:.0f} GB/s; FP32 FMA rate {fma['rate'] / 1e12:.2f} "
              f"TFMA/s ({fma['method']})\n")
        for row in rows:
            print(f"- {row.name}: {row.layer}, {'x'.join(map(str, row.shape))}, kernel {row.kernel[0]}x{row.kernel[1]}, "
                  f"stride {row.stride}, padding {tuple(row.padding)}")
        print("\nms; floor = max(copy floor m, FMA floor f); % = floor / time; PyTorch: the faster of its nchw "
              "and cl runs; speedup = PyTorch / ours; check: worst relative error against float32\n")
        print(markdown(results, backward), flush=True)
        failures = [r for r in results if r["check"]["status"] != "ok"]
        for r in failures:
            print(f"  {r['case']}/{r['dtype']}/{r['layout']}: {r['check']['status']}: "
                  f"{'; '.join(e.splitlines()[0] for e in r['check']['errors'])}")
    if opts.json:
        Path(opts.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
