// (K, 1) forward of 16-bit NCHW inputs on tensor cores. Down a column, a block of 16 output rows is
// the product of the row band A (16 x 16 per band step: output row m against staged input row k holds
// tap t where t * dilation = k - m) with 16 staged input rows of 8 columns (B). Each block walks a
// strip of 128 columns down a segment of one (n, c) plane: stage j holds the 16 input rows that band
// step 0 of output rows 16j.. reads, so a step reads as many stages as the band has steps and the
// ring holds those plus the stages in flight; each warp takes 32 of the strip's columns. The FP32
// lanes spend most of their issue slots on 16-bit conversions and shared loads there
// (profiling/NOTES.md, variants 126-128).
#pragma once

#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "dwconv_params.h"
#include "kernels/band_mma.cuh"
#include "kernels/kernel_attributes.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"
#include "kernels/staging/row_ring.cuh"
#include "kernels/tile_config.h"
#include "plan/tiling.h"

namespace cute_dwconv {
namespace vertical_mma {

// Host-planned split of the output into block tiles; see launch_fwd_vertical_mma.
struct Geometry {
  int band_steps;         // 16-row band steps the window reaches: stages a step reads
  int ring_stages;        // band_steps + kStagesAhead
  int steps_per_segment;  // steps (16 output rows each) per tile
  int pair_stores;        // out takes 32-bit stores of two outputs at even columns
  int vector_stores;      // and 16-byte stores of eight at multiples of 8
  int64_t tiles;          // planes * strips * segments, below 2^31
  cutlass::FastDivmod row_lanes;       // threads along a staged row
  cutlass::FastDivmod tiles_in_plane;  // tile -> (plane, strip * segments + segment)
  cutlass::FastDivmod segment_count;   // -> (strip, segment)
  cutlass::FastDivmod channel_count;   // plane -> (n, c)
  cutlass::FastDivmod dilation;        // band offset -> tap
};

// Blocks per SM the registers must leave room for, by the band registers a lane holds, as for the
// (1, K) tensor-core tiles (0: as the compiler likes; autocast's deepest band spilled at 4).
template <class Cfg>
constexpr int min_blocks_per_sm() {
  constexpr int kBandRegisters = 4 * Cfg::kKSteps * (Cfg::kSplit ? 2 : 1);
  return kBandRegisters <= 16 ? 6 : kBandRegisters <= 32 ? 5 : 0;
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads, min_blocks_per_sm<Cfg>())
    fwd_vertical_mma_kernel(FwdParams const p, Geometry const g) {
  using T = typename Cfg::Element;
  constexpr int kStepRows = Cfg::kStepRows;
  constexpr int kPitch = Cfg::kPitch;
  constexpr int kNTiles = Cfg::kNTiles;
  constexpr int kChunkElems = 8;  // 16-byte copies
  static_assert(kNTiles == 4, "a warp's output block is 16 rows of four 16-byte chunks");
  using Atom = staging::StageCopyAtom<T, 16>;

  extern __shared__ __align__(128) unsigned char smem_bytes[];
  T* const ring = reinterpret_cast<T*>(smem_bytes);
  unsigned char* const out_stage = smem_bytes + g.ring_stages * kStepRows * kPitch * int(sizeof(T));
  int const warp = threadIdx.x / Cfg::kLanes;
  int const lane = threadIdx.x % Cfg::kLanes;
  int const H = int(p.H), W = int(p.W), Ho = int(p.Ho), Wo = int(p.Wo);
  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};
  staging::RowShare const share = staging::share_rows<Cfg::kThreads>(g.row_lanes);
  constexpr int kChunks = Cfg::kTileW / kChunkElems;
  // The ldmatrix row this lane addresses in each band step's stage, and its columns in the strip.
  uint32_t const lane_row_offset =
      uint32_t(sizeof(T)) * uint32_t((lane % 16) * kPitch + warp * Cfg::kWarpCols + 8 * (lane / 16));
  uint32_t const ring_address = cute::cast_smem_ptr_to_uint(ring);

