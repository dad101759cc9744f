// Weight and bias gradients: a per-channel reduction of grad_out times the input window over N,
// Ho and Wo. Two kernels, no atomics, so the result has the same bits on every run:
//   1. one block per (channel, n, row segment) tile sums its tile into a workspace slot per tap;
//   2. one warp per (channel, tap) sums those slots in a fixed order and writes the gradient.
// The reduction reads grad_out once and the input once from DRAM: a block walks its segment row
// by row, so the K input rows (or K shifted runs of one row) under a grad_out row were fetched a
// row or two earlier and are still in L1.
#pragma once

#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/numeric_types.h>

#include "bwd_params.h"
#include "device_limits.h"
#include "kernels/accumulator.h"
#include "kernels/param_access.h"

namespace cute_dwconv {
namespace bwd_weight {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kWavesOfTiles = 8;        // tiles per resident block: keeps the grid's tail short
constexpr int kMinItemsPerThread = 4;   // a tile smaller than this is mostly reduction overhead

template <class Acc>
CUTE_DEVICE Acc warp_sum(Acc value) {
  CUTE_UNROLL
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// kVec elements as accumulator values: one 16-byte load (the caller has checked alignment), or
// element-wise loads `step` apart where `valid` says so (zero elsewhere).
template <class T, int kVec, bool kVector, class Acc>
CUTE_DEVICE void load_run(T const* ptr, int64_t step, bool const (&valid)[kVec], Acc (&values)[kVec]) {
  if constexpr (kVector) {
    uint4 const bits = __ldg(reinterpret_cast<uint4 const*>(ptr));
    T const* elements = reinterpret_cast<T const*>(&bits);
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) values[e] = static_cast<Acc>(elements[e]);
  } else {
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) values[e] = valid[e] ? static_cast<Acc>(ptr[e * step]) : Acc(0);
  }
}

// Pass 1. A tile is one (channel, n, row segment). Its grad_out rows are walked as a flat list of
// kVec-column runs, so that any width keeps every thread busy; a thread steps through the list
// kThreads runs at a time, tracking its (row, run) without dividing. kTaps taps are summed per
// walk; longer kernels walk the tile again for each further group of kTaps.
//
// kAlongWidth: (1, K) taps, which move along the input row under each grad_out run. kVecX, with
// (K, 1) taps: the input runs under the grad_out runs are 16-byte loads too (column stride 1, column
// padding a whole number of vectors), and each lies wholly inside the image or wholly in the
// padding; with (1, K) taps: column stride 1 and dilation kWindowDilation, so one window of
// kVec + (kTaps - 1) * kWindowDilation input elements, loaded once, serves every tap of the walk
// (instead of kVec loads and bounds tests per tap).
template <class T, int kVec, int kTaps, bool kVecX, bool kAlongWidth, int kWindowDilation = 1>
__global__ void __launch_bounds__(kThreads)
    bwd_weight_partial_kernel(BwdWeightParams const p, BwdWeightPlan const plan) {
  using namespace cute;
  using Acc = accumulator_t<T>;
  T const* const x = static_cast<T const*>(p.x);
  T const* const grad = static_cast<T const*>(p.grad_out);
  Acc* const partial = static_cast<Acc*>(p.workspace);
  __shared__ Acc warp_sums[kWarps][kTaps + 1];

  int64_t const K = p.kernel_size;
  int64_t const slots = K + 1;  // the taps, then the bias
  int64_t const entries = p.N * plan.segments;
  int64_t const tiles = p.C * entries;
  // Whole runs: the vectorised instantiations are only dispatched when kVec divides Wo.
  int const runs_per_row = int((p.Wo + kVec - 1) / kVec);
  int const rows_per_pass = kThreads / runs_per_row;             // a pass is kThreads runs
  int const runs_past_rows = kThreads - rows_per_pass * runs_per_row;
  int const first_row = threadIdx.x / runs_per_row;
  int const first_run = threadIdx.x - first_row * runs_per_row;
  int64_t const tap_step = p.dilation * p.x_stride_h;
  int const warp = threadIdx.x / 32;
  int const lane = threadIdx.x % 32;

  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    int64_t const c = tile / entries;
    int64_t const entry = tile - c * entries;
    int64_t const n = entry / plan.segments;
    int64_t const segment = entry - n * plan.segments;
    Tensor x_plane = make_tensor(make_gmem_ptr(x + n * p.x_stride_n + c * p.x_stride_c),
                                 make_layout(make_shape(p.H, p.W), make_stride(p.x_stride_h, p.x_stride_w)));
    Tensor g_plane = make_tensor(make_gmem_ptr(grad + n * p.g_stride_n + c * p.g_stride_c),
                                 make_layout(make_shape(p.Ho, p.Wo), make_stride(p.g_stride_h, p.g_stride_w)));
    int64_t const row0 = segment * plan.rows_per_segment;
    int64_t const row_end = min(row0 + plan.rows_per_segment, p.Ho);
    T const* const x_origin = &x_plane(0, 0);
    Acc* const tile_slots = partial + tile * slots;

    for (int64_t tap0 = 0; tap0 < K; tap0 += kTaps) {
      int const taps = int(min(int64_t(kTaps), K - tap0));
      Acc acc[kTaps + 1];
      CUTE_UNROLL
      for (int t = 0; t <= kTaps; ++t) acc[t] = Acc(0);

      int64_t ho = row0 + first_row;
      int run = first_run;
      while (ho < row_end) {
        int64_t const wo0 = int64_t(run) * kVec;
        bool col_ok[kVec];
        CUTE_UNROLL
        for (int e = 0; e < kVec; ++e) col_ok[e] = wo0 + e < p.Wo;
        Acc g[kVec];
        load_run<T, kVec, (kVec > 1)>(&g_plane(ho, wo0), p.g_stride_w, col_ok, g);
        if (tap0 == 0) {
          CUTE_UNROLL
          for (int e = 0; e < kVec; ++e) acc[kTaps] += g[e];
        }

        if constexpr (kAlongWidth) {
          // One input row under the run; tap t moves its columns t*d along it.
          int64_t const hi = ho * p.stride_h - p.padding_h;
          if (hi >= 0 && hi < p.H && kVecX) {
            constexpr int kD = kWindowDilation;
            T const* const row = x_origin + hi * p.x_stride_h;
            int64_t const wi0 = wo0 - p.padding_w + tap0 * kD;
            constexpr int kWindow = kVec + (kTaps - 1) * kD;
            int const window_used = kVec + (taps - 1) * kD;
            Acc window[kWindow];
            CUTE_UNROLL
            for (int j = 0; j < kWindow; ++j) {
              int64_t const wi = wi0 + j;
              window[j] = j < window_used && wi >= 0 && wi < p.W ? static_cast<Acc>(row[wi * p.x_stride_w]) : Acc(0);
            }
            CUTE_UNROLL
            for (int t = 0; t < kTaps; ++t) {
              if (t < taps) {
                Acc dot = Acc(0);
                CUTE_UNROLL
                for (int e = 0; e < kVec; ++e) dot = fma(g[e], window[e + t * kD], dot);
                acc[t] += dot;
              }
            }
          } else if (hi >= 0 && hi < p.H) {
            T const* const row = x_origin + hi * p.x_stride_h;
            int64_t const wi0 = wo0 * p.stride_w - p.padding_w + tap0 * p.dilation;
            CUTE_UNROLL
            for (int t = 0; t < kTaps; ++t) {
              if (t < taps) {
                Acc dot = Acc(0);
                CUTE_UNROLL
                for (int e = 0; e < kVec; ++e) {
                  int64_t const wi = wi0 + e * p.stride_w + t * p.dilation;
                  Acc const xv = col_ok[e] && wi >= 0 && wi < p.W ? static_cast<Acc>(row[wi * p.x_stride_w]) : Acc(0);
                  dot = fma(g[e], xv, dot);
                }
                acc[t] += dot;
              }
            }
          }
        } else {
          // The input columns under this run, and whether each lies inside the image.
          int64_t const wi0 = wo0 * p.stride_w - p.padding_w;
          bool in_image[kVec];
          bool any_in_image = false;
          CUTE_UNROLL
          for (int e = 0; e < kVec; ++e) {
            int64_t const wi = kVecX ? wi0 : wi0 + e * p.stride_w;
            in_image[e] = col_ok[e] && wi >= 0 && wi < p.W;
            any_in_image |= in_image[e];
          }
          int64_t const hi0 = ho * p.stride_h - p.padding_h + tap0 * p.dilation;
          if (any_in_image) {
            // Tap t reads row hi0 + t*d; a 16-byte run starts at its column, element-wise runs at column 0.
            T const* const window = x_origin + (hi0 * p.x_stride_h + (kVecX ? wi0 : 0));
            bool const rows_inside = hi0 >= 0 && hi0 + (taps - 1) * p.dilation < p.H;
            CUTE_UNROLL
            for (int t = 0; t < kTaps; ++t) {
              int64_t const hi = hi0 + t * p.dilation;
              if (t < taps && (rows_inside || (hi >= 0 && hi < p.H))) {
                T const* const row = window + t * tap_step;
                Acc xv[kVec];
                if constexpr (kVecX) {
                  load_run<T, kVec, true>(row, 1, in_image, xv);
                } else {
                  CUTE_UNROLL
                  for (int e = 0; e < kVec; ++e) {
                    xv[e] = in_image[e] ? static_cast<Acc>(row[(wi0 + e * p.stride_w) * p.x_stride_w]) : Acc(0);
                  }
                }
                Acc dot = Acc(0);
                CUTE_UNROLL
                for (int e = 0; e < kVec; ++e) dot = fma(g[e], xv[e], dot);
                acc[t] += dot;
              }
            }
          }
        }
        // Next run kThreads along the flat list.
        ho += rows_per_pass;
        run += runs_past_rows;
        if (run >= runs_per_row) {
          run -= runs_per_row;
          ++ho;
        }
      }

      // Fixed-shape tree: lanes by shuffles, then warps in order.
      CUTE_UNROLL
      for (int t = 0; t <= kTaps; ++t) {
        Acc const sum = warp_sum(acc[t]);
        if (lane == 0) warp_sums[warp][t] = sum;
      }
      __syncthreads();
      if (threadIdx.x <= kTaps) {
        int const t = threadIdx.x;
        Acc sum = Acc(0);
        for (int w = 0; w < kWarps; ++w) sum += warp_sums[w][t];
        if (t < taps) tile_slots[tap0 + t] = sum;
        if (t == kTaps && tap0 == 0) tile_slots[K] = sum;
      }
      __syncthreads();
    }
  }
}

