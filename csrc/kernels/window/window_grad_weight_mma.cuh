// Weight and bias gradients of a 16-bit NCHW window at stride 1 and dilation 1, on tensor cores.
// Output row y's share of the window's gradient is a sum along the staged input columns q:
//   dW[i, j] += sum_q g_y(q - j - delta) * x_staged[y + i, q],
// g_y(s) being grad_out[y, o0 + s] inside the tile's columns and zero elsewhere (the staged rows start
// delta columns before the first output's window). A m16n8k16 MMA takes two output rows at once:
// A row 8 h + m is the Toeplitz row of tap j = 8 mt + m over grad_out row y + h, and B column n is
// staged input row y + 8 nt + n (ldmatrix), so C[8 h + m, n] adds output row y + h's products to
// dW[8 nt + n - h, j]: 98 of a 7x7 MMA's 128 products count (two output rows a MMA), where one
// output row with its window rows down M used 56. float32 accumulation; a block's sums stay in its
// accumulators across its tiles.
//
// A lane's A registers are pairs of adjacent grad_out values from offsets of one parity (2 (lane %
// 4) - lane / 4 - delta, plus multiples of 8), so each staged grad_out row is kept twice: as copied
// (pairs from even offsets are its 32-bit words) and one element on (built after the copies land),
// and every A register is one 32-bit shared load. The shifted copy's pass also sums the bias.
//
// A block takes every `slices`-th tile of one channel (image, rows, column strip), staged by cp.async
// into two buffers, and ends with one partial per tap written to the workspace, its warps added in
// order; bwd_window_weight_reduce_kernel adds the partials in slice order: the same bits on every run.
#pragma once

#include <algorithm>
#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/band_mma.cuh"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/staging/lane_io.cuh"
#include "kernels/staging/row_ring.cuh"
#include "kernels/staging/tile_walk.cuh"
#include "kernels/window/window_config.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

// Host-planned tiling; see plan_window_grad_weight_mma.
struct GradMmaGeometry {
  int tile_rows;    // output rows per tile: a whole number of pairs for each of the block's warps
  int tile_cols;    // output columns per strip: a multiple of 8
  int delta;        // the staged input rows start this many columns before the first output's window
  int steps;        // 16-column MMA steps along a staged row
  int x_rows;       // staged input rows per tile: tile_rows + Kh - 1, or the rows B reads past them
  int x_pitch;      // elements per staged input row: an odd number of 16-byte units (ldmatrix)
  int lead;         // zero elements before a grad_out row's first value in its tables
  int table_pitch;  // elements per grad_out table (the copied one, then the shifted one, per row)
  int buffer_elems;  // elements per staging buffer: the input rows, then the grad_out tables
  int tiles_per_channel;
  int slices;                          // blocks per channel
  cutlass::FastDivmod slice_count;     // block -> (c, slice)
  cutlass::FastDivmod strip_count;     // tile -> (n * row tiles + row tile, strip)
  cutlass::FastDivmod row_tile_count;  // -> (n, row tile)
  cutlass::FastDivmod x_row_lanes;     // threads along a staged input row
  cutlass::FastDivmod g_row_lanes;     // threads along a staged grad_out row
};

// One chunk of a staged grad_out row's shifted table (row: its copied table, the shifted one
// table_pitch on; element e of the shifted is element e + 1 of the copied). Returns the sum of the
// chunk's copied values: each is summed once into the bias.
template <class T>
CUTE_DEVICE float shift_table_chunk(T* row, int table_pitch, int chunk) {
  uint4 const v = *reinterpret_cast<uint4 const*>(row + 8 * chunk);
  uint32_t const next = *reinterpret_cast<uint16_t const*>(row + 8 * chunk + 8);
  uint4 shifted;
  shifted.x = __byte_perm(v.x, v.y, 0x5432);
  shifted.y = __byte_perm(v.y, v.z, 0x5432);
  shifted.z = __byte_perm(v.z, v.w, 0x5432);
  shifted.w = __byte_perm(v.w, next, 0x5432);
  *reinterpret_cast<uint4*>(row + table_pitch + 8 * chunk) = shifted;
  uint32_t const words[4] = {v.x, v.y, v.z, v.w};
  float sum = 0.0f;
  CUTE_UNROLL
  for (int e = 0; e < 8; ++e) sum += staging::element_from_words<T>(words, e);
  return sum;
}

