// Configuration and launcher of the whole-plane window kernel (window_planes.cuh). Light, like
// window_config.h: the dispatch unit names these without pulling in CuTe.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/launch.h"
#include "window_params.h"

// The whole-plane instantiations: windows within K x K at stride (S, S), dilation 1, as (K, S),
// a call taking the narrowest that holds its window: ConvNeXt's 7x7 and MobileNet's and MSCAN's 3x3
// and 5x5 in their later stages (and the phases of their stride-2 input gradients).
#define CUTE_DWCONV_WINDOW_PLANES_TABLE(X) X(3, 1) X(5, 1) X(7, 1) X(3, 2) X(5, 2) X(7, 2)

namespace cute_dwconv {

// NCHW planes small enough to stage whole (a network's later stages, 28x28 down to 7x7): windows
// within kK x kK at stride (kStride, kStride), dilation 1. A lane computes kRows output rows of
// kCols adjacent columns, its taps in registers.
template <class T, int kK_, int kStride_>
struct WindowPlanesConfig {
  static_assert(kK_ > 0 && kStride_ > 0, "whole-plane windows are fixed");
  using Element = T;
  static constexpr int kK = kK_;
  static constexpr int kStride = kStride_;
  static constexpr int kThreads = 128;
  static constexpr int kRows = 2;
  static constexpr int kCols = kStride_ == 1 ? 8 : 4;
  static constexpr int kInRows = (kRows - 1) * kStride_ + kK_;   // staged rows a lane reads
  static constexpr int kWindow = (kCols - 1) * kStride_ + kK_;   // staged columns it reads per row
};

// kUnsupported where the window is past Cfg's, its stride or dilation another, x's rows are not
// unit-stride, one plane does not fit shared memory, or an index would not fit an int.
template <class Cfg>
LaunchStatus launch_window_planes(WindowParams const& p, cudaStream_t stream);

// The weight gradient of windows within Cfg::kK squared at stride Cfg::kStride on the same planes
// (window_grad_weight_planes.cuh): N partial sums per channel (one an image; 0 where it does not
// take the call), and the launch that writes them into p.workspace.
template <class Cfg>
int64_t window_grad_weight_planes_partials(WindowGradWeightParams const& p);

template <class Cfg>
LaunchStatus launch_window_grad_weight_planes(WindowGradWeightParams const& p, cudaStream_t stream);

}  // namespace cute_dwconv
