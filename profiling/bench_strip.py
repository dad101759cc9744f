"""Benchmark: depthwise strip convolutions, (1, K) and (K, 1), ours against PyTorch eager, and
blocks built from them (SegNeXt's attention, InceptionNeXt's mixer, LSKA with k = 23 and 35), eager
against converted. The strip rows: (1, 7)/(7, 1), (1, 21)/(21, 1) and LSKA's dilated (1, 11)/(11, 1)
in float32 and bfloat16, NCHW and channels_last; LSKA's other pairs; InceptionNeXt's channel-sliced
channels_last bands.

    python profiling/bench_strip.py [--runs 2] [--json out.json] [--cases k7_h,k21_v] [--no-blocks]

Every time is the median over many runs timed with CUDA events, with L2 flushed before each run and
inputs rotated when they would fit in L2 (cute_dwconv.benchmarking, as profiling/bench.py). The floor
is the bytes a forward call must move (x read once, out written once) at the measured copy bandwidth."""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import sys
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # strip_blocks

import cute_dwconv  # noqa: E402
from cute_dwconv.benchmarking import L2Flusher, conv_bytes, copy_bandwidth, inputs_to_rotate, time_ms  # noqa: E402
from strip_blocks import LSKA, InceptionNeXtMixer, SegNeXtAttention  # noqa: E402


@dataclass
class Case:
    name: str
    shape: tuple
    kernel: tuple
    padding: tuple
    dtype: str = "float32"
    bias: bool = True
    # "nchw"; "channels_last"; or "channels_last_slice": channels [C, 2C) of an 8C-channel
    # channels_last tensor, the view torch.split gives InceptionNeXt's band branches.
    layout: str = "nchw"
    dilation: int = 1


STRIP_SHAPE = (16, 64, 256, 256)