// This lane's first A word in a tile's tables: its offset s0 = 2 (lane % 4) - lane / 4 - delta puts
// its pairs at s0 + 16 step + 8 h - 8 mt, all of s0's parity, so it reads them from the copied table
// (even) or the shifted one.
CUTE_DEVICE int grad_table_lane_word(int lane, int delta, int lead, int table_pitch) {
  int const s0 = 2 * (lane % 4) - lane / 4 - delta;
  int const odd = s0 & 1;
  return (odd ? table_pitch / 2 : 0) + (lead + s0 - odd) / 2;
}

// A pair of output rows' products added to acc: A from their tables (a_row: the lane's word of the
// first row's, the second row's table_pitch words on), B the staged input rows from b_row (the lane's
// ldmatrix address in the pair's first row: row lane % 8, columns 8 (lane / 8) on) in `steps`
// 16-column steps.
template <class Cfg>
CUTE_DEVICE void accumulate_row_pair(float (&acc)[Cfg::kTapTiles][Cfg::kRowTiles][4], uint32_t const* a_row,
                                     int table_pitch, uint32_t b_row, int x_pitch, int steps) {
  using T = typename Cfg::Element;
  constexpr int kTapTiles = Cfg::kTapTiles;
  constexpr int kRowTiles = Cfg::kRowTiles;
  // A step's MMAs: A from both rows' tables at word offset `at`, B the step's two matrices.
  auto multiply = [&](int at, uint32_t const (&b)[kRowTiles][2]) {
    CUTE_UNROLL
    for (int mt = 0; mt < kTapTiles; ++mt) {
      uint32_t const a[4] = {a_row[at - 4 * mt], a_row[table_pitch + at - 4 * mt], a_row[at - 4 * mt + 4],
                             a_row[table_pitch + at - 4 * mt + 4]};
      CUTE_UNROLL
      for (int nt = 0; nt < kRowTiles; ++nt) band_mma::mma<T>(acc[mt][nt], a, b[nt]);
    }
  };
  auto b_at = [&](int nt, int step) { return b_row + uint32_t((8 * nt * x_pitch + 16 * step) * int(sizeof(T))); };
  int step = 0;
  for (; step + 1 < steps; step += 2) {  // two steps an ldmatrix .x4
    uint32_t b4[kRowTiles][4];
    CUTE_UNROLL
    for (int nt = 0; nt < kRowTiles; ++nt) band_mma::load_a_fragment(b_at(nt, step), b4[nt]);
    CUTE_UNROLL
    for (int half = 0; half < 2; ++half) {
      uint32_t b[kRowTiles][2];
      CUTE_UNROLL
      for (int nt = 0; nt < kRowTiles; ++nt) b[nt][0] = b4[nt][2 * half], b[nt][1] = b4[nt][2 * half + 1];
      multiply(8 * (step + half), b);
    }
  }
  if (step < steps) {  // an odd last step: .x2 (lanes 0-15 give the addresses)
    uint32_t b[kRowTiles][2];
    CUTE_UNROLL
    for (int nt = 0; nt < kRowTiles; ++nt) band_mma::load_a_half(b_at(nt, step), b[nt]);
    multiply(8 * step, b);
  }
}

