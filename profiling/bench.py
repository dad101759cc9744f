"""Benchmark: cute_dwconv against the copy-bandwidth floor and its peers (PyTorch eager,
torch.compile of the reference Model, the autotuned Triton peer), side by side on one GPU.

    python profiling/bench.py [--runs 2] [--json out.json] [--cases headline,strip_k21] [--no-compile]

Every time is the median over many runs timed with CUDA events, with L2 flushed before each run and
inputs rotated when they would fit in L2. Small cases are also timed as CUDA-graph replays."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for peers/

import cute_dwconv  # noqa: E402
from cute_dwconv import Model, ModelNew  # noqa: E402
from cute_dwconv.benchmarking import (L2Flusher, conv_bytes, copy_bandwidth, inputs_to_rotate,  # noqa: E402
                                      time_graph_ms, time_ms)


@dataclass
class Case:
    name: str
    shape: tuple
    k: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    bias: bool = False
    dtype: str = "float32"
    channels_last: bool = False


CASES = [
    Case("headline", (64, 8, 512, 512), 3),
    Case("small_16x3x256", (16, 3, 256, 256), 3),
    Case("c64_k3_p1_bias", (32, 64, 128, 128), 3, padding=1, bias=True),
    Case("k7_d2_p6_bias", (64, 8, 512, 512), 7, padding=6, dilation=2, bias=True),
    Case("k3_s2_p1", (64, 8, 512, 512), 3, stride=2, padding=1),
    Case("strip_k21_p10", (16, 64, 128, 128), 21, padding=10),
    Case("headline_fp16", (64, 8, 512, 512), 3, dtype="float16"),
    Case("headline_bf16", (64, 8, 512, 512), 3, dtype="bfloat16"),
    Case("headline_channels_last", (64, 8, 512, 512), 3, channels_last=True),
]

GRAPH_TIMING_BELOW_BYTES = 64 << 20

# Training: forward + backward (grad_input, grad_weight and grad_bias where the case has a bias).
BACKWARD_CASES = ["headline", "c64_k3_p1_bias", "k7_d2_p6_bias", "k3_s2_p1", "strip_k21_p10", "headline_bf16"]


def _tolerance(dtype):
    return {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]


def run_case(case: Case, bandwidth: float, flusher: L2Flusher, use_compile: bool, use_triton: bool) -> dict:
    device = torch.device("cuda")
    dtype = getattr(torch, case.dtype)
    init = (case.shape[1], case.k, case.stride, case.padding, case.dilation, case.bias)
    torch.manual_seed(0)
    reference = Model(*init).to(device, dtype)
    torch.manual_seed(0)
    ours = ModelNew(*init).to(device, dtype)
    conv = reference.conv2d
    fmt = torch.channels_last if case.channels_last else torch.contiguous_format

    def make_x():
        return torch.rand(case.shape, device=device, dtype=dtype).contiguous(memory_format=fmt)

    x = make_x()
    args = (conv.weight, conv.bias, case.stride, case.padding, case.dilation)
    out_shape = cute_dwconv.output_shape(case.shape, case.k, case.stride, case.padding, case.dilation)
    moved = conv_bytes(x, out_shape, conv.weight, conv.bias)
    xs = inputs_to_rotate(make_x, x.numel() * x.element_size(), device)
    floor_ms = moved / bandwidth * 1e3

    impls = {
        "cute_dwconv": lambda xi: ours(xi),
        "eager": lambda xi: reference(xi),
    }
    if use_compile:
        torch._dynamo.reset()  # each case compiles afresh instead of piling up recompilations
        compiled = torch.compile(reference)
        impls["torch.compile"] = lambda xi: compiled(xi)
    if use_triton:
        from peers.triton_dwconv import dwconv_kx1_triton

        impls["triton"] = lambda xi: dwconv_kx1_triton(xi, *args)
    if case.name == "headline":  # the fixed-shape instantiation against the dynamic one
        out = torch.empty(out_shape, device=device, dtype=dtype)
        for path in ("fixed_shape", "table"):
            impls[f"cute_dwconv[{path}]"] = (
                lambda xi, path=path: torch.ops.cute_dwconv._dwconv_kx1_path_out(xi, *args, path, out))

    result = {"case": asdict(case), "bytes": moved, "floor_ms": floor_ms, "ms": {}, "graph_ms": {}, "rel_error": {}}
    # A device-to-device copy of the same bytes, timed the same way: what a kernel of this size can
    # reach at best once launch, ramp-up and the drain of the last wave are counted, which the floor
    # (from a 1 GB copy) leaves out.
    src = torch.empty(moved // 2, dtype=torch.uint8, device=device).random_(0, 255)
    dst = torch.empty_like(src)
    result["copy_ms"] = time_ms(lambda i: dst.copy_(src), flusher=flusher)
    del src, dst
    with torch.no_grad():
        expected = F.conv2d(x.double(), conv.weight.double(), None if conv.bias is None else conv.bias.double(),
                            case.stride, case.padding, case.dilation, case.shape[1])
        for name, fn in impls.items():
            got = fn(x)
            if got is not None:
                err = ((got.double() - expected).norm() / expected.norm()).item()
                result["rel_error"][name] = err  # ||ours - ref|| / ||ref||
                if not err < _tolerance(dtype):
                    print(f"  WARNING {case.name}/{name}: relative error {err:.2e}", file=sys.stderr)
            result["ms"][name] = time_ms(lambda i, fn=fn: fn(xs[i % len(xs)]), flusher=flusher)
            if moved < GRAPH_TIMING_BELOW_BYTES and not name.startswith("torch.compile"):
                result["graph_ms"][name] = time_graph_ms(lambda fn=fn: fn(x), flusher=flusher)
    return result


def run_backward_case(case: Case, bandwidth: float, flusher: L2Flusher) -> dict:
    """Times eager and our autograd backward (and forward + backward) on one gradient, and each of
    our backward kernels against its own floor: grad_input reads grad_out and writes grad_input;
    grad_weight (with grad_bias) reads grad_out and x."""
    device = torch.device("cuda")
    dtype = getattr(torch, case.dtype)
    init = (case.shape[1], case.k, case.stride, case.padding, case.dilation, case.bias)
    torch.manual_seed(0)
    reference = Model(*init).to(device, dtype)
    ours = ModelNew(*init).to(device, dtype)
    ours.load_state_dict(reference.state_dict())
    x = torch.rand(case.shape, device=device, dtype=dtype).requires_grad_()
    conv = ours.conv2d
    out_shape = cute_dwconv.output_shape(case.shape, case.k, case.stride, case.padding, case.dilation)
    grad_out = torch.randn(out_shape, device=device, dtype=dtype)
    size = lambda shape: torch.Size(shape).numel() * x.element_size()  # noqa: E731
    floors = {"grad_input": (size(out_shape) + size(case.shape)) / bandwidth * 1e3,
              "grad_weight": (size(out_shape) + size(case.shape)) / bandwidth * 1e3}
    params = [x] + list(ours.parameters())

    result = {"case": asdict(case), "floor_ms": floors, "ms": {}, "rel_error": {}}
    outs = {"eager": reference(x), "cute_dwconv": ours(x)}
    grads = {}
    for name, module in (("eager", reference), ("cute_dwconv", ours)):
        inputs = [x] + list(module.parameters())
        out = outs[name]
        grads[name] = torch.autograd.grad(out, inputs, grad_out, retain_graph=True)
        result["ms"][f"{name} backward"] = time_ms(
            lambda i, out=out, inputs=inputs: torch.autograd.grad(out, inputs, grad_out, retain_graph=True),
            flusher=flusher)
        result["ms"][f"{name} forward+backward"] = time_ms(
            lambda i, module=module, inputs=inputs: torch.autograd.grad(module(x), inputs, grad_out),
            flusher=flusher)
    for i, label in enumerate(["grad_input", "grad_weight", "grad_bias"][:len(params)]):
        expected, got = grads["eager"][i].double(), grads["cute_dwconv"][i].double()
        result["rel_error"][label] = ((got - expected).norm() / expected.norm()).item()

    ops = torch.ops.cute_dwconv
    with torch.no_grad():
        result["ms"]["grad_input kernel"] = time_ms(
            lambda i: ops.dwconv_kx1_grad_input(grad_out, conv.weight, case.shape[2], case.shape[3], case.stride,
                                                case.padding, case.dilation), flusher=flusher)
        result["ms"]["grad_weight kernels"] = time_ms(
            lambda i: ops.dwconv_kx1_grad_weight(grad_out, x, case.k, case.stride, case.padding, case.dilation),
            flusher=flusher)
    return result


def backward_markdown(results: list) -> str:
    lines = [
        "| case | eager bwd ms | ours bwd ms | bwd speedup | eager fwd+bwd ms | ours fwd+bwd ms | grad_input ms "
        "| % of its floor | grad_weight+bias ms | % of its floor | max rel. error |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ms, fl = r["ms"], r["floor_ms"]
        lines.append(
            f"| {r['case']['name']} | {ms['eager backward']:.3f} | {ms['cute_dwconv backward']:.3f} | "
            f"{ms['eager backward'] / ms['cute_dwconv backward']:.2f}x | {ms['eager forward+backward']:.3f} | "
            f"{ms['cute_dwconv forward+backward']:.3f} | {ms['grad_input kernel']:.3f} | "
            f"{100 * fl['grad_input'] / ms['grad_input kernel']:.1f}% | {ms['grad_weight kernels']:.3f} | "
            f"{100 * fl['grad_weight'] / ms['grad_weight kernels']:.1f}% | {max(r['rel_error'].values()):.1e} |")
    return "\n".join(lines)


def markdown(results: list, bandwidth: float) -> str:
    lines = [
        f"copy bandwidth (read + write): {bandwidth / 1e9:.0f} GB/s",
        "",
        "| case | MB moved | floor ms | same-size copy ms | cute_dwconv ms | GB/s | % of floor | ours / copy "
        "| eager ms | compile ms | triton ms | speedup vs eager | ours / triton |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fmt = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
    for r in results:
        ms = r["ms"]
        ours = ms["cute_dwconv"]
        triton_ms = ms.get("triton")
        lines.append(
            f"| {r['case']['name']} | {r['bytes'] / 1e6:.1f} | {r['floor_ms']:.3f} | {r['copy_ms']:.3f} | {ours:.3f} | "
            f"{r['bytes'] / ours / 1e6:.0f} | {100 * r['floor_ms'] / ours:.1f}% | {ours / r['copy_ms']:.3f} | "
            f"{fmt(ms.get('eager'))} | "
            f"{fmt(ms.get('torch.compile'))} | {fmt(triton_ms)} | {ms['eager'] / ours:.2f}x | "
            f"{ours / triton_ms if triton_ms else float('nan'):.3f} |")
    extra = [(r["case"]["name"], k, v) for r in results for k, v in r["ms"].items() if k.startswith("cute_dwconv[")]
    if extra:
        lines += ["", "| case | path | ms |", "|---|---|---:|"] + [f"| {c} | {k} | {v:.3f} |" for c, k, v in extra]
    graphs = [(r["case"]["name"], r["graph_ms"]) for r in results if r["graph_ms"]]
    if graphs:
        lines += ["", "CUDA-graph replay (launch cost hidden):", "", "| case | " + " | ".join(graphs[0][1]) + " |",
                  "|---|" + "---:|" * len(graphs[0][1])]
        lines += [f"| {c} | " + " | ".join(f"{v:.4f}" for v in g.values()) + " |" for c, g in graphs]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole table (to show the spread)")
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--json", default="", help="write every figure here")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--no-triton", action="store_true", help="skip the Triton peer")
    parser.add_argument("--no-backward", action="store_true", help="skip the forward + backward cases")
    parser.add_argument("--no-forward", action="store_true", help="skip the forward-only cases")
    opts = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench: needs a CUDA GPU", file=sys.stderr)
        return 2
    wanted = set(filter(None, opts.cases.split(",")))
    cases = [c for c in CASES if not wanted or c.name in wanted]
    device = torch.device("cuda")
    flusher = L2Flusher(device)
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "gpu": torch.cuda.get_device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
              "runs": []}
    for run in range(opts.runs):
        bandwidth = copy_bandwidth(device)
        results, backward = [], []
        for case in cases if not opts.no_forward else []:
            print(f"run {run + 1}: {case.name}", file=sys.stderr, flush=True)
            results.append(run_case(case, bandwidth, flusher, not opts.no_compile, not opts.no_triton))
        for case in cases if not opts.no_backward else []:
            if case.name in BACKWARD_CASES:
                print(f"run {run + 1}: {case.name} backward", file=sys.stderr, flush=True)
                backward.append(run_backward_case(case, bandwidth, flusher))
        report["runs"].append({"copy_bandwidth": bandwidth, "results": results, "backward": backward})
        print(f"\n### run {run + 1} of {opts.runs}: {report['gpu']}, torch {report['torch']}, CUDA {report['cuda']}\n")
        if results:
            print(markdown(results, bandwidth), flush=True)
        if backward:
            print("\nForward + backward (each backward kernel against its own floor):\n", flush=True)
            print(backward_markdown(backward), flush=True)
    if opts.json:
        Path(opts.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
