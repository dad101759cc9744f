// Weight and bias gradients of a channels_last window (within kK x kK taps, stride kStride along both
// axes, dilation 1) with staged input. A block owns one chunk of channels (64 bytes of each pixel,
// as the staged forward) and every slices-th tile of output pixels of it; per tile it stages the
// input pixels under the tile and the tile's grad_out pixels into shared memory (cp.async, zero
// outside the image), the next tile's copies in flight while this one computes. A lane owns
// kChannels adjacent channels and all kK x kK sums of them: per item (kCols adjacent grad_out pixels
// of one row) it reads the grad_out values once, then slides along each window row's input pixels,
// every staged value read once an item and used for kK taps. The lanes that share channels are
// summed by shuffles and through shared memory in a fixed order, and each block writes one partial
// per channel and tap, which bwd_window_weight_reduce_kernel adds in slice order: the same bits on
// every run.
//
// The kernel before this one gave each warp one window row: every warp read and converted the same
// grad_out values, and every input value was converted once per warp; the conversions kept the
// integer pipe and the barriers busy and the FMA pipe at a third of its rate (NOTES.md, variant 101).
//
// Images much shorter than a tile (a network's later stages) are stacked, `group` of them a tile,
// so that a tile holds at least two items a lane.
#pragma once

#include <algorithm>
#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/staging/pixel_patch.cuh"
#include "kernels/staging/tile_walk.cuh"
#include "kernels/window/channels_io.cuh"
#include "kernels/window/window_config.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

struct GradChannelsLastTileGeometry {
  int tile_rows, tile_cols;  // grad_out pixels per tile and image (tile_cols = runs * kCols)
  int runs;                  // items per tile row
  int group;                 // images stacked in a tile
  int in_rows, in_cols;      // staged input pixels per tile and image
  int x_pitch, g_pitch;      // elements per staged row of x and of grad_out
  int image_elems;           // elements per staged image: in_rows * x_pitch + tile_rows * g_pitch
  int buffers;               // 2: the next tile is staged while this one computes
  int chunks, slices;        // chunks of channels, and blocks per chunk
  int64_t tiles;             // tiles per chunk: image slots * row tiles * strips
  cutlass::FastDivmod strips;     // tile -> (slot * row tiles + row tile, strip)
  cutlass::FastDivmod row_tiles;  // -> (slot, row tile)
  cutlass::FastDivmod x_cols;     // staged x pixel -> (row, column)
  cutlass::FastDivmod g_cols;     // staged grad_out pixel -> (row, column)
};

