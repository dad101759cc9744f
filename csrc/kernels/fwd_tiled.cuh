// Vertical tiled forward kernel, for (K, 1) kernels: each block walks a strip of output columns down
// a segment of output rows of one (n, c) plane, or with channels_last of one image (or of a few
// narrow planes side by side: a (1, K) call's image rows). Input rows stream through a shared-memory
// ring with SM80 cp.async (zero-fill predication supplies the padding); each thread keeps a few
// output rows of one 16-byte column vector in registers and stores them as wide as the row allows.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/kernel_attributes.h"
#include "dwconv_params.h"
#include "kernels/compile_time.h"
#include "kernels/launch.h"
#include "kernels/staging/lane_io.cuh"
#include "kernels/staging/row_ring.cuh"
#include "kernels/tile_config.h"
#include "kernels/param_access.h"
#include "plan/tiling.h"

namespace cute_dwconv {
namespace tiled {

// Host-planned split of the output into block tiles; see launch_fwd_tiled.
struct Geometry {
  int strips;             // strips of kTileW output columns per plane
  int col_origin;         // the first strip's first output column. The columns before it and those
                          // past the last strip are computed from global memory by the first and
                          // the last strip's blocks (they are few: see plan_strips)
  int segments;           // row segments per strip
  int steps_per_segment;  // pipeline steps (kOutRowsPerStep output rows each) per segment
  int halo_stages;        // stages past a step's own that its input window reaches
  int ring_stages;        // stages the ring holds: 1 + halo_stages + kStagesAhead
  int out_unit_cols;      // out rows have unit column stride (stores then go as wide as each
                          // row's alignment allows)
  int row_alignment;      // RowAlignment of the staged rows' reads, from the column padding
  int plane_group;        // channels_last planes side by side in one strip (1: a plane's row spans
                          // strips); see fwd_tiled_kernel
  int64_t tiles;          // planes * strips * segments, below 2^31
  // The divisions every tile makes, done by multiply and shift instead of 64-bit division. This
  // frees registers (sm_90: K=3 from 72 to 47, K=21 from 96 to 80) and takes a few instructions
  // off every tile, which matters where tiles are short (NOTES, variant 35).
  cutlass::FastDivmod tiles_in_plane;  // tile -> (plane, strip * segments + segment)
  cutlass::FastDivmod segment_count;   // -> (strip, segment)
  cutlass::FastDivmod channel_count;   // plane -> (n, c)
  cutlass::FastDivmod head_cols;       // col_origin columns before the first strip (>= 1)
  cutlass::FastDivmod tail_cols;       // columns past the last strip (>= 1)
};

// The NCHW value, or with channels_last the value over a row of interleaved channels.
template <bool kChannelsLast, class Nchw>
CUTE_HOST_DEVICE constexpr auto channels_last_or(Nchw nchw, int64_t nhwc) {
  if constexpr (kChannelsLast) {
    return int(nhwc);
  } else {
    return nchw;
  }
}

CUTE_HOST_DEVICE constexpr int out_extent(int in, int padding, int taps, int stride, int dilation) {
  return (in + 2 * padding - dilation * (taps - 1) - 1) / stride + 1;
}

using staging::RowAlignment;

// kCopyBytes: the cp.async width, 16, or 8 where x's rows are only 8-byte aligned (a padded width:
// the input gradient reads grad_out rows of W + 2P elements). A template parameter rather than a
// run-time choice so that the 16-byte kernels keep their registers.
template <class Cfg, int kCopyBytes>
__global__ void __launch_bounds__(Cfg::kThreads)
    fwd_tiled_kernel(FwdParams const p, Geometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  using Plane = typename Cfg::Plane;
  constexpr int kVec = Cfg::kVec;
  constexpr int kLanes = Cfg::kLanes;
  constexpr int kRows = Cfg::kRowsPerThread;
  constexpr int kTileW = Cfg::kTileW;
  constexpr int kOutRowsPerStep = Cfg::kOutRowsPerStep;
  constexpr bool kTaps = Cfg::kStaticTaps;
  constexpr bool kPlane = Plane::kStatic;
  constexpr bool kCL = Cfg::kChannelsLast;

  auto const K = fixed_or<kTaps, Cfg::kK>(int(p.kernel_size));
  // S steps rows, Sw columns: the table's entries are for equal strides; the general one takes any.
  auto const S = fixed_or<kTaps, Cfg::kStride>(int(p.stride_h));
  auto const Sw = fixed_or<kTaps, Cfg::kStride>(int(p.stride_w));
  auto const D = fixed_or<kTaps, Cfg::kDilation>(int(p.dilation));
  auto const P = fixed_or<kPlane, Plane::kPadding>(int(p.padding_h));
  auto const H = fixed_or<kPlane, Plane::kH>(int(p.H));
  auto const W = fixed_or<kPlane, Plane::kW>(int(p.W));
  constexpr int kHo = kPlane ? out_extent(Plane::kH, Plane::kPadding, Cfg::kK, Cfg::kStride, Cfg::kDilation) : 0;
  constexpr int kWo = kPlane ? out_extent(Plane::kW, Plane::kPadding, 1, Cfg::kStride, 1) : 0;
  auto const Ho = fixed_or<kPlane, kHo>(int(p.Ho));
  auto const Wo = fixed_or<kPlane, kWo>(int(p.Wo));
  // The fixed-shape instantiation is only dispatched for contiguous x and out.
  auto const x_row_stride = fixed_or<kPlane, Plane::kW>(p.x_stride_h);
  auto const out_row_stride = fixed_or<kPlane, kWo>(p.out_stride_h);
  auto const out_col_stride = fixed_or<kPlane || kCL, 1>(p.out_stride_w);
  // Columns of a plane's rows, and the padding columns on each side (see FwdTiledConfig).
  auto const in_cols = channels_last_or<kCL>(W, p.W * p.C);
  auto const out_cols = channels_last_or<kCL>(Wo, p.Wo * p.C);
  auto const P_w = fixed_or<kPlane, Plane::kPadding>(int(p.padding_w));
  auto const col_padding = channels_last_or<kCL>(P_w, p.padding_w * p.C);

  auto const stage_rows = Int<kOutRowsPerStep>{} * S;
  auto const ring_stages = fixed_or<kTaps, Cfg::kRingStages>(g.ring_stages);
  auto const halo_stages = fixed_or<kTaps, Cfg::kHaloStages>(g.halo_stages);
  auto const ring_rows = ring_stages * stage_rows;
  auto const span = Int<kTileW>{} * Sw;   // input columns under a strip's outputs...
  auto const pitch = span + Int<Cfg::kCopyVec>{};  // ...plus one copy for a misaligned start

  extern __shared__ __align__(128) unsigned char smem_bytes[];
  Tensor ring = make_tensor(make_smem_ptr(reinterpret_cast<T*>(smem_bytes)),
                            make_layout(make_shape(ring_rows, pitch), make_stride(pitch, Int<1>{})));

  static_assert(kCopyBytes == 16 || kCopyBytes == 8, "cp.async copies 16 or 8 bytes here");
  constexpr int kCopyElems = kCopyBytes / int(sizeof(T));
  using CopyAtom = staging::StageCopyAtom<T, kCopyBytes>;
  // Up to a warp's copies across a row: fewer where a strip's row is narrower (channels_last
  // 16-bit strips are 128 columns, 16 copies).
  constexpr int kCopyLanes = kTileW / kCopyElems < kLanes ? kTileW / kCopyElems : kLanes;
  constexpr int kCopyRows = Cfg::kThreads / kCopyLanes;
  auto const tiled_copy =
      make_tiled_copy(CopyAtom{}, Layout<Shape<Int<kCopyRows>, Int<kCopyLanes>>, Stride<Int<kCopyLanes>, _1>>{},
                      Layout<Shape<_1, Int<kCopyElems>>>{});
  auto const thr_copy = tiled_copy.get_thread_slice(threadIdx.x);
  // Where this thread's copies sit in a stage (row, column): the same for every stage and tile.
  Tensor const copy_coords = thr_copy.partition_S(make_identity_tensor(make_shape(stage_rows, span)));

  int const warp = threadIdx.x / kLanes;
  int const lane = threadIdx.x % kLanes;
  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};

