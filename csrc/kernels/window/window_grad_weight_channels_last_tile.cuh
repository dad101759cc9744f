// Weight and bias gradients of a channels_last window (within kK x kK taps, stride kStride along both
// axes, dilation 1) with staged input. A block owns one chunk of channels (64 bytes of each pixel,
// as the staged forward) and every slices-th tile of output pixels of it; per tile it stages the
// input pixels under the tile and the tile's grad_out pixels into shared memory (cp.async, zero
// outside the image). Warp kh owns window row kh: each lane holds 4 channels x Kw sums and, for
// its output rows of the tile (lanes of a warp split them), reads runs of kCols grad_out pixels
// and the kWindow input pixels of window row kh under them, adding their products into its sums.
// The warp's lanes are summed by shuffles in a fixed order and each block writes one partial per
// channel and tap, which bwd_window_weight_reduce_kernel adds in slice order: the same bits on
// every run. The kernel it replaces read x through L1 with 1 channel per lane at 7x7 (0.62x
// PyTorch's 16-bit weight gradient on ConvNeXt's 7x7: NOTES.md, variant 69).
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
  int tile_rows, tile_cols;  // grad_out pixels per tile (tile_cols a multiple of kCols)
  int in_rows, in_cols;      // staged input pixels per tile
  int x_pitch, g_pitch;      // elements per staged row of x and of grad_out
  int buffers;               // 2: the next tile is staged while this one computes
  int groups, slices;        // chunks of channels, and blocks per chunk
  int64_t tiles;             // tiles per chunk: N * row tiles * strips
  cutlass::FastDivmod strips;     // tile -> (n * row tiles + row tile, strip)
  cutlass::FastDivmod row_tiles;  // -> (n, row tile)
  cutlass::FastDivmod x_cols;     // staged x pixel -> (row, column)
  cutlass::FastDivmod g_cols;     // staged grad_out pixel -> (row, column)
};

