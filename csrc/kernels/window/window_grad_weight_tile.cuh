// Weight and bias gradients of a small NCHW window (at most kK x kK taps, stride kStride along both
// axes, dilation 1), with the forward's tile and staging turned around: a block takes every
// `slices`-th tile of output positions of one channel and stages the input rows under each tile,
// and the tile's grad_out rows, in shared memory (16-byte cp.async into two buffers, so the next
// tile's copies fly while this one computes). Tiles start where every lane's input columns are
// best aligned without costing a strip (plan::column_origin, as the forward's tiles): at stride 1
// a 16-byte boundary left of the plane where the padding allows, and the lanes pick their grad_out
// values, shifted by the padding, from the 16-byte words around them; elsewhere the lanes read the
// input at the padding's alignment (a variant of the unrolled reads per alignment). A lane takes
// kRows x kVec grad_out values; each staged input row under them is read once (kWindow columns) and
// added, times grad_out, into one register per tap for every output row whose window holds it, so
// nothing is written until the block's tiles are done. Then the block's lanes are summed (warp
// butterflies, then warps in order) into one partial per tap; bwd_window_weight_reduce_kernel adds
// the partials in slice order. The same bits on every run.
//
// Planes much shorter than a tile are stacked down it, `group` images of the channel a tile (as the
// forward's window_tile.cuh stacks planes); that kernel, which also takes grad_out whose rows are not
// whole 16-byte chunks, loads each lane's grad_out values straight into registers just before the
// wait for the tile's copies (the unstacked kernel did so too, and waited out their latency on every
// tile: ncu's top stall, NOTES.md, variant 105).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/staging/batched_loads.cuh"
#include "kernels/staging/lane_io.cuh"
#include "kernels/staging/row_ring.cuh"
#include "kernels/staging/tile_walk.cuh"
#include "kernels/window/window_config.h"
#include "plan/column_origin.h"
#include "plan/stacking.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

// Host-planned tiling; see launch_window_grad_weight_tile.
struct GradTileGeometry {
  int lanes_x;        // lanes along a row: 1 to 32, a power of two (the block's other lanes stack down)
  int lanes_x_log2;   // its base-2 logarithm: a lane splits its index by a mask and a shift
  int group;          // images stacked down a tile: 1, or more where a plane is much shorter than a tile
  int member_lane_rows;  // rows of lanes per stacked image (the block's kThreads / lanes_x when group is 1)
  int member_in_rows;    // staged input rows per stacked image
  int tile_rows;      // output rows per tile and image: member_lane_rows * kRows
  int tile_cols;      // output columns per tile: lanes_x * kVec
  int in_rows;        // staged input rows per tile: group * member_in_rows
  int chunks;         // staged copy chunks per row
  int pitch;          // elements per staged row, a multiple of 16 bytes
  int col_origin;     // the first strip's first output column, in (-kVec, 0]
  int shift;          // the first input column's offset past its chunk, the same for every tile
  int row_alignment;  // staging::RowAlignment of every lane's first column
  bool g_wide;        // grad_out rows are read 16 bytes per lane (the stacked kernel)
  int g_chunks;       // staged grad_out chunks per row (the unstacked kernel)
  int g_pitch;        // elements per staged grad_out row, an odd number of 16-byte units
  int g_shift;        // the first lane's first grad_out column past its chunk
  bool g_staged;      // the unstacked kernel takes the launch (one image a tile, grad_out staged)
  int tiles_per_channel;               // image slots (N / group, rounded up) * row tiles * strips
  int slices;                          // blocks per channel
  cutlass::FastDivmod slice_count;     // block -> (c, slice)
  cutlass::FastDivmod strip_count;     // tile -> (n * row tiles + row tile, strip)
  cutlass::FastDivmod row_tile_count;  // -> (image slot, row tile)
  cutlass::FastDivmod member_rows;     // staged row -> (stacked image, row of it)
  cutlass::FastDivmod row_lanes;       // threads along a staged input row (staging::share_rows)
  cutlass::FastDivmod g_row_lanes;     // and along a staged grad_out row
  int elementwise;  // stacked images staged pixel by pixel into buffers zeroed once (x's rows are not
                    // whole 16-byte chunks; as the forward's window_tile.cuh)
  cutlass::FastDivmod plane_pixels;    // staged pixel -> (stacked image, pixel of it)
  cutlass::FastDivmod row_pixels;      // pixel -> (row, column)
};

