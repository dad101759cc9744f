"""The GPU architectures setup.py compiles for, as nvcc flags; free of torch so that tests import it.

The kernels use only SM80 instructions (cp.async, ldmatrix, mma.sync), so the PTX nvcc generates for
the oldest listed GPU serves every newer one unchanged: for 8.6 and 9.0 it is the same PTX but for
its `.target` line and internal names. Generating it once and assembling it into machine code for
each listed GPU halves the front end's share of the build (cicc, the largest part: about half of a
single-architecture build) against torch's default of one PTX per architecture.
"""

from __future__ import annotations

import re

_ENTRY = re.compile(r"(\d+)\.(\d)(\+PTX)?")


def shared_ptx_gencode(arch_list: str) -> list[str] | None:
    """nvcc flags for a TORCH_CUDA_ARCH_LIST such as "8.6;9.0+PTX": one PTX for the oldest entry,
    machine code for every entry, and that PTX embedded too where an entry asks for +PTX (the driver
    compiles it on GPUs newer than the list). None where the list holds anything else (names such as
    "Ampere", arch-specific entries such as "9.0a"), which torch's own handling then takes.
    """
    entries = [e for e in re.split(r"[;\s]+", arch_list.strip()) if e]
    if not entries:
        return None
    parsed = [_ENTRY.fullmatch(e) for e in entries]
    if not all(parsed):
        return None
    real = sorted({int(m.group(1)) * 10 + int(m.group(2)) for m in parsed})
    virtual = real[0]
    flags = [f"-gencode=arch=compute_{virtual},code=sm_{sm}" for sm in real]
    if any(m.group(3) for m in parsed):
        flags.append(f"-gencode=arch=compute_{virtual},code=compute_{virtual}")
    return flags
