"""Builds cute_dwconv._C, the CUDA extension behind torch.ops.cute_dwconv.

Environment:
  TORCH_CUDA_ARCH_LIST  architectures to build (default: the visible GPUs, else "8.6;9.0+PTX":
                        machine code for sm_86 and sm_90, and PTX that newer GPUs compile when they
                        load the library). A list of numbers compiles one PTX, for its oldest entry,
                        into machine code for each (see build_arch.py)
  CUTLASS_PATH          a CUTLASS checkout or its include/ folder (default: third_party/cutlass,
                        then the nvidia-cutlass pip package)
  MAX_JOBS              parallel compile jobs (default: by cores and memory)
  NVCC_THREADS          nvcc --threads (default: 2)
  NVCC_COMPRESS_MODE    nvcc --compress-mode for the device code (CUDA 12.8 and later: "size" makes
                        the library about a sixth of its default size; unset: nvcc's default)
  CUDA_HOME             the CUDA toolkit (default: /usr/local/cuda when nvcc lives there)
  CC, CXX, LDSHARED     the host compiler and linker; where Python's build configuration links
                        libstdc++ statically, the build switches to /usr/bin/gcc and /usr/bin/g++
                        (see build_config.py)
"""

import glob
import os
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # setuptools.build_meta does not put the project on sys.path

import build_arch  # noqa: E402
import build_config  # noqa: E402

# Before anything builds: an extension linked with its own static copy of libstdc++ cannot pass
# exceptions and C++ objects to and from libtorch safely.
try:
    _note = build_config.apply_compiler_guard()
except build_config.CompilerConfigError as error:
    sys.exit(str(error))
if _note:
    print(_note, file=sys.stderr)

# torch looks for CUDA through `which nvcc`, which misleads it when nvcc is a wrapper script
# outside the toolkit; the toolkit's usual home is the better guess.
if "CUDA_HOME" not in os.environ and "CUDA_PATH" not in os.environ:
    if Path("/usr/local/cuda/bin/nvcc").exists():
        os.environ["CUDA_HOME"] = "/usr/local/cuda"

import torch  # noqa: E402
from torch.utils.cpp_extension import BuildExtension, CUDAExtension  # noqa: E402


def cutlass_include_dir() -> str:
    looked = []
    env = os.environ.get("CUTLASS_PATH")
    if env:
        for candidate in (Path(env) / "include", Path(env)):
            looked.append(str(candidate))
            if (candidate / "cute" / "tensor.hpp").exists():
                return str(candidate)
    vendored = ROOT / "third_party" / "cutlass" / "include"
    looked.append(str(vendored))
    if (vendored / "cute" / "tensor.hpp").exists():
        return str(vendored)
    try:
        import cutlass_library

        wheel = Path(cutlass_library.__file__).resolve().parent / "source" / "include"
        looked.append(str(wheel))
        if (wheel / "cute" / "tensor.hpp").exists():
            return str(wheel)
    except ImportError:
        looked.append("the nvidia-cutlass pip package (not installed)")
    sys.exit(
        "cute_dwconv: CUTLASS/CuTe headers not found. Looked in:\n  "
        + "\n  ".join(looked)
        + "\nInstall them with `pip install --no-deps nvidia-cutlass==4.2.0.0`, or set CUTLASS_PATH."
    )


def default_arch_list() -> None:
    # Without this, a build on a machine with no GPU would target torch's whole default list.
    if os.environ.get("TORCH_CUDA_ARCH_LIST"):
        return
    if torch.cuda.is_available():
        return  # torch builds for the visible GPUs
    # Machine code for sm_86 and sm_90, plus PTX for the newest so later GPUs still run it.
    os.environ["TORCH_CUDA_ARCH_LIST"] = "8.6;9.0+PTX"


def default_max_jobs() -> None:
    if os.environ.get("MAX_JOBS"):
        return
    cores = os.cpu_count() or 1
    # A CuTe translation unit peaks near 2 GB in nvcc.
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gb = 8
    os.environ["MAX_JOBS"] = str(max(1, min(cores, int(mem_gb // 2))))


default_arch_list()
default_max_jobs()

sources = sorted(
    [str(Path(p).relative_to(ROOT)) for p in glob.glob(str(ROOT / "csrc" / "**" / "*.cu"), recursive=True)]
    + [str(Path(p).relative_to(ROOT)) for p in glob.glob(str(ROOT / "csrc" / "*.cpp"))]
)
include_dirs = [str(ROOT / "csrc"), cutlass_include_dir()]

nvcc_flags = [
    "-O3",
    "--expt-relaxed-constexpr",  # CuTe calls constexpr host functions from device code
    "-DNDEBUG",
    f"--threads={os.environ.get('NVCC_THREADS', '2')}",
    "-lineinfo",  # source lines in Nsight Compute and compute-sanitizer reports
]
# Flags naming an architecture stop torch from adding its own (one PTX per architecture).
nvcc_flags += build_arch.shared_ptx_gencode(os.environ.get("TORCH_CUDA_ARCH_LIST", "")) or []
if os.environ.get("NVCC_COMPRESS_MODE"):
    nvcc_flags.append(f"--compress-mode={os.environ['NVCC_COMPRESS_MODE']}")

setup(
    name="cute_dwconv",
    version="0.1.0",
    description="Depthwise convolutions for PyTorch, written with CUTLASS/CuTe",
    packages=find_packages(include=["cute_dwconv", "cute_dwconv.*"]),
    ext_modules=[
        CUDAExtension(
            name="cute_dwconv._C",
            sources=sources,
            include_dirs=include_dirs,
            extra_compile_args={"cxx": ["-O3"], "nvcc": nvcc_flags},
        )
    ],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    python_requires=">=3.9",
    install_requires=["torch"],
)
