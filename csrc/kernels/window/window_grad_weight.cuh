// Weight and bias gradients of a (Kh, Kw) depthwise window, deterministic: a block takes one
// channel's tile of output positions of one image, stages that tile of grad_out and the input under
// it in shared memory, and sums the products for every tap; a second kernel adds the tiles' partial
// sums (in the accumulator type) in a fixed order. Within a block, each lane owns one window row and a run of 8 taps along it
// (a "task") for a share of the tile's positions, reading 8 outputs and the input columns under
// them per step: 8 x 8 FMAs per 8 + 15 shared-memory reads at unit stride.
#pragma once

#include <cstdint>
#include <cstring>

#include <cute/config.hpp>
#include <cutlass/fast_math.h>

#include "device_limits.h"
#include "kernels/accumulator.h"
#include "kernels/kernel_attributes.h"
#include "kernels/param_access.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

constexpr int kGradThreads = 256;
constexpr int kTaskTaps = 8;  // taps along a window row per task, and outputs per step

struct GradWeightGeometry {
  int tile_rows, tile_cols;       // output positions per tile (tile_cols a multiple of 8)
  int x_rows, x_cols, x_pitch;    // the staged input under a tile
  int g_pitch;                    // staged grad_out row pitch
  int tasks;                      // Kh * ceil(Kw / 8)
  int groups;                     // lanes sharing a task, each over its share of the positions
  int64_t tiles_per_channel;
  cutlass::FastDivmod tiles_per_channel_div;  // block -> (c, tile)
  cutlass::FastDivmod col_tiles;              // tile -> (n * row tiles + row tile, col tile)
  cutlass::FastDivmod row_tiles;              // -> (n, row tile)
};

// n elements from a 16-byte aligned address of shared memory, with 16-byte reads.
template <class Acc, int kN>
CUTE_DEVICE void load_wide(Acc const* src, Acc (&dst)[kN]) {
  constexpr int kPerRead = 16 / int(sizeof(Acc));
  static_assert(kN % kPerRead == 0, "whole 16-byte reads");
  CUTE_UNROLL
  for (int q = 0; q < kN / kPerRead; ++q) {
    uint4 const v = reinterpret_cast<uint4 const*>(src)[q];
    Acc parts[kPerRead];
    memcpy(parts, &v, 16);
    CUTE_UNROLL
    for (int e = 0; e < kPerRead; ++e) dst[q * kPerRead + e] = parts[e];
  }
}

