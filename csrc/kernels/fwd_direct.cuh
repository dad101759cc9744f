// Direct forward kernel: the path that takes every call. Plain loads from any strides, any
// alignment, any K, stride, padding and dilation, float64 included. It serves layouts the tiled
// path cannot stage (channels_last, odd strides, misaligned views) and ring sizes past shared memory.
#pragma once

#include <cstdint>

#include <cutlass/numeric_types.h>

#include "device_limits.h"
#include "dwconv_params.h"
#include "kernels/accumulator.h"
#include "kernels/launch.h"

namespace cute_dwconv {
namespace direct {

constexpr int kThreads = 256;
constexpr int kRowsPerThread = 8;

// One thread computes kRowsPerThread consecutive output rows of one output column (n, c, wo).
// Consecutive threads take consecutive columns along whichever of W and C has the smaller stride
// in x, so a warp's loads are coalesced for NCHW and channels_last alike.
template <class T>
__global__ void __launch_bounds__(kThreads)
    fwd_direct_kernel(FwdParams const p, int64_t const row_chunks, bool const channels_fastest) {
  using Acc = accumulator_t<T>;
  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  T const* const weight = static_cast<T const*>(p.weight);
  T const* const bias = static_cast<T const*>(p.bias);

  int64_t const work = p.N * p.C * p.Wo * row_chunks;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < work;
       i += int64_t(gridDim.x) * kThreads) {
    int64_t rest = i, n, c, wo, chunk;
    if (channels_fastest) {
      c = rest % p.C;  rest /= p.C;
      wo = rest % p.Wo; rest /= p.Wo;
      chunk = rest % row_chunks;
      n = rest / row_chunks;
    } else {
      wo = rest % p.Wo; rest /= p.Wo;
      chunk = rest % row_chunks; rest /= row_chunks;
      c = rest % p.C;
      n = rest / p.C;
    }
    int64_t const wi = wo * p.stride - p.padding_w;
    bool const column_in_image = wi >= 0 && wi < p.W;
    int64_t const x_column = n * p.x_stride_n + c * p.x_stride_c + wi * p.x_stride_w;
    int64_t const out_column = n * p.out_stride_n + c * p.out_stride_c + wo * p.out_stride_w;
    Acc const bias_value = bias ? static_cast<Acc>(bias[c * p.bias_stride]) : Acc(0);

    int64_t const ho_begin = chunk * kRowsPerThread;
    for (int r = 0; r < kRowsPerThread; ++r) {
      int64_t const ho = ho_begin + r;
      if (ho >= p.Ho) break;
      Acc acc = bias_value;
      if (column_in_image) {
        for (int64_t k = 0; k < p.kernel_size; ++k) {
          int64_t const hi = ho * p.stride - p.padding + k * p.dilation;
          if (hi >= 0 && hi < p.H) {
            Acc const w = static_cast<Acc>(weight[c * p.w_stride_c + k * p.w_stride_k]);
            acc = fma(w, static_cast<Acc>(x[x_column + hi * p.x_stride_h]), acc);
          }
        }
      }
      out[out_column + ho * p.out_stride_h] = static_cast<T>(acc);
    }
  }
}

}  // namespace direct

template <class T>
LaunchStatus launch_fwd_direct(FwdParams const& p, cudaStream_t stream) {
  int64_t const row_chunks = (p.Ho + direct::kRowsPerThread - 1) / direct::kRowsPerThread;
  int64_t const work = p.N * p.C * p.Wo * row_chunks;
  // A size-1 dimension's stride says nothing about the layout.
  int64_t const huge = int64_t(1) << 62;
  int64_t const c_stride = p.C > 1 ? (p.x_stride_c < 0 ? -p.x_stride_c : p.x_stride_c) : huge;
  int64_t const w_stride = p.W > 1 ? (p.x_stride_w < 0 ? -p.x_stride_w : p.x_stride_w) : huge;
  bool const channels_fastest = c_stride < w_stride;

  int64_t const max_blocks = int64_t(device_limits(p.device).multiprocessors) * 32;
  int64_t blocks = (work + direct::kThreads - 1) / direct::kThreads;
  if (blocks > max_blocks) blocks = max_blocks;
  direct::fwd_direct_kernel<T><<<unsigned(blocks), direct::kThreads, 0, stream>>>(p, row_chunks, channels_fastest);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
