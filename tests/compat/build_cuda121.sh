#!/usr/bin/env bash
# The oldest supported toolchain: builds cute_dwconv against torch 2.4.1 for CUDA 12.1 (PyPI's
# torch 2.4.1 wheels are cu121; torch 2.4 is the oldest with torch.library.register_fake,
# register_autograd and opcheck, and its cpp_extension compiles with -std=c++17), for sm_86 only,
# then imports it and runs the tests (GPU tests skip where no GPU is visible). Needs no GPU.
#
#   bash tests/compat/build_cuda121.sh [WORKDIR]
#
# Everything goes under WORKDIR (default: a new folder under ${TMPDIR:-/tmp}, a few GB): a fresh
# virtualenv, a CUDA 12 toolkit folder, and a copy of this working tree (tracked and untracked,
# not ignored, files), so the checkout's own build is left alone. Nothing is installed elsewhere.
#
# The CUDA compiler. With CUDA12_HOME pointing at an installed CUDA 12.x toolkit (for example
# CUDA12_HOME=/usr/local/cuda-12.1), that toolkit builds. Otherwise the script assembles one under
# WORKDIR/cuda, in the layout torch's cpp_extension expects (bin/nvcc, include/, lib64/); this
# needs apt-get and dpkg-deb (a Debian or Ubuntu machine) and reaches PyPI and deb.debian.org:
#   - PyPI's nvidia-cuda-nvcc-cu12 wheels hold ptxas, the crt/ headers and libnvvm but no nvcc
#     driver, cicc, cudafe++ or fatbinary (checked for 12.1.66, 12.1.105 and every later 12.x up
#     to 12.9.86), so no CUDA 12.1 compiler can be put together from PyPI. Those four tools come
#     from Debian's nvidia-cuda-toolkit package (non-free, trixie: CUDA 12.4.131), downloaded with
#     apt-get download into WORKDIR and unpacked with dpkg-deb -x (not installed; apt's own
#     signature checks apply).
#   - ptxas, crt/ and libnvvm/libdevice come from nvidia-cuda-nvcc-cu12==12.4.131, the runtime
#     headers from nvidia-cuda-runtime-cu12==12.4.127 and Thrust/CUB/libcu++ from
#     nvidia-cuda-cccl-cu12==12.4.127.post1 (pip install --target, outside the virtualenv).
#   - lib64/libcudart.so links to the CUDA 12.1 runtime that torch 2.4.1 installs and loads, so
#     the extension links against the runtime it runs with.
# torch's cpp_extension only requires nvcc's major version to match torch's CUDA (12), and warns
# on the minor (12.4 vs 12.1).
#
# The host compiler: nvcc 12.1-12.3 accept gcc up to 12, nvcc 12.4-12.6 up to 13. When the host
# g++ is newer, the script adds -allow-unsupported-compiler through NVCC_APPEND_FLAGS, with a
# note; set CXX (and CC) to a supported g++ instead (e.g. Debian's g++-12) to avoid that.
#
# Environment: PYTHON (default python3; torch 2.4.1 has wheels for Python 3.8-3.12), CUDA12_HOME,
# MAX_JOBS (default 1), KEEP=1 to keep WORKDIR when the script made it. CUDA_HOME is ignored (it
# usually names the machine's newest toolkit); the build gets the CUDA 12 one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.4.1
CUDA_PIP_NVCC=12.4.131
CUDA_PIP_RUNTIME=12.4.127
CUDA_PIP_CCCL=12.4.127.post1  # 12.4.127 itself was yanked: it lacks include/nv/
export MAX_JOBS=${MAX_JOBS:-1}
export TORCH_CUDA_ARCH_LIST=8.6

t0=$(date +%s)
log() { echo "compat [$(( $(date +%s) - t0 )) s]: $*"; }

