"""Microbenchmark: the GPU's FP32 FMA rate (fused multiply-adds per second), the arithmetic ceiling
profiling/bench_depthwise.py divides a layer's FMAs by.

    python profiling/fma_rate.py [--matmul]

A Triton kernel runs long chains of `acc = fma(acc, a, b)` over many independent accumulators per
thread (4 tensors of BLOCK values per program, 16 fmas per accumulator per loop iteration, so loop
overhead is under 1% of the issued instructions), on grids of several sizes, every one of them at
least 4 programs per SM. Each size is timed with CUDA events (median of 5 launches of ~5 ms, after
warm-up); the result is the best size's rate. `a` and `b` are runtime scalars, so nothing folds, and
the sum of the accumulators is stored, so nothing is dead.

Without Triton it falls back to a float32 matmul with TF32 off (8192^3: 2*M*N*K flops, M*N*K FMAs),
which gives a lower bound of the FMA rate (cuBLAS' SGEMM runs at 70-90% of the FP32 pipes' peak),
and says so. `--matmul` prints that figure beside the Triton one.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the torch-only fallback below
    triton = None

_ACCUMULATORS = 4  # tensors of BLOCK values each, updated independently
_UNROLL = 16  # fmas per accumulator per loop iteration
_BLOCK = 1024
_TARGET_FMAS = 2e11  # per launch: ~6 ms at 33 TFMA/s (H100/H200 FP32 peak)

if triton is not None:

    @triton.jit
    def _fma_chains(out_ptr, a, b, iters, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
        pid = tl.program_id(0)
        offs = tl.arange(0, BLOCK)
        x0 = (offs + pid).to(tl.float32) * 1e-3
        x1 = x0 + 1.0
        x2 = x0 + 2.0
        x3 = x0 + 3.0
        for _ in range(iters):
            for _u in tl.static_range(UNROLL):
                x0 = tl.fma(x0, a, b)
                x1 = tl.fma(x1, a, b)
                x2 = tl.fma(x2, a, b)
                x3 = tl.fma(x3, a, b)
        tl.store(out_ptr + pid * BLOCK + offs, x0 + x1 + x2 + x3)


def _resolve(device) -> torch.device:
    if device is None:
        return torch.device("cuda", torch.cuda.current_device())
    device = torch.device(device)
    return torch.device("cuda", device.index if device.index is not None else torch.cuda.current_device())


def _median_ms(launch, repeats: int = 5, warmup: int = 2) -> float:
    for _ in range(warmup):
        launch()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    for s, e in zip(starts, ends):
        s.record()
        launch()
        e.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def triton_fma_rates(device=None) -> dict:
    """FMAs/s of the Triton chain kernel for each (num_warps, programs per SM): {label: rate}."""
    if triton is None:
        raise RuntimeError("Triton is not installed")
    device = _resolve(device)
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    rates = {}
    with torch.cuda.device(device):
        for num_warps in (4, 8):
            for per_sm in (4, 16, 64):
                grid = sms * per_sm
                per_iter = grid * _BLOCK * _ACCUMULATORS * _UNROLL
                iters = max(1, int(_TARGET_FMAS // per_iter))
                out = torch.empty(grid * _BLOCK, device=device, dtype=torch.float32)

                def launch(out=out, grid=grid, iters=iters, num_warps=num_warps):
                    _fma_chains[(grid,)](out, 0.9999, 1e-4, iters, BLOCK=_BLOCK, UNROLL=_UNROLL,
                                         num_warps=num_warps)

                ms = _median_ms(launch)
                rates[f"{num_warps} warps, {per_sm} programs/SM"] = per_iter * iters / (ms * 1e-3)
    return rates


def matmul_fma_rate(device=None, size: int = 8192) -> float:
    """FMAs/s of a size^3 float32 matmul with TF32 off: a lower bound of the FP32 FMA rate."""
    device = _resolve(device)
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        a = torch.randn(size, size, device=device)
        b = torch.randn(size, size, device=device)
        c = torch.empty(size, size, device=device)
        with torch.cuda.device(device):
            ms = _median_ms(lambda: torch.mm(a, b, out=c), repeats=5, warmup=2)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved[0]
        torch.set_float32_matmul_precision(saved[1])
    return size ** 3 / (ms * 1e-3)


def measure_fma_rate_detailed(device=None) -> dict:
    """{"rate": FMAs/s, "method": "triton" or "matmul (lower bound)", "sizes": {label: FMAs/s}}."""
    if triton is not None:
        try:
            rates = triton_fma_rates(device)
            return {"rate": max(rates.values()), "method": "triton", "sizes": rates}
        except Exception as error:  # a Triton that cannot compile here: say so, fall back
            print(f"fma_rate: Triton kernel failed ({type(error).__name__}: {error}); "
                  "falling back to a float32 matmul", file=sys.stderr)
    else:
        print("fma_rate: Triton is not installed; the FMA rate is a float32 matmul's (TF32 off), "
              "a lower bound", file=sys.stderr)
    rate = matmul_fma_rate(device)
    return {"rate": rate, "method": "matmul (lower bound)", "sizes": {"matmul 8192^3": rate}}


def measure_fma_rate(device=None) -> float:
    """The GPU's FP32 FMA rate in FMAs/s: the best of several grid sizes of the Triton chain kernel,
    or, without Triton, a float32 matmul's rate (a lower bound)."""
    return measure_fma_rate_detailed(device)["rate"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matmul", action="store_true", help="also a float32 matmul's FMA rate (TF32 off)")
    opts = parser.parse_args()
    if not torch.cuda.is_available():
        print("fma_rate: needs a CUDA GPU", file=sys.stderr)
        return 2
    result = measure_fma_rate_detailed()
    print(f"# FP32 FMA rate, {torch.cuda.get_device_name()}, torch {torch.__version__}, method: {result['method']}")
    for label, rate in result["sizes"].items():
        print(f"  {label:<28} {rate / 1e12:7.2f} TFMA/s")
    print(f"best: {result['rate'] / 1e12:.2f} TFMA/s ({2 * result['rate'] / 1e12:.1f} TFLOP/s)")
    if opts.matmul and result["method"] == "triton":
        rate = matmul_fma_rate()
        print(f"float32 matmul 8192^3, TF32 off: {rate / 1e12:.2f} TFMA/s (lower bound)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