// Pass 2: warp per (channel, slot); lanes stride over the channel's tiles, then a shuffle tree.
template <class T>
__global__ void __launch_bounds__(kThreads)
    bwd_weight_finalize_kernel(BwdWeightParams const p, BwdWeightPlan const plan) {
  using Acc = accumulator_t<T>;
  Acc const* const partial = static_cast<Acc const*>(p.workspace);
  ParamWriter<T> const grad_weight{p.grad_weight, p.grads_float32};
  ParamWriter<T> const grad_bias{p.grad_bias, p.grads_float32};
  int64_t const slots = p.kernel_size + 1;
  int64_t const entries = p.N * plan.segments;
  int64_t const pairs = p.C * slots;
  int const lane = threadIdx.x % 32;

  for (int64_t pair = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / 32; pair < pairs;
       pair += int64_t(gridDim.x) * kWarps) {
    int64_t const c = pair / slots;
    int64_t const slot = pair - c * slots;
    Acc sum = Acc(0);
    for (int64_t entry = lane; entry < entries; entry += 32) sum += partial[(c * entries + entry) * slots + slot];
    sum = warp_sum(sum);
    if (lane == 0) {
      if (slot < p.kernel_size) {
        grad_weight.set(c * p.gw_stride_c + slot * p.gw_stride_k, sum);
      } else if (grad_bias) {
        grad_bias.set(c * p.gb_stride, sum);
      }
    }
  }
}

}  // namespace bwd_weight