  for (int64_t tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
    int plane_index, in_plane, strip, segment, n_index = 0, c_index = 0;
    g.tiles_in_plane(plane_index, in_plane, int(tile));
    g.segment_count(strip, segment, in_plane);
    if constexpr (!kCL) g.channel_count(n_index, c_index, plane_index);
    int64_t const plane = plane_index;
    // channels_last planes narrower than half a strip (a (1, K) call's image rows of C channels:
    // as_channels_last_vertical) share one: column j of the strip is column j % in_cols of plane
    // j / in_cols of the group, so that the lanes are not left idle past a narrow row.
    int const group = kCL ? g.plane_group : 1;
    int64_t const n = kCL ? plane * group : int64_t(n_index);
    int64_t const c = c_index;

    int64_t x_offset, out_offset;
    if constexpr (kPlane) {
      x_offset = plane * (int64_t(Plane::kH) * Plane::kW);
      out_offset = plane * (int64_t(kHo) * kWo);
    } else {
      x_offset = n * p.x_stride_n + c * p.x_stride_c;
      out_offset = n * p.out_stride_n + c * p.out_stride_c;
    }
    Tensor x_plane = make_tensor(make_gmem_ptr(x + x_offset),
                                 make_layout(make_shape(H, in_cols), make_stride(x_row_stride, Int<1>{})));
    Tensor out_plane = make_tensor(make_gmem_ptr(out + out_offset),
                                   make_layout(make_shape(Ho, out_cols), make_stride(out_row_stride, out_col_stride)));

    // Output rows of this tile, and the input rows ("window rows", counted from in_row0) they read.
    int const out_row_begin = segment * g.steps_per_segment * kOutRowsPerStep;
    int const out_row_end = min(int(Ho), out_row_begin + g.steps_per_segment * kOutRowsPerStep);
    int const steps = (out_row_end - out_row_begin + kOutRowsPerStep - 1) / kOutRowsPerStep;
    int const in_row0 = out_row_begin * S - P;
    int const rows_needed = (out_row_end - out_row_begin - 1) * S + (K - 1) * D + 1;
    int const last_stage = (rows_needed - 1) / stage_rows;
    int const out_col0 = g.col_origin + strip * kTileW;
    int const in_col_first = out_col0 * Sw - col_padding;
    int const in_col0 = floor_div(in_col_first, kCopyElems) * kCopyElems;  // cp.async alignment
    int const shift = in_col_first - in_col0;                             // the same for every strip

    // Window rows that are image rows and that the segment needs: the others are zero-filled (the
    // padding) or not wanted. One unsigned compare per copy tests a row, one per column block.
    int const rows_lo = max(0, -in_row0);
    int const rows_count = max(0, min(rows_needed, int(H) - in_row0) - rows_lo);
    auto row_ok = [&](int row) { return unsigned(row - rows_lo) < unsigned(rows_count); };
    auto col_ok = [&](int col) { return unsigned(in_col0 + col) < unsigned(int(in_cols)); };

    // A plane group's copies: each of this thread's column blocks sits in one member plane (the
    // planes' rows are whole copies), at an offset from the group's first plane fixed for the tile.
    // Only channels_last tiles group planes, and their stages have a compile-time shape.
    constexpr int kColBlocks = static_value_or<decltype(size<2>(copy_coords))>(1);
    int64_t member_offset[kColBlocks];
    bool member_ok[kColBlocks];
    if (kCL && group > 1) {
      CUTE_UNROLL
      for (int b = 0; b < kColBlocks; ++b) {
        int const col = int(get<1>(copy_coords(0, 0, b)));
        int const member = col / int(in_cols);
        member_ok[b] = member < group && n + member < p.N;
        member_offset[b] = member * p.x_stride_n + (col - member * int(in_cols));
      }
    }

    auto load_stage = [&](int stage) {
      int const first = stage * stage_rows;
      int const slot = stage % ring_stages;
      Tensor g_stage = make_tensor(x_plane.data() + (int64_t(in_row0 + first) * x_row_stride + in_col0),
                                   make_layout(make_shape(stage_rows, span), make_stride(x_row_stride, Int<1>{})));
      Tensor s_stage = make_tensor(ring.data() + slot * stage_rows * pitch,
                                   make_layout(make_shape(stage_rows, span), make_stride(pitch, Int<1>{})));
      Tensor src = thr_copy.partition_S(g_stage);  // (copy, rows, column blocks)
      Tensor dst = thr_copy.partition_D(s_stage);
      if (kCL && group > 1) {
        CUTE_UNROLL
        for (int m = 0; m < size<1>(src); ++m) {
          int const row = int(get<0>(copy_coords(0, m, 0)));
          bool const in_row = row_ok(first + row);
          CUTE_UNROLL
          for (int b = 0; b < kColBlocks; ++b) {
            Tensor g_copy = make_tensor(g_stage.data() + (int64_t(row) * x_row_stride + member_offset[b]),
                                        Layout<Int<kCopyElems>>{});
            Tensor s_copy = make_tensor(s_stage.data() + (row * pitch + int(get<1>(copy_coords(0, m, b)))),
                                        Layout<Int<kCopyElems>>{});
            copy(CopyAtom{}.with(in_row && member_ok[b]), g_copy, s_copy);
          }
        }
        return;
      }
      CUTE_UNROLL
      for (int m = 0; m < size<1>(src); ++m) {
        bool const in_row = row_ok(first + int(get<0>(copy_coords(0, m, 0))));
        CUTE_UNROLL
        for (int n = 0; n < size<2>(src); ++n) {
          copy(CopyAtom{}.with(in_row && col_ok(int(get<1>(copy_coords(0, m, n))))), src(_, m, n), dst(_, m, n));
        }
      }
      if (shift != 0) {  // a misaligned start reaches one copy past the span
        for (int r = threadIdx.x; r < int(stage_rows); r += Cfg::kThreads) {
          Tensor g_pad = make_tensor(g_stage.data() + (int64_t(r) * x_row_stride + span), Layout<Int<kCopyElems>>{});
          Tensor s_pad = make_tensor(s_stage.data() + (r * pitch + span), Layout<Int<kCopyElems>>{});
          copy(CopyAtom{}.with(row_ok(first + r) && col_ok(int(span))), g_pad, s_pad);
        }
      }
    };

    // Weights and bias of each of this lane's kVec output columns: one channel for the whole tile,
    // or with channels_last the channel of each column.
    constexpr int kTapRegs = kTaps ? Cfg::kK : 1;
    constexpr int kChannelRegs = kCL ? kVec : 1;
    float w_fixed[kChannelRegs][kTapRegs];
    float bias_value[kChannelRegs];
    auto channel_of = [&](int e) -> int64_t { return kCL ? (out_col0 + lane * kVec + e) % p.C : c; };
    if constexpr (kTaps) {
      with_param_pointer(weight, [&](auto const* from) {
        CUTE_UNROLL
        for (int e = 0; e < kChannelRegs; ++e) {
          CUTE_UNROLL
          for (int k = 0; k < Cfg::kK; ++k) {
            w_fixed[e][k] = static_cast<float>(from[channel_of(e) * p.w_stride_c + k * p.w_stride_k]);
          }
        }
      });
    }
    CUTE_UNROLL
    for (int e = 0; e < kChannelRegs; ++e) {
      bias_value[e] = bias ? static_cast<float>(bias[channel_of(e) * p.bias_stride]) : 0.0f;
    }

    int const lane_col = out_col0 + lane * kVec;
    int lane_cols_left = int(out_cols) - lane_col;
    bool whole_vector = g.out_unit_cols != 0 && lane_cols_left >= kVec;
    T* lane_out = &out_plane(0, lane_col);
    if (group > 1) {  // the lane's kVec columns sit in one member plane (the host checks)
      int const member = lane_col / int(out_cols);
      bool const lane_ok = member < group && n + member < p.N;
      lane_out = out + (out_offset + member * p.out_stride_n + (lane_col - member * int(out_cols)));
      lane_cols_left = lane_ok ? kVec : 0;
      whole_vector = lane_ok;
    }

    auto compute_step = [&](int step, auto alignment) {
      constexpr RowAlignment kAlignment = decltype(alignment)::value;
      int const window0 = (step % ring_stages) * stage_rows + warp * kRows * S;
      auto row_values = [&](int window_row, float (&values)[kVec]) {
        int ring_row = window0 + window_row;
        if (ring_row >= ring_rows) ring_row -= ring_rows;
        staging::gather_lane_inputs<T, kVec, kAlignment>(&ring(ring_row, 0), lane, shift, Sw, values);
      };
      float acc[kRows][kVec];
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        CUTE_UNROLL
        for (int e = 0; e < kVec; ++e) acc[r][e] = bias_value[kCL ? e : 0];
      }
      if constexpr (kTaps) {
        // Each window row is read once and feeds every (row, tap) pair that lands on it.
        constexpr int kWindow = (kRows - 1) * Cfg::kStride + (Cfg::kK - 1) * Cfg::kDilation + 1;
        CUTE_UNROLL
        for (int j = 0; j < kWindow; ++j) {
          float values[kVec];
          row_values(j, values);
          CUTE_UNROLL
          for (int r = 0; r < kRows; ++r) {
            CUTE_UNROLL
            for (int k = 0; k < Cfg::kK; ++k) {
              if (r * Cfg::kStride + k * Cfg::kDilation == j) {
                CUTE_UNROLL
                for (int e = 0; e < kVec; ++e) acc[r][e] = fmaf(w_fixed[kCL ? e : 0][k], values[e], acc[r][e]);
              }
            }
          }
        }
      } else {
        for (int k = 0; k < K; ++k) {
          float const w = static_cast<float>(weight[c * p.w_stride_c + k * p.w_stride_k]);
          CUTE_UNROLL
          for (int r = 0; r < kRows; ++r) {
            float values[kVec];
            row_values(r * S + k * D, values);
            CUTE_UNROLL
            for (int e = 0; e < kVec; ++e) acc[r][e] = fmaf(w, values[e], acc[r][e]);
          }
        }
      }
      // One pointer walked down the rows: a 64-bit multiply per row cost more than the store.
      int const out_row0 = out_row_begin + step * kOutRowsPerStep + warp * kRows;
      T* row_out = lane_out + int64_t(out_row0) * out_row_stride;
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        if (out_row0 + r < out_row_end) {
          staging::store_lane_outputs<T, kVec>(row_out, int64_t(out_col_stride), whole_vector, lane_cols_left, acc[r]);
        }
        row_out += out_row_stride;
      }
    };

