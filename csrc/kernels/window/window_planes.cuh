// NCHW window kernel for planes small enough to stage whole (ConvNeXt's and MobileNet's later
// stages, 28x28 down to 7x7), where a tile of rows leaves most of its lanes idle or has to stack
// planes. A block stages block_planes whole (n, c) planes into shared memory as float32, the zeros
// of their padding included, so that the window loops read no bounds and convert nothing; then each
// lane computes kRows output rows of kCols adjacent columns of one plane, its kK x kK taps in
// registers, into a staged copy of the block's outputs; then the block writes its outputs out, one
// element a lane and consecutive lanes on consecutive elements (an output plane of 7x7 16-bit
// values is 98 bytes, no whole 16-byte chunks, and lanes writing their own columns straight out
// would each touch a sector of their own).
#pragma once

#include <algorithm>
#include <cstdint>

#include <cute/config.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/kernel_attributes.h"
#include "kernels/param_access.h"
#include "kernels/staging/plane_staging.cuh"
#include "kernels/window/window_planes.h"
#include "kernels/window/window_planes_walk.cuh"
#include "plan/planes.h"

namespace cute_dwconv {
namespace window {

struct PlanesGeometry {
  plan::PlanesLayout layout;
  int H, W, Ho, Wo;
  int64_t planes;                    // N * C
  staging::PlaneSource x_source, out_dest;
  cutlass::FastDivmod channel_count;  // plane -> (n, c)
  cutlass::FastDivmod plane_pixels;   // input pixel of the block -> (plane, pixel)
  cutlass::FastDivmod row_pixels;     // input pixel -> (row, column)
  cutlass::FastDivmod block_planes;   // item -> (row group and chunk, plane)
  cutlass::FastDivmod row_groups;     // -> (chunk, row group)
  cutlass::FastDivmod out_pixels;     // output pixel of the block -> (plane, pixel)
  cutlass::FastDivmod out_row_pixels; // output pixel -> (row, column)
};

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) fwd_window_planes_kernel(WindowParams const p, PlanesGeometry const g) {
  using T = typename Cfg::Element;
  constexpr int kK = Cfg::kK, kS = Cfg::kStride, kRows = Cfg::kRows, kCols = Cfg::kCols;
  constexpr int kThreads = Cfg::kThreads;
  plan::PlanesLayout const& l = g.layout;

  extern __shared__ __align__(16) unsigned char smem_bytes[];
  float* const staged = reinterpret_cast<float*>(smem_bytes);
  float* const staged_taps = reinterpret_cast<float*>(smem_bytes + l.in_bytes);
  T* const staged_out = reinterpret_cast<T*>(smem_bytes + l.in_bytes + l.taps_bytes);

  int64_t const plane0 = int64_t(blockIdx.x) * l.block_planes;
  int const planes_here = g.planes - plane0 < l.block_planes ? int(g.planes - plane0) : l.block_planes;
  auto channel_of = [&](int m, int& n, int& c) { g.channel_count(n, c, int(plane0 + m)); };

  // Zeros first (the padding, and the rows and columns past the image that the last lanes' reads
  // reach), then each pixel to its place.
  for (int i = threadIdx.x; i < int(l.in_bytes / 16); i += kThreads) {
    reinterpret_cast<float4*>(smem_bytes)[i] = make_float4(0.f, 0.f, 0.f, 0.f);
  }
  __syncthreads();
  T const* const x = static_cast<T const*>(p.x);
  // Pixel (row, col) of plane m sits at staged row row + padding_h, column col + padding_w.
  staging::PaddedPlaneSlots const slot_of{l.plane_pitch, l.pitch,          l.in_rows,
                                          l.in_cols,     int(p.padding_h), int(p.padding_w)};
  staging::stage_planes<kThreads>(x, g.x_source, plane0, planes_here, g.H, g.W, g.plane_pixels, g.row_pixels,
                                  g.channel_count, staged, slot_of);
  // The planes' taps too, as float32: the lanes then read them without a test of the weight's
  // dtype (one per tap cost the 16-bit 7x7 kernels 32 registers, 128 against 96) or a global load's
  // latency at the start of every item.
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};
  // A window narrower than the bucket (a stride-2 input gradient's phase: 2x2, 2x1, 1x2 of a 3x3)
  // has zero taps past its rows and columns.
  int const Kh = int(p.kh), Kw = int(p.kw);
  staging::load_batched<kThreads>(planes_here * kK * kK, staged_taps, [&](int t, float& value) {
    int const m = t / (kK * kK), i = t % (kK * kK) / kK, j = t % kK;
    if (i < Kh && j < Kw) {
      int n, c;
      channel_of(m, n, c);
      value = weight[int64_t(c) * p.w_stride_c + int64_t(i) * p.w_stride_h + int64_t(j) * p.w_stride_w];
    }
    return t;
  });
  __syncthreads();

