"""ptxas resource report of the float32 tiled kernels for sm_86 and sm_90, with the blocks per SM
that registers and shared memory allow (threads per block and ring size as the launcher sets them).

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


def main() -> int:
    include = os.environ.get("CUTLASS_PATH")
    include = str(Path(include) / "include") if include else None
    if include is None:
        import cutlass_library  # the nvidia-cutlass wheel, as setup.py falls back to

        include = str(Path(cutlass_library.__file__).parent / "source" / "include")

    print("| arch | K | stride | dilation | layout | cp.async (B) | registers | spills (B) | ring (KB) | blocks/SM "
          "| warps/SM |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for arch, (regs_sm, smem_sm, threads_sm, blocks_max) in SM.items():
        cmd = ["nvcc", "-std=c++20", "-O3", "--expt-relaxed-constexpr", f"-I{ROOT / 'csrc'}",
               f"-I{include}", f"-gencode=arch=compute_{arch[3:]},code={arch}", "-Xptxas", "-v",
               "-c", str(ROOT / "csrc/instantiations/fwd_tiled_f32.cu"), "-o", "/dev/null"]
        log = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
        entries = re.findall(r"Compiling entry function '(\S+)'.*?(\d+) bytes spill stores.*?Used (\d+) registers",
                             log, re.S)
        rows = []
        for name, spills, regs in entries:
            m = re.search(r"FwdTiledConfigIfLi(\d+)ELi(\d+)ELi(\d+)ENS_10PlaneShapeILi(\d+)ELi\d+ELi\d+EEELb(\d)E+Li(\d+)E",
                          name)
            if not m:
                continue
            k, s, d, plane, cl, copy_bytes = map(int, m.groups())
            regs = int(regs)
            if k == 0:
                k_label, ring = "run-time", ring_bytes(3, 1, 1, False)
            else:
                k_label, ring = str(k), ring_bytes(k, s, d, cl)
            blocks = min(regs_sm // (regs * THREADS), smem_sm // (ring + RESERVED_SMEM_PER_BLOCK),
                         threads_sm // THREADS, blocks_max)
            layout = "NHWC" if cl else ("NCHW 512x512 fixed" if plane else "NCHW")
            rows.append((k if k else 99, s, d, cl, plane, -copy_bytes,
                         f"| {arch} | {k_label} | {s or 'run-time'} | {d or 'run-time'} | {layout} | {copy_bytes} | {regs} | "
                         f"{spills} | {ring / 1024:.1f} | {blocks} | {blocks * THREADS // 32} |"))
        for row in sorted(rows):
            print(row[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
