// Horizontal tiled forward kernel, for (1, K) kernels: taps along the width, the contiguous axis.
// Each block walks a strip of output columns down a segment of output rows of one (n, c) plane.
// The input row under each output row (with the halo the padding and dilation add at both ends)
// streams through the shared-memory ring; each lane reads the window under its kVec output
// columns once into registers and slides the taps across it. 16-bit rows at column stride 1 can take
// the tensor cores instead (HorizontalMmaConfig): a warp's row is blocks of 16 x 8 outputs, each the
// product of 16 staged 16-byte runs (ldmatrix) with the row's band matrix, which the lane builds once
// per tile; the FP32 lanes spend most of their instructions on 16-bit conversions and loads there
// (profiling/NOTES.md, variant 114).
#pragma once

#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/band_mma.cuh"
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
namespace horizontal {

// Host-planned split of the output into block tiles; see launch_fwd_horizontal.
struct Geometry {
  int strips;             // strips of kTileW output columns per row
  int steps_per_segment;  // pipeline steps (kStepRows output rows each) per segment
  int chunks;             // copy chunks per staged row
  int pitch;              // elements per staged row in shared memory
  int reach;              // input columns one output column's taps span: (K-1)*dilation + 1
  int out_unit_cols;      // out rows have unit column stride
  int row_alignment;      // RowAlignment of every lane's window start
  int band_steps;         // tensor cores: 16-deep band steps a block's outputs reach
  int pair_stores;        // tensor cores: out takes 32-bit stores of two outputs at even columns
  int64_t tiles;          // planes * strips * segments, below 2^31
  cutlass::FastDivmod tiles_in_plane;  // tile -> (plane, strip * segments + segment)
  cutlass::FastDivmod segment_count;   // -> (strip, segment)
  cutlass::FastDivmod channel_count;   // plane -> (n, c)
  cutlass::FastDivmod dilation;        // tensor cores: band offset -> tap
};

// The deepest band a configuration's lanes hold B fragments for (none but on tensor cores).
template <class Cfg>
constexpr int band_steps() {
  if constexpr (Cfg::kTensorCores) {
    return Cfg::kKSteps;
  } else {
    return 1;
  }
}

// Blocks per SM the kernel's registers must leave room for (0: as the compiler likes). The tensor-core
// tiles fit 7, 6 or 5 blocks without spilling by the band registers a lane holds; left alone ptxas
// gave some of them one block fewer (NOTES.md, variant 123).
template <class Cfg>
constexpr int min_blocks_per_sm() {
  if constexpr (Cfg::kTensorCores) {
    constexpr int kBandRegisters = 2 * Cfg::kKSteps * (Cfg::kSplit ? 2 : 1);
    return kBandRegisters <= 8 ? 7 : kBandRegisters <= 16 ? 6 : 5;
  } else {
    return 0;
  }
}

template <class Cfg, int kCopyBytes>
__global__ void __launch_bounds__(Cfg::kThreads, min_blocks_per_sm<Cfg>())
    fwd_horizontal_kernel(FwdParams const p, Geometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  constexpr int kVec = Cfg::kVec;
  constexpr int kLanes = Cfg::kLanes;
  constexpr int kRows = Cfg::kRowsPerThread;
  constexpr int kStepRows = Cfg::kStepRows;
  constexpr int kTileW = Cfg::kTileW;
  constexpr bool kTaps = Cfg::kStaticTaps;
  constexpr int kCopyElems = kCopyBytes / int(sizeof(T));
  using Atom = staging::StageCopyAtom<T, kCopyBytes>;

  auto const K = fixed_or<kTaps, Cfg::kK>(int(p.kernel_size));
  auto const Sw = fixed_or<kTaps, Cfg::kStride>(int(p.stride_w));
  auto const D = fixed_or<kTaps, Cfg::kDilation>(int(p.dilation));
  auto const chunks = fixed_or<kTaps, Cfg::chunks(kCopyElems)>(g.chunks);
  auto const pitch = fixed_or<kTaps, Cfg::pitch(kCopyElems)>(g.pitch);
  int const Sh = int(p.stride_h);
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);

