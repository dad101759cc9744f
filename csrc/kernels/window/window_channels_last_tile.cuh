// channels_last window kernel with staged input, for (Kh, Kw) depthwise windows on NHWC data. A
// block owns one chunk of channels (64 bytes of each pixel: 16 float32 or 32 16-bit channels) and
// walks tiles of output pixels. Per tile it stages the input pixels under the tile, the W.C segment
// of each input row that the chunk needs, into shared memory with cp.async (zero-filled outside the
// image), with two buffers the next tile's copies in flight while this one computes (one buffer where
// two would cost blocks per SM: other blocks compute while one stages). A lane owns 4 adjacent channels
// of kRows output rows of kCols adjacent columns: per input row under them it reads kWindow pixels'
// channels once into registers and slides each window row's taps across them, so the lanes read
// shared memory about (kCols + Kw - 1) / (kCols * Kw * kRows) times per FMA and the input once per
// tile (the L1 kernel beside this one read it once per lane, and reached 13-15% of ConvNeXt's 7x7
// floor: profiling/NOTES.md, variant 67).
//
// Bank conflicts: a 64-byte pixel is half of the 128 bytes a shared-memory phase serves, and the two
// pixel lanes of a phase are vertically adjacent lanes (row lanes vary fastest), so the launcher pads
// the staged rows to put those two lanes' pixels in opposite halves.
//
// Images much shorter than a tile (a network's later stages: 14x14, 7x7) are stacked down one tile,
// `group` images of the chunk a tile, each with its own rows of lanes and staged rows: a tile of 32
// pixel lanes x kRows x kCols outputs held 10% of a 7x7 image.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"
#include "kernels/staging/pixel_patch.cuh"
#include "kernels/staging/tile_walk.cuh"
#include "kernels/window/channels_io.cuh"
#include "kernels/window/channels_last_fits.h"
#include "kernels/window/window_config.h"
#include "plan/stacking.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

// Host-planned tiling; see launch_window_channels_last_tile.
struct ChannelsLastTileGeometry {
  int row_lanes;      // pixel lanes down a tile (they vary fastest)
  int col_lanes;      // pixel lanes along a tile; row_lanes * col_lanes == Cfg::kPixelLanes
  int group;          // images stacked down a tile: 1, or more where an image is much shorter than a tile
  int member_row_lanes;  // pixel lanes down each stacked image (row_lanes when group is 1)
  int tile_rows;      // output rows per tile and image: member_row_lanes * kRows
  int tile_cols;      // output columns per tile: col_lanes * kCols
  int in_rows;        // staged input rows per tile and image
  int in_cols;        // staged input pixels per row
  int pitch;          // elements per staged row: in_cols * kChunk, padded against bank conflicts
  int vector_stores;  // out's pixels and channels allow 4-channel stores
  int buffers;        // 2: the next tile is staged while this one computes; 1: after it
  int64_t tiles;
  cutlass::FastDivmod groups;     // tile -> (pixel tile, channel chunk)
  cutlass::FastDivmod strips;     // pixel tile -> (n * row tiles + row tile, strip)
  cutlass::FastDivmod row_tiles;  // -> (image slot, row tile); a slot is `group` images
  cutlass::FastDivmod patch_cols; // staged pixel -> (row, column)
};