template <class Cfg, int kCopyBytes>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kBlocksPerSm)
    bwd_window_weight_channels_last_tile_kernel(WindowGradWeightParams const p, GradChannelsLastTileGeometry const g) {
  using T = typename Cfg::Element;
  constexpr int kK = Cfg::kK;
  constexpr int kS = Cfg::kStride;
  constexpr int kCh = Cfg::kChannels;
  constexpr int kChunk = Cfg::kChunk;
  constexpr int kLanesPerPixel = Cfg::kLanesPerPixel;
  constexpr int kPixelLanes = Cfg::kPixelLanes;
  constexpr int kCols = Cfg::kCols;
  constexpr int kWindow = Cfg::kWindow;
  constexpr int kSums = kK * kK + 1;

  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo), C = int(p.C), N = int(p.N);

  extern __shared__ __align__(128) unsigned char smem_bytes[];
  int const x_elems = g.in_rows * g.x_pitch;
  auto x_patch_of = [&](int buffer, int member) {
    return reinterpret_cast<T*>(smem_bytes) + (buffer * g.group + member) * g.image_elems;
  };
  auto g_patch_of = [&](int buffer, int member) { return x_patch_of(buffer, member) + x_elems; };

  int const chunk = int(blockIdx.x) % g.chunks;
  int const slice = int(blockIdx.x) / g.chunks;
  int const c_block = chunk * kChunk;
  T const* const x = static_cast<T const*>(p.x) + c_block;
  T const* const go = static_cast<T const*>(p.grad_out) + c_block;

  struct Coords {
    int n0, out_row0, out_col0;  // n0: the tile's first image; the stacked ones follow it
  };
  auto coords_of = [&](int64_t tile) {
    int slot_row_tile, strip, slot, row_tile;
    g.strips(slot_row_tile, strip, int(tile));
    g.row_tiles(slot, row_tile, slot_row_tile);
    return Coords{slot * g.group, row_tile * g.tile_rows, strip * g.tile_cols};
  };
  // Images past the last stage as zeros (no rows inside), so their products add nothing.
  auto stage = [&](Coords const& k, int buffer) {
    staging::PixelPatchSource const xs{k.out_row0 * kS - int(p.padding_h), k.out_col0 * kS - int(p.padding_w), H, W,
                                       p.x_stride_h, p.x_stride_w, C - c_block};
    staging::stage_image_patches<T, kChunk, kCopyBytes, Cfg::kThreads>(x, p.x_stride_n, k.n0, g.group, N, xs, g.in_rows,
                                                                       g.x_cols, x_patch_of(buffer, 0), g.image_elems,
                                                                       g.x_pitch);
    staging::PixelPatchSource const gs{k.out_row0, k.out_col0, Ho, Wo, p.g_stride_h, p.g_stride_w, C - c_block};
    staging::stage_image_patches<T, kChunk, kCopyBytes, Cfg::kThreads>(go, p.g_stride_n, k.n0, g.group, N, gs,
                                                                       g.tile_rows, g.g_cols, g_patch_of(buffer, 0),
                                                                       g.image_elems, g.g_pitch);
  };

  int const lane_channels = (int(threadIdx.x) % kLanesPerPixel) * kCh;
  int const pixel_lane = int(threadIdx.x) / kLanesPerPixel;
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

  int const items = g.group * g.tile_rows * g.runs;
  staging::walk_tiles_compact(
      int64_t(slice), g.tiles, int64_t(g.slices), g.buffers == 2,
      [&](int64_t tile, int buffer) { stage(coords_of(tile), buffer); },
      [&](int64_t, int buffer) {
        // Rows vary fastest across the pixel lanes: the lanes of a warp read rows kS (x) and 1
        // (grad_out) apart, which the launcher's row padding puts in opposite halves of the banks.
        for (int item = pixel_lane; item < items; item += kPixelLanes) {
          int const r = item % g.tile_rows;
          int const rest = item / g.tile_rows;
          int const run = rest % g.runs, member = rest / g.runs;
          T const* const g_run = g_patch_of(buffer, member) + r * g.g_pitch + run * kCols * kChunk + lane_channels;
          float gv[kCols][kCh];
          CUTE_UNROLL
          for (int u = 0; u < kCols; ++u) {
            load_run<T, kCh, RunSource::kShared>(g_run + u * kChunk, gv[u]);
            CUTE_UNROLL
            for (int e = 0; e < kCh; ++e) bias_acc[e] += gv[u][e];
          }
          T const* const x_run =
              x_patch_of(buffer, member) + (r * kS) * g.x_pitch + (run * kCols * kS) * kChunk + lane_channels;
          CUTE_UNROLL
          for (int i = 0; i < kK; ++i) {
            if (i < Kh) {
              // The window row's input pixels, each loaded just before its first use.
              T const* const x_row = x_run + i * g.x_pitch;
              float window[kWindow][kCh];
              CUTE_UNROLL
              for (int t = 0; t < kK - 1; ++t) load_run<T, kCh, RunSource::kShared>(x_row + t * kChunk, window[t]);
              CUTE_UNROLL
              for (int u = 0; u < kCols; ++u) {
                CUTE_UNROLL
                for (int t = u == 0 ? kK - 1 : (u - 1) * kS + kK; t <= u * kS + kK - 1; ++t) {
                  load_run<T, kCh, RunSource::kShared>(x_row + t * kChunk, window[t]);
                }
                CUTE_UNROLL
                for (int j = 0; j < kK; ++j) {
                  if (j < Kw) {
                    CUTE_UNROLL
                    for (int e = 0; e < kCh; ++e) acc[i][j][e] = fmaf(gv[u][e], window[u * kS + j][e], acc[i][j][e]);
                  }
                }
              }
            }
          }
        }
      });

  // The pixel lanes of a warp that share channels, summed in a fixed tree; then the warps, in warp
  // order, through shared memory (the walk ended with a barrier: the buffers are free).
  CUTE_UNROLL
  for (int offset = kLanesPerPixel; offset < 32; offset *= 2) {
    CUTE_UNROLL
    for (int e = 0; e < kCh; ++e) {
      bias_acc[e] += __shfl_xor_sync(0xffffffffu, bias_acc[e], offset);
      CUTE_UNROLL
      for (int i = 0; i < kK; ++i) {
        CUTE_UNROLL
        for (int j = 0; j < kK; ++j) acc[i][j][e] += __shfl_xor_sync(0xffffffffu, acc[i][j][e], offset);
      }
    }
  }
  float* const warp_sums = reinterpret_cast<float*>(smem_bytes);  // [warp][sum][channel of the chunk]
  int const warp = int(threadIdx.x) / 32;
  if (int(threadIdx.x) % 32 < kLanesPerPixel) {
    CUTE_UNROLL
    for (int e = 0; e < kCh; ++e) {
      float* const sums = warp_sums + warp * kSums * kChunk + lane_channels + e;
      CUTE_UNROLL
      for (int q = 0; q < kK * kK; ++q) sums[q * kChunk] = acc[q / kK][q % kK][e];
      sums[kK * kK * kChunk] = bias_acc[e];
    }
  }
  __syncthreads();
  int64_t const taps = int64_t(Kh) * Kw;
  float* const workspace = static_cast<float*>(p.workspace);
  for (int q = int(threadIdx.x); q < kSums * kChunk; q += Cfg::kThreads) {
    int const sum_index = q / kChunk, c = c_block + q % kChunk;
    int const i = sum_index / kK, j = sum_index % kK;
    bool const bias_sum = sum_index == kK * kK;
    if (c >= C || !(bias_sum || (i < Kh && j < Kw))) continue;
    float total = 0.0f;
    CUTE_UNROLL
    for (int w = 0; w < Cfg::kThreads / 32; ++w) total += warp_sums[w * kSums * kChunk + q];
    workspace[(int64_t(c) * g.slices + slice) * (taps + 1) + (bias_sum ? taps : i * Kw + j)] = total;
  }
}

}  // namespace window

