// Declarations of the window kernels' launchers. Definitions live in the .cuh files beside this one
// and are instantiated in csrc/instantiations/window_*.cu, so they compile in parallel.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/launch.h"
#include "window_params.h"

namespace cute_dwconv {

// NCHW: rows of x staged in shared memory; x needs unit column stride.
template <class Cfg>
LaunchStatus launch_window_tile(WindowParams const& p, cudaStream_t stream);

// NCHW 16-bit windows on tensor cores. window_mma_band_steps: the band depth (16-column steps) the
// call needs, which a Cfg::kKSteps at least as deep takes, or 0 where none can (stride or dilation
// above 1, rows not 16-byte aligned).
template <class T>
int window_mma_band_steps(WindowParams const& p);

template <class Cfg>
LaunchStatus launch_window_mma(WindowParams const& p, cudaStream_t stream);

// channels_last 16-bit windows on tensor cores: the band depth the call needs, or 0 where the kernel
// cannot take it (stride or dilation above 1, C not a multiple of 8, pixels not 16-byte aligned).
// The launch refuses plans of one block an SM for windows of fewer than one_block_taps taps.
template <class T>
int window_mma_channels_last_band_steps(WindowParams const& p);

template <class Cfg>
LaunchStatus launch_window_mma_channels_last(WindowParams const& p, int64_t one_block_taps, cudaStream_t stream);

// channels_last: x and out with unit channel stride, C a multiple of 4; input read through L1.
template <class Cfg>
LaunchStatus launch_window_channels_last(WindowParams const& p, cudaStream_t stream);

// channels_last with the input staged in shared memory: as above, and x's pixels 8-byte aligned.
template <class Cfg>
LaunchStatus launch_window_channels_last_tile(WindowParams const& p, cudaStream_t stream);

// Any strides, window, stride, padding and dilation; float64 included.
template <class T>
LaunchStatus launch_window_direct(WindowParams const& p, cudaStream_t stream);

// The input gradient at any stride, gathered per input element; p is the forward call's geometry
// with x's strides replaced by grad_input's and out's by grad_out's.
template <class T>
void launch_window_grad_input_gather(WindowParams const& p, void const* grad_out, void* grad_input,
                                     cudaStream_t stream);

// The input gradient at stride (2, 2), dilation 1, windows within Cfg::kK squared, in one pass; p as
// for the gather. kUnsupported where grad_out's rows do not stage with 16-byte copies.
template <class Cfg>
LaunchStatus launch_window_grad_input_phases(WindowParams const& p, void const* grad_out, void* grad_input,
                                             cudaStream_t stream);

// The general weight gradient: any window, stride and dilation that fit a tile in shared memory.
template <class T>
WindowGradWeightPlan plan_window_grad_weight(WindowGradWeightParams const& p);

// Writes the general kernel's partial sums per tile into p.workspace.
template <class T>
LaunchStatus launch_window_grad_weight(WindowGradWeightParams const& p, WindowGradWeightPlan const& plan,
                                       cudaStream_t stream);

// NCHW windows within Cfg::kK squared at unit stride and dilation, one register per tap: partial
// sums per channel (0 where it declines), and the launch that writes them into p.workspace.
template <class Cfg>
int64_t window_grad_weight_tile_partials(WindowGradWeightParams const& p);

template <class Cfg>
LaunchStatus launch_window_grad_weight_tile(WindowGradWeightParams const& p, cudaStream_t stream);

// The same for channels_last x and grad_out (unit channel stride, C a multiple of the lane's channels).
template <class Cfg>
int64_t window_grad_weight_channels_last_partials(WindowGradWeightParams const& p);

template <class Cfg>
LaunchStatus launch_window_grad_weight_channels_last(WindowGradWeightParams const& p, cudaStream_t stream);

// The same with x and grad_out staged in shared memory (pixels that stage with 8- or 16-byte copies).
template <class Cfg>
int64_t window_grad_weight_channels_last_tile_partials(WindowGradWeightParams const& p);

template <class Cfg>
LaunchStatus launch_window_grad_weight_channels_last_tile(WindowGradWeightParams const& p, cudaStream_t stream);

// The same for 16-bit NCHW windows on tensor cores (stride 1, dilation 1).
template <class Cfg>
int64_t window_grad_weight_mma_partials(WindowGradWeightParams const& p);

template <class Cfg>
LaunchStatus launch_window_grad_weight_mma(WindowGradWeightParams const& p, cudaStream_t stream);

// The same for channels_last 16-bit windows on tensor cores (stride 1, dilation 1, C a multiple of 8,
// pixels 16-byte aligned); plans of one block an SM only for windows of one_block_taps taps or more.
template <class Cfg>
int64_t window_grad_weight_mma_channels_last_partials(WindowGradWeightParams const& p, int64_t one_block_taps);

template <class Cfg>
LaunchStatus launch_window_grad_weight_mma_channels_last(WindowGradWeightParams const& p, int64_t one_block_taps,
                                                         cudaStream_t stream);

// grad_weight and grad_bias: `partials` sums per channel and tap in p.workspace, added in order.
template <class T>
void launch_window_grad_weight_reduce(WindowGradWeightParams const& p, int64_t partials, cudaStream_t stream);

}  // namespace cute_dwconv