// acc[mt][nt][e] holds output row offset h = e / 2 of tap j = 8 mt + lane / 4 and staged row 8 nt +
// 2 (lane % 4) + e % 2, that is window row i = that row - h: f(h, i * Kw + j, sum) for those inside
// the window.
template <class Cfg, class F>
CUTE_DEVICE void for_each_window_sum(float const (&acc)[Cfg::kTapTiles][Cfg::kRowTiles][4], int lane, int Kh,
                                     int Kw, F&& f) {
  CUTE_UNROLL
  for (int mt = 0; mt < Cfg::kTapTiles; ++mt) {
    CUTE_UNROLL
    for (int nt = 0; nt < Cfg::kRowTiles; ++nt) {
      CUTE_UNROLL
      for (int e = 0; e < 4; ++e) {
        int const h = e / 2;
        int const j = 8 * mt + lane / 4;
        int const i = 8 * nt + 2 * (lane % 4) + e % 2 - h;
        if (unsigned(i) < unsigned(Kh) && j < Kw) f(h, i * Kw + j, acc[mt][nt][e]);
      }
    }
  }
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads)
    bwd_window_weight_mma_kernel(WindowGradWeightParams const p, GradMmaGeometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  constexpr int kTapTiles = Cfg::kTapTiles;
  constexpr int kRowTiles = Cfg::kRowTiles;
  constexpr int kWarps = Cfg::kWarps;

  int c, slice;
  g.slice_count(c, slice, int(blockIdx.x));
  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);
  int const warp = int(threadIdx.x / 32u), lane = int(threadIdx.x % 32u);

  // [2][buffer_elems] staging: input rows, then per output row its two grad_out tables.
  extern __shared__ __align__(128) unsigned char smem_bytes[];
  T* const buffers = reinterpret_cast<T*>(smem_bytes);
  int const x_elems = g.x_rows * g.x_pitch;
  auto x_of = [&](int buffer) { return buffers + buffer * g.buffer_elems; };
  auto tables_of = [&](int buffer) { return x_of(buffer) + x_elems; };

  // The tables' lead and tail stay zero: the copies write only the strip's own columns. Zero both
  // buffers once, before any copy can land in them.
  {
    uint4* const words = reinterpret_cast<uint4*>(smem_bytes);
    int const count = 2 * g.buffer_elems * int(sizeof(T)) / 16;
    for (int i = threadIdx.x; i < count; i += Cfg::kThreads) words[i] = make_uint4(0, 0, 0, 0);
    __syncthreads();
  }

  staging::RowShare const x_share = staging::share_rows<Cfg::kThreads>(g.x_row_lanes);
  staging::RowShare const g_share = staging::share_rows<Cfg::kThreads>(g.g_row_lanes);
  T const* const x_channel = static_cast<T const*>(p.x) + int64_t(c) * p.x_stride_c;
  T const* const g_channel = static_cast<T const*>(p.grad_out) + int64_t(c) * p.g_stride_c;
  int const g_chunks = g.tile_cols / 8;

  struct Coords {
    int n, out_row0, out_col0;
  };
  auto coords_of = [&](int tile) {
    int image_row, strip, row_tile;
    Coords k;
    g.strip_count(image_row, strip, tile);
    g.row_tile_count(k.n, row_tile, image_row);
    k.out_row0 = row_tile * g.tile_rows;
    k.out_col0 = strip * g.tile_cols;
    return k;
  };

  auto stage = [&](int tile, int buffer) {
    using Atom = staging::StageCopyAtom<T, 16>;
    Coords const k = coords_of(tile);
    staging::RowSource<T> const x_rows{x_channel + int64_t(k.n) * p.x_stride_n, p.x_stride_h,
                                       k.out_row0 - int(p.padding_h), 1, H,
                                       k.out_col0 - int(p.padding_w) - g.delta, W};
    staging::copy_rows<Atom, 8>(x_share, x_rows, 0, g.x_rows, 2 * g.steps, x_of(buffer), g.x_pitch);
    staging::RowSource<T> const g_rows{g_channel + int64_t(k.n) * p.g_stride_n, p.g_stride_h, k.out_row0, 1, Ho,
                                       k.out_col0, Wo};
    staging::copy_rows<Atom, 8>(g_share, g_rows, 0, g.tile_rows, g_chunks, tables_of(buffer) + g.lead,
                                2 * g.table_pitch);
  };

  float acc[kTapTiles][kRowTiles][4];
  CUTE_UNROLL
  for (int mt = 0; mt < kTapTiles; ++mt) {
    CUTE_UNROLL
    for (int nt = 0; nt < kRowTiles; ++nt) {
      CUTE_UNROLL
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.0f;
    }
  }
  float bias_acc = 0.0f;

  int const lane_word = grad_table_lane_word(lane, g.delta, g.lead, g.table_pitch);
  // This lane's ldmatrix row and column: four 8 x 8 matrices of B, staged input rows down their rows
  // and 8 columns each, two MMA steps.
  int const b_lane = int(lane % 8u) * g.x_pitch + 8 * int(lane / 8u);
  staging::walk_tiles_compact(
      slice, g.tiles_per_channel, g.slices, true, [&](int tile, int buffer) { stage(tile, buffer); },
      [&](int tile, int buffer) {
        Coords const k = coords_of(tile);
        T* const tables = tables_of(buffer);
        // The shifted tables: only the chunks that reach the strip's values; the rest stay zero.
        int const build_chunks = g_chunks + 1;
        for (int item = threadIdx.x; item < g.tile_rows * build_chunks; item += Cfg::kThreads) {
          int const r = item / build_chunks, chunk = g.lead / 8 - 1 + item % build_chunks;
          bias_acc += shift_table_chunk(tables + r * 2 * g.table_pitch, g.table_pitch, chunk);
        }
        __syncthreads();

        uint32_t const x_base = cast_smem_ptr_to_uint(x_of(buffer)) + uint32_t(b_lane * int(sizeof(T)));
        uint32_t const* const words = reinterpret_cast<uint32_t const*>(tables) + lane_word;
        int const rows = min(g.tile_rows, Ho - k.out_row0);
        // Pairs of output rows (the second may be past the plane: its tables are zero). Uniform across
        // the warp, as ldmatrix and mma need.
        for (int r = 2 * warp; r < rows; r += 2 * kWarps) {
          accumulate_row_pair<Cfg>(acc, words + r * g.table_pitch, g.table_pitch,
                                   x_base + uint32_t(r * g.x_pitch * int(sizeof(T))), g.x_pitch, g.steps);
        }
      });

  // The block's warps in order, through shared memory (free now: the walk's last barrier is behind
  // us).
  int const taps = Kh * Kw;
  float* const red = reinterpret_cast<float*>(smem_bytes);  // [kWarps][2][taps], then [kWarps] bias
  for_each_window_sum<Cfg>(acc, lane, Kh, Kw,
                           [&](int h, int tap, float sum) { red[(warp * 2 + h) * taps + tap] = sum; });
  CUTE_UNROLL
  for (int offset = 16; offset > 0; offset /= 2) bias_acc += __shfl_xor_sync(0xffffffffu, bias_acc, offset);
  if (lane == 0) red[kWarps * 2 * taps + warp] = bias_acc;
  __syncthreads();
  float* const workspace = static_cast<float*>(p.workspace) + (int64_t(c) * g.slices + slice) * (taps + 1);
  for (int q = threadIdx.x; q <= taps; q += Cfg::kThreads) {
    float sum = 0.0f;
    if (q < taps) {
      for (int w = 0; w < 2 * kWarps; ++w) sum += red[w * taps + q];
    } else {
      for (int w = 0; w < kWarps; ++w) sum += red[kWarps * 2 * taps + w];
    }
    workspace[q] = sum;
  }
}

}  // namespace window