    // The few columns outside the strips (bias-only padding columns, or a short remainder past the
    // last whole strip) are summed by the first and last strip's blocks, a step's rows at a time,
    // instead of by one more strip of blocks that would stage kTileW columns for them. Their inputs
    // mostly sit in the ring already (the vector staged past a misaligned span); the others come
    // from global memory, where the strip has just brought them into L2. Summed from global memory
    // after the steps, they left a round trip at the end of every tile (c64: 4% slower).
    int const staged_cols = int(span) + (shift != 0 ? kCopyElems : 0);
    auto sum_outside_strips = [&](int step) {
      if constexpr (!kCL) {
        int const row_begin = out_row_begin + step * kOutRowsPerStep;
        int const rows = min(kOutRowsPerStep, out_row_end - row_begin);
        int const slot_row0 = (step % ring_stages) * stage_rows;  // the step's first window row
        auto sum_run = [&](int col_begin, cutlass::FastDivmod const& col_count) {
          int const count = rows * col_count.divisor;
          for (int i = threadIdx.x; i < count; i += Cfg::kThreads) {
            int r, col_in_run;
            col_count(r, col_in_run, i);
            int const col = col_begin + col_in_run;
            int const in_col = col * Sw - col_padding;
            int const ring_col = in_col - in_col0;
            float acc = bias_value[0];
            if (unsigned(in_col) < unsigned(int(in_cols))) {
              auto tap_weight = [&](int k) {
                if constexpr (kTaps) {
                  return w_fixed[0][k];
                } else {
                  return static_cast<float>(weight[c * p.w_stride_c + k * p.w_stride_k]);
                }
              };
              if (unsigned(ring_col) < unsigned(staged_cols)) {
                // Rows outside the image are staged as zeros, as they are for the strip.
                CUTE_UNROLL
                for (int k = 0; k < K; ++k) {
                  int ring_row = slot_row0 + r * S + k * D;
                  if (ring_row >= ring_rows) ring_row -= ring_rows;
                  acc = fmaf(tap_weight(k), static_cast<float>(ring(ring_row, ring_col)), acc);
                }
              } else {
                T const* const x_col = &x_plane(0, in_col);
                int const in_row0_of_row = (row_begin + r) * S - P;
                CUTE_UNROLL
                for (int k = 0; k < K; ++k) {
                  int const in_row = in_row0_of_row + k * D;
                  if (unsigned(in_row) < unsigned(int(H))) {
                    acc = fmaf(tap_weight(k), static_cast<float>(x_col[int64_t(in_row) * x_row_stride]), acc);
                  }
                }
              }
            }
            out_plane(row_begin + r, col) = static_cast<T>(acc);
          }
        };
        if (strip == 0 && g.col_origin > 0) sum_run(0, g.head_cols);
        int const past_strips = g.col_origin + g.strips * kTileW;
        if (strip == g.strips - 1 && past_strips < int(out_cols)) sum_run(past_strips, g.tail_cols);
      }
    };