// The tiling of launch_window_grad_weight_channels_last_tile, without the launch: whether it takes
// the call (window within the bucket, its stride, dilation 1, x and grad_out with unit channel
// stride and pixels that stage with 8- or 16-byte copies, a tile that fits shared memory) and how.
template <class Cfg>
bool plan_window_grad_weight_channels_last_tile(WindowGradWeightParams const& p,
                                                window::GradChannelsLastTileGeometry& g, int& copy_bytes,
                                                int64_t& smem_bytes) {
  using T = typename Cfg::Element;
  // The lanes of a warp read x rows kStride apart, which the row padding puts in opposite halves of
  // the banks; no padding does that for a multiple of 8.
  static_assert(Cfg::kStride % 8 != 0, "no row padding separates the lanes' banks");
  constexpr int64_t kCoordLimit = int64_t(1) << 30;
  if (p.kh > Cfg::kK || p.kw > Cfg::kK || p.stride_h != Cfg::kStride || p.stride_w != Cfg::kStride ||
      p.dilation_h != 1 || p.dilation_w != 1 || p.x_stride_c != 1 || p.g_stride_c != 1 || p.C % Cfg::kChannels != 0) {
    return false;
  }
  copy_bytes = staging::pixel_patch_copy_bytes<T>(p.C, {{p.x, {p.x_stride_n, p.x_stride_h, p.x_stride_w}},
                                                        {p.grad_out, {p.g_stride_n, p.g_stride_h, p.g_stride_w}}});
  if (copy_bytes == 0) return false;
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  if (p.H >= kCoordLimit || p.W >= kCoordLimit || magnitude(p.padding_h) >= kCoordLimit ||
      magnitude(p.padding_w) >= kCoordLimit || (p.Ho + 256) * Cfg::kStride >= kCoordLimit ||
      (p.Wo + 256) * Cfg::kStride >= kCoordLimit) {
    return false;
  }
  DeviceLimits const& limits = device_limits(p.device);
  // Columns: the narrowest whole number of runs that covers the row in as few strips as 32 columns
  // would. Rows: up to 16, halved until an image's patch fits a buffer: Cfg::kBufferBytes, or less
  // where two buffers for each of kBlocksPerSm blocks would not fit a multiprocessor (16 KB on sm_86).
  int64_t const budget = std::min<int64_t>(
      Cfg::kBufferBytes, (limits.smem_per_sm / Cfg::kBlocksPerSm - limits.smem_reserved_per_block) / 2 / 128 * 128);
  int64_t const strips32 = (p.Wo + 31) / 32;
  int64_t const runs = (p.Wo + strips32 * Cfg::kCols - 1) / (strips32 * Cfg::kCols);
  int64_t const tile_cols = runs * Cfg::kCols;
  int64_t const in_cols = (tile_cols - Cfg::kCols) * Cfg::kStride + Cfg::kWindow;
  int64_t const x_pitch = staging::pixel_patch_pitch_bytes(in_cols, Cfg::kStride);
  int64_t const g_pitch = staging::pixel_patch_pitch_bytes(tile_cols, 1);
  auto image_bytes = [&](int64_t rows) { return ((rows - 1) * Cfg::kStride + p.kh) * x_pitch + rows * g_pitch; };
  int64_t tile_rows = std::min<int64_t>(p.Ho, 16);
  while (tile_rows > 1 && image_bytes(tile_rows) > budget) tile_rows = (tile_rows + 1) / 2;
  int64_t const one_image = image_bytes(tile_rows);
  // Stacked images while a tile holds fewer than two items a pixel lane.
  int64_t group = 1;
  while (group < p.N && group * tile_rows * runs < 2 * Cfg::kPixelLanes && (group + 1) * one_image <= budget) {
    ++group;
  }
  int64_t const buffer = group * one_image;
  if (buffer > limits.smem_per_block_optin) return false;
  g.buffers = 2 * buffer <= limits.smem_per_block_optin ? 2 : 1;
  int64_t const reduce_bytes = int64_t(Cfg::kThreads / 32) * (Cfg::kK * Cfg::kK + 1) * Cfg::kChunk * 4;
  smem_bytes = std::max<int64_t>(buffer * g.buffers, reduce_bytes);
  if (smem_bytes > limits.smem_per_block_optin) return false;

  int64_t const row_tiles = (p.Ho + tile_rows - 1) / tile_rows;
  int64_t const strips = (p.Wo + tile_cols - 1) / tile_cols;
  int64_t const slots = (p.N + group - 1) / group;
  int64_t const tiles = slots * row_tiles * strips;
  int64_t const chunks = (p.C + Cfg::kChunk - 1) / Cfg::kChunk;
  if (slots * row_tiles >= (int64_t(1) << 31) || tiles >= (int64_t(1) << 31)) return false;
  // One wave of kBlocksPerSm blocks a multiprocessor, each at least 2 tiles (every block ends with a
  // write of its partials, which the reduction then reads).
  int64_t const target_blocks = int64_t(limits.multiprocessors) * Cfg::kBlocksPerSm;
  int64_t const slices = std::max<int64_t>(1, std::min<int64_t>((tiles + 1) / 2, (target_blocks + chunks - 1) / chunks));
  if (chunks * slices >= (int64_t(1) << 31)) return false;
  g.tile_rows = int(tile_rows);
  g.tile_cols = int(tile_cols);
  g.runs = int(runs);
  g.group = int(group);
  g.in_rows = int((tile_rows - 1) * Cfg::kStride + p.kh);
  g.in_cols = int(in_cols);
  g.x_pitch = int(x_pitch / int64_t(sizeof(T)));
  g.g_pitch = int(g_pitch / int64_t(sizeof(T)));
  g.image_elems = int(one_image / int64_t(sizeof(T)));
  g.chunks = int(chunks);
  g.slices = int(slices);
  g.tiles = tiles;
  g.strips = cutlass::FastDivmod(int(strips));
  g.row_tiles = cutlass::FastDivmod(int(row_tiles));
  g.x_cols = cutlass::FastDivmod(g.in_cols);
  g.g_cols = cutlass::FastDivmod(g.tile_cols);
  return true;
}

