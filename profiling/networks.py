"""Whole networks: training steps (forward, loss, backward), eager against converted.

    python profiling/networks.py [--networks mscan_t,inception_next_tiny] [--modes fp32,bf16,fp32_cl,bf16_cl]
                                 [--compile] [--steps 10] [--json out.json]

For each network and mode it prints the wall time of one step (host clock around --steps steps, the
GPU synchronised at both ends; median of --repeats such runs, eager's and converted's interleaved) and the profiler's device time of one
step (every kernel's time added up), eager and converted side by side. Where the wall time is well
above the device time, the host is the limit: the step waits for the CPU to issue its work.

Modes: fp32 (float32), bf16 (float32 weights under bf16 autocast), each in NCHW or channels_last
(`_cl`: the model and the input in torch.channels_last). `--compile` adds each mode under
torch.compile (eager-compiled against converted-compiled).

Networks: SegNeXt's MSCAN-T backbone (tests/mscan.py) at 8x3x512x512; timm's inception_next_tiny at
32x3x224x224 when timm is installed (profiling/requirements-networks.txt).
"""

from __future__ import annotations

import argparse
import copy
import datetime
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
from mscan import backbone_loss, mscan_t  # noqa: E402


@dataclass
class Network:
    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple
    loss: Callable  # (output, labels) -> scalar


def classification_loss(logits, labels):
    return F.cross_entropy(logits.float(), labels)


def networks() -> dict:
    found = {"mscan_t": Network("mscan_t", mscan_t, (8, 3, 512, 512), lambda out, labels: backbone_loss(out))}
    try:
        import timm
    except ImportError:
        return found
    found["inception_next_tiny"] = Network(
        "inception_next_tiny", lambda: timm.create_model("inception_next_tiny", pretrained=False),
        (32, 3, 224, 224), classification_loss)
    return found


MODES = {
    "fp32": (None, False), "bf16": (torch.bfloat16, False),
    "fp32_cl": (None, True), "bf16_cl": (torch.bfloat16, True),
}


def make_step(model: nn.Module, net: Network, x: torch.Tensor, labels: torch.Tensor, dtype):
    def step():
        with torch.autocast("cuda", dtype=dtype) if dtype is not None else nullcontext():
            loss = net.loss(model(x), labels)
        loss.backward()
        model.zero_grad(set_to_none=True)
    return step


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
    return sum(e.self_device_time_total for e in kernels) / 1e3 / steps


def run_case(net: Network, mode: str, compiled: bool, steps_per_run: int, repeats: int) -> dict:
    dtype, channels_last = MODES[mode]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    eager = net.build().cuda().to(memory_format=fmt).train()
    converted = copy.deepcopy(eager)
    names = cute_dwconv.convert(converted)
    x = torch.randn(net.input_shape, device="cuda").contiguous(memory_format=fmt)
    labels = torch.randint(0, 1000, (net.input_shape[0],), device="cuda")
    row = {"network": net.name, "mode": mode + (" compiled" if compiled else ""), "converted_layers": len(names)}
    steps = {}
    for who, model in (("eager", eager), ("converted", converted)):
        steps[who] = make_step(torch.compile(model) if compiled else model, net, x, labels, dtype)
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
    parser.add_argument("--steps", type=int, default=5, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=8, help="timed runs per figure, eager and converted in turn (median)")
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
    print(f"# training steps, {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"{datetime.date.today()}, cudnn.benchmark on")
    header = ("| network | mode | layers converted | eager ms | converted ms | speedup | eager GPU ms | "
              "converted GPU ms | GPU speedup |")
    print(header + "\n|---|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    rows = []
    for name in wanted:
        for mode in args.modes.split(","):
            for compiled in ((False, True) if args.compile else (False,)):
                r = run_case(available[name], mode, compiled, args.steps, args.repeats)
                rows.append(r)
                print(f"| {r['network']} | {r['mode']} | {r['converted_layers']} | {r['eager_ms']:.2f} | "
                      f"{r['converted_ms']:.2f} | {r['speedup']:.2f}× | {r['eager_device_ms']:.2f} | "
                      f"{r['converted_device_ms']:.2f} | {r['device_speedup']:.2f}× |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                         "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