// Tiles and workspace for a call; the caller allocates plan.workspace_bytes before launching.
template <class T>
BwdWeightPlan plan_bwd_weight(BwdWeightParams const& p, int vec) {
  using namespace bwd_weight;
  int64_t const runs_per_row = (p.Wo + vec - 1) / vec;
  int64_t const planes = p.N * p.C;
  DeviceLimits const& limits = device_limits(p.device);
  int64_t const resident_blocks = int64_t(limits.multiprocessors) * (limits.threads_per_sm / kThreads);
  int64_t const wanted_tiles = kWavesOfTiles * resident_blocks;
  int64_t const min_rows = (int64_t(kMinItemsPerThread) * kThreads + runs_per_row - 1) / runs_per_row;
  int64_t segments = planes > 0 ? (wanted_tiles + planes - 1) / planes : 1;
  int64_t const most_segments = (p.Ho + min_rows - 1) / min_rows;
  segments = segments > most_segments ? most_segments : segments;
  segments = segments < 1 ? 1 : segments;
  int64_t const rows = (p.Ho + segments - 1) / segments;
  BwdWeightPlan plan{};
  plan.rows_per_segment = rows;
  plan.segments = (p.Ho + rows - 1) / rows;
  plan.workspace_bytes = planes * plan.segments * (p.kernel_size + 1) * int64_t(sizeof(accumulator_t<T>));
  return plan;
}