  for (int64_t tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
    int plane, in_plane, strip, segment, n, c;
    g.tiles_in_plane(plane, in_plane, int(tile));
    g.segment_count(strip, segment, in_plane);
    g.channel_count(n, c, plane);
    T const* const x_plane = x + (int64_t(n) * p.x_stride_n + int64_t(c) * p.x_stride_c);
    T* const out_plane = out + (int64_t(n) * p.out_stride_n + int64_t(c) * p.out_stride_c);

    int const out_row_begin = segment * g.steps_per_segment * kStepRows;
    int const out_row_end = min(Ho, out_row_begin + g.steps_per_segment * kStepRows);
    int const steps = (out_row_end - out_row_begin + kStepRows - 1) / kStepRows;
    int const stages = steps + g.band_steps - 1;
    int const out_col0 = strip * Cfg::kTileW;
    staging::RowSource<T> const rows{x_plane, p.x_stride_h, out_row_begin - int(p.padding_h), 1, H,
                                     out_col0 - int(p.padding_w), W};

    // Stage j: input rows 16 j.. of the segment's first output row's window, into slot j % ring.
    auto load_stage = [&](int stage) {
      staging::RowSource<T> stage_rows = rows;
      stage_rows.row0 += stage * kStepRows;
      staging::copy_rows<Atom, kChunkElems>(share, stage_rows, 0, kStepRows, kChunks,
                                            ring + (stage % g.ring_stages) * kStepRows * kPitch, kPitch);
    };
    int const ahead = g.band_steps - 1 + Cfg::kStagesAhead;  // stages in flight before step 0
    for (int s = 0; s < ahead; ++s) {
      if (s < stages) load_stage(s);
      staging::commit_stage();
    }
    // The band while the first stages fly.
    uint32_t band_head[Cfg::kKSteps][4], band_tail[Cfg::kKSteps][4];
    with_param_pointer(weight, [&](auto const* w) {
      auto const* const w_col = w + int64_t(c) * p.w_stride_c;
      band_mma::row_band_fragments<T, Cfg::kKSteps>(
          [&](int t) { return static_cast<float>(w_col[int64_t(t) * p.w_stride_k]); }, int(p.kernel_size),
          g.dilation, lane, band_head, band_tail);
    });
    float const bias_value = bias ? static_cast<float>(bias[c * p.bias_stride]) : 0.0f;
    int const warp_col0 = out_col0 + warp * Cfg::kWarpCols;
    bool const whole_cols = g.vector_stores != 0 && out_col0 + Cfg::kTileW <= Wo;

    for (int step = 0; step < steps; ++step) {
      if (step + ahead < stages) load_stage(step + ahead);  // into the slot step - 1 has finished with
      staging::commit_stage();
      staging::wait_stage<Cfg::kStagesAhead>();

      float acc[kNTiles][4];
      CUTE_UNROLL
      for (int j = 0; j < kNTiles; ++j) {
        CUTE_UNROLL
        for (int e = 0; e < 4; ++e) acc[j][e] = bias_value;
      }
      // Band step s + 1's B fragments load while step s's MMAs run (an MMA right after its
      // ldmatrix waits for it: NOTES.md, variant 120); the stages follow one another in the ring.
      constexpr uint32_t kStageBytes = uint32_t(kStepRows * kPitch * sizeof(T));
      int slot = step % g.ring_stages;
      auto load_b = [&](int stage_slot, uint32_t (&b)[kNTiles / 2][4]) {
        uint32_t const address = ring_address + uint32_t(stage_slot) * kStageBytes + lane_row_offset;
        CUTE_UNROLL
        for (int q = 0; q < kNTiles / 2; ++q) {
          band_mma::load_b_fragments_transposed(address + uint32_t(sizeof(T)) * 16 * q, b[q]);
        }
      };
      uint32_t b[2][kNTiles / 2][4];
      load_b(slot, b[0]);
      CUTE_UNROLL
      for (int s = 0; s < Cfg::kKSteps; ++s) {
        if (s >= g.band_steps) break;
        if (s + 1 < Cfg::kKSteps && s + 1 < g.band_steps) {
          slot = slot + 1 == g.ring_stages ? 0 : slot + 1;
          load_b(slot, b[(s + 1) % 2]);
        }
        CUTE_UNROLL
        for (int j = 0; j < kNTiles; ++j) {
          uint32_t const b_tile[2] = {b[s % 2][j / 2][2 * (j % 2)], b[s % 2][j / 2][2 * (j % 2) + 1]};
          band_mma::mma<T>(acc[j], band_head[s], b_tile);
          if constexpr (Cfg::kSplit) band_mma::mma<T>(acc[j], band_tail[s], b_tile);
        }
      }

      // acc[j] holds output rows lane / 4 and lane / 4 + 8 of the step, columns 8 j + 2 (lane % 4)
      // and the next of the warp's: stored as they are, a warp's store would be 8 rows of 16 bytes,
      // half of each 32-byte sector (L2 at 68% of its peak, DRAM at 39%). Where the strip's
      // columns are whole, they go through the warp's 16 x 32 block of shared memory instead and
      // out as 16-byte runs, 64 bytes of each row a store (NOTES.md, variant 127).
      int const step_row0 = out_row_begin + step * kStepRows;
      if (whole_cols) {
        // Row r's 16-byte chunk q sits at chunk q ^ ((r / 2) % 4) of the row: the pair writes of a
        // warp and its 16-byte reads both meet every bank once.
        auto chunk_at = [](int r, int q) { return r * 4 + (q ^ ((r >> 1) & 3)); };
        uint4* const block = reinterpret_cast<uint4*>(out_stage) + warp * kStepRows * 4;
        CUTE_UNROLL
        for (int half = 0; half < 2; ++half) {
          int const r = lane / 4 + 8 * half;
          CUTE_UNROLL
          for (int j = 0; j < kNTiles; ++j) {
            reinterpret_cast<uint32_t*>(block + chunk_at(r, j))[lane % 4] = band_mma::pack_pair(
                static_cast<T>(acc[j][2 * half]), static_cast<T>(acc[j][2 * half + 1]));
          }
        }
        __syncwarp();
        CUTE_UNROLL
        for (int half = 0; half < 2; ++half) {
          int const r = lane / 4 + 8 * half, q = lane % 4;
          if (step_row0 + r < out_row_end) {
            *reinterpret_cast<uint4*>(out_plane + int64_t(step_row0 + r) * p.out_stride_h + warp_col0 + 8 * q) =
                block[chunk_at(r, q)];
          }
        }
      } else {
        int const col = warp_col0 + 2 * (lane % 4);
        CUTE_UNROLL
        for (int half = 0; half < 2; ++half) {
          int const row = step_row0 + lane / 4 + 8 * half;
          if (row >= out_row_end) break;
          T* const out_row = out_plane + int64_t(row) * p.out_stride_h;
          CUTE_UNROLL
          for (int j = 0; j < kNTiles; ++j) {
            band_mma::store_pair(out_row, col + 8 * j, Wo, p.out_stride_w, g.pair_stores != 0, acc[j][2 * half],
                                 acc[j][2 * half + 1]);
          }
        }
      }
      __syncthreads();
    }
  }
}

}  // namespace vertical_mma

