// Declarations of the kernel launchers. Definitions live in the .cuh files and are instantiated
// in csrc/instantiations/, one translation unit per element type, so they compile in parallel.
#pragma once

#include <cuda_runtime_api.h>

#include "bwd_params.h"
#include "dwconv_params.h"

namespace cute_dwconv {

enum class LaunchStatus {
  kLaunched,     // the kernel was launched; check cudaGetLastError
  kUnsupported,  // this path cannot take the call (shared memory, alignment): try the next one
};

// Tiled path: cp.async stages input tiles into a shared-memory ring. Needs x with unit column
// stride and 8-byte aligned rows (16-byte aligned ones stage with 16-byte copies).
template <class Cfg>
LaunchStatus launch_fwd_tiled(FwdParams const& p, cudaStream_t stream);

// Horizontal tiled path, for (1, K) kernels: cp.async stages each output row's input row. Needs x
// with unit column stride and 8-byte aligned rows.
template <class Cfg>
LaunchStatus launch_fwd_horizontal(FwdParams const& p, cudaStream_t stream);

// Vertical tensor-core path, for (K, 1) kernels of 16-bit inputs at stride 1: cp.async stages 16-row
// blocks of 16-byte aligned rows; the band of each column's taps runs as MMAs.
template <class Cfg>
LaunchStatus launch_fwd_vertical_mma(FwdParams const& p, cudaStream_t stream);

// channels_last (K, 1) columns at stride 1 on the FP32 lanes: cp.async stages 16-row blocks of
// 16-byte aligned rows of W * C channels; every lane holds its columns' taps.
template <class Cfg>
LaunchStatus launch_fwd_channels_last_columns(FwdParams const& p, cudaStream_t stream);

// Direct path: either tap axis, any strides, any alignment, any K, stride, padding and dilation.
template <class T>
LaunchStatus launch_fwd_direct(FwdParams const& p, cudaStream_t stream);

// Input gradient for any stride, gathered per input element (stride 1 runs on the forward paths).
template <class T>
void launch_bwd_input_strided(BwdInputParams const& p, cudaStream_t stream);

// Weight and bias gradients: plan (tiles and workspace bytes for kVec-wide runs of grad_out
// columns), then launch with p.workspace holding plan.workspace_bytes.
template <class T>
BwdWeightPlan plan_bwd_weight(BwdWeightParams const& p, int vec);

template <class T, int kVec, int kTaps>
void launch_bwd_weight(BwdWeightParams const& p, BwdWeightPlan const& plan, bool x_vectorized, cudaStream_t stream);

// The weight gradient of NCHW strips at stride 1 on staged rows, for Cfg's K, dilation and axis (a
// StagedGradWeightConfig): the partial sums a channel it writes (0 where it cannot take the call),
// and the launch writing C x that many x (K + 1) floats into p.workspace for the caller to add.
template <class Cfg>
int64_t bwd_weight_staged_partials(BwdWeightParams const& p);

template <class Cfg>
LaunchStatus launch_bwd_weight_staged(BwdWeightParams const& p, cudaStream_t stream);

}  // namespace cute_dwconv