template <class T, int kVec, int kTaps>
void launch_bwd_weight(BwdWeightParams const& p, BwdWeightPlan const& plan, bool x_vectorized, cudaStream_t stream) {
  using namespace bwd_weight;
  int64_t const tiles = p.N * p.C * plan.segments;
  if (tiles > 0) {
    unsigned const grid = unsigned(tiles < 0x7fffffff ? tiles : 0x7fffffff);
    // (1, K) windows loaded once per run at column stride 1: dilation 1, and LSKA's 2 and 3.
    bool const window_walk = p.axis == TapAxis::kWidth && p.stride_w == 1;
    if (window_walk && p.dilation == 1) {
      bwd_weight_partial_kernel<T, kVec, kTaps, true, true, 1><<<grid, kThreads, 0, stream>>>(p, plan);
    } else if (window_walk && p.dilation == 2) {
      bwd_weight_partial_kernel<T, kVec, kTaps, true, true, 2><<<grid, kThreads, 0, stream>>>(p, plan);
    } else if (window_walk && p.dilation == 3) {
      bwd_weight_partial_kernel<T, kVec, kTaps, true, true, 3><<<grid, kThreads, 0, stream>>>(p, plan);
    } else if (p.axis == TapAxis::kWidth) {
      bwd_weight_partial_kernel<T, kVec, kTaps, false, true><<<grid, kThreads, 0, stream>>>(p, plan);
    } else if (kVec > 1 && x_vectorized) {
      bwd_weight_partial_kernel<T, kVec, kTaps, (kVec > 1), false><<<grid, kThreads, 0, stream>>>(p, plan);
    } else {
      bwd_weight_partial_kernel<T, kVec, kTaps, false, false><<<grid, kThreads, 0, stream>>>(p, plan);
    }
  }
  int64_t const warps = p.C * (p.kernel_size + 1);
  int64_t blocks = (warps + kWarps - 1) / kWarps;
  int64_t const max_blocks = int64_t(device_limits(p.device).multiprocessors) * 16;
  blocks = blocks > max_blocks ? max_blocks : blocks;
  bwd_weight_finalize_kernel<T><<<unsigned(blocks), kThreads, 0, stream>>>(p, plan);
}

}  // namespace cute_dwconv
