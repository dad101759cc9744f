// NCHW weight gradient of windows within kK x kK (stride kStride, dilation 1) on planes small enough
// to stage whole, the forward's whole-plane kernel turned around (window_planes.cuh): a block
// stages block_planes whole (n, c) planes of x, with their padding, and of grad_out as float32;
// each lane keeps one plane and sums grad_out times the window under it over that plane's items
// (kRows output rows of kCols columns each) into kK x kK + 1 registers (the taps, then the bias);
// then the lanes of each plane are added in a fixed order into one partial sum per plane, which
// launch_window_grad_weight_reduce adds over the images. The tiles (window_grad_weight_tile.cuh)
// stack a channel's images instead, and spent 2-4x the forward's time on these planes.
#pragma once

#include <algorithm>
#include <cstdint>

#include <cute/config.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/kernel_attributes.h"
#include "kernels/staging/plane_staging.cuh"
#include "kernels/window/window_planes.h"
#include "kernels/window/window_planes_walk.cuh"
#include "plan/planes.h"

namespace cute_dwconv {
namespace window {

struct GradPlanesGeometry {
  plan::PlanesLayout layout;
  int H, W, Ho, Wo, N;
  int64_t planes;                     // N * C
  staging::PlaneSource x_source, grad_source;
  cutlass::FastDivmod channel_count;   // plane -> (n, c)
  cutlass::FastDivmod plane_pixels;    // x pixel of the block -> (plane, pixel)
  cutlass::FastDivmod row_pixels;      // x pixel -> (row, column)
  cutlass::FastDivmod out_pixels;      // grad_out pixel of the block -> (plane, pixel)
  cutlass::FastDivmod out_row_pixels;  // grad_out pixel -> (row, column)
  cutlass::FastDivmod block_planes;    // item -> (row group and chunk, plane)
  cutlass::FastDivmod row_groups;      // -> (chunk, row group)
};

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads)
    bwd_window_weight_planes_kernel(WindowGradWeightParams const p, GradPlanesGeometry const g) {
  using T = typename Cfg::Element;
  constexpr int kK = Cfg::kK, kS = Cfg::kStride, kRows = Cfg::kRows, kCols = Cfg::kCols;
  constexpr int kThreads = Cfg::kThreads;
  constexpr int kSums = kK * kK + 1;
  plan::PlanesLayout const& l = g.layout;

  extern __shared__ __align__(16) unsigned char smem_bytes[];
  int64_t const partial_bytes = int64_t(kThreads) * kSums * 4;
  int64_t const x_bytes = l.in_bytes > partial_bytes ? l.in_bytes : partial_bytes;
  float* const staged_x = reinterpret_cast<float*>(smem_bytes);
  float* const staged_grad = reinterpret_cast<float*>(smem_bytes + x_bytes);

  int64_t const plane0 = int64_t(blockIdx.x) * l.block_planes;
  int const planes_here = g.planes - plane0 < l.block_planes ? int(g.planes - plane0) : l.block_planes;
  auto channel_of = [&](int m, int& n, int& c) { g.channel_count(n, c, int(plane0 + m)); };

  // Zeros first (x's padding and what lies past the image under the last lanes' windows; grad_out
  // past its last row and column, so that those products add nothing), then each pixel to its place.
  int const grad_words = (l.block_planes * l.grad_pitch + 3) / 4;
  for (int i = threadIdx.x; i < int(l.in_bytes / 16); i += kThreads) {
    reinterpret_cast<float4*>(staged_x)[i] = make_float4(0.f, 0.f, 0.f, 0.f);
  }
  for (int i = threadIdx.x; i < grad_words; i += kThreads) {
    reinterpret_cast<float4*>(staged_grad)[i] = make_float4(0.f, 0.f, 0.f, 0.f);
  }
  __syncthreads();
  T const* const x = static_cast<T const*>(p.x);
  T const* const grad = static_cast<T const*>(p.grad_out);
  staging::PaddedPlaneSlots const x_slot{l.plane_pitch, l.pitch,          l.in_rows,
                                         l.in_cols,     int(p.padding_h), int(p.padding_w)};
  auto grad_slot = [&](int m, int row, int col) { return m * l.grad_pitch + row * l.grad_cols + col; };
  staging::stage_planes<kThreads>(x, g.x_source, plane0, planes_here, g.H, g.W, g.plane_pixels, g.row_pixels,
                                  g.channel_count, staged_x, x_slot);
  staging::stage_planes<kThreads>(grad, g.grad_source, plane0, planes_here, g.Ho, g.Wo, g.out_pixels,
                                  g.out_row_pixels, g.channel_count, staged_grad, grad_slot);
  __syncthreads();

  // A lane keeps one plane (kThreads is a multiple of block_planes) and walks its items.
  float acc[kK][kK];
  CUTE_UNROLL
  for (int i = 0; i < kK; ++i) {
    CUTE_UNROLL
    for (int j = 0; j < kK; ++j) acc[i][j] = 0.0f;
  }
  float bias_acc = 0.0f;
  int const items = l.block_planes * l.row_groups * l.chunks;
  for (int item = threadIdx.x; item < items; item += kThreads) {
    int rest, m, chunk, row_group;
    g.block_planes(rest, m, item);
    if (m >= planes_here) break;
    g.row_groups(chunk, row_group, rest);
    int const out_row0 = row_group * kRows, out_col0 = chunk * kCols;
    float gv[kRows][kCols];
    float const* const lane_grad = staged_grad + m * l.grad_pitch + out_row0 * l.grad_cols + out_col0;
    CUTE_UNROLL
    for (int r = 0; r < kRows; ++r) {
      CUTE_UNROLL
      for (int e = 0; e < kCols; ++e) {
        gv[r][e] = lane_grad[r * l.grad_cols + e];
        bias_acc += gv[r][e];
      }
    }
    float const* const lane_in = staged_x + m * l.plane_pitch + out_row0 * kS * l.pitch + out_col0 * kS;
    for_each_window_row<Cfg>(lane_in, l.pitch, [&](int r, int i, float const (&row)[Cfg::kWindow]) {
      CUTE_UNROLL
      for (int j = 0; j < kK; ++j) {
        CUTE_UNROLL
        for (int e = 0; e < kCols; ++e) acc[i][j] = fmaf(gv[r][e], row[e * kS + j], acc[i][j]);
      }
    });
  }
  __syncthreads();  // x is read: its place takes the lanes' sums

  float* const partials = staged_x;  // [kSums][kThreads]
  CUTE_UNROLL
  for (int q = 0; q < kSums; ++q) partials[q * kThreads + threadIdx.x] = q < kK * kK ? acc[q / kK][q % kK] : bias_acc;
  __syncthreads();
  // Plane m's lanes are m, m + block_planes, ...: added in that order, one partial sum per plane.
  int const lanes_per_plane = kThreads / l.block_planes;
  int64_t const taps = p.kh * p.kw;
  float* const workspace = static_cast<float*>(p.workspace);
  for (int q = threadIdx.x; q < l.block_planes * kSums; q += kThreads) {
    int const m = q % l.block_planes, sum_index = q / l.block_planes;
    int const i = sum_index / kK, j = sum_index % kK;
    bool const bias_sum = sum_index == kK * kK;
    if (m >= planes_here || !(bias_sum || (i < p.kh && j < p.kw))) continue;
    float sum = 0.0f;
    for (int k = 0; k < lanes_per_plane; ++k) sum += partials[sum_index * kThreads + m + k * l.block_planes];
    int n, c;
    channel_of(m, n, c);
    workspace[(int64_t(c) * g.N + n) * (taps + 1) + (bias_sum ? taps : i * p.kw + j)] = sum;
  }
}

// The plan of launch_window_grad_weight_planes, without the launch: false where it does not take
// the call (window past the bucket, its stride, dilation 1, x's rows unit-stride, a plane that does
// not fit shared memory, indices past an int).
template <class Cfg>
bool plan_window_grad_weight_planes(WindowGradWeightParams const& p, GradPlanesGeometry& g) {
  using T = typename Cfg::Element;
  if (p.kh > Cfg::kK || p.kw > Cfg::kK || p.stride_h != Cfg::kStride || p.stride_w != Cfg::kStride ||
      p.dilation_h != 1 || p.dilation_w != 1 || p.x_stride_w != 1) {
    return false;
  }
  constexpr int64_t kIntLimit = int64_t(1) << 30;
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  int64_t const planes = p.N * p.C;
  if (p.H * p.W == 0 || p.H * p.W >= kIntLimit || p.Ho * p.Wo >= kIntLimit || planes >= kIntLimit ||
      magnitude(p.padding_h) >= kIntLimit || magnitude(p.padding_w) >= kIntLimit) {
    return false;
  }
  DeviceLimits const& limits = device_limits(p.device);
  plan::PlanesShape const shape{p.Ho,       p.Wo,       planes,         Cfg::kK,        Cfg::kStride,
                                Cfg::kRows, Cfg::kCols, int(sizeof(T)), Cfg::kThreads, true};
  int64_t const budget = std::min<int64_t>(limits.smem_per_block_optin, plan::window_planes_smem_budget() / Cfg::kStride);
  g.layout = plan::plan_planes(shape, limits.multiprocessors, budget);
  if (g.layout.block_planes == 0 || g.layout.block_planes * p.H * p.W >= kIntLimit) return false;
  g.H = int(p.H), g.W = int(p.W), g.Ho = int(p.Ho), g.Wo = int(p.Wo), g.N = int(p.N);
  g.planes = planes;
  g.x_source = staging::PlaneSource::of(p.x_stride_n, p.x_stride_c, p.x_stride_h, p.x_stride_w, p.C, p.H, p.W);
  g.grad_source = staging::PlaneSource::of(p.g_stride_n, p.g_stride_c, p.g_stride_h, p.g_stride_w, p.C, p.Ho, p.Wo);
  g.channel_count = cutlass::FastDivmod(int(p.C));
  g.plane_pixels = cutlass::FastDivmod(int(p.H * p.W));
  g.row_pixels = cutlass::FastDivmod(int(p.W));
  g.out_pixels = cutlass::FastDivmod(int(p.Ho * p.Wo));
  g.out_row_pixels = cutlass::FastDivmod(int(p.Wo));
  g.block_planes = cutlass::FastDivmod(g.layout.block_planes);
  g.row_groups = cutlass::FastDivmod(g.layout.row_groups);
  return true;
}

}  // namespace window

template <class Cfg>
int64_t window_grad_weight_planes_partials(WindowGradWeightParams const& p) {
  window::GradPlanesGeometry g{};
  return window::plan_window_grad_weight_planes<Cfg>(p, g) ? p.N : 0;
}

template <class Cfg>
LaunchStatus launch_window_grad_weight_planes(WindowGradWeightParams const& p, cudaStream_t stream) {
  window::GradPlanesGeometry g{};
  if (!window::plan_window_grad_weight_planes<Cfg>(p, g)) return LaunchStatus::kUnsupported;
  constexpr auto kKernel = &window::bwd_window_weight_planes_kernel<Cfg>;
  int const smem_bytes = int(g.layout.grad_smem_bytes);
  if (KernelAttributes<kKernel>::registers_if_launchable(p.device, smem_bytes) == 0) return LaunchStatus::kUnsupported;
  int64_t const grid = (g.planes + g.layout.block_planes - 1) / g.layout.block_planes;
  kKernel<<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
