// (K, 1) forward of channels_last inputs on the FP32 lanes. An image's row is W * C interleaved
// channels, so down the rows every column is one channel's (K, 1) convolution, with that channel's
// taps. A block walks a strip of kTileW columns down a segment of rows of one image (or of a few
// narrow planes side by side: a (1, K) call's image rows, see as_channels_last_vertical): stage j
// holds the 16 input rows under output rows 16 j.. of the segment, a step computes 16 output rows
// from the stages its window spans, and the ring holds those plus the stages in flight. Each lane
// owns kVec adjacent columns (4 bytes) and all 16 rows of a step, with its columns' taps in
// registers, so that every staged row it reads sits at a compile-time offset from its stage.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "dwconv_params.h"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"
#include "kernels/staging/lane_io.cuh"
#include "kernels/staging/row_ring.cuh"
#include "kernels/tile_config.h"
#include "plan/tiling.h"

namespace cute_dwconv {
namespace channels_last_columns {

// Host-planned split of the output into block tiles; see launch_fwd_channels_last_columns.
struct Geometry {
  int in_cols;            // W * C: the columns of a staged row
  int out_cols;           // Wo * C
  int col_padding;        // padding_w * C, a whole number of copy chunks
  int group;              // planes side by side in one strip (1: a plane's rows span strips)
  int steps_per_segment;  // steps (16 output rows each) per tile
  int pair_stores;        // a lane's two 16-bit outputs may go as one 4-byte store
  int64_t tiles;          // plane groups * strips * segments, below 2^31
  cutlass::FastDivmod tiles_in_group;  // tile -> (plane group, strip * segments + segment)
  cutlass::FastDivmod segment_count;   // -> (strip, segment)
};

// Two float32 values rounded to 16 bits as one word (the first in the low half), in one instruction.
template <class T>
CUTE_DEVICE uint32_t round_pair(float low, float high) {
  uint32_t word;
  if constexpr (std::is_same_v<T, cutlass::bfloat16_t>) {
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(word) : "f"(high), "f"(low));
  } else {
    static_assert(std::is_same_v<T, cutlass::half_t>, "16-bit elements are bfloat16 or float16");
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(word) : "f"(high), "f"(low));
  }
  return word;
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads)
    fwd_channels_last_columns_kernel(FwdParams const p, Geometry const g) {
  using T = typename Cfg::Element;
  constexpr int kVec = Cfg::kVec;
  constexpr int kStepRows = Cfg::kStepRows;
  constexpr int kTileW = Cfg::kTileW;
  constexpr int kCopyElems = Cfg::kCopyElems;
  constexpr int kChunks = kTileW / kCopyElems;           // copy chunks a staged row
  constexpr int kRowsPerPass = Cfg::kThreads / kChunks;  // rows the block's copies cover at once
  static_assert(Cfg::kThreads % kChunks == 0 && kStepRows % kRowsPerPass == 0,
                "every thread copies one chunk column of every kRowsPerPass-th row");
  using Atom = staging::StageCopyAtom<T, 16>;

  extern __shared__ __align__(128) unsigned char smem_bytes[];
  T* const ring = reinterpret_cast<T*>(smem_bytes);
  int const H = int(p.H), Ho = int(p.Ho), C = int(p.C);
  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};
  int const copy_chunk = int(threadIdx.x) % kChunks;
  int const copy_row = int(threadIdx.x) / kChunks;
  int const lane_col = int(threadIdx.x) * kVec;  // the warps side by side along the strip

  for (int64_t tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
    int group_index, in_group, strip, segment;
    g.tiles_in_group(group_index, in_group, int(tile));
    g.segment_count(strip, segment, in_group);
    int64_t const plane0 = int64_t(group_index) * g.group;
    int const strip_col0 = strip * kTileW;
    int const out_row_begin = segment * g.steps_per_segment * kStepRows;
    int const out_row_end = min(Ho, out_row_begin + g.steps_per_segment * kStepRows);
    int const steps = (out_row_end - out_row_begin + kStepRows - 1) / kStepRows;
    int const stages = steps + Cfg::kStagesRead - 1;
    int const in_row0 = out_row_begin - int(p.padding_h);

    // This thread's copy chunk: in plane `member` of the group (grouped planes are whole chunks
    // wide and unpadded), zero-filled past the planes, the image or the group.
    int const chunk_col = strip_col0 + copy_chunk * kCopyElems;
    int const copy_member = g.group > 1 ? chunk_col / g.in_cols : 0;
    int const in_col = chunk_col - copy_member * g.in_cols - g.col_padding;
    bool const chunk_inside =
        copy_member < g.group && plane0 + copy_member < p.N && unsigned(in_col) < unsigned(g.in_cols);
    T const* const chunk_src = chunk_inside ? x + ((plane0 + copy_member) * p.x_stride_n + in_col) : x;
    T* const chunk_dst = ring + copy_row * kTileW + copy_chunk * kCopyElems;

    auto load_stage = [&](int stage) {
      T* dst = chunk_dst + (stage % Cfg::kRingStages) * Cfg::kStageElems;
      int row = in_row0 + stage * kStepRows + copy_row;
      CUTE_UNROLL
      for (int i = 0; i < kStepRows / kRowsPerPass; ++i) {
        bool const inside = chunk_inside && unsigned(row) < unsigned(H);
        T const* const src = inside ? chunk_src + int64_t(row) * p.x_stride_h : x;
        cute::copy(Atom{}.with(inside), cute::make_tensor(cute::make_gmem_ptr(src), cute::Layout<cute::Int<kCopyElems>>{}),
                   cute::make_tensor(cute::make_smem_ptr(dst), cute::Layout<cute::Int<kCopyElems>>{}));
        row += kRowsPerPass;
        dst += kRowsPerPass * kTileW;
      }
    };
    constexpr int kAhead = Cfg::kStagesRead - 1 + Cfg::kStagesAhead;  // stages in flight before step 0
    for (int s = 0; s < kAhead; ++s) {
      if (s < stages) load_stage(s);
      staging::commit_stage();
    }

    // This lane's output columns, their channels' taps and bias, while the first stages fly.
    int const lane_out_col = strip_col0 + lane_col;
    int const out_member = g.group > 1 ? lane_out_col / g.out_cols : 0;
    int const out_col = lane_out_col - out_member * g.out_cols;
    int const cols_left = out_member < g.group && plane0 + out_member < p.N ? g.out_cols - out_col : 0;
    T* const lane_out = out + ((plane0 + out_member) * p.out_stride_n + out_col);
    int channel[kVec];
    channel[0] = out_col % C;
    CUTE_UNROLL
    for (int e = 1; e < kVec; ++e) channel[e] = channel[e - 1] + 1 == C ? 0 : channel[e - 1] + 1;
    float taps[kVec][Cfg::kK];
    float bias_value[kVec];
    with_param_pointer(weight, [&](auto const* w) {
      CUTE_UNROLL
      for (int e = 0; e < kVec; ++e) {
        CUTE_UNROLL
        for (int k = 0; k < Cfg::kK; ++k) {
          taps[e][k] = static_cast<float>(w[int64_t(channel[e]) * p.w_stride_c + int64_t(k) * p.w_stride_k]);
        }
      }
    });
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) bias_value[e] = bias ? static_cast<float>(bias[channel[e] * p.bias_stride]) : 0.0f;

    // A lane whose columns are all in the row stores them as one word (16-bit pairs at even columns).
    bool const whole_lane = cols_left >= kVec && (kVec == 1 || g.pair_stores != 0);
    auto store_whole = [&](T* dst, float const (&values)[kVec]) {
      if constexpr (kVec == 2) {
        *reinterpret_cast<uint32_t*>(dst) = round_pair<T>(values[0], values[1]);
      } else {
        *dst = static_cast<T>(values[0]);
      }
    };

    int slot = 0;  // the ring slot of the step's first stage
    for (int step = 0; step < steps; ++step) {
      if (step + kAhead < stages) load_stage(step + kAhead);  // into the slot step - 1 has finished with
      staging::commit_stage();
      staging::wait_stage<Cfg::kStagesAhead>();

      T const* stage_of[Cfg::kStagesRead];
      CUTE_UNROLL
      for (int i = 0; i < Cfg::kStagesRead; ++i) {
        int const s = slot + i < Cfg::kRingStages ? slot + i : slot + i - Cfg::kRingStages;
        stage_of[i] = ring + s * Cfg::kStageElems + lane_col;
      }
      float acc[kStepRows][kVec];
      CUTE_UNROLL
      for (int r = 0; r < kStepRows; ++r) {
        CUTE_UNROLL
        for (int e = 0; e < kVec; ++e) acc[r][e] = bias_value[e];
      }
      // Window row j is read once and feeds every output row r whose tap (j - r) / dilation it is.
      CUTE_UNROLL
      for (int j = 0; j < Cfg::kWindowRows; ++j) {
        float values[kVec];
        staging::load_elements<T, kVec, staging::RowAlignment::kWords4>(
            stage_of[j / kStepRows] + (j % kStepRows) * kTileW, values);
        CUTE_UNROLL
        for (int r = 0; r < kStepRows; ++r) {
          constexpr int kD = Cfg::kDilation;
          int const t = j - r;
          if (t >= 0 && t % kD == 0 && t / kD < Cfg::kK) {
            CUTE_UNROLL
            for (int e = 0; e < kVec; ++e) acc[r][e] = fmaf(taps[e][t / kD], values[e], acc[r][e]);
          }
        }
      }

      int const row0 = out_row_begin + step * kStepRows;
      int const rows = min(kStepRows, out_row_end - row0);
      T* row_out = lane_out + int64_t(row0) * p.out_stride_h;
      if (whole_lane && rows == kStepRows) {
        CUTE_UNROLL
        for (int r = 0; r < kStepRows; ++r) {
          store_whole(row_out, acc[r]);
          row_out += p.out_stride_h;
        }
      } else if (cols_left > 0) {
        CUTE_UNROLL
        for (int r = 0; r < kStepRows; ++r) {
          if (r < rows) {
            CUTE_UNROLL
            for (int e = 0; e < kVec; ++e) {
              if (e < cols_left) row_out[e] = static_cast<T>(acc[r][e]);
            }
          }
          row_out += p.out_stride_h;
        }
      }
      slot = slot + 1 == Cfg::kRingStages ? 0 : slot + 1;
      __syncthreads();
    }
  }
}

}  // namespace channels_last_columns