def _strip_pair(name: str, k: int, dilation: int = 1, shape=STRIP_SHAPE) -> list:
    """(1, k) and (k, 1) with padding (k // 2) * dilation, in float32 and bfloat16, NCHW and
    channels_last: the rows of the strip floor table."""
    reach = (k // 2) * dilation
    cases = []
    for dtype, dtype_tag in (("float32", ""), ("bfloat16", "_bf16")):
        for layout, layout_tag in (("nchw", ""), ("channels_last", "_cl")):
            for kernel, padding, axis in (((1, k), (0, reach), "h"), ((k, 1), (reach, 0), "v")):
                cases.append(Case(f"{name}_{axis}{dtype_tag}{layout_tag}", shape, kernel, padding, dtype=dtype,
                                  layout=layout, dilation=dilation))
    return cases


CASES = [
    Case("k11_h", STRIP_SHAPE, (1, 11), (0, 5)),
    Case("k11_v", STRIP_SHAPE, (11, 1), (5, 0)),
    *_strip_pair("k7", 7),
    *_strip_pair("k21", 21),
    # LSKA's pairs (Lau et al., 2023): k = 35's dilated (1, 11)/(11, 1) in every dtype and layout; the
    # local (1, 5)/(5, 1) of k >= 23 and the dilated pairs of k = 23 and 53, float32 NCHW.
    *_strip_pair("lska35_d3_k11", 11, dilation=3),
    Case("lska_k5_h", STRIP_SHAPE, (1, 5), (0, 2)),
    Case("lska_k5_v", STRIP_SHAPE, (5, 1), (2, 0)),
    Case("lska23_d3_k7_h", STRIP_SHAPE, (1, 7), (0, 9), dilation=3),
    Case("lska23_d3_k7_v", STRIP_SHAPE, (7, 1), (9, 0), dilation=3),
    Case("lska53_d3_k17_h", STRIP_SHAPE, (1, 17), (0, 24), dilation=3),
    Case("lska53_d3_k17_v", STRIP_SHAPE, (17, 1), (24, 0), dilation=3),
    # InceptionNeXt-T's first stage: 12 of 96 channels, 56x56, under channels_last.
    Case("inc_band_h_cl", (64, 12, 56, 56), (1, 11), (0, 5), layout="channels_last_slice"),
    Case("inc_band_v_cl", (64, 12, 56, 56), (11, 1), (5, 0), layout="channels_last_slice"),
    Case("inc_band_h_cl_bf16", (64, 12, 56, 56), (1, 11), (0, 5), dtype="bfloat16", layout="channels_last_slice"),
    Case("inc_band_v_cl_bf16", (64, 12, 56, 56), (11, 1), (5, 0), dtype="bfloat16", layout="channels_last_slice"),
]


@dataclass
class BlockCase:
    name: str
    block: str
    shape: tuple
    autocast: str = ""  # "" or a dtype name


BLOCK_CASES = [
    BlockCase("segnext_f32", "segnext", (16, 32, 128, 128)),
    BlockCase("segnext_bf16_autocast", "segnext", (16, 32, 128, 128), autocast="bfloat16"),
    BlockCase("inceptionnext_f32", "inceptionnext", (64, 96, 56, 56)),
    BlockCase("lska23_f32", "lska23", (16, 64, 128, 128)),
    BlockCase("lska35_f32", "lska35", (16, 64, 128, 128)),
    BlockCase("lska35_bf16_autocast", "lska35", (16, 64, 128, 128), autocast="bfloat16"),
]


def _tolerance(dtype):
    return {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]


def _relative_error(got, expected):
    expected = expected.double()
    return ((got.double() - expected).norm() / expected.norm()).item()


def run_case(case: Case, bandwidth: float, flusher: L2Flusher) -> dict:
    """Forward, and forward + backward (grad_x, grad_weight, grad_bias), of one strip layer."""
    device = torch.device("cuda")
    dtype = getattr(torch, case.dtype)
    c = case.shape[1]
    torch.manual_seed(0)
    reference = nn.Conv2d(c, c, case.kernel, padding=case.padding, dilation=case.dilation, groups=c,
                          bias=case.bias).to(device, dtype)
    ours = cute_dwconv.StripConv2d(c, c, case.kernel, padding=case.padding, dilation=case.dilation, groups=c,
                                   bias=case.bias).to(device, dtype)
    ours.load_state_dict(reference.state_dict())
    weight, bias = reference.weight, reference.bias

    def make_x():
        if case.layout == "nchw":
            return torch.rand(case.shape, device=device, dtype=dtype)
        n, c_, h, w = case.shape
        wide = case.layout == "channels_last_slice"
        full = torch.rand((n, 8 * c_ if wide else c_, h, w), device=device, dtype=dtype)
        full = full.contiguous(memory_format=torch.channels_last)
        return full[:, c_:2 * c_] if wide else full

    x = make_x()
    with torch.no_grad():
        expected_shape = reference(x).shape
    moved = conv_bytes(x, expected_shape, weight, bias)
    floor_ms = moved / bandwidth * 1e3
    xs = inputs_to_rotate(make_x, x.untyped_storage().nbytes(), device)

    impls = {
        "ours": lambda xi: cute_dwconv.strip_conv2d(xi, weight, bias, 1, case.padding, case.dilation),
        "eager": lambda xi: reference(xi),
    }
    result = {"case": asdict(case), "bytes": moved, "floor_ms": floor_ms, "ms": {}, "rel_error": {}}
    with torch.no_grad():
        expected = F.conv2d(x.double(), weight.double(), None if bias is None else bias.double(), 1, case.padding,
                            case.dilation, c)
        for name, fn in impls.items():
            err = _relative_error(fn(x), expected)
            result["rel_error"][name] = err
            if not err < _tolerance(dtype):
                print(f"  WARNING {case.name}/{name}: relative error {err:.2e}", file=sys.stderr)
            result["ms"][name] = time_ms(lambda i, fn=fn: fn(xs[i % len(xs)]), flusher=flusher)
        del expected

    # Forward + backward through autograd: the modules, x and both parameters requiring grad.
    xg = make_x().requires_grad_()  # in the case's layout (a clone of a slice would be dense)
    # grad_out in the output's layout, as autograd hands it to a layer inside a network.
    out_format = torch.contiguous_format if case.layout == "nchw" else torch.channels_last
    grad_out = torch.randn(expected_shape, device=device, dtype=dtype).contiguous(memory_format=out_format)
    grads = {}
    for name, module in (("eager", reference), ("ours", ours)):
        inputs = [xg] + list(module.parameters())
        grads[name] = torch.autograd.grad(module(xg), inputs, grad_out)
        result["ms"][f"{name} fwd+bwd"] = time_ms(
            lambda i, module=module, inputs=inputs: torch.autograd.grad(module(inputs[0]), inputs, grad_out),
            flusher=flusher)
    for i, label in enumerate(["grad_x", "grad_weight", "grad_bias"][:len(grads["eager"])]):
        result["rel_error"][f"ours {label} vs eager"] = _relative_error(grads["ours"][i], grads["eager"][i])
    return result


def _build_block(block: str, channels: int) -> nn.Module:
    if block.startswith("lska"):
        return LSKA(channels, int(block[len("lska"):]))
    return SegNeXtAttention(channels) if block == "segnext" else InceptionNeXtMixer(channels)


def run_block_case(case: BlockCase, flusher: L2Flusher) -> dict:
    """Forward and forward + backward of one block, eager against the same block converted."""
    device = torch.device("cuda")
    torch.manual_seed(0)
    reference = _build_block(case.block, case.shape[1]).to(device)
    converted = copy.deepcopy(reference)
    names = cute_dwconv.convert(converted, strips_only=True)
    autocast = (torch.autocast("cuda", dtype=getattr(torch, case.autocast)) if case.autocast else nullcontext())
    x = torch.randn(case.shape, device=device)
    xs = inputs_to_rotate(lambda: torch.randn(case.shape, device=device, requires_grad=True),
                          x.numel() * x.element_size(), device)
    result = {"case": asdict(case), "converted": names, "ms": {}, "rel_error": {}}
    with autocast:
        grad_out = torch.randn_like(reference(x))
    outs = {}
    for name, module in (("eager", reference), ("converted", converted)):
        params = list(module.parameters())

        def forward(i, module=module):
            with torch.no_grad(), autocast:
                return module(xs[i % len(xs)])

        def forward_backward(i, module=module, params=params):
            xi = xs[i % len(xs)]
            with autocast:
                out = module(xi)
            return torch.autograd.grad(out, [xi] + params, grad_out)

        outs[name] = forward(0)
        result["ms"][f"{name} fwd"] = time_ms(forward, flusher=flusher)
        result["ms"][f"{name} fwd+bwd"] = time_ms(forward_backward, flusher=flusher)
    err = _relative_error(outs["converted"], outs["eager"])
    result["rel_error"]["output"] = err
    if not err < (1e-4 if not case.autocast else 5e-2):
        print(f"  WARNING {case.name}: converted output differs from eager by {err:.2e}", file=sys.stderr)
    return result


def markdown(results: list, bandwidth: float) -> str:
    lines = [
        f"copy bandwidth (read + write): {bandwidth / 1e9:.0f} GB/s",
        "",
        "| case | kernel | dtype | layout | MB moved | floor ms | ours ms | % of floor | eager ms | % of floor | speedup "
        "| ours fwd+bwd ms | eager fwd+bwd ms | fwd+bwd speedup | max rel. error |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c, ms, floor = r["case"], r["ms"], r["floor_ms"]
        kernel = "x".join(str(k) for k in c["kernel"])
        lines.append(
            f"| {c['name']} | {kernel} p{tuple(c['padding'])} | {c['dtype']} | {c['layout']} | {r['bytes'] / 1e6:.1f} | {floor:.3f} | "
            f"{ms['ours']:.3f} | {100 * floor / ms['ours']:.1f}% | {ms['eager']:.3f} | "
            f"{100 * floor / ms['eager']:.1f}% | {ms['eager'] / ms['ours']:.2f}x | {ms['ours fwd+bwd']:.3f} | "
            f"{ms['eager fwd+bwd']:.3f} | {ms['eager fwd+bwd'] / ms['ours fwd+bwd']:.2f}x | "
            f"{max(r['rel_error'].values()):.1e} |")
    return "\n".join(lines)


def block_markdown(results: list) -> str:
    lines = [
        "| block | shape | autocast | strip convs converted | eager fwd ms | converted fwd ms | speedup "
        "| eager fwd+bwd ms | converted fwd+bwd ms | speedup | rel. error |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        c, ms = r["case"], r["ms"]
        shape = "x".join(str(s) for s in c["shape"])
        lines.append(
            f"| {c['name']} | {shape} | {c['autocast'] or '-'} | {len(r['converted'])} | {ms['eager fwd']:.3f} | "
            f"{ms['converted fwd']:.3f} | {ms['eager fwd'] / ms['converted fwd']:.2f}x | {ms['eager fwd+bwd']:.3f} | "
            f"{ms['converted fwd+bwd']:.3f} | {ms['eager fwd+bwd'] / ms['converted fwd+bwd']:.2f}x | "
            f"{r['rel_error']['output']:.1e} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole table (to show the spread)")
    parser.add_argument("--cases", default="", help="comma-separated case names, layers or blocks (default: all)")
    parser.add_argument("--json", default="", help="write every figure here")
    parser.add_argument("--no-blocks", action="store_true", help="skip the SegNeXt and InceptionNeXt blocks")
    parser.add_argument("--no-layers", action="store_true", help="skip the single strip layers")
    opts = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_strip: needs a CUDA GPU", file=sys.stderr)
        return 2
    wanted = set(filter(None, opts.cases.split(",")))
    cases = [c for c in CASES if (not wanted or c.name in wanted) and not opts.no_layers]
    block_cases = [c for c in BLOCK_CASES if (not wanted or c.name in wanted) and not opts.no_blocks]
    device = torch.device("cuda")
    # Dense convolutions inside the blocks run in true float32 in both columns.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    flusher = L2Flusher(device)
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "gpu": torch.cuda.get_device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
              "runs": []}
    for run in range(opts.runs):
        bandwidth = copy_bandwidth(device)
        results, blocks = [], []
        for case in cases:
            print(f"run {run + 1}: {case.name}", file=sys.stderr, flush=True)
            results.append(run_case(case, bandwidth, flusher))
            torch.cuda.empty_cache()
        for case in block_cases:
            print(f"run {run + 1}: {case.name}", file=sys.stderr, flush=True)
            blocks.append(run_block_case(case, flusher))
            torch.cuda.empty_cache()
        report["runs"].append({"copy_bandwidth": bandwidth, "results": results, "blocks": blocks})
        print(f"\n### run {run + 1} of {opts.runs}: {report['gpu']}, torch {report['torch']}, CUDA {report['cuda']}\n")
        if results:
            print("Strip layers, forward (against the copy floor) and forward + backward:\n", flush=True)
            print(markdown(results, bandwidth), flush=True)
        if blocks:
            print("\nBlocks, eager against converted (cute_dwconv.convert):\n", flush=True)
            print(block_markdown(blocks), flush=True)
    if opts.json:
        Path(opts.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
