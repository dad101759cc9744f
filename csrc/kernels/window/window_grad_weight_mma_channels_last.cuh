// Weight and bias gradients of a channels_last 16-bit window at stride 1 and dilation 1, on the NCHW
// kernel's tensor-core row pairs (window_grad_weight_mma.cuh). A block owns 8 channels (16 bytes of a
// pixel) and walks a slice of their tiles of 8 or 16 output rows x one strip of at most 64 columns:
//   1. cp.async stages the tile's input pixels (its rows and the window's halo, zero outside the
//      image) and grad_out pixels, during the previous tile's MMAs;
//   2. ldmatrix .trans turns them into each channel's input plane and grad_out tables (channel_planes.cuh);
//   3. warp w builds channel w's shifted grad_out tables (summing the bias) and runs its row pairs
//      through accumulate_row_pair, its sums staying in its accumulators across the slice;
//   4. at the end each warp writes its channel's partial; bwd_window_weight_reduce_kernel adds the
//      slices in order: the same bits on every run.
// The channels_last FP32 staged tiles, a lane holding its 7x7 sums in registers, ran ConvNeXt's bf16
// layer at 13% of its copy floor (0.142 ms); here a warp's share of an 8-row 7x7 tile is 4 x 4 MMAs,
// and the layer takes 0.079 ms (profiling/NOTES.md, variant 149).
#pragma once

#include <algorithm>
#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/band_mma.cuh"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/staging/pixel_patch.cuh"
#include "kernels/window/channel_planes.cuh"
#include "kernels/window/window_config.h"
#include "kernels/window/window_grad_weight_mma.cuh"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