template <class Cfg>
int64_t window_grad_weight_channels_last_tile_partials(WindowGradWeightParams const& p) {
  window::GradChannelsLastTileGeometry g{};
  int copy_bytes = 0;
  int64_t smem_bytes = 0;
  return plan_window_grad_weight_channels_last_tile<Cfg>(p, g, copy_bytes, smem_bytes) ? g.slices : 0;
}

// Writes slices partial sums per channel into p.workspace ((C, slices, kh * kw + 1) floats).
template <class Cfg>
LaunchStatus launch_window_grad_weight_channels_last_tile(WindowGradWeightParams const& p, cudaStream_t stream) {
  window::GradChannelsLastTileGeometry g{};
  int copy_bytes = 0;
  int64_t smem_bytes = 0;
  if (!plan_window_grad_weight_channels_last_tile<Cfg>(p, g, copy_bytes, smem_bytes)) return LaunchStatus::kUnsupported;
  auto launch = [&](auto copy) {
    constexpr auto kKernel = &window::bwd_window_weight_channels_last_tile_kernel<Cfg, decltype(copy)::value>;
    if (KernelAttributes<kKernel>::registers_if_launchable(p.device, int(smem_bytes)) == 0) {
      return LaunchStatus::kUnsupported;
    }
    kKernel<<<dim3(unsigned(int64_t(g.chunks) * g.slices)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
    return LaunchStatus::kLaunched;
  };
  return copy_bytes == 16 ? launch(std::integral_constant<int, 16>{}) : launch(std::integral_constant<int, 8>{});
}

}  // namespace cute_dwconv
