// NCHW window kernel for 16-bit inputs at stride 1 and dilation 1, on tensor cores. One window row
// i of a depthwise convolution, applied along an output row, is a product with a band (Toeplitz)
// matrix: out[r, o] += sum_k x[r + i, o0 + k] * B_i[k, o - o0], B_i[k, n] = w[i, k - delta - n]. So
// a warp takes 16 output rows and 8-column subtiles: per window row it reads 16 x 16 blocks of the
// staged input with ldmatrix (rows r + i of its 16 outputs) and multiplies each with kKSteps 16 x 8
// blocks of the band in m16n8k16 MMAs with float32 accumulation. The band is the same for every
// subtile, so a warp builds its B fragments once per window row, and each A fragment feeds up to
// kKSteps subtiles. A band of Kw taps holds Kw * 8 products of 16 * kKSteps * 8: the tensor cores
// do 2-5x the FMAs a window needs, at many times the FP32 pipe's rate (profiling/NOTES.md,
// variants 72-76).
//
// Products of 16-bit values are exact in float32; float32 weights beside 16-bit inputs (autocast)
// are split into a 16-bit head and tail, two MMAs per block, so that they count as they are.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/band_mma.cuh"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"
#include "kernels/staging/row_ring.cuh"
#include "kernels/window/window_config.h"
#include "plan/column_origin.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

// A window row's taps as pairs: pair j holds taps j and j + 1 of the row as two 16-bit halves, for
// every band column j = k - delta - n of a band of `steps` 16-deep steps, from -kMmaPairLead
// (k - delta - n >= -14) to 16 * steps - 2 (zero outside the row), so that a B register of any
// lane is one 32-bit shared load.
constexpr int kMmaPairLead = 16;
constexpr int64_t mma_pairs_per_row(int64_t steps) { return kMmaPairLead + 16 * steps; }

// The band steps a window of width kw needs when its staged rows start delta columns before the
// first output's window: the last output of a subtile reaches column delta + 7 + kw - 1.
constexpr int64_t mma_band_steps(int64_t kw, int64_t delta) { return (kw + 7 + delta + 15) / 16; }

// Host-planned tiling; see launch_window_mma.
struct MmaTileGeometry {
  int tile_rows;   // output rows per tile: 16 per warp
  int pairs;       // tap pairs per window row: mma_pairs_per_row(Cfg::kKSteps)
  int pair_stores; // out's rows take aligned 32-bit stores of two outputs at even columns
  int col_origin;  // the first tile's first output column, in (-8, 0]
  int delta;       // the staged row's start, this many columns before the first output's window
  int in_rows;     // staged input rows per tile
  int pitch;       // elements per staged row: an odd number of 16-byte units (ldmatrix, no conflicts)
  int64_t tiles;
  cutlass::FastDivmod tiles_in_plane;  // tile -> (plane, row tile * strips + strip)
  cutlass::FastDivmod strip_count;     // -> (row tile, strip)
  cutlass::FastDivmod channel_count;   // plane -> (n, c)
};

// A warp writes one window row's tap pairs: pair jj of `count` holds taps jj - kMmaPairLead and the
// next (zero outside the row's Kw) as 16-bit halves at heads[jj]; with Cfg::kSplit (float32 weights)
// the 16-bit rounding of what each head leaves at tails[jj]. Each lane reads one tap and takes the
// next from its neighbour.
template <class Cfg, class W>
CUTE_DEVICE void write_tap_pairs(W const* w_row, int64_t w_stride_w, int Kw, int count, int lane, uint32_t* heads,
                                 uint32_t* tails) {
  using T = typename Cfg::Element;
  auto tap = [&](int j) {
    return unsigned(j) < unsigned(Kw) ? static_cast<float>(w_row[int64_t(j) * w_stride_w]) : 0.0f;
  };
  for (int base = 0; base < count; base += 32) {  // every lane, for the shuffle
    int const jj = base + lane, j = jj - kMmaPairLead;
    float const w0 = tap(j);
    float w1 = __shfl_down_sync(0xffffffffu, w0, 1);
    if (lane == 31) w1 = tap(j + 1);
    if (jj >= count) continue;
    if constexpr (Cfg::kSplit) {
      band_mma::split_pair<T>(w0, w1, heads[jj], tails[jj]);
    } else {
      heads[jj] = band_mma::pack_pair(static_cast<T>(w0), static_cast<T>(w1));
    }
  }
}