// kSw: the column stride, fixed (1 or 2, with unit column dilation) or 0 (read from the call).
template <class T, int kSw>
__global__ void __launch_bounds__(kGradThreads)
    bwd_window_weight_kernel(WindowGradWeightParams const p, GradWeightGeometry const g) {
  using Acc = accumulator_t<T>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Acc* const gs = reinterpret_cast<Acc*>(smem_raw);     // [tile_rows][g_pitch]
  Acc* const xs = gs + g.tile_rows * g.g_pitch;         // [x_rows][x_pitch]
  Acc* const red = xs + g.x_rows * g.x_pitch;           // [groups][tasks * 8], then warp sums

  int c, tile, image_row, col_tile, n, row_tile;
  g.tiles_per_channel_div(c, tile, int(blockIdx.x));
  g.col_tiles(image_row, col_tile, tile);
  g.row_tiles(n, row_tile, image_row);
  int const Kh = int(p.kh), Kw = int(p.kw);
  int const Sh = int(p.stride_h), Dh = int(p.dilation_h);
  int const Sw = kSw > 0 ? kSw : int(p.stride_w);
  int const Dw = kSw > 0 ? 1 : int(p.dilation_w);
  int const ho0 = row_tile * g.tile_rows, wo0 = col_tile * g.tile_cols;
  int const rows_valid = min(g.tile_rows, int(p.Ho) - ho0);
  int const cols_valid = min(g.tile_cols, int(p.Wo) - wo0);

  T const* const x = static_cast<T const*>(p.x) + (int64_t(n) * p.x_stride_n + int64_t(c) * p.x_stride_c);
  T const* const go = static_cast<T const*>(p.grad_out) + (int64_t(n) * p.g_stride_n + int64_t(c) * p.g_stride_c);
  // Staged with lanes along the rows (a division per element cost more than the products did).
  int const g_lanes = min(g.tile_cols, kGradThreads), g_rows_per_pass = kGradThreads / g_lanes;
  // Lanes past the last whole row of lanes stage nothing (they would repeat another lane's rows).
  int const g_row0 = int(threadIdx.x) < g_rows_per_pass * g_lanes ? threadIdx.x / g_lanes : g.tile_rows;
  // Loads go out kBatch at a time before their stores, so that their latencies overlap (one at a
  // time, every lane waited a full memory latency per element: ncu's top stall, 458 µs on a 3x3).
  constexpr int kBatch = 8;
  int const g_col0 = threadIdx.x % g_lanes;
  for (int r0 = g_row0; r0 < g.tile_rows; r0 += g_rows_per_pass * kBatch) {
    for (int col = g_col0; col < g.tile_cols; col += g_lanes) {
      Acc v[kBatch];
      CUTE_UNROLL
      for (int b = 0; b < kBatch; ++b) {
        int const r = r0 + b * g_rows_per_pass;
        bool const inside = r < rows_valid && col < cols_valid;
        v[b] = inside ? static_cast<Acc>(go[int64_t(ho0 + r) * p.g_stride_h + int64_t(wo0 + col) * p.g_stride_w]) : Acc(0);
      }
      CUTE_UNROLL
      for (int b = 0; b < kBatch; ++b) {
        int const r = r0 + b * g_rows_per_pass;
        if (r < g.tile_rows) gs[r * g.g_pitch + col] = v[b];
      }
    }
  }
  int const hi0 = ho0 * Sh - int(p.padding_h), wi0 = wo0 * Sw - int(p.padding_w);
  int const x_lanes = min(g.x_cols, kGradThreads), x_rows_per_pass = kGradThreads / x_lanes;
  int const x_row0 = int(threadIdx.x) < x_rows_per_pass * x_lanes ? threadIdx.x / x_lanes : g.x_rows;
  int const x_col0 = threadIdx.x % x_lanes;
  for (int r0 = x_row0; r0 < g.x_rows; r0 += x_rows_per_pass * kBatch) {
    for (int col = x_col0; col < g.x_cols; col += x_lanes) {
      int const wi = wi0 + col;
      bool const col_inside = unsigned(wi) < unsigned(p.W);
      Acc v[kBatch];
      CUTE_UNROLL
      for (int b = 0; b < kBatch; ++b) {
        int const hi = hi0 + r0 + b * x_rows_per_pass;
        bool const inside = col_inside && r0 + b * x_rows_per_pass < g.x_rows && unsigned(hi) < unsigned(p.H);
        v[b] = inside ? static_cast<Acc>(x[int64_t(hi) * p.x_stride_h + int64_t(wi) * p.x_stride_w]) : Acc(0);
      }
      CUTE_UNROLL
      for (int b = 0; b < kBatch; ++b) {
        int const r = r0 + b * x_rows_per_pass;
        if (r < g.x_rows) xs[r * g.x_pitch + col] = v[b];
      }
    }
  }
  __syncthreads();

  int const chunks = (cols_valid + kTaskTaps - 1) / kTaskTaps;
  int const items = rows_valid * chunks;
  int64_t const slot = (int64_t(c) * g.tiles_per_channel + tile) * (int64_t(Kh) * Kw + 1);
  Acc* const workspace = static_cast<Acc*>(p.workspace);
  int const task_blocks = (Kw + kTaskTaps - 1) / kTaskTaps;

  // Each lane: task (a, jb) for items group, group + groups, ... Adjacent lanes take adjacent
  // items of one task (adjacent runs of 8 outputs of a row), so that their wide shared-memory reads
  // are adjacent: with adjacent lanes on different tasks, ncu counted 56M bank conflicts on a 3x3.
  for (int lane_task = threadIdx.x; lane_task < g.tasks * g.groups; lane_task += kGradThreads) {
    int const group = lane_task % g.groups;
    int const task = lane_task / g.groups;
    int const a = task / task_blocks;
    int const j0 = (task - a * task_blocks) * kTaskTaps;
    Acc acc[kTaskTaps];
    CUTE_UNROLL
    for (int jj = 0; jj < kTaskTaps; ++jj) acc[jj] = Acc(0);
    for (int item = group; item < items; item += g.groups) {
      int const r = item / chunks;
      int const u0 = (item - r * chunks) * kTaskTaps;
      Acc const* const g_row = gs + r * g.g_pitch + u0;
      Acc const* const x_row = xs + (r * Sh + a * Dh) * g.x_pitch;
      Acc gv[kTaskTaps];
      load_wide(g_row, gv);
      if constexpr (kSw > 0) {
        // The columns under 8 outputs and 8 taps, rounded up to whole 16-byte reads.
        constexpr int kPerRead = 16 / int(sizeof(Acc));
        constexpr int kSpan = ((kTaskTaps - 1) * kSw + kTaskTaps + kPerRead - 1) / kPerRead * kPerRead;
        Acc xv[kSpan];
        load_wide(x_row + u0 * kSw + j0, xv);
        CUTE_UNROLL
        for (int u = 0; u < kTaskTaps; ++u) {
          if (u0 + u < cols_valid) {
            CUTE_UNROLL
            for (int jj = 0; jj < kTaskTaps; ++jj) acc[jj] = fma(gv[u], xv[u * kSw + jj], acc[jj]);
          }
        }
      } else {
        CUTE_UNROLL
        for (int u = 0; u < kTaskTaps; ++u) {
          if (u0 + u < cols_valid) {
            CUTE_UNROLL
            for (int jj = 0; jj < kTaskTaps; ++jj) {
              if (j0 + jj < Kw) acc[jj] = fma(gv[u], x_row[(u0 + u) * Sw + (j0 + jj) * Dw], acc[jj]);
            }
          }
        }
      }
    }
    if (g.groups == 1) {
      CUTE_UNROLL
      for (int jj = 0; jj < kTaskTaps; ++jj) {
        if (j0 + jj < Kw) workspace[slot + a * Kw + j0 + jj] = acc[jj];
      }
    } else {
      CUTE_UNROLL
      for (int jj = 0; jj < kTaskTaps; ++jj) red[(group * g.tasks + task) * kTaskTaps + jj] = acc[jj];
    }
  }

  // The bias: this tile's grad_out summed in a fixed order (lane partials, then lanes in order).
  // (Warp-shuffle sums, a warp per tap, measured 2% faster on a 3x3 and 25% slower on a 31x31, whose
  // 992 taps have two groups each: profiling/NOTES.md, windows.)
  Acc bias_part = Acc(0);
  for (int q = threadIdx.x; q < g.tile_rows * g.g_pitch; q += kGradThreads) bias_part += gs[q];  // pitch == cols
  __syncthreads();
  if (g.groups > 1) {
    for (int t = threadIdx.x; t < g.tasks * kTaskTaps; t += kGradThreads) {
      int const task = t / kTaskTaps, jj = t % kTaskTaps;
      int const a = task / task_blocks;
      int const j = (task - a * task_blocks) * kTaskTaps + jj;
      if (j < Kw) {
        Acc sum = Acc(0);
        for (int group = 0; group < g.groups; ++group) sum += red[group * g.tasks * kTaskTaps + t];
        workspace[slot + a * Kw + j] = sum;
      }
    }
  }
  __syncthreads();
  red[threadIdx.x] = bias_part;
  __syncthreads();
  if (threadIdx.x == 0) {
    Acc sum = Acc(0);
    for (int t = 0; t < kGradThreads; ++t) sum += red[t];
    workspace[slot + int64_t(Kh) * Kw] = sum;
  }
}