// kExact: the window is kKwMax x kKwMax, so every loop over it unrolls (the loops over a run-time
// height kept 29-45% of the issue slots busy with other than FMAs on ConvNeXt's 7x7: variant 68).
template <class Cfg, int kCopyBytes, bool kExact>
__global__ void __launch_bounds__(Cfg::kThreads, kExact && Cfg::kStride == 1 ? Cfg::kMinBlocks : 1)
    fwd_window_channels_last_tile_kernel(WindowParams const p, ChannelsLastTileGeometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  constexpr int kCh = Cfg::kChannels;
  constexpr int kChunk = Cfg::kChunk;
  constexpr int kQuads = Cfg::kQuads;
  constexpr int kCols = Cfg::kCols;
  constexpr int kRows = Cfg::kRows;
  constexpr int kS = Cfg::kStride;
  constexpr int kKwMax = Cfg::kKwMax;
  constexpr int kWindow = Cfg::kWindow;

  int const Kh = kExact ? kKwMax : int(p.kh), Kw = kExact ? kKwMax : int(p.kw);
  constexpr int kRowUnroll = kExact ? (kRows - 1) * kS + kKwMax : 1;
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo), C = int(p.C);

  // [Kh * Kw][kChunk] taps as float, then two buffers of [in_rows][pitch] staged input.
  extern __shared__ __align__(128) unsigned char smem_bytes[];
  float* const taps = reinterpret_cast<float*>(smem_bytes);
  int const taps_bytes = (Kh * Kw * kChunk * 4 + 127) / 128 * 128;
  int const buffer_elems = g.group * g.in_rows * g.pitch;
  auto patch_of = [&](int buffer) { return reinterpret_cast<T*>(smem_bytes + taps_bytes) + buffer * buffer_elems; };

  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};

  // The grid is a whole number of chunks, so a block keeps its chunk across tiles and stages its
  // taps once.
  int const chunk = int(blockIdx.x % unsigned(g.groups.divisor));
  int const c_block = chunk * kChunk;
  for (int t = threadIdx.x; t < Kh * Kw * kChunk; t += Cfg::kThreads) {
    int const tap = t / kChunk, cl = t % kChunk;  // adjacent threads, adjacent channels
    int const c = c_block + cl;
    taps[t] = c < C ? static_cast<float>(weight[int64_t(c) * p.w_stride_c + int64_t(tap / Kw) * p.w_stride_h +
                                                int64_t(tap % Kw) * p.w_stride_w])
                    : 0.0f;
  }

  struct Coords {
    int n0, out_row0, out_col0;  // n0: the tile's first image; the stacked ones follow it
  };
  auto coords_of = [&](int64_t tile) {
    int pixel_tile, tile_chunk, image_row_tile, strip, slot, row_tile;
    g.groups(pixel_tile, tile_chunk, int(tile));
    g.strips(image_row_tile, strip, pixel_tile);
    g.row_tiles(slot, row_tile, image_row_tile);
    return Coords{slot * g.group, row_tile * g.tile_rows, strip * g.tile_cols};
  };

  // Each stacked image's patch, zero for images past the last.
  int const N = int(p.N);
  auto stage = [&](Coords const& k, int buffer) {
    staging::PixelPatchSource const src{k.out_row0 * kS - int(p.padding_h), k.out_col0 * kS - int(p.padding_w), H, W,
                                        p.x_stride_h, p.x_stride_w, C - c_block};
    staging::stage_image_patches<T, kChunk, kCopyBytes, Cfg::kThreads>(x + c_block, p.x_stride_n, k.n0, g.group, N, src,
                                                                       g.in_rows, g.patch_cols, patch_of(buffer),
                                                                       g.in_rows * g.pitch, g.pitch);
  };

  // Stacked images take consecutive row lanes (member_row_lanes each), so vertically adjacent lanes
  // stay kRows * kS rows apart within an image, as the bank padding assumes.
  int const quad = int(threadIdx.x) % kQuads;
  int const pixel_lane = int(threadIdx.x) / kQuads;
  int const member = (pixel_lane % g.row_lanes) / g.member_row_lanes;
  int const row_lane = (pixel_lane % g.row_lanes) % g.member_row_lanes;
  int const col_lane = pixel_lane / g.row_lanes;
  int const c0 = c_block + quad * kCh;
  float bias_values[kCh];
  CUTE_UNROLL
  for (int e = 0; e < kCh; ++e) bias_values[e] = bias && c0 + e < C ? static_cast<float>(bias[int64_t(c0 + e) * p.bias_stride]) : 0.0f;
  float const* const lane_taps = taps + quad * kCh;

  // (The walk's first barrier also makes the taps visible.)
  staging::walk_tiles_compact(
      int64_t(blockIdx.x), g.tiles, int64_t(gridDim.x), g.buffers == 2,
      [&](int64_t tile, int buffer) { stage(coords_of(tile), buffer); },
      [&](int64_t tile, int buffer) {
        Coords const k = coords_of(tile);
        int const n = k.n0 + member;
        int const ho0 = k.out_row0 + row_lane * kRows;
        int const wo0 = k.out_col0 + col_lane * kCols;
        if (c0 < C && ho0 < Ho && wo0 < Wo && member < g.group && n < N) {
          float acc[kRows][kCols][kCh];
          CUTE_UNROLL
          for (int r = 0; r < kRows; ++r) {
            CUTE_UNROLL
            for (int v = 0; v < kCols; ++v) {
              CUTE_UNROLL
              for (int e = 0; e < kCh; ++e) acc[r][v][e] = bias_values[e];
            }
          }
          T const* const lane_patch = patch_of(buffer) + (member * g.in_rows + row_lane * kRows * kS) * g.pitch +
                                      (col_lane * kCols * kS) * kChunk + quad * kCh;
          int const input_rows = (kRows - 1) * kS + Kh;
#pragma unroll kRowUnroll
          for (int i = 0; i < input_rows; ++i) {
            float values[kWindow][kCh];
            CUTE_UNROLL
            for (int q = 0; q < kWindow; ++q) {
              load_run<T, kCh, RunSource::kShared>(lane_patch + i * g.pitch + q * kChunk, values[q]);
            }
            CUTE_UNROLL
            for (int r = 0; r < kRows; ++r) {
              int const kh = i - r * kS;
              if (kh < 0 || kh >= Kh) continue;
              float const* const row_taps = lane_taps + kh * Kw * kChunk;
              CUTE_UNROLL
              for (int j = 0; j < kKwMax; ++j) {
                if (j < Kw) {
                  float4 const w = *reinterpret_cast<float4 const*>(row_taps + j * kChunk);
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

          T* const out_lane = out + (int64_t(n) * p.out_stride_n + c0);
          CUTE_UNROLL
          for (int r = 0; r < kRows; ++r) {
            int const ho = ho0 + r;
            if (ho >= Ho) break;
            CUTE_UNROLL
            for (int v = 0; v < kCols; ++v) {
              int const wo = wo0 + v;
              if (wo < Wo) {
                store_run<T, kCh>(out_lane + int64_t(ho) * p.out_stride_h + int64_t(wo) * p.out_stride_w,
                                  g.vector_stores != 0, acc[r][v]);
              }
            }
          }
        }
      });
}

}  // namespace window

// Plans and launches fwd_window_channels_last_tile_kernel; kUnsupported unless x and out have unit
// channel stride, C is a multiple of 4, x's pixels stage with 8- or 16-byte copies, and one tile and
// the chunk's taps fit shared memory (a second buffer where it fits and costs no occupancy).
template <class Cfg>
LaunchStatus launch_window_channels_last_tile(WindowParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int kChunk = Cfg::kChunk;
  if (!channels_last_window_fits<Cfg>(p)) return LaunchStatus::kUnsupported;
  int const copy_bytes = staging::pixel_patch_copy_bytes<T>(p.C, {{p.x, {p.x_stride_n, p.x_stride_h, p.x_stride_w}}});
  if (copy_bytes == 0) return LaunchStatus::kUnsupported;

  DeviceLimits const& limits = device_limits(p.device);
  int64_t const taps_bytes = (p.kh * p.kw * kChunk * 4 + 127) / 128 * 128;
  int64_t const groups = (p.C + kChunk - 1) / kChunk;

  // The split of the pixel lanes that stages and computes least: every output a tile computes past
  // the image's edge costs its FMAs, every staged pixel its copy. Where the image needs at most half
  // the row lanes and one strip, images are stacked.
  window::ChannelsLastTileGeometry g{};
  int64_t best_cost = -1, best_smem = 0;
  for (int col_lanes = 1; col_lanes <= Cfg::kPixelLanes / 2; col_lanes *= 2) {
    int const row_lanes = Cfg::kPixelLanes / col_lanes;
    int64_t const tile_cols = int64_t(col_lanes) * Cfg::kCols;
    int64_t const strips = (p.Wo + tile_cols - 1) / tile_cols;
    plan::PlaneStack const stack = plan::stack_planes(strips, row_lanes, p.Ho, Cfg::kRows, p.N);
    int64_t const group = stack.group, member_row_lanes = stack.member_lane_rows;
    int64_t const tile_rows = member_row_lanes * Cfg::kRows;
    int64_t const in_rows = (tile_rows - 1) * p.stride_h + p.kh;
    int64_t const in_cols = (tile_cols - Cfg::kCols) * p.stride_w + Cfg::kWindow;
    // Vertically adjacent lanes read rows kRows * stride apart.
    int64_t const pitch_bytes = staging::pixel_patch_pitch_bytes(in_cols, Cfg::kRows * Cfg::kStride);
    int64_t const smem = taps_bytes + group * in_rows * pitch_bytes;  // one buffer; see below for two
    if (smem > limits.smem_per_block_optin) continue;
    int64_t const row_tiles = (p.Ho + tile_rows - 1) / tile_rows;
    int64_t const slots = (p.N + group - 1) / group;
    int64_t const per_tile = group * (in_rows * in_cols + tile_rows * tile_cols * p.kh * p.kw * kChunk / 128);
    int64_t const cost = slots * row_tiles * strips * per_tile;
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best_smem = smem;
      g.row_lanes = row_lanes;
      g.col_lanes = col_lanes;
      g.group = int(group);
      g.member_row_lanes = int(member_row_lanes);
      g.tile_rows = int(tile_rows);
      g.tile_cols = int(tile_cols);
      g.in_rows = int(in_rows);
      g.in_cols = int(in_cols);
      g.pitch = int(pitch_bytes / int64_t(sizeof(T)));
    }
  }
  if (best_cost < 0) return LaunchStatus::kUnsupported;
  int64_t const buffer_bytes = int64_t(g.group) * g.in_rows * g.pitch * int64_t(sizeof(T));
  int64_t const store_elems = Cfg::kChannels;
  g.vector_stores = reinterpret_cast<uintptr_t>(p.out) % (store_elems * sizeof(T)) == 0 &&
                    p.out_stride_n % store_elems == 0 && p.out_stride_h % store_elems == 0 &&
                    p.out_stride_w % store_elems == 0;

  int64_t const row_tiles = (p.Ho + g.tile_rows - 1) / g.tile_rows;
  int64_t const strips = (p.Wo + g.tile_cols - 1) / g.tile_cols;
  int64_t const slots = (p.N + g.group - 1) / g.group;
  constexpr int64_t kIndexLimit = int64_t(1) << 31;
  g.tiles = slots * row_tiles * strips * groups;
  if (slots * row_tiles >= kIndexLimit || g.tiles >= kIndexLimit) return LaunchStatus::kUnsupported;
  g.groups = cutlass::FastDivmod(int(groups));
  g.strips = cutlass::FastDivmod(int(strips));
  g.row_tiles = cutlass::FastDivmod(int(row_tiles));
  g.patch_cols = cutlass::FastDivmod(g.in_cols);

  // The kernel for the copy width and window; its registers and shared-memory opt-in.
  bool const exact = p.kh == Cfg::kKwMax && p.kw == Cfg::kKwMax;
  auto* kernel = &window::fwd_window_channels_last_tile_kernel<Cfg, 16, false>;
  int registers = 0;
  auto pick = [&](auto copy, auto exact_window) {
    constexpr auto kKernel = &window::fwd_window_channels_last_tile_kernel<Cfg, decltype(copy)::value,
                                                                           decltype(exact_window)::value>;
    kernel = kKernel;
    registers = KernelAttributes<kKernel>::registers(p.device);
    return &KernelAttributes<kKernel>::allow_shared_memory;
  };
  using Yes = std::true_type;
  using No = std::false_type;
  using C16 = std::integral_constant<int, 16>;
  using C8 = std::integral_constant<int, 8>;
  auto const allow = copy_bytes == 16 ? (exact ? pick(C16{}, Yes{}) : pick(C16{}, No{}))
                                      : (exact ? pick(C8{}, Yes{}) : pick(C8{}, No{}));
  if (registers == 0) return LaunchStatus::kUnsupported;
  // Two buffers where they leave at least 16 warps per SM or as many blocks as one buffer would.
  int64_t const smem_one = best_smem, smem_two = best_smem + buffer_bytes;
  int const blocks_one = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_one));
  int const blocks_two = smem_two <= limits.smem_per_block_optin
                             ? blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_two))
                             : 0;
  constexpr int kWarps = Cfg::kThreads / 32;
  g.buffers = blocks_two > 0 && (blocks_two * kWarps >= 16 || blocks_two >= blocks_one) ? 2 : 1;
  int64_t const smem_bytes = g.buffers == 2 ? smem_two : smem_one;
  int const blocks_per_sm = g.buffers == 2 ? blocks_two : blocks_one;
  if (!allow(p.device, int(smem_bytes)) || blocks_per_sm == 0) return LaunchStatus::kUnsupported;
  // One wave, a whole number of chunks (each block keeps its chunk).
  int64_t const wave = std::max<int64_t>(groups, int64_t(blocks_per_sm) * limits.multiprocessors / groups * groups);
  int64_t const grid = std::min<int64_t>(g.tiles, wave);
  kernel<<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