if [ $# -ge 1 ]; then
  WORK=$1
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/cute_dwconv-cuda121.XXXXXX")
  [ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
fi
WORK=$(cd "$WORK" && pwd)
log "working in $WORK"

# --- a fresh virtualenv with torch 2.4.1 (cu121) and the other requirements ---------------------
rm -rf "$WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
log "virtualenv: $(python --version)"
pip install -q "torch==$TORCH_VERSION" -r "$ROOT/requirements.txt"
pip install -q --no-deps -r "$ROOT/requirements-headers.txt"
read -r torch_version torch_cuda < <(python -c 'import torch; print(torch.__version__, torch.version.cuda)')
log "torch $torch_version, built for CUDA $torch_cuda"
case $torch_cuda in 12.*) ;; *) echo "compat: expected a CUDA 12 build of torch, got $torch_cuda" >&2; exit 1 ;; esac
runtime_lib=$(python -c 'import nvidia.cuda_runtime, os; print(os.path.join(nvidia.cuda_runtime.__path__[0], "lib"))')

# --- the CUDA 12 toolkit ----------------------------------------------------------------------
if [ -n "${CUDA12_HOME:-}" ]; then
  CUDA_HOME=$CUDA12_HOME
  [ -x "$CUDA_HOME/bin/nvcc" ] || { echo "compat: CUDA12_HOME=$CUDA_HOME has no bin/nvcc" >&2; exit 1; }
  log "using the toolkit in CUDA12_HOME=$CUDA_HOME"
