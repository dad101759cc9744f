// channels_last window kernel for 16-bit inputs at stride 1 and dilation 1, on the NCHW kernel's
// tensor-core rows (window_mma.cuh), the block transposing its tile in shared memory
// (channel_planes.cuh). A block owns 8 channels (16 bytes of each pixel) and walks tiles of 16 output
// rows x 64 columns:
//   1. cp.async stages the tile's input pixels (zero outside the image), during the previous tile's
//      MMAs;
//   2. ldmatrix .trans reads them 8 pixels x 8 channels at a time, so each lane holds a channel's
//      pair of adjacent pixels, and writes each channel's rows as an NCHW plane;
//   3. warp w runs channel w's plane through accumulate_window_rows;
//   4. the warps write their outputs as channel planes, and ldmatrix .trans reads them back as
//      pairs of channels of a pixel, stored to out.
// The channels_last FP32 tiles are issue- and occupancy-bound on ConvNeXt's 16-bit 7x7 (FFMA and
// conversions, 126 registers: profiling/NOTES.md, variants 140-141); here a lane's share of a 7x7
// tile is 7 x 8 MMAs.
#pragma once

#include <algorithm>
#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/band_mma.cuh"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"
#include "kernels/staging/pixel_patch.cuh"
#include "kernels/window/channel_planes.cuh"
#include "kernels/window/window_config.h"
#include "kernels/window/window_mma.cuh"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

// Host-planned tiling; see launch_window_mma_channels_last.
struct MmaChannelsLastGeometry {
  int in_rows;        // staged input rows per tile: 16 + Kh - 1
  int plane_words;    // 32-bit words per channel plane: 4 x an odd number (conflict-free transposes)
  int pairs;          // tap pairs per window row: mma_pairs_per_row(Cfg::kKSteps)
  int pair_stores;    // out's channels are unit-stride with every pair on a 4-byte boundary
  PixelTileWalk walk;  // tiles of 16 output rows x Cfg::kTileCols columns x 8 channels
};

