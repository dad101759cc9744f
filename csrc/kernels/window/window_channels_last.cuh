// channels_last window kernel, for (Kh, Kw) depthwise windows on NHWC data. Adjacent lanes own
// adjacent groups of kChannels channels of the same pixels, so every read of a row of input columns
// is one contiguous run of memory across the warp. Each lane computes kRows output rows of kCols
// adjacent columns: it reads each input row under them once (kWindow columns of its channels, into
// registers) and adds it into every output row whose window holds it, with that window row's taps,
// which the block stages in shared memory per channel ([tap][channel], one 16-byte read per tap).
// The lanes of a block cover neighbouring pixels, so the input rows and columns their windows share
// are read from L1.
#pragma once

#include <cstdint>

#include <cute/config.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"
#include "kernels/window/channels_io.cuh"
#include "kernels/window/channels_last_fits.h"
#include "kernels/window/window_config.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

struct ChannelsLastGeometry {
  int channel_lanes;    // lanes along the channels: ceil(C / kChannels), at most 32
  int col_lanes;        // lane groups along an output row
  int row_lanes;        // lane groups down the output
  int block_channels;   // channel_lanes * kChannels
  int vector_stores;    // out's pixels and channels allow kChannels-wide stores
  int64_t tiles;
  cutlass::FastDivmod channel_groups;  // tile -> (pixel tile, channel group)
  cutlass::FastDivmod col_tiles;       // pixel tile -> (n * row tiles + row tile, column tile)
  cutlass::FastDivmod row_tiles;       // -> (n, row tile)
};

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads)
    fwd_window_channels_last_kernel(WindowParams const p, ChannelsLastGeometry const g) {
  using T = typename Cfg::Element;
  constexpr int kCh = Cfg::kChannels;
  constexpr int kCols = Cfg::kCols;
  constexpr int kRows = Cfg::kRows;
  constexpr int kS = Cfg::kStride;
  constexpr int kKwMax = Cfg::kKwMax;
  constexpr int kWindow = Cfg::kWindow;

  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);
  extern __shared__ __align__(16) float taps[];  // [Kh * Kw][block_channels]

  int const channel_lane = threadIdx.x % g.channel_lanes;
  int const pixel_lane = threadIdx.x / g.channel_lanes;
  int const col_lane = pixel_lane % g.col_lanes;
  int const row_lane = pixel_lane / g.col_lanes;
  bool const has_pixels = row_lane < g.row_lanes;
  int const tile_cols = g.col_lanes * kCols;
  int const tile_rows = g.row_lanes * kRows;

  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};

  // The grid is a whole number of channel groups, so a block keeps one group across its tiles and
  // stages that group's taps once (per tile, the scattered tap reads cost as much as the input's).
  int const group = int(blockIdx.x % unsigned(g.channel_groups.divisor));
  int const c_block = group * g.block_channels;
  {
    // Lanes along the channels, so that the writes of a pass are adjacent words (lanes along the
    // taps wrote words block_channels apart: ncu counted 8.3M bank conflicts on ConvNeXt's 7x7).
    int const taps_count = Kh * Kw;
    int const channel_lanes = min(g.block_channels, Cfg::kThreads);
    int const taps_per_pass = Cfg::kThreads / channel_lanes;
    int const first_tap = int(threadIdx.x) < taps_per_pass * channel_lanes ? threadIdx.x / channel_lanes : taps_count;
    for (int tap = first_tap; tap < taps_count; tap += taps_per_pass) {
      int64_t const offset = int64_t(tap / Kw) * p.w_stride_h + int64_t(tap % Kw) * p.w_stride_w;
      for (int cl = threadIdx.x % channel_lanes; cl < g.block_channels; cl += channel_lanes) {
        int const c = c_block + cl;
        taps[tap * g.block_channels + cl] = c < p.C ? static_cast<float>(weight[int64_t(c) * p.w_stride_c + offset]) : 0.0f;
      }
    }
  }
  __syncthreads();

  for (int64_t tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
    int pixel_tile, tile_group, image_row, col_tile, n, row_tile;
    g.channel_groups(pixel_tile, tile_group, int(tile));
    g.col_tiles(image_row, col_tile, pixel_tile);
    g.row_tiles(n, row_tile, image_row);

    int const c0 = c_block + channel_lane * kCh;
    int const ho0 = row_tile * tile_rows + row_lane * kRows;
    int const wo0 = col_tile * tile_cols + col_lane * kCols;
    if (has_pixels && c0 < p.C && ho0 < Ho && wo0 < Wo) {
      float acc[kRows][kCols][kCh];
      float bias_values[kCh];
      CUTE_UNROLL
      for (int e = 0; e < kCh; ++e) bias_values[e] = bias ? static_cast<float>(bias[int64_t(c0 + e) * p.bias_stride]) : 0.0f;
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        CUTE_UNROLL
        for (int v = 0; v < kCols; ++v) {
          CUTE_UNROLL
          for (int e = 0; e < kCh; ++e) acc[r][v][e] = bias_values[e];
        }
      }
      T const* const x_image = x + (int64_t(n) * p.x_stride_n + c0);
      int const wi0 = wo0 * kS - int(p.padding_w);
      int const window_cols = (kCols - 1) * kS + Kw;
      float const* const lane_taps = taps + channel_lane * kCh;

      int const input_rows = (kRows - 1) * kS + Kh;
      for (int i = 0; i < input_rows; ++i) {
        int const hi = ho0 * kS - int(p.padding_h) + i;
        if (unsigned(hi) >= unsigned(H)) continue;
        float values[kWindow][kCh];
        T const* const x_row = x_image + int64_t(hi) * p.x_stride_h;
        CUTE_UNROLL
        for (int q = 0; q < kWindow; ++q) {
          int const wi = wi0 + q;
          if (q < window_cols && unsigned(wi) < unsigned(W)) {
            load_run<T, kCh>(x_row + int64_t(wi) * p.x_stride_w, values[q]);
          } else {
            CUTE_UNROLL
            for (int e = 0; e < kCh; ++e) values[q][e] = 0.0f;
          }
        }
        CUTE_UNROLL
        for (int r = 0; r < kRows; ++r) {
          int const kh = i - r * kS;
          if (kh < 0 || kh >= Kh) continue;
          float const* const row_taps = lane_taps + kh * Kw * g.block_channels;
          CUTE_UNROLL
          for (int j = 0; j < kKwMax; ++j) {
            if (j < Kw) {
              float4 const w = *reinterpret_cast<float4 const*>(row_taps + j * g.block_channels);
              float const wv[4] = {w.x, w.y, w.z, w.w};
              CUTE_UNROLL
              for (int v = 0; v < kCols; ++v) {
                CUTE_UNROLL
                for (int e = 0; e < kCh; ++e) acc[r][v][e] = fmaf(wv[e], values[v * kS + j][e], acc[r][v][e]);
              }
            }
          }
        }
      }

      T* const out_image = out + (int64_t(n) * p.out_stride_n + c0);
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        int const ho = ho0 + r;
        if (ho >= Ho) break;
        CUTE_UNROLL
        for (int v = 0; v < kCols; ++v) {
          int const wo = wo0 + v;
          if (wo < Wo) {
            store_run<T, kCh>(out_image + int64_t(ho) * p.out_stride_h + int64_t(wo) * p.out_stride_w,
                                   g.vector_stores != 0, acc[r][v]);
          }
        }
      }
    }
  }
}

}  // namespace window