  int const items = l.block_planes * l.row_groups * l.chunks;
  for (int item = threadIdx.x; item < items; item += kThreads) {
    int rest, m, chunk, row_group, n, c;
    g.block_planes(rest, m, item);
    if (m >= planes_here) continue;
    g.row_groups(chunk, row_group, rest);
    channel_of(m, n, c);
    float taps[kK][kK];
    CUTE_UNROLL
    for (int t = 0; t < kK * kK; ++t) taps[t / kK][t % kK] = staged_taps[m * kK * kK + t];
    float const b = bias ? float(bias[int64_t(c) * p.bias_stride]) : 0.f;
    float acc[kRows][kCols];
    CUTE_UNROLL
    for (int r = 0; r < kRows; ++r) {
      CUTE_UNROLL
      for (int e = 0; e < kCols; ++e) acc[r][e] = b;
    }
    int const out_row0 = row_group * kRows, out_col0 = chunk * kCols;
    float const* const lane_in = staged + m * l.plane_pitch + out_row0 * kS * l.pitch + out_col0 * kS;
    for_each_window_row<Cfg>(lane_in, l.pitch, [&](int r, int i, float const (&row)[Cfg::kWindow]) {
      CUTE_UNROLL
      for (int j = 0; j < kK; ++j) {
        CUTE_UNROLL
        for (int e = 0; e < kCols; ++e) acc[r][e] = fmaf(taps[i][j], row[e * kS + j], acc[r][e]);
      }
    });
    T* const lane_out = staged_out + m * l.out_pitch;
    CUTE_UNROLL
    for (int r = 0; r < kRows; ++r) {
      int const out_row = out_row0 + r;
      if (out_row >= g.Ho) break;
      CUTE_UNROLL
      for (int e = 0; e < kCols; ++e) {
        if (out_col0 + e < g.Wo) lane_out[out_row * g.Wo + out_col0 + e] = static_cast<T>(acc[r][e]);
      }
    }
  }
  __syncthreads();

  T* const out = static_cast<T*>(p.out);
  int const out_items = planes_here * g.out_pixels.divisor;
  if (g.out_dest.contiguous) {
    staging::store_plane_run<kThreads>(out + plane0 * g.out_pixels.divisor, out_items, g.Ho, g.Wo, g.out_pixels,
                                       g.out_row_pixels, staged_out,
                                       [&](int m, int row, int col) { return m * l.out_pitch + row * g.Wo + col; });
  } else {
    for (int i = threadIdx.x; i < out_items; i += kThreads) {
      int m, pixel, row, col, n, c;
      g.out_pixels(m, pixel, i);
      g.out_row_pixels(row, col, pixel);
      channel_of(m, n, c);
      out[int64_t(n) * g.out_dest.stride_n + int64_t(c) * g.out_dest.stride_c + int64_t(row) * g.out_dest.stride_h +
          int64_t(col) * g.out_dest.stride_w] = staged_out[m * l.out_pitch + pixel];
    }
  }
}

}  // namespace window

template <class Cfg>
LaunchStatus launch_window_planes(WindowParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  if (p.x_stride_w != 1 || p.kh > Cfg::kK || p.kw > Cfg::kK || p.stride_h != Cfg::kStride ||
      p.stride_w != Cfg::kStride || p.dilation_h != 1 || p.dilation_w != 1) {
    return LaunchStatus::kUnsupported;
  }
  constexpr int64_t kIntLimit = int64_t(1) << 30;
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  int64_t const planes = p.N * p.C;
  if (p.H * p.W == 0 || p.H * p.W >= kIntLimit || p.Ho * p.Wo >= kIntLimit || planes >= kIntLimit ||
      magnitude(p.padding_h) >= kIntLimit || magnitude(p.padding_w) >= kIntLimit) {
    return LaunchStatus::kUnsupported;
  }
  DeviceLimits const& limits = device_limits(p.device);
  plan::PlanesShape const shape{p.Ho,         p.Wo,         planes,        Cfg::kK,         Cfg::kStride,
                                Cfg::kRows,   Cfg::kCols,   int(sizeof(T)), Cfg::kThreads,  false};
  // A stride-2 plane stages four times the input pixels per output: half the shared memory a block
  // (fewer planes, more blocks) measured faster at stride 2 (NOTES.md, variant 97).
  int64_t const budget = std::min<int64_t>(limits.smem_per_block_optin, plan::window_planes_smem_budget() / Cfg::kStride);
  window::PlanesGeometry g{};
  g.layout = plan::plan_planes(shape, limits.multiprocessors, budget);
  // The block's input pixels are indexed in an int (the staged ones are few, but a negative padding
  // may leave many unread).
  if (g.layout.block_planes == 0 || g.layout.block_planes * p.H * p.W >= kIntLimit) return LaunchStatus::kUnsupported;
  g.H = int(p.H), g.W = int(p.W), g.Ho = int(p.Ho), g.Wo = int(p.Wo);
  g.planes = planes;
  g.x_source = staging::PlaneSource::of(p.x_stride_n, p.x_stride_c, p.x_stride_h, p.x_stride_w, p.C, p.H, p.W);
  g.out_dest =
      staging::PlaneSource::of(p.out_stride_n, p.out_stride_c, p.out_stride_h, p.out_stride_w, p.C, p.Ho, p.Wo);
  g.channel_count = cutlass::FastDivmod(int(p.C));
  g.plane_pixels = cutlass::FastDivmod(int(p.H * p.W));
  g.row_pixels = cutlass::FastDivmod(int(p.W));
  g.block_planes = cutlass::FastDivmod(g.layout.block_planes);
  g.row_groups = cutlass::FastDivmod(g.layout.row_groups);
  g.out_pixels = cutlass::FastDivmod(int(p.Ho * p.Wo));
  g.out_row_pixels = cutlass::FastDivmod(int(p.Wo));

  constexpr auto kKernel = &window::fwd_window_planes_kernel<Cfg>;
  int const smem_bytes = int(g.layout.smem_bytes);
  if (KernelAttributes<kKernel>::registers_if_launchable(p.device, smem_bytes) == 0) return LaunchStatus::kUnsupported;
  int64_t const grid = (planes + g.layout.block_planes - 1) / g.layout.block_planes;
  kKernel<<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
