#!/usr/bin/env bash
# Runs sanitize_calls.py under compute-sanitizer's memcheck, racecheck, initcheck and synccheck and
# prints each tool's summary line. Exit status: non-zero if any tool reports an error.
#   bash tests/sanitize.sh [log-dir]          (TOOLS="memcheck initcheck" runs a subset)
set -u
here=$(cd "$(dirname "$0")" && pwd)
logs=${1:-$here/../sanitizer-logs}
mkdir -p "$logs"
# One cudaMalloc per tensor, so that memcheck sees the true end of each buffer.
export PYTORCH_NO_CUDA_MEMORY_CACHING=1
status=0
for tool in ${TOOLS:-memcheck racecheck initcheck synccheck}; do
  # Only our kernels (fwd_* and bwd_*) are checked, not PyTorch's own, except by initcheck: it must
  # watch every kernel's writes to know which memory is initialized.
  extra="--kernel-name kns=wd_"
  [ "$tool" = racecheck ] && extra="$extra --racecheck-report all"
  [ "$tool" = initcheck ] && extra=""
  compute-sanitizer --tool "$tool" $extra --error-exitcode 3 \
    python3 "$here/sanitize_calls.py" > "$logs/$tool.log" 2>&1
  rc=$?
  summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$logs/$tool.log" | tail -1)
  echo "$tool: ${summary:-no summary line} (exit $rc)"
  grep -q "MISMATCH" "$logs/$tool.log" && { echo "$tool: results mismatched"; status=1; }
  [ $rc -ne 0 ] && status=1
done
exit $status
