"""ptxas resource report of the float32 tiled kernels ((K, 1) and (1, K)) for sm_86 and sm_90, with
the blocks per SM that registers and shared memory allow (threads per block and ring size as the
launchers set them; the launchers compute the same from the device's limits, see device_limits.cu).

    python profiling/resources.py    # needs nvcc; headers from CUTLASS_PATH or the nvidia-cutlass wheel
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SM = {  # registers per SM, shared memory per SM usable by blocks, max threads per SM, max blocks
    "sm_86": (65536, 100 * 1024, 1536, 16),
    "sm_90": (65536, 228 * 1024, 2048, 32),
}
THREADS = 128
RESERVED_SMEM_PER_BLOCK = 1024


def ring_bytes(k, stride, dilation, channels_last, vec=4, elem=4):
    rows = 4 * (4 if stride == 1 else 1) * stride
    halo = max(0, (k - 1) * dilation + 1 - stride)
    stages = 1 + -(-halo // rows) + 2
    return stages * rows * (32 * vec * stride + vec) * elem


def horizontal_ring_bytes(k, stride, dilation, copy_bytes, vec=4, elem=4):
    copy = copy_bytes // elem
    reach = (k - 1) * dilation + 1
    span = (32 * vec - 1) * stride + reach
    chunks = -(-(copy - 1 + span + 1) // copy)
    pitch = -(-(chunks * copy) // vec) * vec
    return 3 * 8 * pitch * elem


def blocks_per_sm(arch, regs, ring):
    regs_sm, smem_sm, threads_sm, blocks_max = SM[arch]
    warp_regs = -(-regs * 32 // 256) * 256
    return min(regs_sm // (warp_regs * THREADS // 32), smem_sm // (ring + RESERVED_SMEM_PER_BLOCK),
               threads_sm // THREADS, blocks_max)


def main() -> int:
    include = os.environ.get("CUTLASS_PATH")
    include = str(Path(include) / "include") if include else None
    if include is None:
        import cutlass_library  # the nvidia-cutlass wheel, as setup.py falls back to

        include = str(Path(cutlass_library.__file__).parent / "source" / "include")

    print("| arch | kernel, layout | K | stride | dilation | cp.async (B) | registers | spills (B) | ring (KB) "
          "| blocks/SM | warps/SM |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("(run-time taps: the ring of K=3, stride 1, dilation 1)")
    for arch in SM:
        rows = []
        for unit in ("fwd_tiled_f32.cu", "fwd_horizontal_f32.cu"):
            cmd = ["nvcc", "-std=c++20", "-O3", "--expt-relaxed-constexpr", f"-I{ROOT / 'csrc'}",
                   f"-I{include}", f"-gencode=arch=compute_{arch[3:]},code={arch}", "-Xptxas", "-v",
                   "-c", str(ROOT / "csrc/instantiations" / unit), "-o", "/dev/null"]
            log = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
            entries = re.findall(r"Compiling entry function '(\S+)'.*?(\d+) bytes spill stores.*?Used (\d+) registers",
                                 log, re.S)
            for name, spills, regs in entries:
                regs = int(regs)
                vertical = re.search(
                    r"FwdTiledConfigIfLi(\d+)ELi(\d+)ELi(\d+)ENS_10PlaneShapeILi(\d+)ELi\d+ELi\d+EEELb(\d)E+Li(\d+)E", name)
                horizontal = re.search(r"HorizontalConfigIfLi(\d+)ELi(\d+)ELi(\d+)EEELi(\d+)E", name)
                if vertical:
                    k, s, d, plane, cl, copy_bytes = map(int, vertical.groups())
                    ring = ring_bytes(k or 3, s or 1, d or 1, cl)
                    layout = "(K, 1) NHWC" if cl else ("(K, 1) 512x512 fixed" if plane else "(K, 1) NCHW")
                elif horizontal:
                    k, s, d, copy_bytes = map(int, horizontal.groups())
                    plane, cl = 0, 2
                    ring = horizontal_ring_bytes(k or 3, s or 1, d or 1, copy_bytes)
                    layout = "(1, K) NCHW"
                else:
                    continue
                blocks = blocks_per_sm(arch, regs, ring)
                rows.append((cl, k if k else 99, s, d, plane, -copy_bytes,
                             f"| {arch} | {layout} | {k or 'run-time'} | {s or 'run-time'} | {d or 'run-time'} | "
                             f"{copy_bytes} | {regs} | {spills} | {ring / 1024:.1f} | {blocks} | {blocks * THREADS // 32} |"))
        for row in sorted(rows):
            print(row[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
