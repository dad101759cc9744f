// Entry from the torch glue into the kernels: picks an instantiation for the call and launches it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "dwconv_params.h"

namespace cute_dwconv {

// Which kernel takes a call. kAuto is what users get; the others exist so that tests and the
// benchmark can reach each path on any input.
enum class FwdPath { kAuto, kFixedShape, kTable, kGeneral, kTensorCore, kDirect };

enum class FwdStatus { kLaunched, kPathUnavailable };

// Launches the forward kernel on `stream`, for either tap axis. kPathUnavailable: a forced path
// cannot take the call (nothing was launched). Launch errors are left for cudaGetLastError.
FwdStatus strip_forward(FwdParams const& p, FwdPath path, cudaStream_t stream);

struct FwdTableEntry {
  int64_t kernel_size, stride, dilation;
};

// The (K, stride, dilation) entries that have their own compiled tiled kernels (both tap axes).
std::vector<FwdTableEntry> fwd_table_entries();

// The (K, stride, dilation) entries with channels_last (NHWC) tiled kernels.
std::vector<FwdTableEntry> fwd_channels_last_table_entries();

}  // namespace cute_dwconv