else
  for tool in apt-get dpkg-deb; do
    command -v "$tool" > /dev/null || { echo "compat: needs $tool, or CUDA12_HOME set to a CUDA 12 toolkit" >&2; exit 1; }
  done
  CUDA_HOME=$WORK/cuda
  if [ ! -x "$CUDA_HOME/bin/nvcc" ]; then
    log "assembling a CUDA 12.4 toolkit in $CUDA_HOME"
    rm -rf "$WORK/cuda-pip" "$WORK/apt" "$WORK/deb" "$CUDA_HOME"
    pip install -q --no-deps --target "$WORK/cuda-pip" \
      "nvidia-cuda-nvcc-cu12==$CUDA_PIP_NVCC" "nvidia-cuda-runtime-cu12==$CUDA_PIP_RUNTIME" \
      "nvidia-cuda-cccl-cu12==$CUDA_PIP_CCCL"
    # Debian's package index for trixie's non-free section, in a private apt state under WORK.
    mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/apt/parts" "$WORK/deb"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie non-free" \
      > "$WORK/apt/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o "Dir::Etc::SourceParts=$WORK/apt/parts"
              -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache"
              -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
    apt-get "${apt_opts[@]}" -q update > "$WORK/apt/update.log"
    (cd "$WORK/deb" && apt-get "${apt_opts[@]}" -q download nvidia-cuda-toolkit > "$WORK/apt/download.log")
    dpkg-deb -x "$WORK"/deb/nvidia-cuda-toolkit_*.deb "$WORK/deb/root"
    deb=$WORK/deb/root
    pipn=$WORK/cuda-pip/nvidia
    mkdir -p "$CUDA_HOME/bin/crt" "$CUDA_HOME/nvvm/bin" "$CUDA_HOME/nvvm/lib64" "$CUDA_HOME/include" "$CUDA_HOME/lib64"
    cp "$deb/usr/lib/nvidia-cuda-toolkit/bin/nvcc" "$deb/usr/bin/cudafe++" "$deb/usr/bin/fatbinary" \
       "$deb/usr/bin/nvlink" "$deb/usr/bin/bin2c" "$CUDA_HOME/bin/"
    cp "$deb"/usr/lib/nvidia-cuda-toolkit/bin/crt/*.stub "$CUDA_HOME/bin/crt/"
    cp "$deb/usr/lib/nvidia-cuda-toolkit/bin/cicc" "$CUDA_HOME/nvvm/bin/"
    cp "$pipn/cuda_nvcc/bin/ptxas" "$CUDA_HOME/bin/"
    cp -r "$pipn/cuda_nvcc/nvvm/libdevice" "$CUDA_HOME/nvvm/"
    cp "$pipn"/cuda_nvcc/nvvm/lib64/* "$CUDA_HOME/nvvm/lib64/"
    for part in cuda_runtime cuda_nvcc cuda_cccl; do
      cp -r "$pipn/$part/include/." "$CUDA_HOME/include/"
    done
    find "$CUDA_HOME/include" -name '__init__.py' -delete
    # The standard profile of a CUDA toolkit, with include/ and lib64/ at its top.
    cat > "$CUDA_HOME/bin/nvcc.profile" <<'PROFILE'
TOP              = $(_HERE_)/..
NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice
LD_LIBRARY_PATH += $(TOP)/lib64:
PATH            += $(TOP)/nvvm/bin:$(_HERE_):
INCLUDES        +=  "-I$(TOP)/include" $(_SPACE_)
LIBRARIES        =+ $(_SPACE_) "-L$(TOP)/lib64/stubs" "-L$(TOP)/lib64"
CUDAFE_FLAGS    +=
PTXAS_FLAGS     +=
PROFILE
    rm -rf "$WORK/deb" "$WORK/apt"
  fi
  # Link against the runtime torch loads (CUDA 12.1), not the 12.4 one the headers came with.
  ln -sfn "$runtime_lib/libcudart.so.12" "$CUDA_HOME/lib64/libcudart.so"
fi
export CUDA_HOME
nvcc_version=$("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')
log "nvcc $nvcc_version ($CUDA_HOME/bin/nvcc)"

# --- the host compiler --------------------------------------------------------------------------
host_cxx=${CXX:-c++}
gcc_major=$("$host_cxx" -dumpversion | cut -d. -f1)
case $nvcc_version in
  12.[0-3]|12.[0-3].*) max_gcc=12 ;;
  12.[4-6]|12.[4-6].*) max_gcc=13 ;;
  *) max_gcc=14 ;;
esac
if ! "$host_cxx" --version | grep -q -i clang && [ "$gcc_major" -gt "$max_gcc" ]; then
  log "note: $host_cxx is gcc $gcc_major, newer than nvcc $nvcc_version supports (gcc $max_gcc): adding -allow-unsupported-compiler"
  export NVCC_APPEND_FLAGS="${NVCC_APPEND_FLAGS:-} -allow-unsupported-compiler"
fi
log "host compiler: $("$host_cxx" --version | head -n 1)"

# --- a copy of the working tree, built there ----------------------------------------------------
rm -rf "$WORK/src"
mkdir -p "$WORK/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) \
  | tar -x -C "$WORK/src"
cd "$WORK/src"
log "building for TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST with MAX_JOBS=$MAX_JOBS"
build_start=$(date +%s)
pip install -v --no-build-isolation -e . > "$WORK/build.log" 2>&1 || { tail -n 80 "$WORK/build.log"; echo "compat: build failed; full log: $WORK/build.log" >&2; KEEP=1; trap - EXIT; exit 1; }
build_s=$(( $(date +%s) - build_start ))
log "build took $build_s s"
std=$(grep -o -- '-std=c++[0-9a-z]*' "$WORK/build.log" | sort -u | paste -s -d ' ' || true)
log "C++ standard flags in the compile commands: ${std:-none}"
grep -i -E 'warning' "$WORK/build.log" | grep -v -E '^WARNING: Location' | sort | uniq -c | sort -rn | head -n 20 || true

python -c 'import torch, cute_dwconv; print("compat: imported cute_dwconv;", torch.ops.cute_dwconv.dwconv_kx1)'
set +e
python -m pytest tests -q -p no:cacheprovider 2>&1 | tee "$WORK/pytest.log"
rc=${PIPESTATUS[0]}
set -e
summary=$(tail -n 1 "$WORK/pytest.log")
echo
echo "compat summary: torch $torch_version (CUDA $torch_cuda), nvcc $nvcc_version, $("$host_cxx" --version | head -n 1)," \
     "nvidia-cutlass $(pip show nvidia-cutlass 2>/dev/null | sed -n 's/^Version: //p'), ${std:-no -std flag};" \
     "sm_86 build $build_s s; tests: $summary"
exit "$rc"