  extern __shared__ __align__(128) unsigned char smem_bytes[];
  T* const ring = reinterpret_cast<T*>(smem_bytes);

  int const warp = threadIdx.x / kLanes;
  int const lane = threadIdx.x % kLanes;
  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};
  staging::RowShare const share = staging::share_rows<Cfg::kThreads>(int(chunks));

  for (int64_t tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
    int plane, in_plane, strip, segment, n, c;
    g.tiles_in_plane(plane, in_plane, int(tile));
    g.segment_count(strip, segment, in_plane);
    g.channel_count(n, c, plane);
    T const* const x_plane = x + (int64_t(n) * p.x_stride_n + int64_t(c) * p.x_stride_c);
    Tensor out_plane = make_tensor(make_gmem_ptr(out + (int64_t(n) * p.out_stride_n + int64_t(c) * p.out_stride_c)),
                                   make_layout(make_shape(Ho, Wo), make_stride(p.out_stride_h, p.out_stride_w)));

    int const out_row_begin = segment * g.steps_per_segment * kStepRows;
    int const out_row_end = min(Ho, out_row_begin + g.steps_per_segment * kStepRows);
    int const steps = (out_row_end - out_row_begin + kStepRows - 1) / kStepRows;
    int const out_col0 = strip * kTileW;
    int const in_col_first = out_col0 * Sw - int(p.padding_w);
    int const in_col0 = floor_div(in_col_first, kCopyElems) * kCopyElems;  // cp.async alignment
    int const shift = in_col_first - in_col0;                             // the same for every strip
    int const word_offset = (shift * int(sizeof(T)) / 4) % 4;  // every lane's window's, past a quad
    // Lanes with columns in this strip, and the chunks their windows (and the element past them
    // that 16-bit reads touch) reach: the rest of the row is neither copied nor read.
    int const strip_cols = min(kTileW, Wo - out_col0);
    int const wanted_chunks = [&] {
      if constexpr (Cfg::kTensorCores) {  // what the A blocks of the m-tiles with outputs read
        int const m_tiles = (strip_cols + Cfg::kMTileCols - 1) / Cfg::kMTileCols;
        return min(int(chunks), (m_tiles * Cfg::kMTileCols - 8 + 16 * g.band_steps + kCopyElems - 1) / kCopyElems);
      } else {
        int const lanes_used = (strip_cols + kVec - 1) / kVec;
        return min(int(chunks), (shift + (lanes_used * kVec - 1) * Sw + g.reach + 1 + kCopyElems - 1) / kCopyElems);
      }
    }();

    // Stage s holds the input rows under output rows out_row_begin + s*kStepRows + [0, kStepRows):
    // kStepRows rows Sh input rows apart, zero-filled above and below the image and past its ends.
    auto load_stage = [&](int stage) {
      int const first_out_row = out_row_begin + stage * kStepRows;
      staging::RowSource<T> const rows{x_plane, p.x_stride_h, first_out_row * Sh - int(p.padding_h), Sh, H, in_col0, W};
      staging::copy_rows<Atom, kCopyElems>(share, rows, 0, min(kStepRows, out_row_end - first_out_row), wanted_chunks,
                                           ring + (stage % Cfg::kRingStages) * kStepRows * pitch, pitch);
    };

    constexpr int kTapRegs = kTaps ? Cfg::kK : 1;
    float w_fixed[kTapRegs];
    if constexpr (kTaps) load_taps(weight, c * p.w_stride_c, p.w_stride_k, w_fixed);
    float const bias_value = bias ? static_cast<float>(bias[c * p.bias_stride]) : 0.0f;
    int const lane_col = out_col0 + lane * kVec;
    int const lane_cols_left = Wo - lane_col;
    bool const whole_vector = g.out_unit_cols != 0 && lane_cols_left >= kVec;
    constexpr int kBandSteps = band_steps<Cfg>();
    uint32_t band_head[kBandSteps][2], band_tail[kBandSteps][2];

    auto compute_step = [&](int step, auto alignment) {
      int const slot_row0 = (step % Cfg::kRingStages) * kStepRows + warp * kRows;
      int const out_row0 = out_row_begin + step * kStepRows + warp * kRows;
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        if (out_row0 + r >= out_row_end) break;
        T const* const window = ring + (slot_row0 + r) * pitch + shift + lane * kVec * Sw;
        float acc[kVec];
        CUTE_UNROLL
        for (int e = 0; e < kVec; ++e) acc[e] = bias_value;
        if constexpr (kTaps) {
          float values[Cfg::kWindow];
          // float32 only: 16-bit windows paid for the word selects (bf16 (1, 21) 0.107 -> 0.112 ms); 8-byte
          // chunks could leave a quad's other half uncopied.
          if constexpr (kCopyBytes == 16 && sizeof(T) == 4) {
            staging::load_window<T, Cfg::kWindow, decltype(alignment)::value>(window, word_offset, values);
          } else {
            staging::load_elements<T, Cfg::kWindow, decltype(alignment)::value>(window, values);
          }
          CUTE_UNROLL
          for (int k = 0; k < Cfg::kK; ++k) {
            CUTE_UNROLL
            for (int e = 0; e < kVec; ++e) acc[e] = fmaf(w_fixed[k], values[e * Cfg::kStride + k * Cfg::kDilation], acc[e]);
          }
        } else {
          for (int k = 0; k < K; ++k) {
            float const w = static_cast<float>(weight[c * p.w_stride_c + k * p.w_stride_k]);
            CUTE_UNROLL
            for (int e = 0; e < kVec; ++e) acc[e] = fmaf(w, static_cast<float>(window[e * Sw + k * D]), acc[e]);
          }
        }
        staging::store_lane_outputs<T, kVec>(&out_plane(out_row0 + r, lane_col), p.out_stride_w, whole_vector,
                                             lane_cols_left, acc);
      }
    };

    // Tensor cores: the whole warp takes its rows. The band step is the outer loop: each step loads
    // the A blocks of all the warp's rows and m-tiles, then gives its MMAs to kRows * kMTiles
    // independent accumulators. (Row by row, each MMA waited on the ldmatrix just before it and on
    // the MMA before it into the same accumulator; profiling/NOTES.md, variant 120.) Generic in the
    // configuration, so that only the tensor-core ones compile it.
    auto compute_step_mma = [&](auto config, int step) {
      using MmaCfg = decltype(config);
      constexpr int kMTiles = MmaCfg::kMTiles;
      int const slot_row0 = (step % MmaCfg::kRingStages) * kStepRows + warp * kRows;
      int const out_row0 = out_row_begin + step * kStepRows + warp * kRows;
      int const rows = out_row_end - out_row0;  // the warp's rows in the image: kRows or fewer (uniform)
      uint32_t a_row[kRows];
      float acc[kRows][kMTiles][4];
      auto active = [&](int r, int t) { return r < rows && t * MmaCfg::kMTileCols < strip_cols; };
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        a_row[r] = cute::cast_smem_ptr_to_uint(ring + (slot_row0 + r) * pitch + 8 * (lane % 16 + lane / 16));
        CUTE_UNROLL
        for (int t = 0; t < kMTiles; ++t) {
          CUTE_UNROLL
          for (int e = 0; e < 4; ++e) acc[r][t][e] = bias_value;
        }
      }
      CUTE_UNROLL
      for (int s = 0; s < kBandSteps; ++s) {
        if (s >= g.band_steps) break;
        uint32_t a[kRows][kMTiles][4];
        CUTE_UNROLL
        for (int r = 0; r < kRows; ++r) {
          CUTE_UNROLL
          for (int t = 0; t < kMTiles; ++t) {
            if (active(r, t)) {
              band_mma::load_a_fragment(a_row[r] + uint32_t(sizeof(T)) * (t * MmaCfg::kMTileCols + 16 * s), a[r][t]);
            }
          }
        }
        CUTE_UNROLL
        for (int r = 0; r < kRows; ++r) {
          CUTE_UNROLL
          for (int t = 0; t < kMTiles; ++t) {
            if (active(r, t)) band_mma::mma<T>(acc[r][t], a[r][t], band_head[s]);
          }
        }
        if constexpr (MmaCfg::kSplit) {
          CUTE_UNROLL
          for (int r = 0; r < kRows; ++r) {
            CUTE_UNROLL
            for (int t = 0; t < kMTiles; ++t) {
              if (active(r, t)) band_mma::mma<T>(acc[r][t], a[r][t], band_tail[s]);
            }
          }
        }
      }
      // acc[r][t] holds A rows lane / 4 and lane / 4 + 8, columns 2 (lane % 4) and the next: output
      // columns 128 t + 2 lane (+ 64), so that each store of the warp is 128 contiguous bytes. A
      // whole strip of pairs stores without a test per pair (the tests were a third of the
      // instructions of a step; NOTES.md, variant 125).
      bool const whole_strip = g.pair_stores != 0 && strip_cols == kTileW;
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        if (r >= rows) break;
        T* const out_row = &out_plane(out_row0 + r, 0);
        if (whole_strip) {
          uint32_t* const pairs = reinterpret_cast<uint32_t*>(out_row + out_col0) + lane;
          CUTE_UNROLL
          for (int t = 0; t < kMTiles; ++t) {
            CUTE_UNROLL
            for (int half = 0; half < 2; ++half) {
              pairs[(t * MmaCfg::kMTileCols + 64 * half) / 2] = band_mma::pack_pair(
                  static_cast<T>(acc[r][t][2 * half]), static_cast<T>(acc[r][t][2 * half + 1]));
            }
          }
          continue;
        }
        CUTE_UNROLL
        for (int t = 0; t < kMTiles; ++t) {
          CUTE_UNROLL
          for (int half = 0; half < 2; ++half) {
            band_mma::store_pair(out_row, out_col0 + t * MmaCfg::kMTileCols + 64 * half + 2 * lane, Wo, p.out_stride_w,
                                 g.pair_stores != 0, acc[r][t][2 * half], acc[r][t][2 * half + 1]);
          }
        }
      }
    };

    for (int s = 0; s < Cfg::kStagesAhead; ++s) {
      if (s < steps) load_stage(s);
      staging::commit_stage();
    }
    // The band while the first stages fly: built before them, its loads and packing held the copies
    // back at every tile (bf16 (1, 7) 0.087 -> 0.085 ms; NOTES, variant 114).
    if constexpr (Cfg::kTensorCores) {
      with_param_pointer(weight, [&](auto const* w) {
        auto const* const w_row = w + int64_t(c) * p.w_stride_c;
        band_mma::band_fragments<T, kBandSteps>(
            [&](int t) { return static_cast<float>(w_row[int64_t(t) * p.w_stride_k]); }, int(K), g.dilation, shift,
            lane, band_head, band_tail);
      });
    }
    for (int step = 0; step < steps; ++step) {
      int const ahead = step + Cfg::kStagesAhead;
      if (ahead < steps) load_stage(ahead);  // into the slot step-1 has finished with
      staging::commit_stage();
      staging::wait_stage<Cfg::kStagesAhead>();
      if constexpr (Cfg::kTensorCores) {
        compute_step_mma(Cfg{}, step);
      } else if (lane * kVec < strip_cols) {
        if constexpr (kTaps) {
          staging::with_row_alignment<T>(g.row_alignment, [&](auto alignment) { compute_step(step, alignment); });
        } else {  // element-wise reads take any alignment
          compute_step(step, std::integral_constant<staging::RowAlignment, staging::RowAlignment::kWords16>{});
        }
      }
      __syncthreads();
    }
  }
}

}  // namespace horizontal