template <class Cfg, int kCopyBytes>
__global__ void __launch_bounds__(Cfg::kThreads)
    bwd_window_weight_channels_last_tile_kernel(WindowGradWeightParams const p, GradChannelsLastTileGeometry const g) {
  using T = typename Cfg::Element;
  constexpr int kK = Cfg::kK;
  constexpr int kS = Cfg::kStride;
  constexpr int kCh = Cfg::kChannels;
  constexpr int kChunk = Cfg::kChunk;
  constexpr int kQuads = Cfg::kQuads;
  constexpr int kSub = Cfg::kSub;
  constexpr int kCols = Cfg::kCols;
  constexpr int kWindow = Cfg::kWindow;

  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo), C = int(p.C);

  extern __shared__ __align__(128) unsigned char smem_bytes[];
  int const x_elems = g.in_rows * g.x_pitch, g_elems = g.tile_rows * g.g_pitch;
  auto x_patch_of = [&](int buffer) { return reinterpret_cast<T*>(smem_bytes) + buffer * (x_elems + g_elems); };
  auto g_patch_of = [&](int buffer) { return x_patch_of(buffer) + x_elems; };

  int const chunk = int(blockIdx.x) % g.groups;
  int const slice = int(blockIdx.x) / g.groups;
  int const c_block = chunk * kChunk;
  T const* const x = static_cast<T const*>(p.x) + c_block;
  T const* const go = static_cast<T const*>(p.grad_out) + c_block;

  struct Coords {
    int n, out_row0, out_col0;
  };
  auto coords_of = [&](int64_t tile) {
    int image_row_tile, strip, n, row_tile;
    g.strips(image_row_tile, strip, int(tile));
    g.row_tiles(n, row_tile, image_row_tile);
    return Coords{n, row_tile * g.tile_rows, strip * g.tile_cols};
  };
  auto stage = [&](Coords const& k, int buffer) {
    staging::PixelPatchSource const xs{k.out_row0 * kS - int(p.padding_h), k.out_col0 * kS - int(p.padding_w), H, W,
                                       p.x_stride_h, p.x_stride_w, C - c_block};
    staging::stage_pixel_patch<T, kChunk, kCopyBytes, Cfg::kThreads>(x + int64_t(k.n) * p.x_stride_n, xs, g.in_rows,
                                                                    g.x_cols, x_patch_of(buffer), g.x_pitch);
    staging::PixelPatchSource const gs{k.out_row0, k.out_col0, Ho, Wo, p.g_stride_h, p.g_stride_w, C - c_block};
    staging::stage_pixel_patch<T, kChunk, kCopyBytes, Cfg::kThreads>(go + int64_t(k.n) * p.g_stride_n, gs,
                                                                    g.tile_rows, g.g_cols, g_patch_of(buffer),
                                                                    g.g_pitch);
  };

  int const lane = int(threadIdx.x) % 32;
  int const kh = int(threadIdx.x) / 32;  // the warp's window row
  int const quad = lane % kQuads;
  int const sub = lane / kQuads;
  float acc[kK][kCh];
  float bias_acc[kCh];
  CUTE_UNROLL
  for (int e = 0; e < kCh; ++e) {
    bias_acc[e] = 0.0f;
    CUTE_UNROLL
    for (int j = 0; j < kK; ++j) acc[j][e] = 0.0f;
  }

  staging::walk_tiles(
      int64_t(slice), g.tiles, int64_t(g.slices), g.buffers == 2,
      [&](int64_t tile, int buffer) { stage(coords_of(tile), buffer); },
      [&](int64_t, int buffer) {
        if (kh < Kh) {
          T const* const x_patch = x_patch_of(buffer) + kh * g.x_pitch + quad * kCh;
          T const* const g_patch = g_patch_of(buffer) + quad * kCh;
          for (int r = sub; r < g.tile_rows; r += kSub) {
            for (int col = 0; col < g.tile_cols; col += kCols) {
              float gv[kCols][kCh];
              CUTE_UNROLL
              for (int u = 0; u < kCols; ++u) {
                load_run<T, kCh, RunSource::kShared>(g_patch + r * g.g_pitch + (col + u) * kChunk, gv[u]);
              }
              if (kh == 0) {
                CUTE_UNROLL
                for (int u = 0; u < kCols; ++u) {
                  CUTE_UNROLL
                  for (int e = 0; e < kCh; ++e) bias_acc[e] += gv[u][e];
                }
              }
              float values[kWindow][kCh];
              CUTE_UNROLL
              for (int t = 0; t < kWindow; ++t) {
                load_run<T, kCh, RunSource::kShared>(x_patch + (r * kS) * g.x_pitch + (col * kS + t) * kChunk,
                                                     values[t]);
              }
              CUTE_UNROLL
              for (int j = 0; j < kK; ++j) {
                if (j < Kw) {
                  CUTE_UNROLL
                  for (int u = 0; u < kCols; ++u) {
                    CUTE_UNROLL
                    for (int e = 0; e < kCh; ++e) acc[j][e] = fmaf(gv[u][e], values[u * kS + j][e], acc[j][e]);
                  }
                }
              }
            }
          }
        }
      });

  // The lanes of a warp that share a quad of channels (they split the rows), summed in a fixed tree.
  CUTE_UNROLL
  for (int offset = kQuads; offset < 32; offset *= 2) {
    CUTE_UNROLL
    for (int e = 0; e < kCh; ++e) {
      bias_acc[e] += __shfl_xor_sync(0xffffffffu, bias_acc[e], offset);
      CUTE_UNROLL
      for (int j = 0; j < kK; ++j) acc[j][e] += __shfl_xor_sync(0xffffffffu, acc[j][e], offset);
    }
  }
  if (sub == 0 && kh < Kh) {
    int64_t const taps = int64_t(Kh) * Kw;
    float* const workspace = static_cast<float*>(p.workspace);
    CUTE_UNROLL
    for (int e = 0; e < kCh; ++e) {
      int const c = c_block + quad * kCh + e;
      if (c < C) {
        float* const partial = workspace + (int64_t(c) * g.slices + slice) * (taps + 1);
        CUTE_UNROLL
        for (int j = 0; j < kK; ++j) {
          if (j < Kw) partial[kh * Kw + j] = acc[j][e];
        }
        if (kh == 0) partial[taps] = bias_acc[e];
      }
    }
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
  // Columns: the narrowest whole number of runs that covers the row in as few strips as 64 columns
  // would; rows: as many groups of kSub as fit two blocks per multiprocessor (fewer re-read rows of
  // x above and below each tile).
  int64_t const strips64 = (p.Wo + 63) / 64;
  int64_t const runs = (p.Wo + strips64 * Cfg::kCols - 1) / (strips64 * Cfg::kCols);
  g.tile_cols = int(runs * Cfg::kCols);
  int64_t best_smem = 0;
  for (int groups_of_rows : {4, 2, 1}) {
    int64_t const tile_rows = int64_t(groups_of_rows) * Cfg::kSub;
    if (groups_of_rows > 1 && tile_rows > p.Ho + Cfg::kSub) continue;
    int64_t const in_rows = (tile_rows - 1) * Cfg::kStride + p.kh;
    int64_t const in_cols = (g.tile_cols - Cfg::kCols) * Cfg::kStride + Cfg::kWindow;
    int64_t const x_pitch = staging::pixel_patch_pitch_bytes(in_cols, Cfg::kStride);
    int64_t const g_pitch = staging::pixel_patch_pitch_bytes(g.tile_cols, 1);
    int64_t const buffer = in_rows * x_pitch + tile_rows * g_pitch;
    if (buffer > limits.smem_per_block_optin) continue;
    g.tile_rows = int(tile_rows);
    g.in_rows = int(in_rows);
    g.in_cols = int(in_cols);
    g.x_pitch = int(x_pitch / int64_t(sizeof(T)));
    g.g_pitch = int(g_pitch / int64_t(sizeof(T)));
    best_smem = buffer;
    if (2 * buffer <= limits.smem_per_block_optin / 2) break;
  }
  if (best_smem == 0) return false;
  g.buffers = 2 * best_smem <= limits.smem_per_block_optin / 2 ? 2 : 1;
  smem_bytes = best_smem * g.buffers;

  int64_t const row_tiles = (p.Ho + g.tile_rows - 1) / g.tile_rows;
  int64_t const strips = (p.Wo + g.tile_cols - 1) / g.tile_cols;
  int64_t const tiles = p.N * row_tiles * strips;
  int64_t const groups = (p.C + Cfg::kChunk - 1) / Cfg::kChunk;
  if (p.N * row_tiles >= (int64_t(1) << 31) || tiles >= (int64_t(1) << 31)) return false;
  // About two waves of blocks, each at least 4 tiles (every block ends with a write of its partials).
  int64_t const target_blocks = int64_t(limits.multiprocessors) * 4;
  int64_t const slices = std::max<int64_t>(1, std::min<int64_t>((tiles + 3) / 4, (target_blocks + groups - 1) / groups));
  if (groups * slices >= (int64_t(1) << 31)) return false;
  g.groups = int(groups);
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
    kKernel<<<dim3(unsigned(int64_t(g.groups) * g.slices)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
    return LaunchStatus::kLaunched;
  };
  return copy_bytes == 16 ? launch(std::integral_constant<int, 16>{}) : launch(std::integral_constant<int, 8>{});
}

}  // namespace cute_dwconv
