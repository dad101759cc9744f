// Weight and bias gradients of NCHW strips at stride 1, from rows staged in shared memory:
//   (K, 1): grad_weight[c, k] = sum over n, ho, wo of grad_out[n, c, ho, wo] * x[n, c, ho - ph + k d, wo - pw],
//   (1, K): the same with x[n, c, ho - ph, wo - pw + k d].
// (K, 1): a lane owns one output column and runs of kRunRows grad_out rows: it holds a run's grad_out
// values in registers and streams the run's kRunRows + (K - 1) d staged x rows once each, every x row
// feeding each (row, tap) product it belongs to. That is kRunRows + (K - 1) d shared loads for
// kRunRows * K FMAs. (1, K): a lane owns 4 adjacent output columns of a row and reads the x window
// under them, 4 + (K - 1) d values, as whole vectors once: 4 K FMAs. The L1 kernel (bwd_weight.cuh)
// reads x once per FMA and walks long windows twice.
//
// A block keeps one channel and walks a slice of its tiles (image, row tile, strip), cp.async
// copying the next tile's x and grad_out rows while this one computes (grad_out read by each lane
// from global memory left a DRAM latency a run: bf16 at a third of the copy floor, NOTES.md). Its
// sums stay in registers across the slice and go out once, a partial per tap and the bias; the
// window family's reduce kernel adds a channel's partials in order, so two runs give the same bits.
#pragma once

#include <algorithm>
#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "bwd_params.h"
#include "device_limits.h"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/staging/row_ring.cuh"
#include "kernels/tile_config.h"

namespace cute_dwconv {

namespace bwd_weight {

// Host-planned tiling; see plan_bwd_weight_staged.
struct StagedGeometry {
  int tile_rows;    // grad_out rows a tile: kRunRows x kRowGroups x runs a warp
  int x_rows;       // staged x rows a tile: tile_rows (+ (K - 1) d for (K, 1) taps)
  int x_chunks;     // 16-byte chunks a staged x row
  int g_copy_bytes; // grad_out's rows staged in copies of 16 bytes (rows whole chunks) or 4
  int g_chunks;     // copies a staged grad_out row
  int buffer_elems; // a stage: x rows, then grad_out rows
  int col_shift;    // the staged x element under a strip's first column (its first tap): pw rounded up
                    // to a chunk, less pw
  int slices;       // blocks a channel
  int64_t tiles;    // tiles a channel: N x row tiles x strips
  cutlass::FastDivmod strips;     // tile -> (n * row tiles + row tile, strip)
  cutlass::FastDivmod row_tiles;  // -> (n, row tile)
  cutlass::FastDivmod row_lanes;  // threads along a staged x row (staging::row_lanes)
  cutlass::FastDivmod g_row_lanes;  // and along a staged grad_out row
};

// 4 staged values from `at` (16-byte aligned for float32, 8 for 16-bit) as floats.
template <class T>
CUTE_DEVICE void load_four(T const* at, float (&v)[4]) {
  if constexpr (sizeof(T) == 4) {
    float4 const q = *reinterpret_cast<float4 const*>(at);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  } else {
    uint2 const q = *reinterpret_cast<uint2 const*>(at);
    T const* const e = reinterpret_cast<T const*>(&q);
    CUTE_UNROLL
    for (int i = 0; i < 4; ++i) v[i] = static_cast<float>(e[i]);
  }
}

// (1, K): one row of a lane's 4 columns, its window read from `window` (4-aligned) with the taps
// starting kOffset values in (the column padding's offset within a vector, fixed per call).
template <class Cfg, int kOffset>
CUTE_DEVICE void accumulate_row_window(float (&acc)[Cfg::kTaps + 1], float const (&gv)[4],
                                      typename Cfg::Element const* window) {
  constexpr int K = Cfg::kTaps, D = Cfg::kTapDilation;
  float w[4 * Cfg::kWindowVecs];
  CUTE_UNROLL
  for (int q = 0; q < Cfg::kWindowVecs; ++q) {
    float v[4];
    load_four(window + 4 * q, v);
    CUTE_UNROLL
    for (int i = 0; i < 4; ++i) w[4 * q + i] = v[i];
  }
  CUTE_UNROLL
  for (int k = 0; k < K; ++k) {
    CUTE_UNROLL
    for (int v = 0; v < 4; ++v) acc[k] = fmaf(gv[v], w[kOffset + v + k * D], acc[k]);
  }
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads)
    bwd_weight_staged_kernel(BwdWeightParams const p, StagedGeometry const g) {
  using T = typename Cfg::Element;
  using Atom = staging::StageCopyAtom<T, 16>;
  using WordAtom = cute::Copy_Atom<cute::SM80_CP_ASYNC_CACHEALWAYS_ZFILL<uint32_t>, T>;
  constexpr int K = Cfg::kTaps, D = Cfg::kTapDilation, R = Cfg::kRunRows;
  constexpr int kWarps = Cfg::kWarps;

  extern __shared__ __align__(128) unsigned char smem_bytes[];
  T* const buffers = reinterpret_cast<T*>(smem_bytes);  // two stages of [x_rows][kXPitch], [tile_rows][kGradPitch]
  constexpr int kXPitch = Cfg::kXPitch, kGradPitch = Cfg::kGradPitch, kRowGroups = Cfg::kRowGroups;
  int const g_offset = g.x_rows * kXPitch;

  int const c = int(blockIdx.x) / g.slices, slice = int(blockIdx.x) - c * g.slices;
  int const warp = int(threadIdx.x / 32u), lane = int(threadIdx.x % 32u);
  int const col_group = warp % Cfg::kColGroups, row_group = warp / Cfg::kColGroups;
  [[maybe_unused]] int const lane_col = col_group * 32 + lane;  // (K, 1): this lane's output column in a strip
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);