// Three blocks an SM, as shared memory allows a 7x7's (float32 weights' pairs took 84 registers: two).
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, 3)
    fwd_window_mma_channels_last_kernel(WindowParams const p, MmaChannelsLastGeometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  constexpr int kSub = Cfg::kSubtiles;
  constexpr int kParts = Cfg::kSplit ? 2 : 1;  // tap pairs: heads (and tails)
  constexpr int kCh = Cfg::kChannels;          // one warp each
  constexpr int kInCols = Cfg::kInCols;
  constexpr int kInBlocks = kInCols / 8;      // 8-pixel blocks of a staged row
  // An output plane's rows: 4 mod 8 words apart, so that a fragment's pair stores hit 32 banks.
  constexpr int kOutRowWords = Cfg::kTileCols / 2 + 4;
  static_assert(kCh == 8 && Cfg::kThreads == 32 * kCh, "a warp per channel of a 16-byte piece");
  static_assert(kInCols >= Cfg::kTileCols + 8, "a plane holds its channel's output rows");

  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);
  int const warp = int(threadIdx.x / 32u), lane = int(threadIdx.x % 32u);

  // [kParts][kCh][Kh][pairs] tap pairs, then the channel planes [kCh][plane_words] (input rows, then
  // each warp's output rows over its own), then the staged pixels [in_rows][kInCols][kCh].
  extern __shared__ __align__(128) unsigned char smem_bytes[];
  int const channel_pairs = Kh * g.pairs;
  int const part_stride = kCh * channel_pairs;
  uint32_t* const pairs = reinterpret_cast<uint32_t*>(smem_bytes);
  uint32_t* const planes = pairs + (kParts * part_stride + 31) / 32 * 32;
  T* const pixels = reinterpret_cast<T*>(planes + kCh * g.plane_words);

  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};

  // The grid is a whole number of chunks, so a block keeps its chunk across tiles.
  int const c_block = int(blockIdx.x % unsigned(g.walk.chunks.divisor)) * kCh;
  int const c = c_block + warp;
  auto coords_of = [&](int64_t tile) { return pixel_tile(g.walk, tile, 16, Cfg::kTileCols); };
  staging::PixelRowLanes const stage_lanes = staging::pixel_row_lanes<Cfg::kThreads>(kInCols);
  auto stage = [&](int64_t tile) {
    PixelTile const k = coords_of(tile);
    staging::stage_pixel_rows(x + (int64_t(k.n) * p.x_stride_n + c_block), p.x_stride_h, p.x_stride_w,
                              k.out_row0 - int(p.padding_h), H, k.out_col0 - int(p.padding_w), W, g.in_rows, kInCols,
                              stage_lanes, pixels);
    cp_async_fence();
  };
  if (int64_t(blockIdx.x) < g.walk.tiles) stage(blockIdx.x);

  // While the first tile's pixels fly, each warp writes its channel's tap pairs, once for all the
  // block's tiles.
  with_param_pointer(weight, [&](auto const* w) {
    for (int i = 0; i < Kh; ++i) {
      uint32_t* const heads = pairs + warp * channel_pairs + i * g.pairs;
      write_tap_pairs<Cfg>(w + (int64_t(c) * p.w_stride_c + int64_t(i) * p.w_stride_h), p.w_stride_w, Kw, g.pairs, lane,
                           heads, heads + part_stride);
    }
  });
  float const bias_value = bias ? static_cast<float>(bias[int64_t(c) * p.bias_stride]) : 0.0f;

  uint32_t const pixels_address = cast_smem_ptr_to_uint(pixels);
  uint32_t const planes_address = cast_smem_ptr_to_uint(planes);
  // This warp's plane, as the NCHW kernel reads its staged rows (delta 0: staged column 0 is the
  // first output's window's), and its tap pairs.
  uint32_t const a_lane =
      planes_address + uint32_t((warp * g.plane_words) * 4 + ((lane % 16) * kInCols + (lane / 16) * 8) * 2);
  uint32_t const* const b_lane = pairs + warp * channel_pairs + (2 * (lane % 4) - lane / 4 + kMmaPairLead);

  for (int64_t tile = blockIdx.x; tile < g.walk.tiles; tile += gridDim.x) {
    PixelTile const k = coords_of(tile);
    cp_async_wait<0>();
    __syncthreads();  // the pixels are in (and the tap pairs, the first time); the last tile's out read

    pixels_to_planes<kCh>(pixels_address, g.in_rows, kInBlocks, planes, g.plane_words, kInCols / 2, warp, lane);
    __syncthreads();
    // The pixels are free: the next tile's copies fly while this one computes.
    if (tile + gridDim.x < g.walk.tiles) stage(tile + gridDim.x);

    float acc[kSub][4];
    CUTE_UNROLL
    for (int s = 0; s < kSub; ++s) {
      CUTE_UNROLL
      for (int e = 0; e < 4; ++e) acc[s][e] = bias_value;
    }
    accumulate_window_rows<Cfg>(acc, a_lane, kInCols, b_lane, part_stride, g.pairs, Kh);

    // acc[s] holds rows lane / 4 and lane / 4 + 8, columns 8 s + 2 (lane % 4) and the next: one word
    // of the channel's output plane each, written over its input plane, which only this warp reads.
    __syncwarp();
    CUTE_UNROLL
    for (int half = 0; half < 2; ++half) {
      CUTE_UNROLL
      for (int s = 0; s < kSub; ++s) {
        planes[warp * g.plane_words + (lane / 4 + 8 * half) * kOutRowWords + 4 * s + lane % 4] =
            band_mma::pack_pair(static_cast<T>(acc[s][2 * half]), static_cast<T>(acc[s][2 * half + 1]));
      }
    }
    __syncthreads();

    // Output planes to pixels: block m of a load is the 8 channels of output row r, columns 8 (b + m),
    // and lane i gets channels 2 (i % 4) and the next of column 8 (b + m) + i / 4. A row takes
    // kRowLoads loads; warp w takes blocks from 4 (w % kRowLoads) of rows w / kRowLoads + j kRowStep:
    // a lane steps one pointer down its rows and along them.
    constexpr int kRowLoads = kSub / 4, kRowStep = kCh / kRowLoads;
    static_assert(kSub % 4 == 0 && kCh % kRowLoads == 0, "whole loads of 4 blocks a row");
    int const lane_col = k.out_col0 + (warp % kRowLoads) * 32 + lane / 4;
    int const first_row = warp / kRowLoads;
    T* at = out + (int64_t(k.n) * p.out_stride_n + int64_t(c_block + 2 * (lane % 4)) * p.out_stride_c +
                   int64_t(k.out_row0 + first_row) * p.out_stride_h + int64_t(lane_col) * p.out_stride_w);
    uint32_t const lane_plane = planes_address + uint32_t(((lane % 8) * g.plane_words + first_row * kOutRowWords +
                                                          (warp % kRowLoads) * 16 + (lane / 8) * 4) * 4);
    for (int row = first_row; row < min(16, Ho - k.out_row0); row += kRowStep) {
      uint32_t v[4];
      load_transposed(lane_plane + uint32_t((row - first_row) * kOutRowWords * 4), v);
      CUTE_UNROLL
      for (int m = 0; m < 4; ++m) {
        if (lane_col + 8 * m < Wo) {
          T* const pixel = at + int64_t(8 * m) * p.out_stride_w;
          if (g.pair_stores) {
            *reinterpret_cast<uint32_t*>(pixel) = v[m];
          } else {
            pixel[0] = T::bitcast(uint16_t(v[m] & 0xffffu));
            pixel[p.out_stride_c] = T::bitcast(uint16_t(v[m] >> 16));
          }
        }
      }
      at += kRowStep * p.out_stride_h;
    }
  }
}

}  // namespace window

