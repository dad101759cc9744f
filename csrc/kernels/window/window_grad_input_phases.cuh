// Input gradient of an NCHW window at stride 2 (dilation 1, at most kK x kK taps), all four phases
// in one pass: a block stages the grad_out rows and columns under a tile of input positions (16-byte
// cp.async with zero fill, two buffers: the next tile's copies fly while this one computes), and
// each lane computes kRows input rows of kVec adjacent columns, so grad_out is read once and
// grad_input written once, 16 bytes per lane and row. Input position (h, w) takes tap (i, j) where
// h + p_h - i and w + p_w - j are even, from grad_out element ((h + p_h - i) / 2, (w + p_w - j) / 2):
// a lane's kVec columns need kG adjacent grad_out columns per grad_out row, and its kRows rows kGRows
// grad_out rows, each read once into registers. Which taps meet which outputs follows from the
// paddings' parities, the same for every lane of a launch (a uniform branch per tap). Planes much
// shorter than a tile are stacked down it, `group` planes a tile (as the forward's window_tile.cuh).
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
#include "kernels/staging/batched_loads.cuh"
#include "kernels/staging/lane_io.cuh"
#include "kernels/staging/row_ring.cuh"
#include "kernels/staging/tile_walk.cuh"
#include "kernels/window/window_config.h"
#include "kernels/window/window_store.cuh"
#include "plan/stacking.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

// Host-planned tiling; see launch_window_grad_input_phases.
struct PhasesGeometry {
  int lanes_x;        // lanes along a row: 1 to 32, a power of two (the block's other lanes stack down)
  int lanes_x_log2;   // its base-2 logarithm: a lane splits its index by a mask and a shift
  int group;          // planes stacked down a tile: 1, or more where a plane is much shorter than a tile
  int member_lane_rows;  // rows of lanes per stacked plane (the block's kThreads / lanes_x when group is 1)
  int tile_rows;      // input rows per tile and plane: member_lane_rows * kRows
  int tile_cols;      // input columns per tile: lanes_x * kVec
  int member_g_rows;  // staged grad_out rows per stacked plane
  int g_rows;         // staged grad_out rows per tile: group * member_g_rows
  int chunks;         // staged copy chunks per grad_out row
  int pitch;          // elements per staged row, a multiple of 16 bytes
  int shift;          // lane 0's first grad_out column past its chunk
  int row_alignment;  // staging::RowAlignment of every lane's first column (at most 8 bytes)
  int row_base, col_base;      // floor((p_h - (Kh - 1)) / 2), floor((p_w - (Kw - 1)) / 2)
  int row_parity, col_parity;  // (p_h - (Kh - 1)) mod 2, (p_w - (Kw - 1)) mod 2
  int same_window;  // a Cfg::kK x Cfg::kK window whose parities are those of padding kK / 2
  int64_t tiles;
  int64_t planes;                      // N * C
  cutlass::FastDivmod tiles_in_plane;  // tile -> (plane slot, row tile * strips + strip); a slot is `group` planes
  cutlass::FastDivmod strip_count;     // -> (row tile, strip)
  cutlass::FastDivmod channel_count;   // plane -> (n, c)
  cutlass::FastDivmod member_rows;     // staged row -> (stacked plane, row of it)
  cutlass::FastDivmod row_lanes;       // threads along a staged row (staging::share_rows)
  cutlass::FastDivmod taps_per_plane;  // staged tap -> (stacked plane, tap)
  cutlass::FastDivmod taps_per_row;    // tap -> (window row, column): a stacked tile's taps are many
  int elementwise;  // grad_out's rows are not whole 16-byte chunks (an odd Wo): staged element by element
  cutlass::FastDivmod staged_cols;     // staged element -> (staged row, column) (elementwise)
};

// The phases' parity, (padding - (k - 1)) mod 2, at "same" padding k / 2 of an odd window k: the
// parity of PhasesGeometry::same_window, which the kernel's exact form assumes.
constexpr int same_padding_parity(int k) { return ((k / 2 - (k - 1)) % 2 + 2) % 2; }