// The tiling of launch_window_grad_weight_mma, without the launch: whether it takes the call (16-bit
// x and grad_out with 16-byte aligned rows of unit column stride, stride 1, dilation 1, a window
// within the config's tiles (Kh + 1 staged rows, Kw taps), the staging within shared memory)
// and how many partial sums per channel it writes.
template <class Cfg>
bool plan_window_grad_weight_mma(WindowGradWeightParams const& p, window::GradMmaGeometry& g, int64_t& smem_bytes) {
  using T = typename Cfg::Element;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;
  if (p.kh >= 8 * Cfg::kRowTiles || p.kw > 8 * Cfg::kTapTiles || p.stride_h != 1 || p.stride_w != 1 ||
      p.dilation_h != 1 || p.dilation_w != 1 || p.x_stride_w != 1 || p.g_stride_w != 1 || p.N <= 0 || p.Ho <= 0 ||
      p.Wo <= 0) {
    return false;
  }
  if (staging::stage_copy_bytes<T>(p.x, p.W, p.x_stride_h, p.x_stride_c, p.x_stride_n) != 16 ||
      staging::stage_copy_bytes<T>(p.grad_out, p.Wo, p.g_stride_h, p.g_stride_c, p.g_stride_n) != 16) {
    return false;
  }
  if (p.H >= kCoordLimit || p.W >= kCoordLimit || p.padding_h >= kCoordLimit || p.padding_w >= kCoordLimit ||
      p.Ho + p.kh + 128 >= kCoordLimit || p.Wo + p.kw + 256 >= kCoordLimit) {
    return false;
  }
  // Strips of at most 128 columns, as even as 8-column units allow; each starts on a multiple of 8,
  // so the staged input starts delta = -padding mod 8 columns before its first window.
  int64_t const strips = (p.Wo + 127) / 128;
  g.tile_cols = int(((p.Wo + strips - 1) / strips + 7) / 8 * 8);
  g.delta = int(((-p.padding_w) % 8 + 8) % 8);
  g.steps = int((g.delta + g.tile_cols + p.kw - 1 + 15) / 16);
  // Tall windows take taller tiles, so that the halo of Kh - 1 rows is a smaller share; a warp takes
  // pairs of rows.
  int64_t const pairs_per_warp = p.kh > 16 ? 4 : 2;
  int64_t const pair_rows = 2 * Cfg::kWarps;
  int64_t const tile_rows =
      std::min<int64_t>(pair_rows * pairs_per_warp, (p.Ho + pair_rows - 1) / pair_rows * pair_rows);
  g.tile_rows = int(tile_rows);
  // B reads 8 kRowTiles staged rows from each pair's first.
  g.x_rows = int(std::max<int64_t>(tile_rows + p.kh - 1, tile_rows - 2 + 8 * Cfg::kRowTiles));
  int64_t const x_units = 2 * g.steps;
  g.x_pitch = int(8 * (x_units + 1));  // an odd number of 16-byte units (x_units is even)
  // A lane reads pairs from lead + s0 - 1 - 8 (kTapTiles - 1) on (s0 >= -14) to lead + 16 steps; the
  // shifted table sits 16-48 elements (mod 64) past the copied one, so the two halves of a warp, one
  // per table, read different banks.
  g.lead = 8 * Cfg::kTapTiles + 8;
  int64_t table = g.lead + 16 * int64_t(g.steps) + 8;
  while (table % 64 < 16 || table % 64 > 48) table += 8;
  g.table_pitch = int(table);
  int64_t const buffer_elems = int64_t(g.x_rows) * g.x_pitch + tile_rows * 2 * table;
  g.buffer_elems = int(buffer_elems);
  int64_t const red_bytes = int64_t(Cfg::kWarps) * (2 * p.kh * p.kw + 1) * 4;
  smem_bytes = std::max<int64_t>(2 * buffer_elems * int64_t(sizeof(T)), red_bytes);
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return false;

  int64_t const row_tiles = (p.Ho + tile_rows - 1) / tile_rows;
  int64_t const tiles_per_channel = p.N * row_tiles * strips;
  if (tiles_per_channel >= (int64_t(1) << 31)) return false;
  // Blocks per channel: a few waves of resident blocks in all, each walking a share of the channel's
  // tiles (its sums stay in the accumulators until the end).
  // (The plan and the launch must agree on the count, so occupancy is estimated at 64 registers.)
  int64_t const resident = blocks_per_multiprocessor(limits, Cfg::kThreads, 64, int(smem_bytes));
  int64_t const target_blocks = int64_t(limits.multiprocessors) * resident * 2;
  int64_t const slices = std::max<int64_t>(1, std::min<int64_t>(tiles_per_channel, (target_blocks + p.C - 1) / p.C));
  if (p.C * slices >= (int64_t(1) << 31)) return false;
  g.tiles_per_channel = int(tiles_per_channel);
  g.slices = int(slices);
  g.slice_count = cutlass::FastDivmod(int(slices));
  g.strip_count = cutlass::FastDivmod(int(strips));
  g.row_tile_count = cutlass::FastDivmod(int(row_tiles));
  g.x_row_lanes = staging::row_lanes<Cfg::kThreads>(x_units);
  g.g_row_lanes = staging::row_lanes<Cfg::kThreads>(g.tile_cols / 8);
  return true;
}

// Partial sums per channel (0 where the tensor-core kernel does not take the call).
template <class Cfg>
int64_t window_grad_weight_mma_partials(WindowGradWeightParams const& p) {
  window::GradMmaGeometry g{};
  int64_t smem_bytes = 0;
  return plan_window_grad_weight_mma<Cfg>(p, g, smem_bytes) ? g.slices : 0;
}

// Writes slices partial sums per channel into p.workspace ((C, slices, kh * kw + 1) floats); the
// caller adds them. kUnsupported where plan_window_grad_weight_mma declines.
template <class Cfg>
LaunchStatus launch_window_grad_weight_mma(WindowGradWeightParams const& p, cudaStream_t stream) {
  window::GradMmaGeometry g{};
  int64_t smem_bytes = 0;
  if (!plan_window_grad_weight_mma<Cfg>(p, g, smem_bytes)) return LaunchStatus::kUnsupported;
  constexpr auto kKernel = &window::bwd_window_weight_mma_kernel<Cfg>;
  if (KernelAttributes<kKernel>::registers_if_launchable(p.device, int(smem_bytes)) == 0) {
    return LaunchStatus::kUnsupported;
  }
  kKernel<<<dim3(unsigned(p.C * g.slices)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
