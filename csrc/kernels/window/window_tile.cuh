// NCHW window kernel, for any (Kh, Kw) depthwise window: a block stages the input rows under a
// tile of output rows and columns of one (n, c) plane into shared memory (cp.async with zero-fill
// for the padding where rows are 16-byte aligned, plain loads otherwise), then each lane computes
// kRows output rows of kVec adjacent columns. Per window row, a lane reads the kWindow input
// columns under its outputs once into registers and slides the row's taps across them, so shared
// memory is read about (kVec + Kw - 1) / (kVec * Kw) times per FMA: long windows are bound by the
// FMA pipe, not by loads. Planes much shorter than a tile (a network's later stages: 28x28 down to
// 7x7) are stacked down one tile, `group` planes a tile, each with its own rows of lanes, staged
// rows and taps, instead of leaving most of a tile's lanes idle below one plane.
#pragma once

#include <algorithm>
#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/compile_time.h"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"
#include "kernels/staging/batched_loads.cuh"
#include "kernels/staging/lane_io.cuh"
#include "kernels/staging/plane_runs.cuh"
#include "kernels/staging/row_ring.cuh"
#include "kernels/staging/tile_walk.cuh"
#include "kernels/window/window_config.h"
#include "kernels/window/window_store.cuh"
#include "plan/column_origin.h"
#include "plan/stacking.h"
#include "plan/tiling.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

// Host-planned tiling; see launch_window_tile.
struct TileGeometry {
  int lanes_x;        // lanes along a row: 1 to 32, a power of two (the block's other lanes stack down)
  int lanes_x_log2;   // its base-2 logarithm: a lane splits its index by a mask and a shift
  int group;          // planes stacked down a tile: 1, or more where a plane is much shorter than a tile
  int member_lane_rows;  // rows of lanes per stacked plane (the block's kThreads / lanes_x when group is 1)
  int member_in_rows;    // staged input rows per stacked plane
  int tile_rows;      // output rows per tile and plane: member_lane_rows * kRows
  int tile_cols;      // output columns per tile: lanes_x * kVec
  int col_origin;     // the first strip's first output column, <= 0 (see launch_window_tile)
  int in_rows;        // staged input rows per tile: group * member_in_rows
  int chunks;         // staged copy chunks per row
  int chunk_elems;    // elements per chunk (the copy width; 1 for plain loads)
  int pitch;          // elements per staged row, a multiple of 16 bytes
  int shift;          // the first input column's offset past its chunk, the same for every tile
  int row_alignment;  // staging::RowAlignment of every lane's first column
  int copy_bytes;     // 16: rows staged with 16-byte copies (or elementwise, below); 0: plain loads
  int buffers;        // 1 or 2: with two, the next tile's copies are in flight while this one computes
  int64_t tiles;
  int64_t planes;                      // N * C
  cutlass::FastDivmod tiles_in_plane;  // tile -> (plane slot, row tile * strips + strip); a slot is `group` planes
  cutlass::FastDivmod member_rows;     // staged row -> (stacked plane, row of it)
  cutlass::FastDivmod chunk_count;     // staged chunk -> (row, chunk of it)
  cutlass::FastDivmod row_lanes;       // threads along a staged row (staging::share_rows)
  int elementwise;  // stacked planes staged element by element into buffers zeroed once (see the launcher)
  int64_t contiguous_planes;           // H * W where the planes lie one after another in x, else 0
  cutlass::FastDivmod plane_pixels;    // staged pixel -> (stacked plane, pixel of it)
  cutlass::FastDivmod row_pixels;      // pixel -> (row, column)
  cutlass::FastDivmod taps_per_plane;  // staged tap -> (stacked plane, tap)
  cutlass::FastDivmod taps_per_row;    // tap -> (window row, column): a stacked tile's taps are many
  cutlass::FastDivmod strip_count;     // -> (row tile, strip)
  cutlass::FastDivmod channel_count;   // plane -> (n, c)
};

// Whether Cfg has the unrolled kernel for exact windows: the buckets up to 7 (3x3 to 7x7, stride 1
// or 2), where the taps fit in registers.
template <class Cfg>
constexpr bool window_tile_has_exact() {
  return Cfg::kBucketed && Cfg::kKwMax <= 7;
}