  T const* const x_channel = static_cast<T const*>(p.x) + int64_t(c) * p.x_stride_c;
  T const* const g_channel = static_cast<T const*>(p.grad_out) + int64_t(c) * p.g_stride_c;
  staging::RowShare const x_share = staging::share_rows<Cfg::kThreads>(g.row_lanes);
  staging::RowShare const g_share = staging::share_rows<Cfg::kThreads>(g.g_row_lanes);

  auto stage = [&](int64_t tile, T* to) {
    int image_row_tile, strip, n, row_tile;
    g.strips(image_row_tile, strip, int(tile));
    g.row_tiles(n, row_tile, image_row_tile);
    int const row0 = row_tile * g.tile_rows, col0 = strip * Cfg::kStripCols;
    // The staged x row starts a whole chunk at or before the first output column's x column.
    staging::RowSource<T> const x_rows{x_channel + int64_t(n) * p.x_stride_n, p.x_stride_h, row0 - int(p.padding_h),
                                       1, H, col0 - int(p.padding_w) - g.col_shift, W};
    staging::copy_rows<Atom, Cfg::kChunkElems>(x_share, x_rows, 0, g.x_rows, g.x_chunks, to, kXPitch);
    staging::RowSource<T> const g_rows{g_channel + int64_t(n) * p.g_stride_n, p.g_stride_h, row0, 1, Ho, col0, Wo};
    if (g.g_copy_bytes == 16) {
      staging::copy_rows<Atom, Cfg::kChunkElems>(g_share, g_rows, 0, g.tile_rows, g.g_chunks, to + g_offset,
                                                 kGradPitch);
    } else {
      staging::copy_rows<WordAtom, 4 / int(sizeof(T))>(g_share, g_rows, 0, g.tile_rows, g.g_chunks, to + g_offset,
                                                       kGradPitch);
    }
    cute::cp_async_fence();
  };

  float acc[K + 1];  // the taps, then the bias
  CUTE_UNROLL
  for (int k = 0; k <= K; ++k) acc[k] = 0.0f;

