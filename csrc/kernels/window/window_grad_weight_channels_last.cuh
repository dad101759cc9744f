// Weight and bias gradients of a small channels_last window (at most kK x kK taps, stride kStride
// along both axes, dilation 1). Adjacent lanes own adjacent runs of kChannels channels, so every read of a pixel is
// one contiguous run across the warp; the warps of a block take runs of kCols output columns in
// turn. Per run a lane holds its grad_out values in registers, reads the kWindow input pixels under
// them once per window row (from L1: the runs above and below read the same rows),
// and adds grad_out x input into one register per channel and tap. The block then sums its warps
// in order through shared memory into one partial per channel and tap, which
// bwd_window_weight_reduce_kernel adds in slice order: the same bits on every run.
#pragma once

#include <cstdint>

#include <cute/config.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/staging/lane_io.cuh"
#include "kernels/window/channels_io.cuh"
#include "kernels/window/window_config.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

struct GradChannelsLastGeometry {
  int channel_lanes;   // lanes along the channels: ceil(C / kChannels), at most 32
  int run_lanes;       // lane groups taking runs: kThreads / channel_lanes
  int block_channels;  // channel_lanes * kChannels
  int groups;          // channel groups: ceil(C / block_channels)
  int slices;          // blocks per channel group
  int64_t runs;        // N * Ho * ceil(Wo / kCols)
  cutlass::FastDivmod slice_count;  // block -> (channel group, slice)
  cutlass::FastDivmod runs_per_row; // run -> (n * Ho + ho, run in the row)
  cutlass::FastDivmod rows;         // -> (n, ho)
};

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads)
    bwd_window_weight_channels_last_kernel(WindowGradWeightParams const p, GradChannelsLastGeometry const g) {
  using T = typename Cfg::Element;
  constexpr int kK = Cfg::kK;
  constexpr int kCh = Cfg::kChannels;
  constexpr int kCols = Cfg::kCols;
  constexpr int kS = Cfg::kStride;
  constexpr int kWindow = Cfg::kWindow;

  int group, slice;
  g.slice_count(group, slice, int(blockIdx.x));
  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Wo = int(p.Wo);
  int const channel_lane = threadIdx.x % g.channel_lanes;
  int const run_lane = threadIdx.x / g.channel_lanes;
  int const c0 = group * g.block_channels + channel_lane * kCh;
  bool const active = c0 < int(p.C) && run_lane < g.run_lanes;
  T const* const x = static_cast<T const*>(p.x) + c0;
  T const* const go = static_cast<T const*>(p.grad_out) + c0;

  float acc[kK][kK][kCh];
  float bias_acc[kCh];
  CUTE_UNROLL
  for (int e = 0; e < kCh; ++e) {
    bias_acc[e] = 0.0f;
    CUTE_UNROLL
    for (int i = 0; i < kK; ++i) {
      CUTE_UNROLL
      for (int j = 0; j < kK; ++j) acc[i][j][e] = 0.0f;
    }
  }

  int64_t const step = int64_t(g.slices) * g.run_lanes;
  for (int64_t run = int64_t(slice) * g.run_lanes + run_lane; active && run < g.runs; run += step) {
    int image_row, run_in_row, n, ho;
    g.runs_per_row(image_row, run_in_row, int(run));
    g.rows(n, ho, image_row);
    int const wo0 = run_in_row * kCols;
    float gv[kCols][kCh];
    CUTE_UNROLL
    for (int u = 0; u < kCols; ++u) {
      if (wo0 + u < Wo) {
        load_run<T, kCh>(go + (int64_t(n) * p.g_stride_n + int64_t(ho) * p.g_stride_h + int64_t(wo0 + u) * p.g_stride_w),
                         gv[u]);
      } else {
        CUTE_UNROLL
        for (int e = 0; e < kCh; ++e) gv[u][e] = 0.0f;
      }
      CUTE_UNROLL
      for (int e = 0; e < kCh; ++e) bias_acc[e] += gv[u][e];
    }
    int const wi0 = wo0 * kS - int(p.padding_w);
    int const reach = (kCols - 1) * kS + Kw;  // the pixels this window's rows read
    CUTE_UNROLL
    for (int i = 0; i < kK; ++i) {
      int const hi = ho * kS - int(p.padding_h) + i;
      if (i < Kh && unsigned(hi) < unsigned(H)) {
        T const* const x_row = x + (int64_t(n) * p.x_stride_n + int64_t(hi) * p.x_stride_h);
        float values[kWindow][kCh];
        CUTE_UNROLL
        for (int t = 0; t < kWindow; ++t) {
          if (unsigned(wi0 + t) < unsigned(W) && t < reach) {
            load_run<T, kCh>(x_row + int64_t(wi0 + t) * p.x_stride_w, values[t]);
          } else {
            CUTE_UNROLL
            for (int e = 0; e < kCh; ++e) values[t][e] = 0.0f;
          }
        }
        CUTE_UNROLL
        for (int j = 0; j < kK; ++j) {
          if (j < Kw) {
            CUTE_UNROLL
            for (int u = 0; u < kCols; ++u) {
              CUTE_UNROLL
              for (int e = 0; e < kCh; ++e) acc[i][j][e] = fmaf(gv[u][e], values[u * kS + j][e], acc[i][j][e]);
            }
          }
        }
      }
    }
  }

  // The run lanes summed in order, per channel and tap: [run lane][channel lane][sum][channel].
  extern __shared__ __align__(16) float red[];
  constexpr int kSums = kK * kK + 1;
  int const lane_base = (run_lane * g.channel_lanes + channel_lane) * kSums * kCh;
  if (run_lane < g.run_lanes) {
    CUTE_UNROLL
    for (int q = 0; q < kSums; ++q) {
      CUTE_UNROLL
      for (int e = 0; e < kCh; ++e) red[lane_base + q * kCh + e] = q < kK * kK ? acc[q / kK][q % kK][e] : bias_acc[e];
    }
  }
  __syncthreads();
  int64_t const taps = int64_t(Kh) * Kw;
  float* const workspace = static_cast<float*>(p.workspace);
  int const per_lane = kSums * kCh;
  for (int t = threadIdx.x; t < g.channel_lanes * per_lane; t += Cfg::kThreads) {
    int const lane = t / per_lane, q = (t % per_lane) / kCh, e = t % kCh;
    int const i = q / kK, j = q % kK;
    int const c = group * g.block_channels + lane * kCh + e;
    bool const bias_sum = q == kK * kK;
    if (c < int(p.C) && (bias_sum || (i < Kh && j < Kw))) {
      float sum = 0.0f;
      for (int r = 0; r < g.run_lanes; ++r) sum += red[(r * g.channel_lanes + lane) * per_lane + q * kCh + e];
      workspace[(int64_t(c) * g.slices + slice) * (taps + 1) + (bias_sum ? taps : i * Kw + j)] = sum;
    }
  }
}

}  // namespace window