// Host-planned tiling; see plan_window_grad_weight_mma_channels_last.
struct GradMmaChannelsLastGeometry {
  int tile_rows;      // output rows per tile: a whole number of pairs
  int tile_cols;      // output columns per strip: a multiple of 8, at most 64
  int steps;          // 16-column MMA steps along a staged row (which starts at the first window)
  int in_cols;        // staged input pixels per row: 16 steps
  int x_rows;         // staged input rows per tile: the tile's and the window's, or the rows B reads past them
  int x_pitch;        // elements per plane row: in_cols + 8, an odd number of 16-byte units (ldmatrix)
  int x_plane_words;  // 32-bit words per channel's input plane: 4 x an odd number (transposes on 32 banks)
  int lead;           // zero elements before a grad_out row's first value in its tables
  int table_pitch;    // elements per grad_out table (the copied one, then the shifted one, per row)
  int table_words;    // words per channel's tables: 4 x an odd number
  PixelTileWalk walk;  // the grid is a whole number of its chunks
};

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, 2)
    bwd_window_weight_mma_channels_last_kernel(WindowGradWeightParams const p, GradMmaChannelsLastGeometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  constexpr int kCh = Cfg::kChannels;  // one warp each
  int const tile_rows = g.tile_rows;
  static_assert(kCh == 8 && Cfg::kThreads == 32 * kCh, "a warp per channel of a 16-byte piece");

  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);
  int const warp = int(threadIdx.x / 32u), lane = int(threadIdx.x % 32u);

  // The channels' input planes [kCh][x_plane_words] and grad_out tables [kCh][table_words], then the
  // staged input pixels [x_rows][in_cols][kCh] and grad_out pixels [tile_rows][tile_cols][kCh].
  extern __shared__ __align__(128) unsigned char smem_bytes[];
  uint32_t* const x_planes = reinterpret_cast<uint32_t*>(smem_bytes);
  uint32_t* const tables = x_planes + kCh * g.x_plane_words;
  T* const x_pixels = reinterpret_cast<T*>(tables + kCh * g.table_words);
  T* const g_pixels = x_pixels + g.x_rows * g.in_cols * kCh;

  // The grid is a whole number of chunks: a block keeps its chunk, and is slice blockIdx.x / chunks.
  int const chunks = g.walk.chunks.divisor;
  int const c_block = int(blockIdx.x % unsigned(chunks)) * kCh;
  int const slice = int(blockIdx.x / unsigned(chunks)), slices = int(gridDim.x) / chunks;
  T const* const x = static_cast<T const*>(p.x) + c_block;
  T const* const grad_out = static_cast<T const*>(p.grad_out) + c_block;

  auto coords_of = [&](int64_t tile) { return pixel_tile(g.walk, tile, tile_rows, g.tile_cols); };
  staging::PixelRowLanes const x_lanes = staging::pixel_row_lanes<Cfg::kThreads>(g.in_cols);
  staging::PixelRowLanes const g_lanes = staging::pixel_row_lanes<Cfg::kThreads>(g.tile_cols);
  auto stage = [&](int64_t tile) {
    PixelTile const k = coords_of(tile);
    staging::stage_pixel_rows(x + int64_t(k.n) * p.x_stride_n, p.x_stride_h, p.x_stride_w,
                              k.out_row0 - int(p.padding_h), H, k.out_col0 - int(p.padding_w), W, g.x_rows, g.in_cols,
                              x_lanes, x_pixels);
    staging::stage_pixel_rows(grad_out + int64_t(k.n) * p.g_stride_n, p.g_stride_h, p.g_stride_w, k.out_row0, Ho,
                              k.out_col0, Wo, tile_rows, g.tile_cols, g_lanes, g_pixels);
    cp_async_fence();
  };
  if (int64_t(blockIdx.x) < g.walk.tiles) stage(blockIdx.x);

  // The tables' lead and tail stay zero: the transposes write only the strip's own columns.
  {
    uint4* const words = reinterpret_cast<uint4*>(tables);
    for (int i = threadIdx.x; i < kCh * g.table_words / 4; i += Cfg::kThreads) words[i] = make_uint4(0, 0, 0, 0);
  }

  float acc[Cfg::kTapTiles][Cfg::kRowTiles][4];
  CUTE_UNROLL
  for (int mt = 0; mt < Cfg::kTapTiles; ++mt) {
    CUTE_UNROLL
    for (int nt = 0; nt < Cfg::kRowTiles; ++nt) {
      CUTE_UNROLL
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.0f;
    }
  }
  float bias_acc = 0.0f;

  uint32_t const x_pixels_address = cast_smem_ptr_to_uint(x_pixels);
  uint32_t const g_pixels_address = cast_smem_ptr_to_uint(g_pixels);
  // This warp's channel: A words from its tables (the staged rows start at the first output's window:
  // delta 0), B its input plane by ldmatrix (row lane % 8, columns 8 (lane / 8) on).
  uint32_t const* const a_lane = tables + warp * g.table_words + grad_table_lane_word(lane, 0, g.lead, g.table_pitch);
  uint32_t const b_lane = cast_smem_ptr_to_uint(x_planes) +
                          uint32_t(warp * g.x_plane_words * 4 + ((lane % 8) * g.x_pitch + 8 * (lane / 8)) * 2);
  T* const channel_tables = reinterpret_cast<T*>(tables + warp * g.table_words);

  for (int64_t tile = blockIdx.x; tile < g.walk.tiles; tile += gridDim.x) {
    PixelTile const k = coords_of(tile);
    cp_async_wait<0>();
    __syncthreads();  // the pixels are in (and the tables zero, the first time); the last tile's MMAs done

    pixels_to_planes<kCh>(x_pixels_address, g.x_rows, g.in_cols / 8, x_planes, g.x_plane_words, g.x_pitch / 2,
                          warp, lane);
    pixels_to_planes<kCh>(g_pixels_address, tile_rows, g.tile_cols / 8, tables + g.lead / 2, g.table_words,
                          g.table_pitch, warp, lane);
    __syncthreads();
    // The pixels are free: the next tile's copies fly while this one computes.
    if (tile + gridDim.x < g.walk.tiles) stage(tile + gridDim.x);

    // The shifted tables of this warp's channel (only it reads them): lane i builds chunk i % 8 (and
    // 8 more) of rows i / 8 + 4 j, without a division.
    for (int chunk = lane % 8; chunk <= g.tile_cols / 8; chunk += 8) {
      for (int r = lane / 8; r < tile_rows; r += 4) {
        bias_acc += shift_table_chunk(channel_tables + r * 2 * g.table_pitch, g.table_pitch, g.lead / 8 - 1 + chunk);
      }
    }
    __syncwarp();
    // Pairs of output rows (the second may be past the plane: its tables are zero).
    int const rows = min(tile_rows, Ho - k.out_row0);
    for (int r = 0; r < rows; r += 2) {
      accumulate_row_pair<Cfg>(acc, a_lane + r * g.table_pitch, g.table_pitch,
                               b_lane + uint32_t(r * g.x_pitch * int(sizeof(T))), g.x_pitch, g.steps);
    }
  }

  // Each warp's channel through shared memory, the two output rows of a pair added: [kCh][2][taps].
  int const taps = Kh * Kw;
  cp_async_wait<0>();
  __syncthreads();
  float* const red = reinterpret_cast<float*>(smem_bytes) + warp * 2 * taps;
  for_each_window_sum<Cfg>(acc, lane, Kh, Kw, [&](int h, int tap, float sum) { red[h * taps + tap] = sum; });
  CUTE_UNROLL
  for (int offset = 16; offset > 0; offset /= 2) bias_acc += __shfl_xor_sync(0xffffffffu, bias_acc, offset);
  __syncwarp();
  float* const workspace =
      static_cast<float*>(p.workspace) + (int64_t(c_block + warp) * slices + slice) * (taps + 1);
  for (int q = lane; q < taps; q += 32) workspace[q] = red[q] + red[taps + q];
  if (lane == 0) workspace[taps] = bias_acc;
}

}  // namespace window