    // Pipeline: stage s holds window rows [s*stage_rows, (s+1)*stage_rows). Step t reads stages
    // t .. t+halo_stages while stages up to t+halo_stages+kStagesAhead are in flight; one commit
    // group per stage (empty past the last) keeps cp_async_wait's count fixed.
    for (int s = 0; s < halo_stages + Cfg::kStagesAhead; ++s) {
      if (s <= last_stage) load_stage(s);
      staging::commit_stage();
    }
    for (int step = 0; step < steps; ++step) {
      int const ahead = step + halo_stages + Cfg::kStagesAhead;
      if (ahead <= last_stage) load_stage(ahead);  // into the slot step-1 has finished with
      staging::commit_stage();
      staging::wait_stage<Cfg::kStagesAhead>();
      if constexpr (is_static<std::remove_cv_t<decltype(Sw)>>::value) {
        staging::with_row_alignment<T>(g.row_alignment, [&](auto alignment) { compute_step(step, alignment); });
      } else {  // element-wise reads handle any shift
        compute_step(step, std::integral_constant<RowAlignment, RowAlignment::kWords16>{});
      }
      sum_outside_strips(step);
      __syncthreads();
    }

  }
}

// Which output columns the strips cover. sums_apart: whether the kernel may sum columns outside the
// strips from global memory (NCHW rows; a channels_last row interleaves channels, so it may not).
struct StripPlan {
  int64_t origin;  // first output column of the first strip
  int64_t strips;
};