// f(std::integral_constant<int, index>{}) for a run-time index in [kI, kN): a variant of f per value.
template <int kI, int kN, class F>
CUTE_DEVICE void with_static_index(int index, F&& f) {
  if constexpr (kI < kN) {
    if (index == kI) {
      f(std::integral_constant<int, kI>{});
    } else {
      with_static_index<kI + 1, kN>(index, f);
    }
  }
}

// kStacked: the launch may stack images (g.group > 1) and stage them pixel by pixel, and grad_out is
// read straight into registers. Unstacked launches take a kernel without either, which stages
// grad_out too: the stacked code paths cost the unstacked tiles about 20% of their time (MSCAN's 3x3
// float32, 48 -> 56 registers).
template <class Cfg, bool kStacked>
__global__ void __launch_bounds__(Cfg::kThreads)
    bwd_window_weight_tile_kernel(WindowGradWeightParams const p, GradTileGeometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  constexpr int kVec = Cfg::kVec;
  constexpr int kRows = Cfg::kRows;
  constexpr int kK = Cfg::kK;
  constexpr int kWindow = Cfg::kWindow;
  constexpr int kS = Cfg::kStride;
  constexpr int kWarps = Cfg::kThreads / 32;

  int c, slice;
  g.slice_count(c, slice, int(blockIdx.x));
  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);

  // A buffer: the tile's input rows, then (unstacked) its grad_out rows; both multiples of 16 bytes.
  extern __shared__ __align__(128) unsigned char smem_bytes[];
  int const x_elems = g.in_rows * g.pitch;
  int const buffer_elems = x_elems + (kStacked ? 0 : g.tile_rows * g.g_pitch);
  auto tile_of = [&](int buffer) { return reinterpret_cast<T*>(smem_bytes) + buffer * buffer_elems; };
  auto grads_of = [&](int buffer) { return tile_of(buffer) + x_elems; };

  staging::RowShare const share = staging::share_rows<Cfg::kThreads>(g.row_lanes);
  staging::RowShare const g_share = kStacked ? staging::RowShare{} : staging::share_rows<Cfg::kThreads>(g.g_row_lanes);
  // Stacked images interleave by rows of lanes, as in the forward (fwd_window_tile_kernel).
  int const lane_x = int(threadIdx.x) & (g.lanes_x - 1);
  int const row_of_lanes = int(threadIdx.x) >> g.lanes_x_log2;
  int const lane_member = kStacked ? row_of_lanes % g.group : 0;
  int const lane_y = kStacked ? row_of_lanes / g.group : row_of_lanes;
  bool const lane_active = !kStacked || lane_y < g.member_lane_rows;
  int const N = int(p.N);
  T const* const x_channel = static_cast<T const*>(p.x) + int64_t(c) * p.x_stride_c;
  T const* const g_channel = static_cast<T const*>(p.grad_out) + int64_t(c) * p.g_stride_c;

  struct Coords {
    int n0, out_row0, out_col0;  // n0: the tile's first image; the stacked ones follow it
  };
  auto coords_of = [&](int tile) {
    int image_row, strip, row_tile, slot;
    Coords k;
    g.strip_count(image_row, strip, tile);
    g.row_tile_count(slot, row_tile, image_row);
    k.n0 = kStacked ? slot * g.group : slot;
    k.out_row0 = row_tile * g.tile_rows;
    k.out_col0 = strip * g.tile_cols + g.col_origin;
    return k;
  };

  // The input rows under a tile, zero outside the image and for stacked images past the last (as
  // the forward's stage).
  auto stage = [&](Coords const& k, int buffer) {
    using Atom = staging::StageCopyAtom<T, 16>;
    T* const tile_x = tile_of(buffer);
    int const in_row0 = k.out_row0 * kS - int(p.padding_h);
    int const in_col0 = k.out_col0 * kS - int(p.padding_w) - g.shift;
    if (kStacked && g.elementwise) {
      // The tile's images' pixels, a batch of plain loads in flight per lane; pixels no window
      // reaches are skipped, and the padding was zeroed once.
      int const pixels = g.plane_pixels.divisor;
      int const images = min(g.group, N - k.n0);
      int const staged_cols = g.chunks * kVec;
      staging::load_batched<Cfg::kThreads>(images * pixels, tile_x, [&](int item, T& value) {
        int m, pixel, row, col;
        g.plane_pixels(m, pixel, item);
        g.row_pixels(row, col, pixel);
        int const slot_row = row - in_row0, slot_col = col - in_col0;
        if (unsigned(slot_row) >= unsigned(g.member_in_rows) || unsigned(slot_col) >= unsigned(staged_cols)) return -1;
        value = x_channel[int64_t(k.n0 + m) * p.x_stride_n + int64_t(row) * p.x_stride_h + col];
        return (m * g.member_in_rows + slot_row) * g.pitch + slot_col;
      });
      return;
    }
    if (!kStacked) {
      staging::RowSource<T> const x_rows{x_channel + int64_t(k.n0) * p.x_stride_n, p.x_stride_h, in_row0, 1, H,
                                         in_col0, W};
      staging::copy_rows<Atom, kVec>(share, x_rows, 0, g.in_rows, g.chunks, tile_x, g.pitch);
      // The tile's grad_out rows from the chunk holding the first lane's first column; Wo is a whole
      // number of chunks, so a chunk is inside the plane or past it, zero.
      staging::RowSource<T> const g_rows{g_channel + int64_t(k.n0) * p.g_stride_n, p.g_stride_h, k.out_row0, 1, Ho,
                                         k.out_col0 - g.g_shift, Wo};
      staging::copy_rows<Atom, kVec>(g_share, g_rows, 0, g.tile_rows, g.g_chunks, grads_of(buffer), g.g_pitch);
      return;
    }
    // Stacked images: a staged row's image is the tile's first plus its stacked member.
    for (int row = share.first_row; row < g.in_rows; row += share.rows_per_pass) {
      int m, member_row;
      g.member_rows(m, member_row, row);
      int const n = k.n0 + m;
      T const* const x_plane = x_channel + int64_t(n < N ? n : 0) * p.x_stride_n;
      int const in_row = in_row0 + member_row;
      bool const row_inside = n < N && unsigned(in_row) < unsigned(H);
      T const* const row_start = row_inside ? x_plane + int64_t(in_row) * p.x_stride_h : x_plane;
      staging::copy_row<Atom, kVec>(share, row_start, row_inside, in_col0, W, g.chunks, tile_x + row * g.pitch);
    }
  };

  // This lane's grad_out values of a tile, zero past the plane's edges and for idle lanes (so that
  // they add nothing).
  auto load_grads = [&](Coords const& k, float (&gv)[kRows][kVec]) {
    int const col = k.out_col0 + lane_x * kVec;
    int const n = k.n0 + lane_member;
    int const rows = !kStacked || (lane_active && n < N) ? Ho : 0;  // rows of this lane's image it may read
    T const* const g_plane = g_channel + int64_t(n < N ? n : 0) * p.g_stride_n;
    CUTE_UNROLL
    for (int r = 0; r < kRows; ++r) {
      int const row = k.out_row0 + lane_y * kRows + r;
      T const* const src = g_plane + int64_t(row) * p.g_stride_h + int64_t(col) * p.g_stride_w;
      if (g.g_wide && row < rows && col + kVec <= Wo) {  // (g_wide: col_origin is 0, so col >= 0)
        uint4 const v = *reinterpret_cast<uint4 const*>(src);
        uint32_t words[4] = {v.x, v.y, v.z, v.w};
        CUTE_UNROLL
        for (int e = 0; e < kVec; ++e) gv[r][e] = staging::element_from_words<T>(words, e);
      } else {
        CUTE_UNROLL
        for (int e = 0; e < kVec; ++e) {
          bool const inside = row < rows && unsigned(col + e) < unsigned(Wo);
          gv[r][e] = inside ? static_cast<float>(src[int64_t(e) * p.g_stride_w]) : 0.0f;
        }
      }
    }
  };

  float acc[kK][kK];
  CUTE_UNROLL
  for (int i = 0; i < kK; ++i) {
    CUTE_UNROLL
    for (int j = 0; j < kK; ++j) acc[i][j] = 0.0f;
  }
  float bias_acc = 0.0f;

  // The stacked kernel's grad_out loads go out before the wait for the tile's copies, so their
  // latency overlaps it.
  float gv[kRows][kVec];
  if (kStacked && g.elementwise) {  // the padding of every tile, once (see stage)
    uint4* const words = reinterpret_cast<uint4*>(smem_bytes);
    for (int i = threadIdx.x; i < 2 * buffer_elems * int(sizeof(T)) / 16; i += Cfg::kThreads) {
      words[i] = make_uint4(0, 0, 0, 0);
    }
    __syncthreads();
  }

  staging::walk_tiles_compact(
      slice, g.tiles_per_channel, g.slices, true, [&](int tile, int buffer) { stage(coords_of(tile), buffer); },
      [&](int tile, int buffer) {
        if constexpr (!kStacked) {
          // The two 16-byte words around the lane's values (one where the padding shifts nothing),
          // and its values picked from them: reads at the shift's own alignment cost 3-4 times the
          // shared wavefronts (NOTES.md, variant 108).
          T const* const lane_grads = grads_of(buffer) + lane_y * kRows * g.g_pitch + lane_x * kVec;
          with_static_index<0, kVec>(g.g_shift, [&](auto shift) {
            constexpr int kShift = decltype(shift)::value;
            CUTE_UNROLL
            for (int r = 0; r < kRows; ++r) {
              uint4 const* const src = reinterpret_cast<uint4 const*>(lane_grads + r * g.g_pitch);
              uint32_t words[kShift == 0 ? 4 : 8];
              uint4 const head = src[0];
              words[0] = head.x, words[1] = head.y, words[2] = head.z, words[3] = head.w;
              if constexpr (kShift != 0) {
                uint4 const tail = src[1];
                words[4] = tail.x, words[5] = tail.y, words[6] = tail.z, words[7] = tail.w;
              }
              CUTE_UNROLL
              for (int e = 0; e < kVec; ++e) gv[r][e] = staging::element_from_words<T>(words, kShift + e);
            }
          });
        }
        CUTE_UNROLL
        for (int r = 0; r < kRows; ++r) {
          CUTE_UNROLL
          for (int e = 0; e < kVec; ++e) bias_acc += gv[r][e];
        }
        T const* const lane_tile = tile_of(buffer) + (lane_member * g.member_in_rows + lane_y * kRows * kS) * g.pitch +
                                   g.shift + lane_x * kVec * kS;
        // Each staged row under the lane's outputs read once, for every output row r whose window
        // holds it (as window row i): the loop over window rows read it once per r.
        auto accumulate = [&](auto alignment) {
          CUTE_UNROLL
          for (int in_row = 0; in_row < (kRows - 1) * kS + kK; ++in_row) {
            if (in_row < (kRows - 1) * kS + Kh) {
              float values[kWindow];
              staging::load_elements<T, kWindow, decltype(alignment)::value>(lane_tile + in_row * g.pitch, values);
              CUTE_UNROLL
              for (int r = 0; r < kRows; ++r) {
                int const i = in_row - r * kS;
                if (i < 0 || i >= kK || i >= Kh) continue;
                CUTE_UNROLL
                for (int j = 0; j < kK; ++j) {
                  if (j < Kw) {
                    CUTE_UNROLL
                    for (int e = 0; e < kVec; ++e) acc[i][j] = fmaf(gv[r][e], values[e * kS + j], acc[i][j]);
                  }
                }
              }
            }
          }
        };
        // An idle lane's rows would run past the stacked images' staging; a lane of an image past the
        // last would multiply its zeros by what an earlier tile left there.
        if (!kStacked || (lane_active && coords_of(tile).n0 + lane_member < N)) {
          staging::with_row_alignment<T>(g.row_alignment, accumulate);
        }
      },
      [&](int tile) {
        if constexpr (kStacked) load_grads(coords_of(tile), gv);
      });

  // The block's lanes summed: a butterfly within each warp (every lane ends with the warp's sum),
  // then the warps in order, through shared memory (free now: the last barrier is behind us).
  float* const red = reinterpret_cast<float*>(smem_bytes);  // [kWarps][kK * kK + 1]
  constexpr int kSums = kK * kK + 1;
  int const warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  CUTE_UNROLL
  for (int q = 0; q < kSums; ++q) {
    float v = q < kK * kK ? acc[q / kK][q % kK] : bias_acc;
    CUTE_UNROLL
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    if (lane == 0) red[warp * kSums + q] = v;
  }
  __syncthreads();
  int64_t const taps = int64_t(Kh) * Kw;
  float* const workspace = static_cast<float*>(p.workspace) + (int64_t(c) * g.slices + slice) * (taps + 1);
  for (int q = threadIdx.x; q < kSums; q += Cfg::kThreads) {
    int const i = q / kK, j = q % kK;
    bool const bias_sum = q == kK * kK;
    if (bias_sum || (i < Kh && j < Kw)) {
      float sum = 0.0f;
      for (int w = 0; w < kWarps; ++w) sum += red[w * kSums + q];
      workspace[bias_sum ? taps : i * Kw + j] = sum;
    }
  }
}

}  // namespace window

