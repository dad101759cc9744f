"""Whole networks: training steps (forward, loss, backward), eager against converted.

    python profiling/networks.py [--networks mscan_t,lska35,inception_next_tiny,convnext_tiny]
                                 [--modes fp32,bf16,fp32_cl,bf16_cl] [--strips-only] [--compile] [--graph]
                                 [--steps 10]
                                 [--json out.json]

For each network and mode it prints the wall time of one step (host clock around --steps steps, the
GPU synchronised at both ends; median of --repeats such runs, eager's and converted's interleaved) and the profiler's device time of one
step (every kernel's time added up), eager and converted side by side. Where the wall time is well
above the device time, the host is the limit: the step waits for the CPU to issue its work.

Modes: fp32 (float32), bf16 (float32 weights under bf16 autocast), each in NCHW or channels_last
(`_cl`: the model and the input in torch.channels_last). `--compile` adds each mode under
torch.compile (eager-compiled against converted-compiled); `--graph` adds each mode with the whole
step captured in a CUDA graph (both sides), which takes the host out of the step: a network of many
small layers whose step waits on the CPU shows there what its kernels give.

Converted: a deep copy of the model after `cute_dwconv.convert(model)`, which turns every depthwise
nn.Conv2d into ours (strips into StripConv2d, the others into DepthwiseConv2d); `--strips-only`
converts the strip layers only (`convert(model, strips_only=True)`, the behaviour of builds before
DepthwiseConv2d, whose convert() takes no strips_only and converts strips only whatever is asked:
the script says so when it runs one).

Networks: SegNeXt's MSCAN-T backbone (tests/mscan.py) at 8x3x512x512; lska35, the same backbone with
LSKA (k = 35: (1, 5)/(5, 1) and (1, 11)/(11, 1) at dilation 3) as its attention, as VAN-LSKA has it; timm's inception_next_tiny at
32x3x224x224 and convnext_tiny at 64x3x224x224 when timm is installed (profiling/requirements-networks.txt).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import inspect
import json
import statistics
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # mscan, strip_blocks

import cute_dwconv  # noqa: E402
from mscan import backbone_loss, lska_backbone, mscan_t  # noqa: E402


@dataclass
class Network:
    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple
    loss: Callable  # (output, labels) -> scalar


def classification_loss(logits, labels):
    return F.cross_entropy(logits.float(), labels)


def networks() -> dict:
    found = {
        "mscan_t": Network("mscan_t", mscan_t, (8, 3, 512, 512), lambda out, labels: backbone_loss(out)),
        "lska35": Network("lska35", lambda: lska_backbone(35), (8, 3, 512, 512), lambda out, labels: backbone_loss(out)),
    }
    try:
        import timm
    except ImportError:
        return found
    # convnext_tiny at the batch its target is set at (64); inception_next_tiny at the one its earlier
    # figures were measured at (32).
    for name, batch in (("inception_next_tiny", 32), ("convnext_tiny", 64)):
        found[name] = Network(name, lambda name=name: timm.create_model(name, pretrained=False), (batch, 3, 224, 224),
                              classification_loss)
    return found


def converts_all_depthwise() -> bool:
    """Whether this build's convert() turns every depthwise layer into ours (it takes strips_only)."""
    try:
        return "strips_only" in inspect.signature(cute_dwconv.convert).parameters
    except (TypeError, ValueError):
        return hasattr(cute_dwconv, "DepthwiseConv2d")


def convert(model: nn.Module, strips_only: bool) -> dict:
    """Converts `model` in place: {"names": converted layers, "strip": how many StripConv2d, "other":
    how many other converted layers (DepthwiseConv2d)}."""
    if converts_all_depthwise():
        names = cute_dwconv.convert(model, strips_only=strips_only)
    else:
        names = cute_dwconv.convert(model)  # an older build: strip layers only
    names = list(names or [])
    modules = dict(model.named_modules())
    strip = sum(1 for n in names if isinstance(modules.get(n), cute_dwconv.StripConv2d))
    return {"names": names, "strip": strip, "other": len(names) - strip}


MODES = {
    "fp32": (None, False), "bf16": (torch.bfloat16, False),
    "fp32_cl": (None, True), "bf16_cl": (torch.bfloat16, True),
}


def make_step(model: nn.Module, net: Network, x: torch.Tensor, labels: torch.Tensor, dtype, graphed: bool = False):
    """One training step (forward, loss, backward). `graphed`: the step captured once in a CUDA graph
    and replayed, so that the host issues one launch per step (the gradients are written, not
    accumulated, in the graph's memory on each replay)."""
    def body():
        # Autocast's weight-cast cache would keep tensors of the capture alive across replays.
        with torch.autocast("cuda", dtype=dtype, cache_enabled=not graphed) if dtype is not None else nullcontext():
            loss = net.loss(model(x), labels)
        loss.backward()

    def step():
        body()
        model.zero_grad(set_to_none=True)

    if not graphed:
        return step
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the capture stream: lazy init, cudnn's benchmark, plans
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        body()
    return graph.replay