// Strips start at column 0, and a remainder past the last whole strip is summed apart by that
// strip's blocks (see sum_outside_strips) rather than given a strip of its own (which costs as much
// as a full one) while it is a few loads per row. Measured when those sums were a dependent load
// chain per element after the steps: 2 columns x 3 taps (K=3, padding 1) gained 7%; 12 x 13 and
// 20 x 21 lost 14% and 2x.
//
// Column padding puts bias-only columns at both ends of a row (they read no input). Starting the
// strips at the first column that does read the image takes them out of the strips, which can save
// one: K=21 with padding 10 has 148 columns, 20 of them bias-only, so 128 real ones fit one strip
// instead of two. The shifted start costs the stores their 16-byte alignment unless the padding is
// a whole vector: 8-byte pairs cost about a quarter more than 16-byte stores (K=7 d=2 p=6 went from
// 5 strips to 4 and still lost 10%), element-wise stores far more than a strip. So it is taken
// where it saves more strips than that, and never below 8-byte alignment.
inline StripPlan plan_strips(int64_t out_cols, int64_t in_cols, int64_t col_padding, int64_t stride,
                             int64_t reach, int64_t tile_w, int element_bytes, bool sums_apart,
                             bool may_start_later) {
  constexpr int64_t kTailLoadsPerRow = 8;
  // Strips over [origin, end); real_end: the end of the columns that read the image.
  auto plan = [&](int64_t origin, int64_t end, int64_t real_end) {
    int64_t const whole = (end - origin) / tile_w;
    int64_t const remainder_real = real_end - (origin + whole * tile_w);
    int64_t strips = (end - origin + tile_w - 1) / tile_w;
    if (whole >= 1 && remainder_real * reach <= kTailLoadsPerRow) strips = whole;
    return StripPlan{origin, strips};
  };
  // Output column c reads input column c*stride - col_padding.
  int64_t const first_real = col_padding > 0 ? (col_padding + stride - 1) / stride : 0;
  int64_t last_real = (in_cols - 1 + col_padding) / stride;
  if (last_real > out_cols - 1) last_real = out_cols - 1;
  StripPlan const from_zero =
      sums_apart ? plan(0, out_cols, last_real + 1) : StripPlan{0, (out_cols + tile_w - 1) / tile_w};
  if (!sums_apart || !may_start_later || first_real == 0 || last_real < first_real || (first_real * element_bytes) % 8 != 0) {
    return from_zero;
  }
  StripPlan const from_first_real = plan(first_real, last_real + 1, last_real + 1);
  int64_t const store_cost = (first_real * element_bytes) % 16 == 0 ? 4 : 5;  // quarters, per strip
  return from_first_real.strips * store_cost < from_zero.strips * 4 ? from_first_real : from_zero;
}

}  // namespace tiled