// Plans and launches fwd_window_channels_last_kernel; kUnsupported unless x and out have unit channel
// stride, C is a multiple of 4 and x's pixels start on kChannels-element boundaries, and the taps
// of a block's channels fit shared memory.
template <class Cfg>
LaunchStatus launch_window_channels_last(WindowParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int kCh = Cfg::kChannels;
  if (!channels_last_window_fits<Cfg>(p)) return LaunchStatus::kUnsupported;
  auto aligned = [](void const* data, int64_t a, int64_t b, int64_t c) {
    return reinterpret_cast<uintptr_t>(data) % (kCh * sizeof(T)) == 0 && a % kCh == 0 && b % kCh == 0 && c % kCh == 0;
  };
  if (!aligned(p.x, p.x_stride_n, p.x_stride_h, p.x_stride_w)) return LaunchStatus::kUnsupported;

  window::ChannelsLastGeometry g{};
  g.channel_lanes = int(std::min<int64_t>(32, p.C / kCh));
  g.block_channels = g.channel_lanes * kCh;
  int const pixel_lanes = Cfg::kThreads / g.channel_lanes;
  // Rows before columns: a lane's input rows are shared with the lanes above and below it.
  int64_t const cols_needed = (p.Wo + Cfg::kCols - 1) / Cfg::kCols;
  g.col_lanes = int(std::min<int64_t>(cols_needed, std::max(1, pixel_lanes / 4)));
  g.row_lanes = pixel_lanes / g.col_lanes;
  g.vector_stores = aligned(p.out, p.out_stride_n, p.out_stride_h, p.out_stride_w) ? 1 : 0;

  int64_t const smem_bytes = p.kh * p.kw * g.block_channels * int64_t(sizeof(float));
  if (smem_bytes > 48 * 1024) return LaunchStatus::kUnsupported;

  int64_t const groups = (p.C + g.block_channels - 1) / g.block_channels;
  int64_t const col_tiles = (p.Wo + int64_t(g.col_lanes) * Cfg::kCols - 1) / (int64_t(g.col_lanes) * Cfg::kCols);
  int64_t const row_tiles = (p.Ho + int64_t(g.row_lanes) * Cfg::kRows - 1) / (int64_t(g.row_lanes) * Cfg::kRows);
  constexpr int64_t kIndexLimit = int64_t(1) << 31;
  g.tiles = p.N * row_tiles * col_tiles * groups;
  if (g.tiles >= kIndexLimit) return LaunchStatus::kUnsupported;
  g.channel_groups = cutlass::FastDivmod(int(groups));
  g.col_tiles = cutlass::FastDivmod(int(col_tiles));
  g.row_tiles = cutlass::FastDivmod(int(row_tiles));

  int const registers = KernelAttributes<&window::fwd_window_channels_last_kernel<Cfg>>::registers(p.device);
  if (registers == 0) return LaunchStatus::kUnsupported;
  DeviceLimits const& limits = device_limits(p.device);
  int const blocks_per_sm = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_bytes));
  // A whole number of channel groups (g.tiles is one), so that each block keeps its group.
  int64_t const cap = std::max<int64_t>(groups, int64_t(blocks_per_sm) * limits.multiprocessors * 8 / groups * groups);
  int64_t const grid = std::min<int64_t>(g.tiles, cap);
  window::fwd_window_channels_last_kernel<Cfg><<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