// A warp's window rows on tensor cores: acc[s] += the window's products for 16 output rows and
// subtile s, from staged rows of `pitch` elements (a_lane: this lane's ldmatrix address in the first
// window row's, row lane % 16 and half lane / 16 of each 16 x 16 block) and the tap pairs (b_lane:
// this lane's first pair of window row 0; rows `pairs` apart, tails `part_stride` after the heads).
template <class Cfg>
CUTE_DEVICE void accumulate_window_rows(float (&acc)[Cfg::kSubtiles][4], uint32_t a_lane, int pitch,
                                        uint32_t const* b_lane, int part_stride, int pairs, int Kh) {
  using T = typename Cfg::Element;
  constexpr int kKSteps = Cfg::kKSteps;
  constexpr int kSub = Cfg::kSubtiles;
  constexpr int kParts = Cfg::kSplit ? 2 : 1;
  for (int i = 0; i < Kh; ++i) {
    uint32_t b[kKSteps][2][kParts];
    CUTE_UNROLL
    for (int kk = 0; kk < kKSteps; ++kk) {
      CUTE_UNROLL
      for (int h = 0; h < 2; ++h) {
        CUTE_UNROLL
        for (int part = 0; part < kParts; ++part) {
          b[kk][h][part] = b_lane[part * part_stride + i * pairs + 16 * kk + 8 * h];
        }
      }
    }
    // The 16 x 16 A block at column 8 t is band step kk of subtile t - 2 kk. Whole blocks: all of the
    // row's before the MMAs (in source order, the asm of both being volatile, each MMA waited on the
    // ldmatrix before it: 7x7 0.098 -> 0.090 ms). Halves: each block loaded as the 16 x 8 half it
    // does not share with the one before, interleaved with the MMAs (31x31 0.082 -> 0.075 ms; deep
    // bands keep the registers: 0.083 ms interleaved, 0.093 loaded first, variant 75).
    uint32_t const a_row = a_lane + uint32_t(i * pitch * int(sizeof(T)));
    auto multiply_block = [&](int t, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3) {
      CUTE_UNROLL
      for (int kk = 0; kk < kKSteps; ++kk) {
        int const s = t - 2 * kk;
        if (s < 0 || s >= kSub) continue;
        CUTE_UNROLL
        for (int part = 0; part < kParts; ++part) {
          band_mma::Mma<T>::fma(acc[s][0], acc[s][1], acc[s][2], acc[s][3], a0, a1, a2, a3, b[kk][0][part],
                                b[kk][1][part], acc[s][0], acc[s][1], acc[s][2], acc[s][3]);
        }
      }
    };
    if constexpr (!Cfg::kLoadHalves) {
      uint32_t a[Cfg::kSlides][4];
      CUTE_UNROLL
      for (int t = 0; t < Cfg::kSlides; ++t) band_mma::load_a_fragment(a_row + 16 * t, a[t]);
      CUTE_UNROLL
      for (int t = 0; t < Cfg::kSlides; ++t) multiply_block(t, a[t][0], a[t][1], a[t][2], a[t][3]);
    } else {
      uint32_t halves[2][2];  // block t: halves t % 2 (left) and (t + 1) % 2 (right)
      band_mma::load_a_half(a_row, halves[0]);
      CUTE_UNROLL
      for (int t = 0; t < Cfg::kSlides; ++t) {
        uint32_t(&left)[2] = halves[t % 2];
        uint32_t(&right)[2] = halves[(t + 1) % 2];
        band_mma::load_a_half(a_row + 16 * (t + 1), right);
        multiply_block(t, left[0], left[1], right[0], right[1]);
      }
    }
  }
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads) fwd_window_mma_kernel(WindowParams const p, MmaTileGeometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  constexpr int kSub = Cfg::kSubtiles;
  constexpr int kParts = Cfg::kSplit ? 2 : 1;  // tap pairs: heads (and tails)
  constexpr int kChunks = Cfg::kChunks;

  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);
  // Unsigned, so that lane / 4, lane % 16 and the like are shifts and masks (as signed values they
  // took a few instructions each, every tile).
  int const warp = int(threadIdx.x / 32u), lane = int(threadIdx.x % 32u);

  // [kParts][Kh][pairs] tap pairs (heads, then tails), then [in_rows][pitch] input.
  extern __shared__ __align__(128) unsigned char smem_bytes[];
  int const pair_count = Kh * g.pairs;
  uint32_t* const pairs = reinterpret_cast<uint32_t*>(smem_bytes);
  T* const tile_x = reinterpret_cast<T*>(smem_bytes + (kParts * pair_count * 4 + 127) / 128 * 128);

  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};

  for (int64_t tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
    int plane, in_plane, row_tile, strip, n, c;
    g.tiles_in_plane(plane, in_plane, int(tile));
    g.strip_count(row_tile, strip, in_plane);
    g.channel_count(n, c, plane);
    int const out_row0 = row_tile * g.tile_rows;
    int const out_col0 = strip * Cfg::kTileCols + g.col_origin;
    int const in_row0 = out_row0 - int(p.padding_h);
    int const in_col0 = out_col0 - int(p.padding_w) - g.delta;  // a multiple of 8

    // The input rows under the tile, zero outside the image (whole 16-byte chunks: W is a multiple
    // of 8): consecutive threads take consecutive chunks of a row.
    {
      using Atom = staging::StageCopyAtom<T, 16>;
      T const* const x_plane = x + (int64_t(n) * p.x_stride_n + int64_t(c) * p.x_stride_c);
      staging::RowSource<T> const rows{x_plane, p.x_stride_h, in_row0, 1, H, in_col0, W};
      staging::copy_rows<Atom, 8>(staging::share_rows<Cfg::kThreads>(kChunks), rows, 0, g.in_rows, kChunks, tile_x,
                                  g.pitch);
      cp_async_fence();
    }
    // The tap pairs while the copies fly, a warp per window row.
    with_param_pointer(weight, [&](auto const* w) {
      for (int i = warp; i < Kh; i += Cfg::kWarps) {
        write_tap_pairs<Cfg>(w + (int64_t(c) * p.w_stride_c + int64_t(i) * p.w_stride_h), p.w_stride_w, Kw, g.pairs,
                             lane, pairs + i * g.pairs, pairs + pair_count + i * g.pairs);
      }
    });
    cp_async_wait<0>();
    __syncthreads();

    int const warp_row0 = out_row0 + warp * 16;
    if (warp_row0 < Ho) {  // uniform across the warp, as ldmatrix and mma need
      float const bias_value = bias ? static_cast<float>(bias[int64_t(c) * p.bias_stride]) : 0.0f;
      float acc[kSub][4];
      CUTE_UNROLL
      for (int s = 0; s < kSub; ++s) {
        CUTE_UNROLL
        for (int e = 0; e < 4; ++e) acc[s][e] = bias_value;
      }
      // This lane's ldmatrix row (lane % 16) and half (lane / 16) of every 16 x 16 block (a 16 x 8
      // half takes rows from lanes 0-15 only), and its band entries: B_i[k, n] = w[i, k - delta - n]
      // for n = lane / 4, k = 16 kk + 2 (lane % 4) [+ 8].
      uint32_t const a_lane = cast_smem_ptr_to_uint(tile_x + (warp * 16 + lane % 16) * g.pitch + (lane / 16) * 8);
      uint32_t const* const b_lane = pairs + (2 * (lane % 4) - g.delta - lane / 4 + kMmaPairLead);
      accumulate_window_rows<Cfg>(acc, a_lane, g.pitch, b_lane, pair_count, g.pairs, Kh);

      // acc[s] holds rows lane / 4 and lane / 4 + 8, columns 2 (lane % 4) and the next, of subtile s:
      // one 32-bit store each where out allows it (the general store loop cost more instructions
      // than the MMAs of a 7x7: variant 74), each under its own predicate; an odd row's last column,
      // which no pair covers, after them (a branch around each pair's two cases made the stores 13%
      // of a 7x7's instructions: variant 142).
      T* const out_plane = out + (int64_t(n) * p.out_stride_n + int64_t(c) * p.out_stride_c);
      int const lane_col = out_col0 + 2 * (lane % 4);
      CUTE_UNROLL
      for (int half = 0; half < 2; ++half) {
        int const row = warp_row0 + lane / 4 + 8 * half;
        if (row >= Ho) continue;
        T* const out_row = out_plane + int64_t(row) * p.out_stride_h;
        auto value = [&](int s, int e) { return static_cast<T>(acc[s][2 * half + e]); };
        if (g.pair_stores) {  // unit column stride, even columns
          CUTE_UNROLL
          for (int s = 0; s < kSub; ++s) {
            int const col = lane_col + 8 * s;
            if (unsigned(col) < unsigned(Wo - 1)) {
              *reinterpret_cast<uint32_t*>(out_row + col) = band_mma::pack_pair(value(s, 0), value(s, 1));
            }
          }
          if (Wo % 2 != 0) {
            CUTE_UNROLL
            for (int s = 0; s < kSub; ++s) {
              if (lane_col + 8 * s == Wo - 1) out_row[Wo - 1] = value(s, 0);
            }
          }
        } else {
          CUTE_UNROLL
          for (int s = 0; s < kSub; ++s) {
            int const col = lane_col + 8 * s;
            if (unsigned(col) < unsigned(Wo)) out_row[int64_t(col) * p.out_stride_w] = value(s, 0);
            if (unsigned(col + 1) < unsigned(Wo)) out_row[int64_t(col + 1) * p.out_stride_w] = value(s, 1);
          }
        }
      }
    }
    __syncthreads();  // the next tile restages the band and the input
  }
}

}  // namespace window