// Blocks per channel: enough blocks in all for several per multiprocessor, each with a share of
// the channel's tiles (fewer, longer blocks keep the copies in flight across tiles).
inline int64_t window_grad_weight_tile_slices(int64_t channels, int64_t tiles_per_channel, int multiprocessors) {
  int64_t const target_blocks = int64_t(multiprocessors) * 8;
  return std::max<int64_t>(1, std::min<int64_t>(tiles_per_channel, (target_blocks + channels - 1) / channels));
}

// The tiling of launch_window_grad_weight_tile, without the launch: whether it takes the call
// (window within the bucket, its stride, dilation 1, x's rows 16-byte aligned, the staged input
// within shared memory) and how many partial sums per channel it writes.
template <class Cfg>
bool plan_window_grad_weight_tile(WindowGradWeightParams const& p, window::GradTileGeometry& g, int64_t& smem_bytes) {
  using T = typename Cfg::Element;
  constexpr int64_t kVec = Cfg::kVec;
  constexpr int64_t kS = Cfg::kStride;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;
  if (p.kh > Cfg::kK || p.kw > Cfg::kK || p.stride_h != kS || p.stride_w != kS || p.dilation_h != 1 ||
      p.dilation_w != 1 || p.x_stride_w != 1) {
    return false;
  }
  bool const copy16 = staging::stage_copy_bytes<T>(p.x, p.W, p.x_stride_h, p.x_stride_c, p.x_stride_n) == 16;
  if (p.H >= kCoordLimit || p.W >= kCoordLimit || p.padding_h >= kCoordLimit || p.padding_w >= kCoordLimit ||
      (p.Ho + 256) * kS >= kCoordLimit || (p.Wo + 256) * kS >= kCoordLimit) {
    return false;
  }
  // Strips start at the origin that best aligns every lane's first input column without costing a
  // strip (at stride 1 a 16-byte boundary, left of the plane, where the padding allows), and the
  // input `shift` elements past a chunk.
  g.lanes_x = plan::lanes_along_row(p.Wo, kVec);
  g.lanes_x_log2 = plan::log2_exact(g.lanes_x);
  g.tile_cols = int(g.lanes_x * kVec);
  plan::ColumnOrigin const start = plan::column_origin(p.Wo, g.tile_cols, kS, p.padding_w, kVec, sizeof(T));
  g.col_origin = int(-start.origin);
  g.shift = int(start.shift);
  int64_t const strips = (p.Wo + start.origin + g.tile_cols - 1) / g.tile_cols;
  // A channel's images stack as the forward's planes do.
  plan::PlaneStack const stack = plan::stack_planes(strips, Cfg::kThreads / g.lanes_x, p.Ho, Cfg::kRows, p.N);
  g.group = stack.group;
  g.member_lane_rows = stack.member_lane_rows;
  // Rows that are not whole 16-byte chunks stage pixel by pixel, which only stacked images allow.
  if (!copy16 && g.group == 1) return false;
  g.elementwise = !copy16;
  g.tile_rows = g.member_lane_rows * Cfg::kRows;
  int64_t member_in_rows = (g.tile_rows - 1) * kS + p.kh;
  // Every lane reads kWindow columns, plus the word past them that 16-bit reads touch.
  int64_t const span = g.shift + int64_t(g.lanes_x - 1) * kVec * kS + Cfg::kWindow + 1;
  int64_t const chunks = (span + kVec - 1) / kVec;
  int64_t pitch_units = chunks;  // 16-byte units
  plan::space_stacked_rows(g.group, g.lanes_x, kS, member_in_rows, pitch_units);
  int64_t const in_rows = g.group * member_in_rows;
  int64_t const pitch = pitch_units * kVec;
  // Unstacked tiles stage grad_out too where its rows are whole 16-byte chunks; the rest read it
  // straight into registers, on the stacked kernel (see launch_window_grad_weight_tile).
  // grad_out's rows start on 16-byte boundaries (both kernels' wide reads need it).
  bool const g_rows_aligned = p.g_stride_w == 1 && reinterpret_cast<uintptr_t>(p.grad_out) % 16 == 0 &&
                              p.g_stride_h % kVec == 0 && p.g_stride_c % kVec == 0 && p.g_stride_n % kVec == 0;
  g.g_staged = g.group == 1 && g_rows_aligned && p.Wo % kVec == 0;
  g.g_shift = g.col_origin < 0 ? int(kVec + g.col_origin) : 0;
  g.g_chunks = int((g.g_shift + g.tile_cols + kVec - 1) / kVec);
  g.g_row_lanes = staging::row_lanes<Cfg::kThreads>(g.g_chunks);
  g.g_pitch = int((g.g_chunks | 1) * kVec);  // odd: rows of lanes in one shared-memory phase, on distinct banks
  int64_t const g_elems = g.g_staged ? int64_t(g.tile_rows) * g.g_pitch : 0;
  constexpr int64_t kSums = Cfg::kK * Cfg::kK + 1;
  smem_bytes =
      std::max<int64_t>(2 * (in_rows * pitch + g_elems) * int64_t(sizeof(T)), (Cfg::kThreads / 32) * kSums * 4);
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return false;
  int64_t const row_tiles = (p.Ho + g.tile_rows - 1) / g.tile_rows;
  int64_t const slots = (p.N + g.group - 1) / g.group;
  int64_t const tiles_per_channel = slots * strips * row_tiles;
  int64_t const slices = window_grad_weight_tile_slices(p.C, tiles_per_channel, limits.multiprocessors);
  if (tiles_per_channel >= (int64_t(1) << 31) || p.C * slices >= (int64_t(1) << 31)) return false;
  g.member_in_rows = int(member_in_rows);
  g.in_rows = int(in_rows);
  g.chunks = int(chunks);
  g.row_lanes = staging::row_lanes<Cfg::kThreads>(chunks);
  g.pitch = int(pitch);
  g.row_alignment = int(staging::row_alignment(int(g.shift * int64_t(sizeof(T)))));
  g.g_wide = g.col_origin == 0 && g_rows_aligned;
  g.tiles_per_channel = int(tiles_per_channel);
  g.slices = int(slices);
  g.slice_count = cutlass::FastDivmod(int(slices));
  g.strip_count = cutlass::FastDivmod(int(strips));
  g.row_tile_count = cutlass::FastDivmod(int(row_tiles));
  g.member_rows = cutlass::FastDivmod(int(member_in_rows));
  g.plane_pixels = cutlass::FastDivmod(int(p.H * p.W > 0 ? p.H * p.W : 1));
  g.row_pixels = cutlass::FastDivmod(int(p.W > 0 ? p.W : 1));
  return true;
}

