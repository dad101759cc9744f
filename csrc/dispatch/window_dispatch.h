// Entry from the torch glue into the window kernels: picks an instantiation and launches it.
#pragma once

#include <cuda_runtime_api.h>

#include "dispatch/fwd_dispatch.h"
#include "window_params.h"

namespace cute_dwconv {

// kAuto: what users get. kStaged: the shared-memory and L1 paths only (channels_last, then NCHW
// tiles), so that the caller can pick a fallback. The others force one kernel (kChannelsLast: the
// staged channels_last kernel, else the L1 one), for tests and benchmarks.
enum class WindowPath {
  kAuto,
  kStaged,
  kTiled,
  kTensorCore,  // NCHW 16-bit windows at stride 1 on tensor cores
  kChannelsLastTensorCore,  // channels_last 16-bit windows at stride 1 on tensor cores
  kPlanes,      // NCHW small planes staged whole
  kChannelsLast,
  kChannelsLastTile,
  kChannelsLastL1,
  kDirect
};

// kPathUnavailable: the path cannot take the call (nothing was launched).
FwdStatus window_forward(WindowParams const& p, WindowPath path, cudaStream_t stream);

// p describes the forward call, with x's strides replaced by grad_input's and out's by grad_out's.
void window_grad_input_gather(WindowParams const& p, void const* grad_out, void* grad_input, cudaStream_t stream);

// The input gradient at stride (2, 2) in one pass, p as for the gather; kPathUnavailable where it
// cannot take the call (other strides or dilations, wide windows, grad_out rows it cannot stage).
FwdStatus window_grad_input_phases(WindowParams const& p, void const* grad_out, void* grad_input, cudaStream_t stream);

WindowGradWeightPlan window_grad_weight_plan(WindowGradWeightParams const& p);

// kPathUnavailable: the tile's staged input does not fit shared memory.
FwdStatus window_grad_weight(WindowGradWeightParams const& p, WindowGradWeightPlan const& plan, cudaStream_t stream);

// The last pass of a weight gradient whose kernel wrote `partials` partial sums a channel into
// p.workspace ((C, partials, kh * kw + 1) floats): adds each channel's in order into grad_weight and
// grad_bias (the strips' staged-row kernels share it).
void window_grad_weight_reduce(WindowGradWeightParams const& p, int64_t partials, cudaStream_t stream);

}  // namespace cute_dwconv