// The tiling of launch_window_grad_weight_mma_channels_last, without the launch: whether it takes the
// call (16-bit channels_last x and grad_out whose pixels stage as 16-byte pieces of 8 channels, stride
// 1, dilation 1, a window within the config's tiles, the staging within shared memory, and more than
// one block an SM unless the window has at least one_block_taps taps), its grid and how many partial
// sums per channel it writes (grid / chunks).
template <class Cfg>
bool plan_window_grad_weight_mma_channels_last(WindowGradWeightParams const& p, int64_t one_block_taps,
                                               window::GradMmaChannelsLastGeometry& g, int64_t& smem_bytes,
                                               int64_t& grid) {
  using T = typename Cfg::Element;
  constexpr int kCh = Cfg::kChannels;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;
  if (p.kh >= 8 * Cfg::kRowTiles || p.kw > 8 * Cfg::kTapTiles || p.stride_h != 1 || p.stride_w != 1 ||
      p.dilation_h != 1 || p.dilation_w != 1 || p.x_stride_c != 1 || p.g_stride_c != 1 || p.C % kCh != 0 ||
      p.N <= 0 || p.Ho <= 0 || p.Wo <= 0) {
    return false;
  }
  if (staging::pixel_patch_copy_bytes<T>(p.C, {{p.x, {p.x_stride_n, p.x_stride_h, p.x_stride_w}},
                                               {p.grad_out, {p.g_stride_n, p.g_stride_h, p.g_stride_w}}}) != 16) {
    return false;
  }
  if (p.H >= kCoordLimit || p.W >= kCoordLimit || p.padding_h >= kCoordLimit || p.padding_w >= kCoordLimit ||
      p.Ho + p.kh + 64 >= kCoordLimit || p.Wo + p.kw + 256 >= kCoordLimit) {
    return false;
  }
  // Strips of at most 64 columns, as even as 8-column units allow.
  int64_t const strips = (p.Wo + 63) / 64;
  g.tile_cols = int(((p.Wo + strips - 1) / strips + 7) / 8 * 8);
  g.steps = int((g.tile_cols + p.kw - 1 + 15) / 16);
  g.in_cols = 16 * g.steps;
  // As in the NCHW kernel: a lane reads pairs from lead - 8 (kTapTiles - 1) - 8 on; the shifted table
  // 16-48 elements (mod 64) past the copied one, so that the two halves of a warp read different banks.
  g.lead = 8 * Cfg::kTapTiles + 8;
  int64_t table = g.lead + 16 * int64_t(g.steps) + 8;
  while (table % 64 < 16 || table % 64 > 48) table += 8;
  g.table_pitch = int(table);
  g.x_pitch = g.in_cols + 8;
  // The rows a tile stages, and its shared memory, by its height.
  auto x_rows_for = [&](int64_t tile_rows) {
    // B reads 8 kRowTiles staged rows from each pair's first.
    return std::max<int64_t>(tile_rows + p.kh - 1, tile_rows - 2 + 8 * Cfg::kRowTiles);
  };
  auto set_tile_rows = [&](int64_t tile_rows) {
    g.tile_rows = int(tile_rows);
    g.x_rows = int(x_rows_for(tile_rows));
    g.x_plane_words = g.x_rows * g.x_pitch / 2;
    while (g.x_plane_words % 8 != 4) g.x_plane_words += 4;
    g.table_words = int(tile_rows * table);
    while (g.table_words % 8 != 4) g.table_words += 4;
    int64_t const pixel_bytes = (int64_t(g.x_rows) * g.in_cols + tile_rows * g.tile_cols) * 16;
    int64_t const red_bytes = int64_t(kCh) * 2 * p.kh * p.kw * 4;
    return std::max<int64_t>(int64_t(kCh) * (g.x_plane_words + g.table_words) * 4 + pixel_bytes, red_bytes);
  };
  DeviceLimits const& limits = device_limits(p.device);
  constexpr auto kKernel = &window::bwd_window_weight_mma_channels_last_kernel<Cfg>;
  // Blocks an SM at a tile height (0: none, or one where the window is too short for it).
  auto blocks_for = [&](int64_t tile_rows) {
    smem_bytes = set_tile_rows(tile_rows);
    if (smem_bytes > limits.smem_per_block_optin) return 0;
    int const registers = KernelAttributes<kKernel>::registers_if_launchable(p.device, int(smem_bytes));
    if (registers == 0) return 0;
    int const blocks = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_bytes));
    return blocks == 1 && p.kh * p.kw < one_block_taps ? 0 : blocks;
  };
  // Tiles of 8 or 16 output rows: 16 where they stage 5% fewer rows in all (input rows with the
  // window's halo, and grad_out rows), else 8, which keeps more blocks an SM. ConvNeXt's 7x7 on 56
  // rows (7 tiles of 8 or 4 of 16, the last one half empty) ran 0.086 ms at 8 and 0.089 at 16; on 28
  // rows 0.080 and 0.067; SLaK's 51x5 on 56 rows 0.051 and 0.043 (profiling/NOTES.md, variant 149).
  auto staged_rows = [&](int64_t tile_rows) {
    return (p.Ho + tile_rows - 1) / tile_rows * (x_rows_for(tile_rows) + tile_rows);
  };
  int blocks = 0;
  if (staged_rows(16) * 20 < staged_rows(8) * 19) blocks = blocks_for(16);
  if (blocks == 0) blocks = blocks_for(8);
  if (blocks == 0) return false;
  int64_t const tile_rows = g.tile_rows;

  int64_t const chunks = p.C / kCh;
  int64_t const row_tiles = (p.Ho + tile_rows - 1) / tile_rows;
  if (!window::plan_pixel_tile_walk(p.N, row_tiles, strips, chunks, g.walk)) return false;

  // One wave, a whole number of chunks (each block keeps its chunk, its sums in its accumulators).
  int64_t const wave = std::max<int64_t>(chunks, int64_t(blocks) * limits.multiprocessors / chunks * chunks);
  grid = std::min<int64_t>(g.walk.tiles, wave);
  return true;
}

