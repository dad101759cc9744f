"""python -m cute_dwconv: check ModelNew against Model on the headline problem, then time both."""

from __future__ import annotations

import sys

import torch

from . import Model, ModelNew, get_init_inputs, get_inputs
from .benchmarking import L2Flusher, Floor, conv_bytes, copy_bandwidth, time_ms


def main() -> int:
    if not torch.cuda.is_available():
        print("cute_dwconv: no CUDA GPU is visible; the main job runs the headline problem on one.", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    init = get_init_inputs()
    torch.manual_seed(0)
    reference = Model(*init).to(device)
    torch.manual_seed(0)
    ours = ModelNew(*init).to(device)
    x = get_inputs()[0].to(device)

    with torch.no_grad():
        expected = reference(x)
        got = ours(x)
        torch.cuda.synchronize()
        matches = got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
        max_err = (got - expected).abs().max().item() if got.shape == expected.shape else float("nan")

        flusher = L2Flusher(device)
        ours_ms = time_ms(lambda i: ours(x), flusher=flusher)
        torch_ms = time_ms(lambda i: reference(x), flusher=flusher)
    floor = Floor(conv_bytes(x, expected.shape, reference.conv2d.weight, reference.conv2d.bias), copy_bandwidth(device))

    props = torch.cuda.get_device_properties(device)
    print(f"cute_dwconv on {props.name}; x {tuple(x.shape)} {x.dtype}, K={init[1]}, stride={init[2]}, "
          f"padding={init[3]}, dilation={init[4]}, bias={init[5]}")
    print(f"check against nn.Conv2d (atol=rtol=1e-4): {'OK' if matches else 'MISMATCH'} (max |diff| {max_err:.3g})")
    print(f"copy-bandwidth floor: {floor.bytes_moved / 1e6:.1f} MB at {floor.bandwidth / 1e9:.0f} GB/s = {floor.ms:.3f} ms")
    print()
    print("| implementation | time (ms) | GB/s | % of copy bandwidth | speedup vs PyTorch |")
    print("|---|---:|---:|---:|---:|")
    for name, ms in (("cute_dwconv (ModelNew)", ours_ms), ("PyTorch nn.Conv2d (Model)", torch_ms)):
        gbps = floor.bytes_moved / (ms * 1e-3) / 1e9
        print(f"| {name} | {ms:.3f} | {gbps:.0f} | {100 * floor.ms / ms:.1f}% | {torch_ms / ms:.2f}x |")
    return 0 if matches else 1


if __name__ == "__main__":
    sys.exit(main())