// Partial sums per channel (0 where the tile kernel does not take the call).
template <class Cfg>
int64_t window_grad_weight_tile_partials(WindowGradWeightParams const& p) {
  window::GradTileGeometry g{};
  int64_t smem_bytes = 0;
  return plan_window_grad_weight_tile<Cfg>(p, g, smem_bytes) ? g.slices : 0;
}

// Writes slices partial sums per channel into p.workspace ((C, slices, kh * kw + 1) floats); the
// caller adds them. kUnsupported where plan_window_grad_weight_tile declines.
template <class Cfg>
LaunchStatus launch_window_grad_weight_tile(WindowGradWeightParams const& p, cudaStream_t stream) {
  window::GradTileGeometry g{};
  int64_t smem_bytes = 0;
  if (!plan_window_grad_weight_tile<Cfg>(p, g, smem_bytes)) return LaunchStatus::kUnsupported;
  auto launch = [&](auto stacked) {
    constexpr auto kKernel = &window::bwd_window_weight_tile_kernel<Cfg, decltype(stacked)::value>;
    if (KernelAttributes<kKernel>::registers_if_launchable(p.device, int(smem_bytes)) == 0) {
      return LaunchStatus::kUnsupported;
    }
    kKernel<<<dim3(unsigned(p.C * g.slices)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
    return LaunchStatus::kLaunched;
  };
  return g.g_staged ? launch(std::false_type{}) : launch(std::true_type{});
}

}  // namespace cute_dwconv