template <class Cfg>
LaunchStatus launch_fwd_horizontal(FwdParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;  // row and column arithmetic stays in int
  if (p.axis != TapAxis::kWidth || p.x_stride_w != 1) return LaunchStatus::kUnsupported;
  int const copy_bytes = staging::stage_copy_bytes<T>(p.x, p.W, p.x_stride_h, p.x_stride_c, p.x_stride_n);
  if (copy_bytes == 0) return LaunchStatus::kUnsupported;
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  int64_t const reach = (p.kernel_size - 1) * p.dilation + 1;
  bool const small_coords = p.H < kCoordLimit && p.W < kCoordLimit && magnitude(p.padding_h) < kCoordLimit &&
                            magnitude(p.padding_w) < kCoordLimit && reach < kCoordLimit &&
                            (p.Ho + Cfg::kStepRows) * p.stride_h < kCoordLimit &&
                            (p.Wo + Cfg::kTileW) * p.stride_w + reach < kCoordLimit;
  if (!small_coords) return LaunchStatus::kUnsupported;

  int64_t const copy_elems = copy_bytes / int64_t(sizeof(T));
  // Every strip's first input column sits the same number of elements past a copy boundary.
  int64_t const shift = ((-p.padding_w) % copy_elems + copy_elems) % copy_elems;
  int64_t band_steps = 0;
  int64_t chunks = 0;
  if constexpr (Cfg::kTensorCores) {
    // The last output of a block reaches column shift + 7 + reach - 1 past the block's start.
    band_steps = (shift + 7 + reach + 15) / 16;
    if (p.stride_w != 1 || band_steps > Cfg::kKSteps || p.params_float32 != Cfg::kSplit) {
      return LaunchStatus::kUnsupported;
    }
    chunks = (Cfg::kTileW - 8 + 16 * band_steps + copy_elems - 1) / copy_elems;
  } else {
    int64_t const span = (Cfg::kTileW - 1) * p.stride_w + reach;
    chunks = (copy_elems - 1 + span + 1 + copy_elems - 1) / copy_elems;
  }
  int64_t const pitch = (chunks * copy_elems + Cfg::kVec - 1) / Cfg::kVec * Cfg::kVec;
  int64_t const smem_bytes = int64_t(Cfg::kRingStages) * Cfg::kStepRows * pitch * int64_t(sizeof(T));
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;

  auto* kernel = copy_bytes == 16 ? &horizontal::fwd_horizontal_kernel<Cfg, 16> : &horizontal::fwd_horizontal_kernel<Cfg, 8>;
  int const registers =
      copy_bytes == 16
          ? KernelAttributes<&horizontal::fwd_horizontal_kernel<Cfg, 16>>::registers_if_launchable(p.device, int(smem_bytes))
          : KernelAttributes<&horizontal::fwd_horizontal_kernel<Cfg, 8>>::registers_if_launchable(p.device, int(smem_bytes));
  if (registers == 0) return LaunchStatus::kUnsupported;
  int const blocks_per_sm = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_bytes));

  horizontal::Geometry g{};
  g.strips = int((p.Wo + Cfg::kTileW - 1) / Cfg::kTileW);
  g.chunks = int(chunks);
  g.pitch = int(pitch);
  g.reach = int(reach);
  g.out_unit_cols = p.out_stride_w == 1;
  g.band_steps = int(band_steps);
  // Strips start at multiples of 256 columns, lanes at even columns.
  g.pair_stores = band_mma::rows_take_stores(p, 2);
  g.dilation = cutlass::FastDivmod(int(p.dilation));
  g.row_alignment = int(staging::row_alignment(int(shift * int64_t(sizeof(T)))));
  int64_t const planes = p.N * p.C;
  int64_t const columns = planes * g.strips;
  int64_t const steps_total = (p.Ho + Cfg::kStepRows - 1) / Cfg::kStepRows;
  plan::TilingPolicy const& policy = plan::tiling_policy();
  plan::RowSegments const split =
      plan::split_rows(steps_total, columns, int64_t(blocks_per_sm) * limits.multiprocessors, policy.min_segment_steps,
                       Cfg::kTensorCores ? policy.horizontal_mma_waves : policy.horizontal_waves);
  g.steps_per_segment = split.steps_per_segment;
  g.tiles = columns * split.segments;
  constexpr int64_t kIndexLimit = int64_t(1) << 31;  // tiles, planes and channels are divided as ints
  if (g.tiles >= kIndexLimit) return LaunchStatus::kUnsupported;
  g.tiles_in_plane = cutlass::FastDivmod(g.strips * split.segments);
  g.segment_count = cutlass::FastDivmod(split.segments);
  g.channel_count = cutlass::FastDivmod(int(p.C));

  kernel<<<dim3(unsigned(g.tiles)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