// kExact: the window is exactly kKwMax x kKwMax (bucketed, 16-byte staging). Then every loop is
// unrolled, the taps sit in registers, and each input row under a lane is read and converted once
// for all the lane's output rows it feeds (the general loop reads it once per output row): 8-37%
// faster on every NCHW row of bench_depthwise.py (NOTES.md, variant 71).
//
// kStacked: the launch may stack planes (g.group > 1). Exact windows have a kernel without it: with a
// lane's taps at a per-lane address, ptxas holds all K x K of them in registers (7x7 float32: 56 ->
// 96 registers, five blocks per SM instead of nine), which the unstacked planes need not pay.
//
// How rows are staged (16-byte copies, elementwise into their layout, plain loads) is read from g
// in the stacked kernels: it does not touch the compute loops, whose unrolled alignment variants are
// most of a kernel's code, so one kernel serves all three (a kernel per copy width held that code
// twice: a third of the 16-bit window tiles' build). Unstacked kernels always stage 16-byte copies.
template <class Cfg, bool kExact, bool kStacked>
__global__ void __launch_bounds__(Cfg::kThreads) fwd_window_tile_kernel(WindowParams const p, TileGeometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  constexpr int kVec = Cfg::kVec;
  constexpr int kRows = Cfg::kRows;
  constexpr bool kBucketed = Cfg::kBucketed;
  static_assert(!kExact || kBucketed, "exact windows are bucketed (and staged in 16-byte units)");

  int const Kh = int(p.kh), Kw = int(p.kw);
  auto const S = fixed_or<kBucketed, Cfg::kStride>(int(p.stride_h));
  auto const Sw = fixed_or<kBucketed, Cfg::kStride>(int(p.stride_w));
  int const Dh = kBucketed ? 1 : int(p.dilation_h);
  int const Dw = kBucketed ? 1 : int(p.dilation_w);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);

  // One or two buffers of taps and input rows. With two, the next tile's copies are in flight while
  // this one computes (with one, every warp waited at the barrier behind its block's copies: ncu's
  // top stall on ConvNeXt's 7x7, profiling/NOTES.md, variant 55); one leaves room for more blocks
  // where a block has few tiles to overlap.
  extern __shared__ __align__(128) unsigned char smem_bytes[];
  int const taps_padded = (Kh * Kw + 3) / 4 * 4;  // per stacked plane
  int const taps_bytes = g.group * taps_padded * 4;
  int const buffer_bytes = taps_bytes + g.in_rows * g.pitch * int(sizeof(T));  // a multiple of 16
  auto taps_of = [&](int buffer) { return reinterpret_cast<float*>(smem_bytes + buffer * buffer_bytes); };
  auto tile_of = [&](int buffer) { return reinterpret_cast<T*>(smem_bytes + buffer * buffer_bytes + taps_bytes); };

  staging::RowShare const share = staging::share_rows<Cfg::kThreads>(g.row_lanes);
  // Stacked planes interleave by rows of lanes (row q of lanes: plane q % group, its row q / group),
  // so that the few lanes of one row in a shared-memory phase meet lanes of other planes, whose
  // staged rows the launcher spaces onto other banks. Rows of lanes past group * member_lane_rows idle.
  // (A mask and a shift: the run-time division by lanes_x was 4% of the float32 7x7's instructions.)
  int const lane_x = int(threadIdx.x) & (g.lanes_x - 1);
  int const row_of_lanes = int(threadIdx.x) >> g.lanes_x_log2;
  int const lane_member = kStacked ? row_of_lanes % g.group : 0;
  int const lane_y = kStacked ? row_of_lanes / g.group : row_of_lanes;
  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};

  struct Coords {
    int64_t plane0;  // the tile's first plane; the stacked ones follow it
    int n, c;        // plane0's image and channel (unstacked kernels only)
    int out_row0, out_col0, in_row0, in_col0;
  };
  auto coords_of = [&](int64_t tile) {
    int slot, in_plane, row_tile, strip;
    Coords k;
    g.tiles_in_plane(slot, in_plane, int(tile));
    g.strip_count(row_tile, strip, in_plane);
    k.plane0 = int64_t(slot) * g.group;
    k.n = k.c = 0;
    if constexpr (!kStacked) g.channel_count(k.n, k.c, slot);
    k.out_row0 = row_tile * g.tile_rows;
    k.out_col0 = strip * g.tile_cols + g.col_origin;
    k.in_row0 = k.out_row0 * S - int(p.padding_h);
    k.in_col0 = k.out_col0 * Sw - int(p.padding_w) - g.shift;
    return k;
  };

  // The plane of stacked member m of a tile: its x, or nullptr past the last plane.
  auto member_plane = [&](Coords const& k, int m, int& c) -> T const* {
    int64_t const plane = k.plane0 + m;
    if (plane >= g.planes) return nullptr;
    int n;
    g.channel_count(n, c, int(plane));
    return x + (int64_t(n) * p.x_stride_n + int64_t(c) * p.x_stride_c);
  };
  // The plane a staged row of a stacked tile comes from, and the row within it. A member's rows are
  // consecutive, so a lane looks its plane up once per member it meets (`cache`), not once per row.
  struct PlaneCache {
    int member = -1;
    T const* plane = nullptr;
  };
  auto row_source = [&](Coords const& k, int row, PlaneCache& cache, int& member_row) -> T const* {
    int m;
    g.member_rows(m, member_row, row);
    if (m != cache.member) {
      int c;
      cache.member = m;
      cache.plane = member_plane(k, m, c);
    }
    return cache.plane;
  };

  // Elementwise staging (g.elementwise): the pixels of a tile's planes, each to its place in the
  // 16-byte layout; the buffers' padding was zeroed once. Pixels no output's window reaches (rows
  // or columns past the staged ones) are skipped.
  auto stage_pixels = [&](Coords const& k, T* tile_x) {
    int const staged_cols = g.chunks * g.chunk_elems;
    int const pixels = g.plane_pixels.divisor;
    int64_t const planes_left = g.planes - k.plane0;
    int const items = int(planes_left < g.group ? planes_left : g.group) * pixels;
    // The place of pixel (row, col) of the tile's plane m, or -1 where no window reaches it: past the
    // staged rows and columns, and before them where a padding is negative (the stride-1 input
    // gradient of a padding wider than the window), which would land in another plane's rows.
    auto slot_of = [&](int m, int row, int col) {
      int const slot_row = row - k.in_row0, slot_col = col - k.in_col0;
      return unsigned(slot_row) < unsigned(g.member_in_rows) && unsigned(slot_col) < unsigned(staged_cols)
                 ? (m * g.member_in_rows + slot_row) * g.pitch + slot_col
                 : -1;
    };
    if (g.contiguous_planes == 0) {
      staging::load_batched<Cfg::kThreads>(items, tile_x, [&](int item, T& value) {
        int m, pixel, row, col, c;
        g.plane_pixels(m, pixel, item);
        g.row_pixels(row, col, pixel);
        int const slot = slot_of(m, row, col);
        if (slot >= 0) value = member_plane(k, m, c)[int64_t(row) * p.x_stride_h + col];
        return slot;
      });
      return;
    }
    // The tile's planes are one run of x: 16 bytes a lane, several in flight, each element to its
    // place (16-bit planes stage slower than the 4-byte float32 ones: twice the elements a load).
    staging::load_plane_run<Cfg::kThreads>(x + k.plane0 * g.contiguous_planes, items, H, W, g.plane_pixels,
                                           g.row_pixels, tile_x, slot_of);
  };

  // The taps and the input rows under a tile, zero outside the image (and for stacked planes past
  // the last). Rows past the last output row's window are staged anyway (at most a tile's worth).
  auto stage = [&](Coords const& k, int buffer) {
    float* const taps = taps_of(buffer);
    T* const tile_x = tile_of(buffer);
    if constexpr (!kStacked) {
      // One plane a tile: its taps and rows without the stacked planes' lookups (a lookup per row
      // cost these tiles 3-9%: ConvNeXt's 7x7, MobileNet's strided 3x3).
      // Unstacked kernels are exact: the window's width is kKwMax, so a tap's row and column need no
      // run-time division.
      static_assert(kExact, "only exact windows have unstacked kernels");
      constexpr int kK = Cfg::kKwMax;
      T const* const x_plane = x + (int64_t(k.n) * p.x_stride_n + int64_t(k.c) * p.x_stride_c);
      for (int t = threadIdx.x; t < kK * kK; t += Cfg::kThreads) {
        taps[t] = static_cast<float>(weight[int64_t(k.c) * p.w_stride_c + int64_t(t / kK) * p.w_stride_h +
                                            int64_t(t % kK) * p.w_stride_w]);
      }
      constexpr int kCopyElems = 16 / int(sizeof(T));
      using Atom = staging::StageCopyAtom<T, 16>;
      staging::RowSource<T> const rows{x_plane, p.x_stride_h, k.in_row0, 1, H, k.in_col0, W};
      staging::copy_rows<Atom, kCopyElems>(share, rows, 0, g.in_rows, g.chunks, tile_x, g.pitch);
    } else {
      // A stacked tile's taps are group * Kh * Kw loads (64 planes of 49 for bfloat16 7x7 on 7x7
      // planes): batched like the plain loads, not one latency a load.
      staging::load_batched<Cfg::kThreads>(g.group * Kh * Kw, taps, [&](int t, float& value) {
        int m, tap, i, j, c = 0;
        g.taps_per_plane(m, tap, t);
        g.taps_per_row(i, j, tap);
        if (member_plane(k, m, c) != nullptr) {
          value = static_cast<float>(
              weight[int64_t(c) * p.w_stride_c + int64_t(i) * p.w_stride_h + int64_t(j) * p.w_stride_w]);
        }
        return m * taps_padded + tap;
      });
      PlaneCache cache;
      if (g.elementwise) {
        stage_pixels(k, tile_x);
        return;
      }
      if (g.copy_bytes == 16) {
        // Lanes take a row's chunks in turn, several rows per pass (no division per chunk).
        constexpr int kCopyElems = 16 / int(sizeof(T));
        using Atom = staging::StageCopyAtom<T, 16>;
        for (int row = share.first_row; row < g.in_rows; row += share.rows_per_pass) {
          int member_row;
          T const* const plane_x = row_source(k, row, cache, member_row);
          T const* const x_plane = plane_x != nullptr ? plane_x : x;
          int const in_row = k.in_row0 + member_row;
          bool const row_inside = plane_x != nullptr && unsigned(in_row) < unsigned(H);
          T const* const row_start = row_inside ? x_plane + int64_t(in_row) * p.x_stride_h : x_plane;
          staging::copy_row<Atom, kCopyElems>(share, row_start, row_inside, k.in_col0, W, g.chunks,
                                              tile_x + row * g.pitch);
        }
      } else {
        // Plain loads (rows not whole 16-byte chunks), batched.
        staging::load_batched<Cfg::kThreads>(g.in_rows * g.chunks, tile_x, [&](int item, T& value) {
          int row, col, member_row;
          g.chunk_count(row, col, item);
          T const* const plane_x = row_source(k, row, cache, member_row);
          int const in_row = k.in_row0 + member_row, in_col = k.in_col0 + col;
          if (plane_x != nullptr && unsigned(in_row) < unsigned(H) && unsigned(in_col) < unsigned(W)) {
            value = plane_x[int64_t(in_row) * p.x_stride_h + int64_t(in_col) * p.x_stride_w];
          }
          return row * g.pitch + col;
        });
      }
    }
  };

  if constexpr (kStacked) {
    if (g.elementwise) {  // the padding of every tile, once (see stage_pixels)
      uint4* const words = reinterpret_cast<uint4*>(smem_bytes);
      for (int i = threadIdx.x; i < g.buffers * buffer_bytes / 16; i += Cfg::kThreads) words[i] = make_uint4(0, 0, 0, 0);
      __syncthreads();
    }
  }

  auto const stage_tile = [&](int64_t tile, int buffer) { stage(coords_of(tile), buffer); };
  auto const compute_tile = [&](int64_t tile, int buffer) {
    Coords const k = coords_of(tile);
    int const out_row0 = k.out_row0, out_col0 = k.out_col0;
    int64_t const plane = k.plane0 + lane_member;
    float const* const taps = taps_of(buffer) + lane_member * taps_padded;
    T const* const tile_x = tile_of(buffer) + lane_member * g.member_in_rows * g.pitch;
    int const lane_col = out_col0 + lane_x * kVec;
    int const lane_out_row = out_row0 + lane_y * kRows;
    if (lane_col < Wo && lane_col + kVec > 0 && lane_out_row < Ho &&
        (!kStacked || (lane_y < g.member_lane_rows && plane < g.planes))) {
      int n = k.n, c = k.c;
      if constexpr (kStacked) g.channel_count(n, c, int(plane));
      // Exact windows add the bias after the window's products, so that its load (after the
      // barrier) flies while they run instead of holding up the first FMA; the other loops start
      // from it (adding it last cost the 31x31 and 5x51 kernels 7-8%; NOTES.md, variant 135).
      float const bias_value = bias ? static_cast<float>(bias[int64_t(c) * p.bias_stride]) : 0.0f;
      float acc[kRows][kVec];
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        CUTE_UNROLL
        for (int e = 0; e < kVec; ++e) acc[r][e] = kExact ? 0.0f : bias_value;
      }
      T const* const lane_tile = tile_x + g.shift + lane_x * kVec * Sw;
      int const lane_tile_row = lane_y * kRows * S;
      // Calls body(read) with the launch's reader of a lane's kWindow inputs of a staged row, each
      // reader its own unrolled copy of the body. Lanes' windows 16 bytes (times the stride) apart
      // all start g.shift elements past a 16-byte boundary. float32 windows off a boundary and 16-bit
      // ones at an odd offset are read as the aligned quads that hold them: words or pairs off a
      // boundary cost a warp as many wavefronts as quads, and odd 16-bit offsets were read word by
      // word and realigned (NOTES.md, variant 133). The offset is a compile-time variant: picked at
      // run time, the quads and their selects took the float32 7x7 kernel from 64 to 95 registers.
      // 16-bit kernels take the four odd offsets' copies only where planes do not stack (MSCAN's 3x3
      // on 128 columns): the stacked and bucketed ones held up to 38 more registers with them.
      auto with_window_reads = [&](auto&& body) {
        staging::with_row_alignment<T>(g.row_alignment, [&](auto alignment) {
          constexpr auto kAlignment = decltype(alignment)::value;
          using staging::RowAlignment;
          auto quads_at = [](auto offset) {
            return [](T const* first, float(&values)[Cfg::kWindow]) {
              staging::load_window_at<T, Cfg::kWindow, decltype(offset)::value>(first, values);
            };
          };
          if constexpr (sizeof(T) == 4 && kAlignment == RowAlignment::kWords8) {
            body(quads_at(Int<2>{}));
          } else if constexpr (sizeof(T) == 4 && kAlignment == RowAlignment::kWords4) {
            if (g.shift % 4 == 1) {
              body(quads_at(Int<1>{}));
            } else {
              body(quads_at(Int<3>{}));
            }
          } else if constexpr (kAlignment == RowAlignment::kHalfWord && kExact && !kStacked) {
            switch (g.shift % 8) {
              case 1: body(quads_at(Int<1>{})); break;
              case 3: body(quads_at(Int<3>{})); break;
              case 5: body(quads_at(Int<5>{})); break;
              default: body(quads_at(Int<7>{})); break;
            }
          } else {
            body([](T const* first, float(&values)[Cfg::kWindow]) {
              staging::load_elements<T, Cfg::kWindow, kAlignment>(first, values);
            });
          }
        });
      };

      if constexpr (kExact) {
        constexpr int kK = Cfg::kKwMax;
        constexpr int kStride = Cfg::kStride;
        constexpr int kTapQuads = (kK * kK + 3) / 4;  // the staged taps are padded to whole float4s
        float w[kTapQuads * 4];
        CUTE_UNROLL
        for (int q = 0; q < kTapQuads; ++q) {
          float4 const v = reinterpret_cast<float4 const*>(taps)[q];
          w[4 * q + 0] = v.x;
          w[4 * q + 1] = v.y;
          w[4 * q + 2] = v.z;
          w[4 * q + 3] = v.w;
        }
        with_window_reads([&](auto read_window) {
          CUTE_UNROLL
          for (int t = 0; t < (kRows - 1) * kStride + kK; ++t) {
            float values[Cfg::kWindow];
            read_window(lane_tile + (lane_tile_row + t) * g.pitch, values);
            CUTE_UNROLL
            for (int r = 0; r < kRows; ++r) {
              int const i = t - r * kStride;  // the window row input row t is to output row r
              if (i < 0 || i >= kK) continue;
              CUTE_UNROLL
              for (int j = 0; j < kK; ++j) {
                CUTE_UNROLL
                for (int e = 0; e < kVec; ++e) acc[r][e] = fmaf(w[i * kK + j], values[e * kStride + j], acc[r][e]);
              }
            }
          }
        });
      } else if constexpr (kBucketed) {
        constexpr int kKwMax = Cfg::kKwMax;
        constexpr int kStride = Cfg::kStride;
        with_window_reads([&](auto read_window) {
          for (int i = 0; i < Kh; ++i) {
            float row_taps[kKwMax];
            CUTE_UNROLL
            for (int j = 0; j < kKwMax; ++j) row_taps[j] = j < Kw ? taps[i * Kw + j] : 0.0f;
            CUTE_UNROLL
            for (int r = 0; r < kRows; ++r) {
              float values[Cfg::kWindow];
              read_window(lane_tile + (lane_tile_row + r * kStride + i) * g.pitch, values);
              CUTE_UNROLL
              for (int j = 0; j < kKwMax; ++j) {
                if (j < Kw) {
                  CUTE_UNROLL
                  for (int e = 0; e < kVec; ++e) acc[r][e] = fmaf(row_taps[j], values[e * kStride + j], acc[r][e]);
                }
              }
            }
          }
        });
      } else {
        for (int i = 0; i < Kh; ++i) {
          for (int j = 0; j < Kw; ++j) {
            float const w = taps[i * Kw + j];
            CUTE_UNROLL
            for (int r = 0; r < kRows; ++r) {
              T const* const row = lane_tile + (lane_tile_row + r * S + i * Dh) * g.pitch + j * Dw;
              CUTE_UNROLL
              for (int e = 0; e < kVec; ++e) acc[r][e] = fmaf(w, static_cast<float>(row[e * Sw]), acc[r][e]);
            }
          }
        }
      }

      int const cols_left = Wo - lane_col;
      int const cols_before = lane_col < 0 ? -lane_col : 0;  // columns left of the image (first strip)
      T* dst = out + (int64_t(n) * p.out_stride_n + int64_t(c) * p.out_stride_c +
                      int64_t(lane_out_row) * p.out_stride_h + int64_t(lane_col) * p.out_stride_w);
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        if (lane_out_row + r >= Ho) break;
        if constexpr (kExact) {
          CUTE_UNROLL
          for (int e = 0; e < kVec; ++e) acc[r][e] += bias_value;
        }
        store_row_outputs<T, kVec>(dst, p.out_stride_w, cols_before, cols_left, acc[r]);
        dst += p.out_stride_h;
      }
    }
  };
  // Stacked planes' staging is long: one copy of it (see walk_tiles_compact).
  if constexpr (kStacked) {
    staging::walk_tiles_compact(int64_t(blockIdx.x), g.tiles, int64_t(gridDim.x), g.buffers == 2, stage_tile,
                                compute_tile);
  } else {
    staging::walk_tiles(int64_t(blockIdx.x), g.tiles, int64_t(gridDim.x), g.buffers == 2, stage_tile, compute_tile);
  }
}

}  // namespace window