namespace window {

// Where the tensor-core kernel's tiles start along a row: the column origin in (-8, 0] with the
// fewest band steps times subtiles, its offset delta (the staged rows start delta columns before the
// first output's window, on a multiple of 8), and the band steps it needs. Among the cheapest, an
// even origin: its lanes store their pairs of outputs as aligned 32-bit words (ConvNeXt's 7x7, at
// origin -5 before, stored element by element: 13% of the kernel's instructions; variant 137).
struct MmaColumns {
  int64_t origin, delta, steps;
};

inline MmaColumns mma_columns(WindowParams const& p) {
  MmaColumns best{0, 0, 0};
  int64_t best_cost = 0;
  for (int64_t origin = 0; origin > -8; --origin) {
    // plan counts origins the other way: its strips start at output column -origin.
    int64_t const delta = plan::origin_at(-origin, 1, p.padding_w, 8).shift;
    MmaColumns const m{origin, delta, mma_band_steps(p.kw, delta)};
    int64_t const cost = m.steps * ((p.Wo - origin + 7) / 8);
    bool const evener = cost == best_cost && best.origin % 2 != 0 && origin % 2 == 0;
    bool const better = best.steps == 0 || cost < best_cost || evener;
    if (better) {
      best = m;
      best_cost = cost;
    }
  }
  return best;
}

// Whether the tensor-core windows' tile coordinates (rows and columns with their halos, as ints)
// fit the call.
inline bool mma_coordinates_fit(WindowParams const& p) {
  constexpr int64_t kCoordLimit = int64_t(1) << 30;
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  return p.H < kCoordLimit && p.W < kCoordLimit && magnitude(p.padding_h) < kCoordLimit &&
         magnitude(p.padding_w) < kCoordLimit && p.Ho + p.kh + 64 < kCoordLimit && p.Wo + p.kw + 128 < kCoordLimit;
}

}  // namespace window