// p is the forward call's geometry with x's strides replaced by grad_input's and out's by grad_out's.
template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads)
    bwd_window_input_phases_kernel(WindowParams const p, void const* grad_out_data, void* grad_input_data,
                                   PhasesGeometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  constexpr int kVec = Cfg::kVec;
  constexpr int kRows = Cfg::kRows;
  constexpr int kK = Cfg::kK;
  constexpr int kG = Cfg::kG;
  constexpr int kGRows = Cfg::kGRows;
  constexpr int kSameParity = same_padding_parity(kK);

  int const Kh = int(p.kh), Kw = int(p.kw);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);
  int const qm = g.row_parity, pm = g.col_parity;

  extern __shared__ __align__(128) unsigned char smem_bytes[];
  int const taps_padded = (Kh * Kw + 3) / 4 * 4;  // per stacked plane
  int const taps_bytes = g.group * taps_padded * 4;
  int const buffer_bytes = taps_bytes + g.g_rows * g.pitch * int(sizeof(T));  // a multiple of 16
  auto taps_of = [&](int buffer) { return reinterpret_cast<float*>(smem_bytes + buffer * buffer_bytes); };
  auto tile_of = [&](int buffer) { return reinterpret_cast<T*>(smem_bytes + buffer * buffer_bytes + taps_bytes); };

  staging::RowShare const share = staging::share_rows<Cfg::kThreads>(g.row_lanes);
  // Stacked planes interleave by rows of lanes, as in the forward (fwd_window_tile_kernel).
  int const lane_x = int(threadIdx.x) & (g.lanes_x - 1);
  int const row_of_lanes = int(threadIdx.x) >> g.lanes_x_log2;
  int const lane_member = row_of_lanes % g.group;
  int const lane_y = row_of_lanes / g.group;
  T const* const grad_out = static_cast<T const*>(grad_out_data);
  T* const grad_input = static_cast<T*>(grad_input_data);
  ParamReader<T> const weight{p.weight, p.params_float32};

  struct Coords {
    int64_t plane0;  // the tile's first plane; the stacked ones follow it
    int in_row0, in_col0;
  };
  auto coords_of = [&](int64_t tile) {
    int slot, in_plane, row_tile, strip;
    Coords k;
    g.tiles_in_plane(slot, in_plane, int(tile));
    g.strip_count(row_tile, strip, in_plane);
    k.plane0 = int64_t(slot) * g.group;
    k.in_row0 = row_tile * g.tile_rows;
    k.in_col0 = strip * g.tile_cols;
    return k;
  };

  // The grad_out plane of stacked member m of a tile, or nullptr past the last plane.
  auto member_plane = [&](Coords const& k, int m, int& c) -> T const* {
    int64_t const plane = k.plane0 + m;
    if (plane >= g.planes) return nullptr;
    int n;
    g.channel_count(n, c, int(plane));
    return grad_out + (int64_t(n) * p.out_stride_n + int64_t(c) * p.out_stride_c);
  };

  // The taps and the grad_out rows under a tile, zero outside grad_out (and for stacked planes past
  // the last).
  auto stage = [&](Coords const& k, int buffer) {
    using Atom = staging::StageCopyAtom<T, 16>;
    float* const taps = taps_of(buffer);
    T* const tile_g = tile_of(buffer);
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
    int const g_row0 = k.in_row0 / 2 + g.row_base;
    int const g_col0 = k.in_col0 / 2 + g.col_base - g.shift;
    if (g.elementwise) {
      // The same layout, every staged element written (zero outside grad_out), a batch of plain
      // loads in flight per lane.
      int c = 0;
      T const* const unstacked = g.group == 1 ? member_plane(k, 0, c) : nullptr;
      staging::load_batched<Cfg::kThreads, 4>(g.g_rows * g.staged_cols.divisor, tile_g, [&](int item, T& value) {
        int row, col, m = 0, member_row;
        g.staged_cols(row, col, item);
        member_row = row;
        if (g.group > 1) g.member_rows(m, member_row, row);
        T const* const plane_g = g.group == 1 ? unstacked : member_plane(k, m, c);
        int const g_row = g_row0 + member_row, g_col = g_col0 + col;
        if (plane_g != nullptr && unsigned(g_row) < unsigned(Ho) && unsigned(g_col) < unsigned(Wo)) {
          value = plane_g[int64_t(g_row) * p.out_stride_h + g_col];
        }
        return row * g.pitch + col;
      });
      return;
    }
    if (g.group == 1) {  // one plane a tile, looked up once (a lookup per row cost the forward 3-9%)
      int c;
      T const* const plane = member_plane(k, 0, c);
      staging::RowSource<T> const rows{plane != nullptr ? plane : grad_out, p.out_stride_h, g_row0, 1,
                                       plane != nullptr ? Ho : 0, g_col0, Wo};
      staging::copy_rows<Atom, kVec>(share, rows, 0, g.g_rows, g.chunks, tile_g, g.pitch);
      return;
    }
    // Stacked planes: a member's rows are consecutive, so a lane looks its plane up once per member
    // it meets.
    int cached_member = -1;
    T const* cached = nullptr;
    for (int row = share.first_row; row < g.g_rows; row += share.rows_per_pass) {
      int m, c, member_row;
      g.member_rows(m, member_row, row);
      if (m != cached_member) {
        cached_member = m;
        cached = member_plane(k, m, c);
      }
      int const g_row = g_row0 + member_row;
      bool const row_inside = cached != nullptr && unsigned(g_row) < unsigned(Ho);
      T const* const row_start = row_inside ? cached + int64_t(g_row) * p.out_stride_h : grad_out;
      staging::copy_row<Atom, kVec>(share, row_start, row_inside, g_col0, Wo, g.chunks, tile_g + row * g.pitch);
    }
  };

  staging::walk_tiles_compact(
      int64_t(blockIdx.x), g.tiles, int64_t(gridDim.x), true,
      [&](int64_t tile, int buffer) { stage(coords_of(tile), buffer); },
      [&](int64_t tile, int buffer) {
        Coords const k = coords_of(tile);
        int64_t const plane = k.plane0 + lane_member;
        int const lane_row = k.in_row0 + lane_y * kRows;
        int const lane_col = k.in_col0 + lane_x * kVec;
        if (lane_row < H && lane_col < W && lane_y < g.member_lane_rows && plane < g.planes) {
          int n, c;
          g.channel_count(n, c, int(plane));
          float const* const taps = taps_of(buffer) + lane_member * taps_padded;
          T const* const lane_g = tile_of(buffer) + lane_member * g.member_g_rows * g.pitch + g.shift +
                                  lane_x * (kVec / 2) + lane_y * (kRows / 2) * g.pitch;
          float acc[kRows][kVec];
          CUTE_UNROLL
          for (int r = 0; r < kRows; ++r) {
            CUTE_UNROLL
            for (int e = 0; e < kVec; ++e) acc[r][e] = 0.0f;
          }
          // kSame: a kK x kK window at "same" padding's parities (MobileNet's 3x3, padding 1), with
          // every bound and parity known, so the loops below reduce to the products; the general
          // form tests each tap against the run-time window and parities (FFMA was 13% of the
          // instructions of MobileNet's 3x3: variant 143).
          auto accumulate = [&](auto alignment, auto same) {
            constexpr bool kSame = decltype(same)::value;
            int const kh = kSame ? kK : Kh, kw = kSame ? kK : Kw;
            int const row_parity = kSame ? kSameParity : qm, col_parity = kSame ? kSameParity : pm;
            CUTE_UNROLL
            for (int tg = 0; tg < kGRows; ++tg) {
              float values[kG];
              staging::load_elements<T, kG, decltype(alignment)::value>(lane_g + tg * g.pitch, values);
              CUTE_UNROLL
              for (int r = 0; r < kRows; ++r) {
                // Window row kh - 1 - ii meets input row r through this grad_out row.
                int const ii = 2 * tg - row_parity - r;
                if (ii < 0 || ii >= kh) continue;
                float const* const row_taps = taps + (kh - 1 - ii) * kw + (kw - 1);  // tap (i, kw - 1 - jj) at -jj
                CUTE_UNROLL
                for (int jj = 0; jj < kK; ++jj) {
                  if (jj < kw) {
                    float const w = row_taps[-jj];
                    CUTE_UNROLL
                    for (int e = 0; e < kVec; ++e) {
                      // Input column e meets column jj of the reversed row where e + col_parity + jj
                      // is even, through grad_out column (e + col_parity + jj) / 2 of the lane's window.
                      if (((e + jj) & 1) == col_parity) {
                        float const v = col_parity ? values[(e + jj + 1) / 2] : values[(e + jj) / 2];
                        acc[r][e] = fmaf(w, v, acc[r][e]);
                      }
                    }
                  }
                }
              }
            }
          };
          staging::with_row_alignment<T>(g.row_alignment, [&](auto alignment) {
            if (g.same_window) {
              accumulate(alignment, std::true_type{});
            } else {
              accumulate(alignment, std::false_type{});
            }
          });
          int const cols_left = W - lane_col;
          CUTE_UNROLL
          for (int r = 0; r < kRows; ++r) {
            int const row = lane_row + r;
            if (row >= H) break;
            T* const dst = grad_input + (int64_t(n) * p.x_stride_n + int64_t(c) * p.x_stride_c +
                                         int64_t(row) * p.x_stride_h + int64_t(lane_col) * p.x_stride_w);
            store_row_outputs<T, kVec>(dst, p.x_stride_w, 0, cols_left, acc[r]);
          }
        }
      });
}

}  // namespace window