template <class Cfg>
LaunchStatus launch_fwd_vertical_mma(FwdParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;  // row and column arithmetic stays in int
  if (p.axis != TapAxis::kHeight || p.x_stride_w != 1 || p.stride_h != 1 || p.stride_w != 1 ||
      p.params_float32 != Cfg::kSplit) {
    return LaunchStatus::kUnsupported;
  }
  // 16-byte copies, and strips whose first input column is a copy boundary: every staged chunk is
  // inside the image or outside it.
  if (staging::stage_copy_bytes<T>(p.x, p.W, p.x_stride_h, p.x_stride_c, p.x_stride_n) != 16 || p.padding_w % 8 != 0) {
    return LaunchStatus::kUnsupported;
  }
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  int64_t const reach = (p.kernel_size - 1) * p.dilation + 1;
  int64_t const band_steps = (reach + 15 + 15) / 16;
  if (band_steps > Cfg::kKSteps) return LaunchStatus::kUnsupported;
  bool const small_coords = p.H < kCoordLimit && p.W < kCoordLimit && magnitude(p.padding_h) < kCoordLimit &&
                            magnitude(p.padding_w) < kCoordLimit && reach < kCoordLimit &&
                            p.Ho + 16 * (band_steps + 1) < kCoordLimit && p.Wo + Cfg::kTileW < kCoordLimit;
  if (!small_coords) return LaunchStatus::kUnsupported;

  int const ring_stages = int(band_steps) + Cfg::kStagesAhead;
  // The ring, then each warp's 16 x 32 block of outputs on their way out.
  int64_t const smem_bytes = int64_t(ring_stages) * Cfg::kStepRows * Cfg::kPitch * int64_t(sizeof(T)) +
                             int64_t(Cfg::kWarps) * Cfg::kStepRows * Cfg::kWarpCols * int64_t(sizeof(T));
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;
  auto* kernel = &vertical_mma::fwd_vertical_mma_kernel<Cfg>;
  int const registers =
      KernelAttributes<&vertical_mma::fwd_vertical_mma_kernel<Cfg>>::registers_if_launchable(p.device, int(smem_bytes));
  if (registers == 0) return LaunchStatus::kUnsupported;
  int const blocks_per_sm = blocks_per_multiprocessor(limits, Cfg::kThreads, registers, int(smem_bytes));

  vertical_mma::Geometry g{};
  g.band_steps = int(band_steps);
  g.ring_stages = ring_stages;
  // Strips start at multiples of 128 columns, lanes at even columns.
  g.pair_stores = band_mma::rows_take_stores(p, 2);
  g.vector_stores = band_mma::rows_take_stores(p, 8);
  g.row_lanes = staging::row_lanes<Cfg::kThreads>(Cfg::kTileW / 8);
  g.dilation = cutlass::FastDivmod(int(p.dilation));
  int64_t const strips = (p.Wo + Cfg::kTileW - 1) / Cfg::kTileW;
  int64_t const planes = p.N * p.C;
  int64_t const columns = planes * strips;
  int64_t const steps_total = (p.Ho + Cfg::kStepRows - 1) / Cfg::kStepRows;
  plan::TilingPolicy const& policy = plan::tiling_policy();
  // A segment re-stages band_steps - 1 stages of the one above: at least that many steps each.
  plan::RowSegments const split =
      plan::split_rows(steps_total, columns, int64_t(blocks_per_sm) * limits.multiprocessors,
                       band_steps > policy.min_segment_steps ? band_steps : policy.min_segment_steps,
                       policy.horizontal_mma_waves);
  g.steps_per_segment = split.steps_per_segment;
  g.tiles = columns * split.segments;
  constexpr int64_t kIndexLimit = int64_t(1) << 31;  // tiles, planes and channels are divided as ints
  if (g.tiles >= kIndexLimit) return LaunchStatus::kUnsupported;
  g.tiles_in_plane = cutlass::FastDivmod(int(strips * split.segments));
  g.segment_count = cutlass::FastDivmod(split.segments);
  g.channel_count = cutlass::FastDivmod(int(p.C));

  kernel<<<dim3(unsigned(g.tiles)), Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