template <class Cfg>
LaunchStatus launch_fwd_tiled(FwdParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;  // window and column arithmetic stays in int

  constexpr bool kCL = Cfg::kChannelsLast;
  // The row a tile stages: W columns (NCHW), or W*C interleaved channels (channels_last).
  int64_t const in_cols = kCL ? p.W * p.C : p.W;
  int64_t const out_cols = kCL ? p.Wo * p.C : p.Wo;
  int64_t const planes = kCL ? p.N : p.N * p.C;
  // channels_last rows interleave W positions of C channels; a row of one position (a (1, K)
  // call's image row) may be a channel slice of wider pixels.
  bool const layout_ok = kCL ? p.x_stride_c == 1 && (p.W == 1 || p.x_stride_w == p.C) && p.out_stride_c == 1 &&
                                   (p.Wo == 1 || p.out_stride_w == p.C) && p.stride_h == 1 && p.stride_w == 1
                             : p.x_stride_w == 1;
  // 16-byte copies need 16-byte aligned rows; 8-byte copies take rows that are only 8-byte aligned.
  auto rows_aligned_to = [&](int64_t elements, uintptr_t bytes) {
    return layout_ok && (kCL || p.x_stride_c % elements == 0) && in_cols % elements == 0 &&
           p.x_stride_h % elements == 0 && p.x_stride_n % elements == 0 && reinterpret_cast<uintptr_t>(p.x) % bytes == 0;
  };
  constexpr int kCopyVec = Cfg::kCopyVec;
  int const copy_bytes = rows_aligned_to(kCopyVec, 16) ? 16 : rows_aligned_to(kCopyVec / 2, 8) ? 8 : 0;
  bool const aligned_rows = copy_bytes != 0;
  int64_t const reach = (p.kernel_size - 1) * p.dilation + 1;
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  bool const small_coords = p.H < kCoordLimit && in_cols < kCoordLimit && magnitude(p.padding_h) < kCoordLimit &&
                            magnitude(p.padding_w) * (kCL ? p.C : 1) < kCoordLimit &&
                            reach < kCoordLimit && (p.Ho + Cfg::kOutRowsPerStep) * p.stride_h < kCoordLimit &&
                            (out_cols + Cfg::kTileW) * p.stride_w < kCoordLimit;
  if (!aligned_rows || !small_coords) return LaunchStatus::kUnsupported;

  int const stride = int(p.stride_h);
  int const stage_rows = Cfg::kOutRowsPerStep * stride;
  int64_t const halo_rows = reach - stride > 0 ? reach - stride : 0;
  int64_t const halo_stages = (halo_rows + stage_rows - 1) / stage_rows;
  int64_t const ring_stages = 1 + halo_stages + Cfg::kStagesAhead;
  int64_t const pitch = int64_t(Cfg::kTileW) * p.stride_w + kCopyVec;
  int64_t const smem_bytes = ring_stages * stage_rows * pitch * int64_t(sizeof(T));
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;

  auto* kernel = &tiled::fwd_tiled_kernel<Cfg, 16>;
  int registers = 0;
  if constexpr (Cfg::Plane::kStatic) {
    if (copy_bytes != 16) return LaunchStatus::kUnsupported;  // its planes are whole 16-byte rows
  }
  if (copy_bytes == 16) {
    registers = KernelAttributes<&tiled::fwd_tiled_kernel<Cfg, 16>>::registers_if_launchable(p.device, int(smem_bytes));
  } else if constexpr (!Cfg::Plane::kStatic) {
    kernel = &tiled::fwd_tiled_kernel<Cfg, 8>;
    registers = KernelAttributes<&tiled::fwd_tiled_kernel<Cfg, 8>>::registers_if_launchable(p.device, int(smem_bytes));
  }
  if (registers == 0) return LaunchStatus::kUnsupported;
  int const blocks_per_sm = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_bytes));

  tiled::Geometry g{};
  int64_t const col_padding = kCL ? p.padding_w * p.C : p.padding_w;
  tiled::StripPlan const strips = tiled::plan_strips(out_cols, in_cols, col_padding, p.stride_w, reach,
                                                     Cfg::kTileW, int(sizeof(T)), !kCL,
                                                     plan::tiling_policy().strip_origin == 1);
  g.strips = int(strips.strips);
  g.col_origin = int(strips.origin);
  g.halo_stages = int(halo_stages);
  g.ring_stages = int(ring_stages);
  g.out_unit_cols = kCL || p.out_stride_w == 1;
  // channels_last planes of at most half a strip's columns share strips, whole planes each (see the
  // kernel): rows without column padding, every lane's columns in one plane.
  bool const narrow_planes = kCL && 2 * in_cols <= Cfg::kTileW && in_cols == out_cols && p.padding_w == 0 &&
                             in_cols % Cfg::kVec == 0;
  g.plane_group = narrow_planes ? int(Cfg::kTileW / in_cols) : 1;
  // Every strip's staged rows start the same number of elements past a copy-width boundary.
  int64_t const copy_elems = copy_bytes / int64_t(sizeof(T));
  int64_t const first_in_col = strips.origin * p.stride_w - col_padding;
  int64_t const shift = (first_in_col % copy_elems + copy_elems) % copy_elems;
  g.row_alignment = int(staging::row_alignment(int(shift * int64_t(sizeof(T)))));
  int const steps_total = int((p.Ho + Cfg::kOutRowsPerStep - 1) / Cfg::kOutRowsPerStep);
  int64_t const columns = (planes + g.plane_group - 1) / g.plane_group * g.strips;
  // A segment re-reads the halo rows of the one above it (mostly from L2: its neighbour runs at the
  // same time). One halo long is enough: more, shorter tiles beat fewer re-reads on long kernels
  // (K=21 on 128-row planes: 0.087 ms with four halos, 0.064 with one; the others unchanged).
  plan::TilingPolicy const& policy = plan::tiling_policy();
  int64_t const halo_steps = (policy.min_segment_halos * halo_rows + stage_rows - 1) / stage_rows;
  int64_t min_steps = halo_steps > policy.min_segment_steps ? halo_steps : policy.min_segment_steps;
  // Strided steps stage few output rows, and a halo of half a stage or more is re-read by every
  // segment: both want segments twice as long (H200, NOTES variant 46: stride 2 77% -> 82% of the
  // floor, K=7 d=2 86% -> 90%; the stride-1 short-halo cases keep two steps, which they need).
  if (stride > 1 || 2 * halo_rows >= stage_rows) {
    min_steps = min_steps > 2 * policy.min_segment_steps ? min_steps : 2 * policy.min_segment_steps;
  }
  // channels_last strips make many columns of tiles already (W·C / kTileW per image), and a tile's
  // preamble (each lane's K x 4 weights, the prologue's copies) weighs on two-step segments: where
  // the columns alone fill the GPU, segments of at least 256 rows (NOTES variant 84, on
  // 256-row images: bf16 (7, 1) 61% -> 78% of the copy floor, float32 (21, 1) 70% -> 82%, float32
  // (7, 1) unchanged).
  int64_t const resident_blocks = int64_t(blocks_per_sm) * limits.multiprocessors;
  constexpr int64_t kChannelsLastMinSteps = 256 / Cfg::kOutRowsPerStep;
  if (kCL && columns >= resident_blocks && min_steps < kChannelsLastMinSteps) min_steps = kChannelsLastMinSteps;
  plan::RowSegments const split = plan::split_rows(steps_total, columns, resident_blocks, min_steps, plan::tiling_policy().waves);
  g.steps_per_segment = split.steps_per_segment;
  g.segments = split.segments;
  g.tiles = columns * g.segments;
  // Tile, plane and column indices are divided as 32-bit ints. Only a tensor of over 2^31 tiny
  // planes could exceed that; the direct path takes it.
  constexpr int64_t kIndexLimit = int64_t(1) << 31;
  if (g.tiles >= kIndexLimit) return LaunchStatus::kUnsupported;
  int64_t const tail_cols = out_cols - (strips.origin + strips.strips * Cfg::kTileW);
  g.tiles_in_plane = cutlass::FastDivmod(g.strips * g.segments);
  g.segment_count = cutlass::FastDivmod(g.segments);
  g.channel_count = cutlass::FastDivmod(kCL ? 1 : int(p.C));
  g.head_cols = cutlass::FastDivmod(g.col_origin > 0 ? g.col_origin : 1);
  g.tail_cols = cutlass::FastDivmod(tail_cols > 0 ? int(tail_cols) : 1);

  dim3 const grid(unsigned(g.tiles));
  kernel<<<grid, Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