  // (K, 1): a warp's runs of a tile are rows (row_group + i row_groups) R, i < runs, of its column.
  [[maybe_unused]] int const runs = g.tile_rows / (kRowGroups * R);
  int64_t tile = slice;
  if (tile < g.tiles) stage(tile, buffers);
  for (int b = 0; tile < g.tiles; tile += g.slices, b ^= 1) {
    // The next tile's rows go to the other stage, which the last tile finished reading.
    bool const ahead = tile + g.slices < g.tiles;
    if (ahead) stage(tile + g.slices, buffers + (b ^ 1) * g.buffer_elems);
    if (ahead) {
      cute::cp_async_wait<1>();
    } else {
      cute::cp_async_wait<0>();
    }
    __syncthreads();

    if constexpr (!Cfg::kAlongWidth) {
      T const* const x_column = buffers + b * g.buffer_elems + lane_col + g.col_shift;
      T const* const g_column = buffers + b * g.buffer_elems + g_offset + lane_col;
      for (int i = 0; i < runs; ++i) {
        int const run_row = (row_group + i * kRowGroups) * R;
        // Rows and columns past grad_out's are staged as zeros: they add nothing.
        float gv[R];
        CUTE_UNROLL
        for (int j = 0; j < R; ++j) {
          gv[j] = static_cast<float>(g_column[(run_row + j) * kGradPitch]);
          acc[K] += gv[j];
        }
        T const* const xs = x_column + run_row * kXPitch;
        CUTE_UNROLL
        for (int u = 0; u < Cfg::kRunXRows; ++u) {
          float const xv = static_cast<float>(xs[u * kXPitch]);
          // x row u of the run is tap (u - j) / d of grad_out row j.
          CUTE_UNROLL
          for (int j = 0; j < R; ++j) {
            int const offset = u - j;
            if (offset >= 0 && offset % D == 0 && offset / D < K) acc[offset / D] = fmaf(gv[j], xv, acc[offset / D]);
          }
        }
      }
    } else {
      // A warp's rows of a tile are row_group + i row_groups. Staged x element e is x column
      // col0 - pw - col_shift + e, so output column col0 + 4 lane + v reads tap k at element
      // 4 lane + v + col_shift + k d: the lane's window starts at the vector holding element
      // 4 lane + col_shift, and its taps col_shift % 4 values into it.
      int const shift = g.col_shift;
      T const* const x_lane = buffers + b * g.buffer_elems + 4 * lane + shift / 4 * 4;
      T const* const g_lane = buffers + b * g.buffer_elems + g_offset + 4 * lane;
      for (int row = row_group; row < g.tile_rows; row += kRowGroups) {
        float gv[4];
        load_four(g_lane + row * kGradPitch, gv);
        acc[K] += (gv[0] + gv[1]) + (gv[2] + gv[3]);
        T const* const window = x_lane + row * kXPitch;
        switch (shift % 4) {
          case 0: accumulate_row_window<Cfg, 0>(acc, gv, window); break;
          case 1: accumulate_row_window<Cfg, 1>(acc, gv, window); break;
          case 2: accumulate_row_window<Cfg, 2>(acc, gv, window); break;
          default: accumulate_row_window<Cfg, 3>(acc, gv, window); break;
        }
      }
    }
    __syncthreads();
  }

  // The block's sums: lanes by shuffles, then warps in order, into this slice's partials.
  float* const warp_sums = reinterpret_cast<float*>(smem_bytes);  // [kWarps][K + 1], the buffers done with
  CUTE_UNROLL
  for (int k = 0; k <= K; ++k) {
    float sum = acc[k];
    CUTE_UNROLL
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) warp_sums[warp * (K + 1) + k] = sum;
  }
  __syncthreads();
  if (int(threadIdx.x) <= K) {
    float sum = 0.0f;
    for (int w = 0; w < kWarps; ++w) sum += warp_sums[w * (K + 1) + int(threadIdx.x)];
    static_cast<float*>(p.workspace)[(int64_t(c) * g.slices + slice) * (K + 1) + threadIdx.x] = sum;
  }
}

}  // namespace bwd_weight

