"""Host cost per call: the CPU time one converted layer costs against the nn.Conv2d it replaces.

    python profiling/host_cost.py [--calls 2000] [--json out.json] [--profile]

A tiny input (2x12x7x7) keeps the GPU far ahead of the host, so each call's wall time on the host is
its CPU time. Each figure is the median over --calls calls, timed one at a time with
time.perf_counter_ns, ours and PyTorch's interleaved in 20 rounds (the order reversed each round) so
that drift hits both alike.

Rows, for a (1, K) and a (K, 1) layer (StripConv2d) and a 5x5 and a 3x3 layer (DepthwiseConv2d):
- forward: the module's forward, its parameters requiring grad (as in training);
- autocast forward: the same inside its own bf16 autocast region (weights cast once per call, as in a
  training step);
- forward + backward: forward, then backward from a fixed gradient (x requires grad too);
- autocast forward + backward: both inside one bf16 autocast region;
- bare op, forward: torch.ops.cute_dwconv.strip_conv2d.default (depthwise_conv2d for the windows)
  against F.conv2d, no module.

`--layers` adds, for ours, where the time goes: the operator with no autograd (checks, allocation,
planning, launch), then with autograd, then the Python entry, then the module. `--profile` prints
the torch profiler's CPU view of each mode for both.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cute_dwconv  # noqa: E402

SHAPE = (2, 12, 7, 7)
LAYERS = {"(1,11)": ((1, 11), (0, 5)), "(11,1)": ((11, 1), (5, 0)), "5x5": ((5, 5), (2, 2)), "3x3": ((3, 3), (1, 1))}


def our_entries(layer: nn.Module):
    """(the operator a converted layer calls, its Python entry): the strip ones for strip layers."""
    if cute_dwconv.modules.is_strip_conv(layer):
        return torch.ops.cute_dwconv.strip_conv2d.default, cute_dwconv.strip_conv2d
    return torch.ops.cute_dwconv.depthwise_conv2d.default, cute_dwconv.depthwise_conv2d


def autocast():
    return torch.autocast("cuda", dtype=torch.bfloat16)


def per_call_us(calls_by_name: dict, calls: int, rounds: int = 20) -> dict:
    """Median microseconds per call of each callable, timed in interleaved rounds (the order turned
    around every round) after a warm-up of every callable, so that caches, plans, the allocator's
    pools and the CPU's clock are settled for all of them alike."""
    samples = {name: [] for name in calls_by_name}
    for _ in range(2):
        for fn in calls_by_name.values():
            for _ in range(200):
                fn()
            torch.cuda.synchronize()
    per_round = max(1, calls // rounds)
    order = list(calls_by_name.items())
    for _ in range(rounds):
        for name, fn in order:
            times = samples[name]
            for _ in range(per_round):
                start = time.perf_counter_ns()
                fn()
                times.append(time.perf_counter_ns() - start)
            torch.cuda.synchronize()
        order.reverse()
    return {name: statistics.median(t) / 1e3 for name, t in samples.items()}


def layer_pair(kernel, padding):
    c = SHAPE[1]
    ref = nn.Conv2d(c, c, kernel, padding=padding, groups=c).cuda()
    ours = copy.deepcopy(ref)
    assert cute_dwconv.convert(ours) == [""], "the layer must convert"
    return ref, ours


def modes(ref: nn.Module, ours: nn.Module) -> dict:
    """mode -> (PyTorch's call, ours)."""
    x = torch.randn(SHAPE, device="cuda")
    x_grad = x.clone().requires_grad_(True)
    g = torch.randn_like(ref(x))
    g16 = g.bfloat16()

    def forward(layer):
        return lambda: layer(x)

    def autocast_forward(layer):
        def run():
            with autocast():
                return layer(x)
        return run

    def forward_backward(layer):
        return lambda: layer(x_grad).backward(g)

    def autocast_forward_backward(layer):
        def run():
            with autocast():
                y = layer(x_grad)
            y.backward(g16)
        return run

    stride, dilation = list(ref.stride), list(ref.dilation)
    padding = list(ref.padding)
    op, _ = our_entries(ours)
    return {
        "forward": (forward(ref), forward(ours)),
        "autocast forward": (autocast_forward(ref), autocast_forward(ours)),
        "forward + backward": (forward_backward(ref), forward_backward(ours)),
        "autocast forward + backward": (autocast_forward_backward(ref), autocast_forward_backward(ours)),
        "bare op, forward": (
            lambda: F.conv2d(x, ref.weight, ref.bias, ref.stride, ref.padding, ref.dilation, ref.groups),
            lambda: op(x, ours.weight, ours.bias, stride, padding, dilation)),
    }


def our_layers(ours: nn.Module) -> dict:
    """Our forward, one layer of the host path added at a time."""
    x = torch.randn(SHAPE, device="cuda")
    w, b = ours.weight, ours.bias
    w_const, b_const = w.detach(), b.detach()
    stride, padding, dilation = list(ours.stride), list(ours.padding), list(ours.dilation)
    op, entry = our_entries(ours)
    return {
        "op, no autograd": lambda: op(x, w_const, b_const, stride, padding, dilation),
        "op, autograd": lambda: op(x, w, b, stride, padding, dilation),
        entry.__name__: lambda: entry(x, w, b, ours.stride, ours.padding, ours.dilation),
        type(ours).__name__: lambda: ours(x),
        "empty_like (an allocation)": lambda: torch.empty_like(x),
    }


def profile_table(fn, calls: int = 200) -> str:
    for _ in range(20):
        fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per figure (median), at least 1000")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--layers", action="store_true", help="also time our host path layer by layer")
    parser.add_argument("--profile", action="store_true", help="print the profiler's CPU view of each mode")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("host_cost: needs a CUDA GPU")
        return 1
    torch.manual_seed(0)
    print(f"# host cost per call, {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"input {'x'.join(map(str, SHAPE))}, median of {args.calls} calls")
    rows, breakdown = [], {}
    for layer_name, (kernel, padding) in LAYERS.items():
        ref, ours = layer_pair(kernel, padding)
        for mode, (theirs_fn, ours_fn) in modes(ref, ours).items():
            us = per_call_us({"nn.Conv2d": theirs_fn, "ours": ours_fn}, args.calls)
            rows.append({"layer": layer_name, "mode": mode, "nn_conv2d_us": us["nn.Conv2d"], "ours_us": us["ours"]})
            if args.profile:
                for who, fn in (("nn.Conv2d", theirs_fn), ("ours", ours_fn)):
                    print(f"\n## profiler, {layer_name} {mode}, {who}\n{profile_table(fn)}")
        if args.layers:
            breakdown[layer_name] = per_call_us(our_layers(ours), args.calls)

    print(f"\n| layer | mode | nn.Conv2d µs | ours µs | ours / nn.Conv2d |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['layer']} | {r['mode']} | {r['nn_conv2d_us']:.1f} | {r['ours_us']:.1f} | "
              f"{r['ours_us'] / r['nn_conv2d_us']:.2f} |")
    for layer_name, layers in breakdown.items():
        print(f"\n| ours, {layer_name}, forward | µs per call |\n|---|---:|")
        for name, us in layers.items():
            print(f"| {name} | {us:.1f} |")
    worst = max(r["ours_us"] / r["nn_conv2d_us"] for r in rows)
    print(f"\nworst ours / nn.Conv2d: {worst:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                         "calls": args.calls, "rows": rows, "layers": breakdown}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
