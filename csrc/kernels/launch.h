// Declarations of the kernel launchers. Definitions live in the .cuh files and are instantiated
// in csrc/instantiations/, one translation unit per element type, so they compile in parallel.
#pragma once

#include <cuda_runtime_api.h>

#include "dwconv_params.h"

namespace cute_dwconv {

enum class LaunchStatus {
  kLaunched,     // the kernel was launched; check cudaGetLastError
  kUnsupported,  // this path cannot take the call (shared memory, alignment): try the next one
};

// Tiled path: cp.async stages input tiles into a shared-memory ring. Needs x with unit column
// stride, 16-byte aligned rows and W a multiple of the vector width.
template <class Cfg>
LaunchStatus launch_fwd_tiled(FwdParams const& p, cudaStream_t stream);

// Direct path: any strides, any alignment, any K, stride, padding and dilation.
template <class T>
LaunchStatus launch_fwd_direct(FwdParams const& p, cudaStream_t stream);

}  // namespace cute_dwconv