template <class Cfg>
LaunchStatus launch_fwd_channels_last_columns(FwdParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;  // row and column arithmetic stays in int
  if (p.axis != TapAxis::kHeight || p.kernel_size != Cfg::kK || p.dilation != Cfg::kDilation || p.stride_h != 1 ||
      p.stride_w != 1) {
    return LaunchStatus::kUnsupported;
  }
  bool const layout_ok = p.x_stride_c == 1 && (p.W == 1 || p.x_stride_w == p.C) && p.out_stride_c == 1 &&
                         (p.Wo == 1 || p.out_stride_w == p.C);
  int64_t const in_cols = p.W * p.C;
  int64_t const out_cols = p.Wo * p.C;
  int64_t const col_padding = p.padding_w * p.C;
  // 16-byte copies whose chunks are each inside the row or outside it.
  if (!layout_ok || staging::stage_copy_bytes<T>(p.x, in_cols, p.x_stride_h, p.x_stride_n) != 16 ||
      col_padding % Cfg::kCopyElems != 0) {
    return LaunchStatus::kUnsupported;
  }
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  bool const small_coords = p.H < kCoordLimit && in_cols < kCoordLimit && magnitude(col_padding) < kCoordLimit &&
                            magnitude(p.padding_h) < kCoordLimit && p.C < kCoordLimit &&
                            p.Ho + Cfg::kStepRows * (Cfg::kStagesRead + 1) < kCoordLimit &&
                            out_cols + Cfg::kTileW < kCoordLimit;
  if (!small_coords) return LaunchStatus::kUnsupported;

  int64_t const smem_bytes = int64_t(Cfg::kRingStages) * Cfg::kStageElems * int64_t(sizeof(T));
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;
  auto* kernel = &channels_last_columns::fwd_channels_last_columns_kernel<Cfg>;
  int const registers = KernelAttributes<&channels_last_columns::fwd_channels_last_columns_kernel<Cfg>>::
      registers_if_launchable(p.device, int(smem_bytes));
  if (registers == 0) return LaunchStatus::kUnsupported;
  int const blocks_per_sm = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_bytes));

  channels_last_columns::Geometry g{};
  g.in_cols = int(in_cols);
  g.out_cols = int(out_cols);
  g.col_padding = int(col_padding);
  // Planes of at most half a strip (a (1, K) call's image rows of C channels) share strips, so that
  // a strip's lanes are not left idle past a narrow row.
  bool const narrow_planes =
      2 * in_cols <= Cfg::kTileW && in_cols == out_cols && col_padding == 0 && in_cols % Cfg::kCopyElems == 0;
  g.group = narrow_planes ? int(Cfg::kTileW / in_cols) : 1;
  g.pair_stores = reinterpret_cast<uintptr_t>(p.out) % 4 == 0 && p.out_stride_h % 2 == 0 && p.out_stride_n % 2 == 0;
  int64_t const strips = (g.group * out_cols + Cfg::kTileW - 1) / Cfg::kTileW;
  int64_t const columns = (p.N + g.group - 1) / g.group * strips;
  int64_t const steps_total = (p.Ho + Cfg::kStepRows - 1) / Cfg::kStepRows;
  plan::TilingPolicy const& policy = plan::tiling_policy();
  // A segment re-stages the kStagesRead - 1 stages under the end of the one above it: segments of
  // four times that many steps (bf16 (21, 1) on 16x64x256x256: 0.122 ms with two-step segments, 0.114
  // with eight; NOTES.md, variant 131).
  int64_t const min_steps = 4 * (Cfg::kStagesRead - 1) > policy.min_segment_steps ? 4 * (Cfg::kStagesRead - 1)
                                                                                    : policy.min_segment_steps;
  plan::RowSegments const split = plan::split_rows(steps_total, columns, int64_t(blocks_per_sm) * limits.multiprocessors,
                                                   min_steps, policy.horizontal_waves);
  g.steps_per_segment = split.steps_per_segment;
  g.tiles = columns * split.segments;
  constexpr int64_t kIndexLimit = int64_t(1) << 31;  // tiles are divided as ints
  if (g.tiles >= kIndexLimit) return LaunchStatus::kUnsupported;
  g.tiles_in_group = cutlass::FastDivmod(int(strips * split.segments));
  g.segment_count = cutlass::FastDivmod(split.segments);

  kernel<<<dim3(unsigned(g.tiles)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