// Partial sums per channel (0 where the kernel does not take the call).
template <class Cfg>
int64_t window_grad_weight_mma_channels_last_partials(WindowGradWeightParams const& p, int64_t one_block_taps) {
  window::GradMmaChannelsLastGeometry g{};
  int64_t smem_bytes = 0, grid = 0;
  if (!plan_window_grad_weight_mma_channels_last<Cfg>(p, one_block_taps, g, smem_bytes, grid)) return 0;
  return grid / g.walk.chunks.divisor;
}

// Writes grid / chunks partial sums per channel into p.workspace ((C, partials, kh * kw + 1) floats);
// the caller adds them. kUnsupported where plan_window_grad_weight_mma_channels_last declines.
template <class Cfg>
LaunchStatus launch_window_grad_weight_mma_channels_last(WindowGradWeightParams const& p, int64_t one_block_taps,
                                                         cudaStream_t stream) {
  window::GradMmaChannelsLastGeometry g{};
  int64_t smem_bytes = 0, grid = 0;
  if (!plan_window_grad_weight_mma_channels_last<Cfg>(p, one_block_taps, g, smem_bytes, grid)) {
    return LaunchStatus::kUnsupported;
  }
  window::bwd_window_weight_mma_channels_last_kernel<Cfg>
      <<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