// Whether the staged-row kernel can take the call: a strip along Cfg's axis at stride 1 whose K and
// dilation are Cfg's, x rows that stage in 16-byte chunks wholly inside or outside the image, grad_out
// rows in 16- or 4-byte ones.
template <class Cfg>
bool bwd_weight_staged_fits(BwdWeightParams const& p) {
  using T = typename Cfg::Element;
  bool const aligned = p.x_stride_w == 1 &&
                       staging::stage_copy_bytes<T>(p.x, p.W, p.x_stride_h, p.x_stride_c, p.x_stride_n) == 16;
  int64_t constexpr kIntLimit = int64_t(1) << 30;
  bool const small = p.H < kIntLimit && p.W < kIntLimit && p.Ho < kIntLimit && p.Wo < kIntLimit &&
                     p.padding_h < kIntLimit && p.padding_w < kIntLimit;
  // grad_out's rows stage in 16-byte copies or 4-byte ones: each copy wholly inside or outside a row.
  int64_t constexpr kWord = 4 / int64_t(sizeof(T));
  bool const grad_words = reinterpret_cast<uintptr_t>(p.grad_out) % 4 == 0 && p.g_stride_w == 1 && p.Wo % kWord == 0 &&
                          p.g_stride_h % kWord == 0 && p.g_stride_n % kWord == 0 && p.g_stride_c % kWord == 0;
  TapAxis const axis = Cfg::kAlongWidth ? TapAxis::kWidth : TapAxis::kHeight;
  return p.axis == axis && p.kernel_size == Cfg::kTaps && p.dilation == Cfg::kTapDilation &&
         p.stride_h == 1 && p.stride_w == 1 && aligned && grad_words && small && p.N > 0 && p.C > 0 &&
         sizeof(T) <= 4;
}