// grad_weight[c, tap] and grad_bias[c]: the partial sums of each channel added in order.
template <class T>
__global__ void __launch_bounds__(kGradThreads)
    bwd_window_weight_reduce_kernel(WindowGradWeightParams const p, int64_t partials) {
  int64_t const taps = p.kh * p.kw;
  int64_t const work = p.C * (taps + 1);
  ParamWriter<T> const grad_weight{p.grad_weight, p.grads_float32};
  ParamWriter<T> const grad_bias{p.grad_bias, p.grads_float32};
  using Acc = accumulator_t<T>;
  Acc const* const workspace = static_cast<Acc const*>(p.workspace);
  for (int64_t i = int64_t(blockIdx.x) * kGradThreads + threadIdx.x; i < work; i += int64_t(gridDim.x) * kGradThreads) {
    int64_t const c = i / (taps + 1), tap = i % (taps + 1);
    double sum = 0.0;
    for (int64_t t = 0; t < partials; ++t) sum += workspace[(c * partials + t) * (taps + 1) + tap];
    if (tap < taps) {
      grad_weight.set(c * taps + tap, static_cast<accumulator_t<T>>(sum));
    } else if (grad_bias) {
      grad_bias.set(c, static_cast<accumulator_t<T>>(sum));
    }
  }
}

}  // namespace window

// Tiles of at most 32 x 128 output positions (fewer rows at a larger stride, so the staged input
// stays near 40 KB); one partial per tap and tile.
template <class T>
WindowGradWeightPlan plan_window_grad_weight(WindowGradWeightParams const& p) {
  WindowGradWeightPlan plan{};
  plan.tile_rows = std::min<int64_t>(p.Ho, std::max<int64_t>(4, 32 / p.stride_h));
  plan.tile_cols = std::min<int64_t>((p.Wo + 7) / 8 * 8, 128);
  int64_t const row_tiles = (p.Ho + plan.tile_rows - 1) / plan.tile_rows;
  int64_t const col_tiles = (p.Wo + plan.tile_cols - 1) / plan.tile_cols;
  plan.tiles_per_channel = p.N * row_tiles * col_tiles;
  plan.workspace_bytes = p.C * plan.tiles_per_channel * (p.kh * p.kw + 1) * int64_t(sizeof(accumulator_t<T>));
  return plan;
}