// The band steps the tensor-core kernel would take the call with, or 0 where it cannot: 16-bit x
// with 16-byte aligned rows and unit column stride, stride 1, dilation 1, coordinates that fit an int.
template <class T>
int window_mma_band_steps(WindowParams const& p) {
  if constexpr (sizeof(T) != 2) {
    return 0;
  } else {
    if (p.stride_h != 1 || p.stride_w != 1 || p.dilation_h != 1 || p.dilation_w != 1 || p.x_stride_w != 1) return 0;
    if (staging::stage_copy_bytes<T>(p.x, p.W, p.x_stride_h, p.x_stride_c, p.x_stride_n) != 16) return 0;
    return window::mma_coordinates_fit(p) ? int(window::mma_columns(p).steps) : 0;
  }
}

// Plans and launches fwd_window_mma_kernel; kUnsupported where the call needs a deeper band than
// Cfg's or the other weight split, or the tile does not fit shared memory (window_mma_band_steps says
// which calls it can take at all).
template <class Cfg>
LaunchStatus launch_window_mma(WindowParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  int const steps = window_mma_band_steps<T>(p);
  if (steps == 0 || steps > Cfg::kKSteps || p.params_float32 != Cfg::kSplit) return LaunchStatus::kUnsupported;
  window::MmaColumns const columns = window::mma_columns(p);
  if (((columns.origin - p.padding_w - columns.delta) % 8 + 8) % 8 != 0) return LaunchStatus::kUnsupported;

  window::MmaTileGeometry g{};
  g.tile_rows = 16 * Cfg::kWarps;
  g.col_origin = int(columns.origin);
  g.delta = int(columns.delta);
  g.in_rows = int(g.tile_rows + p.kh - 1);
  g.pitch = 8 * (Cfg::kChunks % 2 == 1 ? Cfg::kChunks : Cfg::kChunks + 1);
  g.pairs = int(window::mma_pairs_per_row(Cfg::kKSteps));
  // Pair stores: unit column stride, even row, channel and image strides, a 4-byte aligned base and
  // an even column origin put every lane's pair of columns on a 4-byte boundary.
  g.pair_stores = band_mma::rows_take_stores(p, 2) && columns.origin % 2 == 0;
  int64_t const pairs_bytes = ((Cfg::kSplit ? 2 : 1) * p.kh * g.pairs * 4 + 127) / 128 * 128;
  int64_t const smem_bytes = pairs_bytes + int64_t(g.in_rows) * g.pitch * int64_t(sizeof(T));
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;

  int64_t const strips = (p.Wo - columns.origin + Cfg::kTileCols - 1) / Cfg::kTileCols;
  int64_t const row_tiles = (p.Ho + g.tile_rows - 1) / g.tile_rows;
  int64_t const planes = p.N * p.C;
  constexpr int64_t kIndexLimit = int64_t(1) << 31;
  if (strips * row_tiles >= kIndexLimit || planes >= kIndexLimit || planes * strips * row_tiles >= kIndexLimit) {
    return LaunchStatus::kUnsupported;
  }
  g.tiles = planes * strips * row_tiles;
  g.tiles_in_plane = cutlass::FastDivmod(int(strips * row_tiles));
  g.strip_count = cutlass::FastDivmod(int(strips));
  g.channel_count = cutlass::FastDivmod(int(p.C));

  constexpr auto kKernel = &window::fwd_window_mma_kernel<Cfg>;
  int const registers = KernelAttributes<kKernel>::registers_if_launchable(p.device, int(smem_bytes));
  if (registers == 0) return LaunchStatus::kUnsupported;
  int const blocks = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_bytes));
  if (blocks == 0) return LaunchStatus::kUnsupported;
  int64_t const grid = std::min<int64_t>(g.tiles, int64_t(blocks) * limits.multiprocessors * 64);
  kKernel<<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