// Plans the kernel for p: false where it does not fit p (bwd_weight_staged_fits) or a tile's two
// buffers outgrow shared memory. Tiles: strips of Cfg::kStripCols columns, the block's warps side by
// side along the strip and down its rows. (K, 1): tall enough that the window's halo of (K - 1) d
// staged rows is a small share; (1, K): as tall as keeps three blocks an SM (fewer tiles, each a
// barrier and a staging pass). A grid of one wave, a whole number of blocks a channel.
template <class Cfg>
bool plan_bwd_weight_staged(BwdWeightParams const& p, bwd_weight::StagedGeometry& g, int64_t& smem_bytes,
                            int64_t& grid) {
  using T = typename Cfg::Element;
  constexpr int kWarps = Cfg::kWarps;
  if (!bwd_weight_staged_fits<Cfg>(p)) return false;
  constexpr int kStripCols = Cfg::kStripCols, kChunk = Cfg::kChunkElems;
  g.col_shift = int((p.padding_w + kChunk - 1) / kChunk * kChunk - p.padding_w);
  // The window's reach: along the staged x rows for (1, K), as a halo of staged rows for (K, 1).
  int constexpr kRowReach = Cfg::kAlongWidth ? Cfg::kReach : 0;
  int64_t constexpr kHalo = Cfg::kAlongWidth ? 0 : Cfg::kReach;
  g.x_chunks = (kStripCols + g.col_shift + kRowReach + kChunk - 1) / kChunk;
  g.g_copy_bytes =
      staging::stage_copy_bytes<T>(p.grad_out, p.Wo, p.g_stride_h, p.g_stride_c, p.g_stride_n) == 16 ? 16 : 4;
  g.g_chunks = kStripCols * int(sizeof(T)) / g.g_copy_bytes;

  DeviceLimits const& limits = device_limits(p.device);
  constexpr auto kKernel = &bwd_weight::bwd_weight_staged_kernel<Cfg>;
  constexpr int run_rows = Cfg::kRunRows * Cfg::kRowGroups;  // a row of runs across the block
  auto stage_elems = [&](int runs) {
    int64_t const tile_rows = int64_t(runs) * run_rows;
    return (tile_rows + kHalo) * Cfg::kXPitch + tile_rows * Cfg::kGradPitch;
  };
  auto bytes_for = [&](int runs) {
    return std::max<int64_t>(2 * stage_elems(runs) * int64_t(sizeof(T)), int64_t(kWarps) * (Cfg::kTaps + 1) * 4);
  };
  auto blocks_for = [&](int runs) {
    int64_t const bytes = bytes_for(runs);
    if (bytes > limits.smem_per_block_optin) return 0;
    int const registers = KernelAttributes<kKernel>::registers_if_launchable(p.device, int(bytes));
    return registers == 0 ? 0 : blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(bytes));
  };
  // Staged rows a strip of a plane, halos included: the fewest, among heights keeping three blocks
  // an SM (or as many as any height keeps). Tiles past the plane's rows stage only zeros.
  auto staged_rows = [&](int runs) {
    int64_t const tile_rows = int64_t(runs) * run_rows;
    return (p.Ho + tile_rows - 1) / tile_rows * (tile_rows + kHalo);
  };
  constexpr int kMostRuns = 256 / run_rows;
  int const most_runs = int(std::max<int64_t>(1, std::min<int64_t>(kMostRuns, (p.Ho + run_rows - 1) / run_rows)));
  int blocks_at[kMostRuns + 1] = {};  // blocks an SM at each height
  int best_blocks = 0;
  for (int r = 1; r <= most_runs; ++r) {
    blocks_at[r] = blocks_for(r);
    best_blocks = std::max(best_blocks, blocks_at[r]);
  }
  if (best_blocks == 0) return false;
  int const wanted_blocks = std::min(3, best_blocks);
  int runs = 0;
  for (int r = 1; r <= most_runs; ++r) {
    bool const better = Cfg::kAlongWidth ? true : runs == 0 || staged_rows(r) < staged_rows(runs);
    if (blocks_at[r] >= wanted_blocks && better) runs = r;
  }
  int const blocks = blocks_at[runs];
  smem_bytes = bytes_for(runs);
  g.tile_rows = runs * run_rows;
  g.x_rows = int(g.tile_rows + kHalo);
  g.buffer_elems = int(stage_elems(runs));

  int64_t const row_tiles = (p.Ho + g.tile_rows - 1) / g.tile_rows;
  int64_t const strips = (p.Wo + kStripCols - 1) / kStripCols;
  g.tiles = p.N * row_tiles * strips;
  int64_t const wave = int64_t(blocks) * limits.multiprocessors;
  int64_t const slices = std::min<int64_t>(g.tiles, std::max<int64_t>(1, wave / p.C));
  if (g.tiles >= (int64_t(1) << 31) || p.C * slices >= (int64_t(1) << 31)) return false;
  g.slices = int(slices);
  g.strips = cutlass::FastDivmod(int(strips));
  g.row_tiles = cutlass::FastDivmod(int(row_tiles));
  g.row_lanes = staging::row_lanes<Cfg::kThreads>(g.x_chunks);
  g.g_row_lanes = staging::row_lanes<Cfg::kThreads>(g.g_chunks);
  grid = p.C * slices;
  return true;
}

// Partials a channel (0 where the kernel does not take the call): the workspace holds C x that x
// (K + 1) floats.
template <class Cfg>
int64_t bwd_weight_staged_partials(BwdWeightParams const& p) {
  bwd_weight::StagedGeometry g{};
  int64_t smem_bytes = 0, grid = 0;
  return plan_bwd_weight_staged<Cfg>(p, g, smem_bytes, grid) ? g.slices : 0;
}

// Writes the partials into p.workspace; the caller adds them. kUnsupported where the plan declines.
template <class Cfg>
LaunchStatus launch_bwd_weight_staged(BwdWeightParams const& p, cudaStream_t stream) {
  bwd_weight::StagedGeometry g{};
  int64_t smem_bytes = 0, grid = 0;
  if (!plan_bwd_weight_staged<Cfg>(p, g, smem_bytes, grid)) return LaunchStatus::kUnsupported;
  bwd_weight::bwd_weight_staged_kernel<Cfg><<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