// The band steps the channels_last tensor-core kernel would take the call with, or 0 where it
// cannot: 16-bit x whose pixels stage as 16-byte pieces of 8 channels (unit channel stride, C a
// multiple of 8, aligned), stride 1, dilation 1, coordinates that fit an int.
template <class T>
int window_mma_channels_last_band_steps(WindowParams const& p) {
  if constexpr (sizeof(T) != 2) {
    return 0;
  } else {
    if (p.stride_h != 1 || p.stride_w != 1 || p.dilation_h != 1 || p.dilation_w != 1 || p.x_stride_c != 1) return 0;
    if (p.C % 8 != 0 ||
        staging::pixel_patch_copy_bytes<T>(p.C, {{p.x, {p.x_stride_n, p.x_stride_h, p.x_stride_w}}}) != 16) {
      return 0;
    }
    return window::mma_coordinates_fit(p) ? int(window::mma_band_steps(p.kw, 0)) : 0;
  }
}

// Plans and launches fwd_window_mma_channels_last_kernel; kUnsupported where the call needs a deeper
// band than Cfg's or the other weight split, a tile does not fit shared memory, or only one block
// fits an SM and the window has fewer than one_block_taps taps.
template <class Cfg>
LaunchStatus launch_window_mma_channels_last(WindowParams const& p, int64_t one_block_taps, cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int kCh = Cfg::kChannels;
  int const steps = window_mma_channels_last_band_steps<T>(p);
  if (steps == 0 || steps > Cfg::kKSteps || p.params_float32 != Cfg::kSplit) return LaunchStatus::kUnsupported;

  window::MmaChannelsLastGeometry g{};
  g.in_rows = int(16 + p.kh - 1);
  // A plane's rows are Cfg::kInCols elements, an odd number of 16-byte units (ldmatrix); the planes
  // 4 x an odd number of words apart, so that the 8 channels a transposing store writes, or a
  // transposing load reads, hit 32 banks. A plane holds its 16 output rows of Cfg::kTileCols / 2 + 4
  // words, for kInCols >= kTileCols + 8.
  g.plane_words = g.in_rows * Cfg::kInCols / 2;
  while (g.plane_words % 8 != 4) g.plane_words += 4;
  g.pairs = int(window::mma_pairs_per_row(Cfg::kKSteps));
  g.pair_stores = p.out_stride_c == 1 && p.out_stride_w % 2 == 0 && p.out_stride_h % 2 == 0 &&
                  p.out_stride_n % 2 == 0 && reinterpret_cast<uintptr_t>(p.out) % 4 == 0;

  int64_t const pair_words = ((Cfg::kSplit ? 2 : 1) * kCh * p.kh * g.pairs + 31) / 32 * 32;
  int64_t const pixel_bytes = int64_t(g.in_rows) * Cfg::kInCols * kCh * int64_t(sizeof(T));
  int64_t const smem_bytes = (pair_words + int64_t(kCh) * g.plane_words) * 4 + pixel_bytes;
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;

  int64_t const chunks = p.C / kCh;
  int64_t const strips = (p.Wo + Cfg::kTileCols - 1) / Cfg::kTileCols;
  int64_t const row_tiles = (p.Ho + 15) / 16;
  if (!window::plan_pixel_tile_walk(p.N, row_tiles, strips, chunks, g.walk)) return LaunchStatus::kUnsupported;

  constexpr auto kKernel = &window::fwd_window_mma_channels_last_kernel<Cfg>;
  int const registers = KernelAttributes<kKernel>::registers_if_launchable(p.device, int(smem_bytes));
  if (registers == 0) return LaunchStatus::kUnsupported;
  int const blocks = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_bytes));
  if (blocks == 0 || (blocks == 1 && p.kh * p.kw < one_block_taps)) return LaunchStatus::kUnsupported;
  // One wave, a whole number of chunks (each block keeps its chunk and builds its tap pairs once).
  int64_t const wave = std::max<int64_t>(chunks, int64_t(blocks) * limits.multiprocessors / chunks * chunks);
  int64_t const grid = std::min<int64_t>(g.walk.tiles, wave);
  kKernel<<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