// The tiling of launch_window_grad_weight_channels_last, without the launch: whether it takes the
// call (window within the bucket, its stride, dilation 1, x and grad_out with unit channel stride,
// C and every pixel stride a multiple of kChannels, aligned data) and how many slices it sums.
template <class Cfg>
bool plan_window_grad_weight_channels_last(WindowGradWeightParams const& p, window::GradChannelsLastGeometry& g,
                                           int64_t& smem_bytes) {
  using T = typename Cfg::Element;
  constexpr int kCh = Cfg::kChannels;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;
  if (p.kh > Cfg::kK || p.kw > Cfg::kK || p.stride_h != Cfg::kStride || p.stride_w != Cfg::kStride ||
      p.dilation_h != 1 || p.dilation_w != 1 || p.x_stride_c != 1 || p.g_stride_c != 1 || p.C % kCh != 0) {
    return false;
  }
  auto aligned = [](void const* data, int64_t a, int64_t b, int64_t c) {
    return reinterpret_cast<uintptr_t>(data) % (kCh * sizeof(T)) == 0 && a % kCh == 0 && b % kCh == 0 && c % kCh == 0;
  };
  if (!aligned(p.x, p.x_stride_n, p.x_stride_h, p.x_stride_w) ||
      !aligned(p.grad_out, p.g_stride_n, p.g_stride_h, p.g_stride_w)) {
    return false;
  }
  if (p.H >= kCoordLimit || p.W >= kCoordLimit || p.padding_h >= kCoordLimit || p.padding_w >= kCoordLimit ||
      (p.Ho + 64) * Cfg::kStride >= kCoordLimit || (p.Wo + 256) * Cfg::kStride >= kCoordLimit) {
    return false;
  }
  g.channel_lanes = int(std::min<int64_t>(32, p.C / kCh));
  g.run_lanes = Cfg::kThreads / g.channel_lanes;
  g.block_channels = g.channel_lanes * kCh;
  int64_t const groups = (p.C + g.block_channels - 1) / g.block_channels;
  int64_t const runs_per_row = (p.Wo + Cfg::kCols - 1) / Cfg::kCols;
  int64_t const runs = p.N * p.Ho * runs_per_row;
  if (runs >= (int64_t(1) << 31) || p.N * p.Ho >= (int64_t(1) << 31)) return false;
  DeviceLimits const& limits = device_limits(p.device);
  // One wave of blocks (two per multiprocessor fit their registers), and at least kMinRuns runs per
  // lane: each block ends with a shared-memory sum of every lane's kK^2 * kChannels partials, which
  // outweighed the runs themselves at eight blocks per multiprocessor on SegNeXt's 5x5 (8x32x128x128:
  // 2 runs per lane, 0.117 ms, 0.47x PyTorch's weight gradient; NOTES variant 66).
  constexpr int64_t kMinRuns = 8;
  int64_t const target_blocks = int64_t(limits.multiprocessors) * 2;
  int64_t const max_slices = std::max<int64_t>(1, runs / (int64_t(g.run_lanes) * kMinRuns));
  int64_t const slices = std::max<int64_t>(1, std::min<int64_t>(max_slices, (target_blocks + groups - 1) / groups));
  if (groups * slices >= (int64_t(1) << 31)) return false;
  smem_bytes = int64_t(Cfg::kThreads) * (Cfg::kK * Cfg::kK + 1) * kCh * int64_t(sizeof(float));
  if (smem_bytes > limits.smem_per_block_optin) return false;
  g.groups = int(groups);
  g.slices = int(slices);
  g.runs = runs;
  g.slice_count = cutlass::FastDivmod(int(slices));
  g.runs_per_row = cutlass::FastDivmod(int(runs_per_row));
  g.rows = cutlass::FastDivmod(int(p.Ho));
  return true;
}

template <class Cfg>
int64_t window_grad_weight_channels_last_partials(WindowGradWeightParams const& p) {
  window::GradChannelsLastGeometry g{};
  int64_t smem_bytes = 0;
  return plan_window_grad_weight_channels_last<Cfg>(p, g, smem_bytes) ? g.slices : 0;
}

// Writes slices partial sums per channel into p.workspace ((C, slices, kh * kw + 1) floats).
template <class Cfg>
LaunchStatus launch_window_grad_weight_channels_last(WindowGradWeightParams const& p, cudaStream_t stream) {
  window::GradChannelsLastGeometry g{};
  int64_t smem_bytes = 0;
  if (!plan_window_grad_weight_channels_last<Cfg>(p, g, smem_bytes)) return LaunchStatus::kUnsupported;
  constexpr auto kernel = &window::bwd_window_weight_channels_last_kernel<Cfg>;
  if (KernelAttributes<kernel>::registers_if_launchable(p.device, int(smem_bytes)) == 0) {
    return LaunchStatus::kUnsupported;
  }
  kernel<<<dim3(unsigned(int64_t(g.groups) * g.slices)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
