"""GPU timing shared by the main job and profiling/: CUDA events around each run, L2 flushed
before it, the median of many runs, and the copy-bandwidth floor to compare against."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable

import torch


class L2Flusher:
    """Overwrites a buffer twice the size of L2 so that the next run starts from DRAM, then keeps
    the GPU busy for a while: the host reaches the timed launch before the start event fires, so
    no host overhead lands inside the timed region."""

    SPIN_CYCLES = 200_000  # ~0.1 ms at H100 clocks, longer than a Python call takes to launch

    def __init__(self, device: torch.device):
        l2 = torch.cuda.get_device_properties(device).L2_cache_size
        self.buffer = torch.empty(max(2 * l2, 1 << 20), dtype=torch.uint8, device=device)

    def __call__(self) -> None:
        self.buffer.fill_(1)
        torch.cuda._sleep(self.SPIN_CYCLES)


def time_ms(run: Callable[[int], object], *, repeats: int = 50, warmup: int = 5,
            flusher: L2Flusher | None = None) -> float:
    """Median milliseconds of run(i), i = 0, 1, ... (so callers can rotate inputs)."""
    for i in range(warmup):
        run(i)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    for i in range(repeats):
        if flusher is not None:
            flusher()
        starts[i].record()
        run(warmup + i)
        ends[i].record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def time_graph_ms(run: Callable[[], object], *, repeats: int = 50, flusher: L2Flusher | None = None) -> float:
    """Median milliseconds of one replay of a CUDA graph holding run(): launch cost as a graph sees it."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        run()  # warm-up outside capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()
    return time_ms(lambda i: graph.replay(), repeats=repeats, flusher=flusher)


def copy_bandwidth(device: torch.device, nbytes: int = 1 << 30) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read plus bytes written."""
    src = torch.empty(nbytes // 2, dtype=torch.uint8, device=device).random_(0, 255)
    dst = torch.empty_like(src)
    ms = time_ms(lambda i: dst.copy_(src), repeats=30, warmup=3, flusher=L2Flusher(device))
    return 2 * src.numel() / (ms * 1e-3)


@dataclass
class Floor:
    bytes_moved: int
    bandwidth: float  # bytes/s, read + written

    @property
    def ms(self) -> float:
        return self.bytes_moved / self.bandwidth * 1e3


def conv_bytes(x: torch.Tensor, out_shape, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None) -> int:
    """Fewest bytes a forward call must move: x read once, out written once (and the parameters)."""
    out_numel = 1
    for s in out_shape:
        out_numel *= s
    total = (x.numel() + out_numel) * x.element_size()
    for t in (weight, bias):
        if t is not None:
            total += t.numel() * t.element_size()
    return total


def inputs_to_rotate(make: Callable[[], object], bytes_each: int, device: torch.device) -> list:
    """Enough input sets that cycling through them does not hit in L2."""
    l2 = torch.cuda.get_device_properties(device).L2_cache_size
    count = max(1, min(16, -(-3 * l2 // max(bytes_each, 1))))
    return [make() for _ in range(count)]