def wall_ms(steps_by_name: dict, steps: int, repeats: int) -> dict:
    """Median wall milliseconds of one step of each, from `repeats` timed runs of `steps` steps,
    the runs of the two interleaved (the order turned around each time) so that drift in the host's
    speed hits both alike."""
    for step in steps_by_name.values():
        for _ in range(3):
            step()
    runs = {name: [] for name in steps_by_name}
    order = list(steps_by_name.items())
    for _ in range(repeats):
        for name, step in order:
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(steps):
                step()
            torch.cuda.synchronize()
            runs[name].append((time.perf_counter() - start) * 1e3 / steps)
        order.reverse()
    return {name: statistics.median(r) for name, r in runs.items()}


def device_ms(step, steps: int = 3) -> float:
    """The profiler's device time of one step: every kernel's duration, added up."""
    step()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                            torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    kernels = [e for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA]
    total = sum(e.self_device_time_total for e in kernels) / 1e3 / steps
    return total if total > 0 else float("nan")  # a graph's kernels this profiler did not see


def run_case(net: Network, mode: str, compiled: bool, steps_per_run: int, repeats: int,
             strips_only: bool = False, graphed: bool = False) -> dict:
    dtype, channels_last = MODES[mode]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    eager = net.build().cuda().to(memory_format=fmt).train()
    converted = copy.deepcopy(eager)
    conversion = convert(converted, strips_only)
    x = torch.randn(net.input_shape, device="cuda").contiguous(memory_format=fmt)
    labels = torch.randint(0, 1000, (net.input_shape[0],), device="cuda")
    row = {"network": net.name, "mode": mode + (" compiled" if compiled else "") + (" graphed" if graphed else ""),
           "converted_layers": len(conversion["names"]), "converted_strip": conversion["strip"],
           "converted_other": conversion["other"]}
    steps = {}
    for who, model in (("eager", eager), ("converted", converted)):
        steps[who] = make_step(torch.compile(model) if compiled else model, net, x, labels, dtype, graphed)
    for who, ms in wall_ms(steps, steps_per_run, repeats).items():
        row[f"{who}_ms"] = ms
    for who, step in steps.items():
        row[f"{who}_device_ms"] = device_ms(step)
    row["speedup"] = row["eager_ms"] / row["converted_ms"]
    row["device_speedup"] = row["eager_device_ms"] / row["converted_device_ms"]
    del eager, converted
    torch.cuda.empty_cache()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    available = networks()
    parser.add_argument("--networks", default=",".join(available), help=f"any of {', '.join(available)}")
    parser.add_argument("--modes", default=",".join(MODES), help=f"any of {', '.join(MODES)}")
    parser.add_argument("--compile", action="store_true", help="also each mode under torch.compile")
    parser.add_argument("--graph", action="store_true",
                        help="also each mode with the training step captured in a CUDA graph (eager's and converted's alike)")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=8, help="timed runs per figure, eager and converted in turn (median)")
    parser.add_argument("--strips-only", action="store_true",
                        help="convert the strip layers only (convert(model, strips_only=True)), as before "
                             "DepthwiseConv2d")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("networks: needs a CUDA GPU")
        return 1
    wanted = [n for n in args.networks.split(",") if n]
    unknown = [n for n in wanted if n not in available]
    if unknown:
        parser.error(f"unknown or unavailable networks {unknown} (timm installed: {'inception_next_tiny' in available})")
    torch.backends.cudnn.benchmark = True
    all_depthwise = converts_all_depthwise()
    if args.strips_only or not all_depthwise:
        converted_what = "strip layers only" + ("" if all_depthwise else
                                                 " (this build's convert() takes no strips_only: strips only)")
    else:
        converted_what = "every depthwise layer"
    print(f"# training steps, {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"{datetime.date.today()}, cudnn.benchmark on; converted: {converted_what}")
    header = ("| network | mode | layers converted (strip + other) | eager ms | converted ms | speedup | eager GPU ms | "
              "converted GPU ms | GPU speedup |")
    print(header + "\n|---|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    rows = []
    for name in wanted:
        for mode in args.modes.split(","):
            variants = [(False, False)] + ([(True, False)] if args.compile else []) + ([(False, True)] if args.graph else [])
            for compiled, graphed in variants:
                r = run_case(available[name], mode, compiled, args.steps, args.repeats, args.strips_only, graphed)
                rows.append(r)
                print(f"| {r['network']} | {r['mode']} | {r['converted_layers']} ({r['converted_strip']} + "
                      f"{r['converted_other']}) | {r['eager_ms']:.2f} | "
                      f"{r['converted_ms']:.2f} | {r['speedup']:.2f}× | {r['eager_device_ms']:.2f} | "
                      f"{r['converted_device_ms']:.2f} | {r['device_speedup']:.2f}× |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                         "converted": converted_what, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