// Plans and launches fwd_window_tile_kernel; kUnsupported where x's rows are not unit-stride, the
// tile does not fit shared memory, or coordinates would not fit an int.
template <class Cfg>
LaunchStatus launch_window_tile(WindowParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;
  if (p.x_stride_w != 1) return LaunchStatus::kUnsupported;
  if constexpr (Cfg::kBucketed) {
    if (p.stride_h != Cfg::kStride || p.stride_w != Cfg::kStride || p.dilation_h != 1 || p.dilation_w != 1 ||
        p.kw > Cfg::kKwMax) {
      return LaunchStatus::kUnsupported;
    }
  }
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  int64_t const reach_h = (p.kh - 1) * p.dilation_h + 1;
  int64_t const reach_w = Cfg::kBucketed ? Cfg::kKwMax : (p.kw - 1) * p.dilation_w + 1;
  bool const small_coords = p.H < kCoordLimit && p.W < kCoordLimit && magnitude(p.padding_h) < kCoordLimit &&
                            magnitude(p.padding_w) < kCoordLimit && p.Ho * p.stride_h + reach_h < kCoordLimit &&
                            (p.Wo + 256) * p.stride_w + reach_w < kCoordLimit && p.kh * p.kw < kCoordLimit;
  if (!small_coords) return LaunchStatus::kUnsupported;

  window::TileGeometry g{};
  int const copy_bytes = staging::stage_copy_bytes<T>(p.x, p.W, p.x_stride_h, p.x_stride_c, p.x_stride_n) == 16 ? 16 : 0;
  constexpr int64_t kVecElems = 16 / int64_t(sizeof(T));
  g.lanes_x = plan::lanes_along_row(p.Wo, Cfg::kVec);
  g.lanes_x_log2 = plan::log2_exact(g.lanes_x);
  g.tile_cols = g.lanes_x * Cfg::kVec;
  int64_t const strips_unshifted = (p.Wo + g.tile_cols - 1) / g.tile_cols;
  plan::PlaneStack const stack =
      plan::stack_planes(strips_unshifted, Cfg::kThreads / g.lanes_x, p.Ho, Cfg::kRows, p.N * p.C);
  g.group = stack.group;
  g.member_lane_rows = stack.member_lane_rows;
  // Stacked planes whose rows are not whole 16-byte chunks (a 7x7 or 14x14 plane) are staged element
  // by element into the layout 16-byte chunks would give them, into buffers zeroed once: every tile
  // covers whole planes, so each writes only its planes' pixels and the padding stays zero.
  g.elementwise = g.group > 1 && copy_bytes != 16;
  g.copy_bytes = copy_bytes;
  int const layout_bytes = g.elementwise ? 16 : copy_bytes;
  // Where strips start. Lanes that read any offset at an aligned read's cost start at column 0, so
  // that every lane's outputs are whole 16-byte stores: the float32 windows (aligned quads), the
  // 16-bit exact unstacked ones at an odd offset (the same), and the general kernel's element reads.
  // A strip started left of the image gave its first lane a partial store in every row of lanes,
  // which every warp then ran beside the whole ones (ConvNeXt's 7x7: 14% of the instructions were
  // the stores; NOTES.md, variant 134). Other 16-bit windows start where every lane's first input
  // column is best aligned for its reads, unless that costs a strip.
  int64_t const chunk_elems = layout_bytes == 16 ? kVecElems : 1;
  // Exact windows of the narrow buckets run fully unrolled (window_tile_has_exact says which).
  bool const exact = window::window_tile_has_exact<Cfg>() && layout_bytes == 16 && p.kh == Cfg::kKwMax &&
                     p.kw == Cfg::kKwMax;
  plan::ColumnOrigin const at_zero = plan::origin_at(0, p.stride_w, p.padding_w, chunk_elems);
  bool const reads_any_offset =
      !Cfg::kBucketed || sizeof(T) == 4 || (exact && g.group == 1 && at_zero.shift % 2 == 1);
  plan::ColumnOrigin const start =
      reads_any_offset ? at_zero
                       : plan::column_origin(p.Wo, g.tile_cols, p.stride_w, p.padding_w, chunk_elems, int64_t(sizeof(T)));
  int64_t const origin = start.origin, shift = start.shift;
  g.col_origin = int(-origin);
  int64_t const strips = (p.Wo + origin + g.tile_cols - 1) / g.tile_cols;
  g.tile_rows = g.member_lane_rows * Cfg::kRows;
  int64_t member_in_rows = int64_t(g.tile_rows - 1) * p.stride_h + reach_h;
  // The columns every lane's reads reach: its kVec outputs' windows (kWindow, or the dilated reach),
  // plus the word past them that 16-bit reads touch.
  int64_t const lane_reach = Cfg::kBucketed ? Cfg::kWindow : (Cfg::kVec - 1) * p.stride_w + reach_w;
  int64_t const span = int64_t(g.lanes_x - 1) * Cfg::kVec * p.stride_w + lane_reach + 1;
  int64_t const chunks = (shift + span + chunk_elems - 1) / chunk_elems;
  int64_t pitch_units = (chunks * chunk_elems + kVecElems - 1) / kVecElems;  // 16-byte units
  plan::space_stacked_rows(g.group, g.lanes_x, p.stride_w, member_in_rows, pitch_units);
  int64_t const in_rows = g.group * member_in_rows;
  int64_t const pitch = pitch_units * kVecElems;
  int64_t const taps_bytes = g.group * ((p.kh * p.kw + 3) / 4 * 4 * 4);
  int64_t const buffer_bytes = taps_bytes + in_rows * pitch * int64_t(sizeof(T));
  DeviceLimits const& limits = device_limits(p.device);
  if (buffer_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;

  g.member_in_rows = int(member_in_rows);
  g.in_rows = int(in_rows);
  g.chunks = int(chunks);
  g.chunk_elems = int(chunk_elems);
  g.pitch = int(pitch);
  g.shift = int(shift);
  g.row_alignment = int(staging::row_alignment(int(shift * int64_t(sizeof(T)))));
  int64_t const row_tiles = (p.Ho + g.tile_rows - 1) / g.tile_rows;
  int64_t const planes = p.N * p.C;
  int64_t const slots = (planes + g.group - 1) / g.group;
  constexpr int64_t kIndexLimit = int64_t(1) << 31;
  if (strips * row_tiles >= kIndexLimit || planes >= kIndexLimit || slots * strips * row_tiles >= kIndexLimit) {
    return LaunchStatus::kUnsupported;
  }
  g.planes = planes;
  g.tiles = slots * strips * row_tiles;
  g.tiles_in_plane = cutlass::FastDivmod(int(strips * row_tiles));
  g.strip_count = cutlass::FastDivmod(int(strips));
  g.channel_count = cutlass::FastDivmod(int(p.C));
  g.member_rows = cutlass::FastDivmod(int(member_in_rows));
  g.chunk_count = cutlass::FastDivmod(int(chunks));
  g.row_lanes = staging::row_lanes<Cfg::kThreads>(chunks);
  g.plane_pixels = cutlass::FastDivmod(int(p.H * p.W > 0 ? p.H * p.W : 1));
  g.row_pixels = cutlass::FastDivmod(int(p.W > 0 ? p.W : 1));
  g.contiguous_planes = p.x_stride_h == p.W && p.x_stride_c == p.H * p.W && p.x_stride_n == p.C * p.H * p.W ? p.H * p.W : 0;
  g.taps_per_plane = cutlass::FastDivmod(int(p.kh * p.kw));
  g.taps_per_row = cutlass::FastDivmod(int(p.kw));

  // The kernel for the window, its registers and its shared-memory opt-in.
  // Exact windows have a kernel for unstacked planes too (see kStacked); the others always stack.
  auto* kernel = &window::fwd_window_tile_kernel<Cfg, false, true>;
  int registers = 0;
  auto pick = [&](auto exact_window, auto stacked) {
    constexpr auto kKernel =
        &window::fwd_window_tile_kernel<Cfg, decltype(exact_window)::value, decltype(stacked)::value>;
    kernel = kKernel;
    registers = KernelAttributes<kKernel>::registers(p.device);
    return &KernelAttributes<kKernel>::allow_shared_memory;
  };
  using Yes = std::true_type;
  using No = std::false_type;
  // (Buckets without exact windows name only the stacked kernels here.) Stacked 16-bit planes take
  // the bucketed kernel: the unrolled one measured the same on every small-plane row (NOTES.md,
  // variant 93) and was the build's heaviest.
  using Exact = std::integral_constant<bool, window::window_tile_has_exact<Cfg>()>;
  using StackedExact = std::integral_constant<bool, Exact::value && sizeof(T) == 4>;
  using Unstacked = std::integral_constant<bool, !Exact::value>;
  auto const allow = !exact        ? pick(No{}, Yes{})
                     : g.group > 1 ? pick(StackedExact{}, Yes{})
                                   : pick(Exact{}, Unstacked{});
  if (registers == 0) return LaunchStatus::kUnsupported;
  // Buffers and grid: two buffers only pay where a block walks several tiles and they cost no
  // occupancy (or leave 16 warps per SM); the grid is at most policy.window_waves waves. 64 waves,
  // so mostly one tile a block and one buffer, measured best (NOTES.md, variant 70: fewer waves with
  // two buffers were 2-20% slower; one buffer took MobileNet's float32 3x3 stride 2 from 61% to 69%
  // of the floor).
  plan::TilingPolicy const& policy = plan::tiling_policy();
  int const blocks_one = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(buffer_bytes));
  int const blocks_two = 2 * buffer_bytes <= limits.smem_per_block_optin
                             ? blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(2 * buffer_bytes))
                             : 0;
  if (blocks_one == 0) return LaunchStatus::kUnsupported;
  auto grid_for = [&](int blocks_per_sm) {
    return std::min<int64_t>(g.tiles, int64_t(blocks_per_sm) * limits.multiprocessors * policy.window_waves);
  };
  constexpr int kWarps = Cfg::kThreads / 32;
  bool two = blocks_two > 0 && g.tiles >= 2 * grid_for(blocks_two) &&
             (blocks_two * kWarps >= 16 || blocks_two >= blocks_one);
  if (policy.window_buffers == 1 || policy.window_buffers == 2) two = policy.window_buffers == 2 && blocks_two > 0;
  g.buffers = two ? 2 : 1;
  int64_t const smem_bytes = g.buffers * buffer_bytes;
  if (!allow(p.device, int(smem_bytes))) return LaunchStatus::kUnsupported;
  int64_t const grid = grid_for(two ? blocks_two : blocks_one);
  kernel<<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