// kUnsupported where a tile's staged input does not fit shared memory (very long windows at large
// dilations) or the grid is too large: the caller then has no other path and raises.
template <class T>
LaunchStatus launch_window_grad_weight(WindowGradWeightParams const& p, WindowGradWeightPlan const& plan,
                                       cudaStream_t stream) {
  using Acc = accumulator_t<T>;
  window::GradWeightGeometry g{};
  g.tile_rows = int(plan.tile_rows);
  g.tile_cols = int(plan.tile_cols);
  int64_t const x_rows = (plan.tile_rows - 1) * p.stride_h + (p.kh - 1) * p.dilation_h + 1;
  int const kSw = (p.dilation_w == 1 && (p.stride_w == 1 || p.stride_w == 2)) ? int(p.stride_w) : 0;
  // Fixed strides read a whole span past each run of 8 outputs: (8 - 1) * Sw + 8 columns.
  int64_t const task_blocks = (p.kw + window::kTaskTaps - 1) / window::kTaskTaps;
  // (the last run's read reaches (tile_cols - 8) * kSw + (task_blocks - 1) * 8 + the rounded span)
  int64_t const span_read = ((window::kTaskTaps - 1) * kSw + window::kTaskTaps + 3) / 4 * 4;
  int64_t const x_cols_read = kSw > 0 ? (plan.tile_cols - window::kTaskTaps) * kSw +
                                            (task_blocks - 1) * window::kTaskTaps + span_read
                                      : (plan.tile_cols - 1) * p.stride_w + (p.kw - 1) * p.dilation_w + 1;
  int64_t const x_cols = (plan.tile_cols - 1) * p.stride_w + (p.kw - 1) * p.dilation_w + 1;
  g.x_rows = int(x_rows);
  g.x_cols = int(std::max(x_cols, x_cols_read));
  g.x_pitch = int((std::max(x_cols, x_cols_read) + 3) / 4 * 4);
  g.g_pitch = g.tile_cols;
  g.tasks = int(p.kh * task_blocks);
  g.groups = std::max(1, window::kGradThreads / std::max(1, g.tasks));
  int64_t const red_elems = std::max<int64_t>(int64_t(g.groups) * g.tasks * window::kTaskTaps, window::kGradThreads);
  int64_t const smem_bytes =
      (int64_t(g.tile_rows) * g.g_pitch + int64_t(g.x_rows) * g.x_pitch + red_elems) * int64_t(sizeof(Acc));
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;
  int64_t const blocks = p.C * plan.tiles_per_channel;
  if (blocks >= (int64_t(1) << 31) || plan.tiles_per_channel >= (int64_t(1) << 31)) return LaunchStatus::kUnsupported;
  int64_t const row_tiles = (p.Ho + plan.tile_rows - 1) / plan.tile_rows;
  int64_t const col_tiles = (p.Wo + plan.tile_cols - 1) / plan.tile_cols;
  g.tiles_per_channel = plan.tiles_per_channel;
  g.tiles_per_channel_div = cutlass::FastDivmod(int(plan.tiles_per_channel));
  g.col_tiles = cutlass::FastDivmod(int(col_tiles));
  g.row_tiles = cutlass::FastDivmod(int(row_tiles));

  auto launch = [&](auto kernel_constant) {
    constexpr auto kernel = decltype(kernel_constant)::value;
    if (!KernelAttributes<kernel>::allow_shared_memory(p.device, int(smem_bytes))) return false;
    kernel<<<dim3(unsigned(blocks)), window::kGradThreads, size_t(smem_bytes), stream>>>(p, g);
    return true;
  };
  bool launched = false;
  if (kSw == 1) {
    launched = launch(std::integral_constant<decltype(&window::bwd_window_weight_kernel<T, 1>),
                                             &window::bwd_window_weight_kernel<T, 1>>{});
  } else if (kSw == 2) {
    launched = launch(std::integral_constant<decltype(&window::bwd_window_weight_kernel<T, 2>),
                                             &window::bwd_window_weight_kernel<T, 2>>{});
  } else {
    launched = launch(std::integral_constant<decltype(&window::bwd_window_weight_kernel<T, 0>),
                                             &window::bwd_window_weight_kernel<T, 0>>{});
  }
  return launched ? LaunchStatus::kLaunched : LaunchStatus::kUnsupported;
}

template <class T>
void launch_window_grad_weight_reduce(WindowGradWeightParams const& p, int64_t partials, cudaStream_t stream) {
  int64_t const work = p.C * (p.kh * p.kw + 1);
  int64_t const reduce_blocks = std::min<int64_t>((work + window::kGradThreads - 1) / window::kGradThreads,
                                                  int64_t(device_limits(p.device).multiprocessors) * 32);
  window::bwd_window_weight_reduce_kernel<T>
      <<<dim3(unsigned(reduce_blocks)), window::kGradThreads, 0, stream>>>(p, partials);
}

}  // namespace cute_dwconv