// Plans and launches bwd_window_input_phases_kernel; kUnsupported unless the call has stride (2, 2),
// dilation 1 and a window within the bucket, and grad_out's rows are unit-stride. Rows that are not
// whole 16-byte chunks (an odd Wo: the headline's (3, 1) at stride 2 and padding 1 gives 257
// columns) stage element by element, which measured faster than a launch per phase (variant 110).
template <class Cfg>
LaunchStatus launch_window_grad_input_phases(WindowParams const& p, void const* grad_out, void* grad_input,
                                             cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int64_t kVec = Cfg::kVec;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;
  if (p.stride_h != 2 || p.stride_w != 2 || p.dilation_h != 1 || p.dilation_w != 1 || p.kh > Cfg::kK ||
      p.kw > Cfg::kK || p.out_stride_w != 1) {
    return LaunchStatus::kUnsupported;
  }
  if (p.H + 256 >= kCoordLimit || p.W + 256 >= kCoordLimit || p.padding_h >= kCoordLimit ||
      p.padding_w >= kCoordLimit || p.Ho >= kCoordLimit || p.Wo >= kCoordLimit) {
    return LaunchStatus::kUnsupported;
  }
  auto floor_half = [](int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); };
  int64_t const row_from = p.padding_h - (p.kh - 1), col_from = p.padding_w - (p.kw - 1);

  window::PhasesGeometry g{};
  g.row_base = int(floor_half(row_from));
  g.col_base = int(floor_half(col_from));
  g.row_parity = int(row_from - 2 * g.row_base);
  g.col_parity = int(col_from - 2 * g.col_base);
  constexpr int kSameParity = window::same_padding_parity(Cfg::kK);
  g.same_window = p.kh == Cfg::kK && p.kw == Cfg::kK && g.row_parity == kSameParity && g.col_parity == kSameParity;
  g.shift = int(((g.col_base % kVec) + kVec) % kVec);
  g.lanes_x = plan::lanes_along_row(p.W, kVec);
  g.lanes_x_log2 = plan::log2_exact(g.lanes_x);
  g.tile_cols = int(g.lanes_x * kVec);
  int64_t const strips = (p.W + g.tile_cols - 1) / g.tile_cols;
  int64_t const planes = p.N * p.C;
  plan::PlaneStack const stack = plan::stack_planes(strips, Cfg::kThreads / g.lanes_x, p.H, Cfg::kRows, planes);
  g.group = stack.group;
  g.member_lane_rows = stack.member_lane_rows;
  g.tile_rows = g.member_lane_rows * Cfg::kRows;
  g.member_g_rows = g.tile_rows / 2 - Cfg::kRows / 2 + Cfg::kGRows;
  g.g_rows = g.group * g.member_g_rows;
  // Every lane reads kG columns, plus the word past them that 16-bit reads touch.
  int64_t const span = g.shift + int64_t(g.lanes_x - 1) * (kVec / 2) + Cfg::kG + 1;
  g.chunks = int((span + kVec - 1) / kVec);
  g.pitch = int(int64_t(g.chunks) * kVec);
  // Lanes start kVec / 2 elements (8 bytes) apart: at most 8-byte alignment for all of them.
  auto alignment = staging::row_alignment(int(g.shift * int64_t(sizeof(T))));
  if (alignment == staging::RowAlignment::kWords16) alignment = staging::RowAlignment::kWords8;
  g.row_alignment = int(alignment);

  int64_t const taps_bytes = g.group * ((p.kh * p.kw + 3) / 4 * 4 * 4);
  int64_t const smem_bytes = 2 * (taps_bytes + int64_t(g.g_rows) * g.pitch * int64_t(sizeof(T)));
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;
  int64_t const row_tiles = (p.H + g.tile_rows - 1) / g.tile_rows;
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
  g.member_rows = cutlass::FastDivmod(int(g.member_g_rows));
  g.row_lanes = staging::row_lanes<Cfg::kThreads>(g.chunks);
  g.taps_per_plane = cutlass::FastDivmod(int(p.kh * p.kw));
  g.taps_per_row = cutlass::FastDivmod(int(p.kw));
  g.elementwise = staging::stage_copy_bytes<T>(grad_out, p.Wo, p.out_stride_h, p.out_stride_c, p.out_stride_n) != 16;
  g.staged_cols = cutlass::FastDivmod(g.chunks * int(kVec));

  constexpr auto kernel = &window::bwd_window_input_phases_kernel<Cfg>;
  int const registers = KernelAttributes<kernel>::registers_if_launchable(p.device, int(smem_bytes));
  if (registers == 0) return LaunchStatus::kUnsupported;
  int const blocks_per_sm = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_bytes));
  int64_t const grid = std::min<int64_t>(g.tiles, int64_t(blocks_per_sm) * limits.multiprocessors * 64);
  kernel<<<dim3(unsigned(grid)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, grad_out, grad_input, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
