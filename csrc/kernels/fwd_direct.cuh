// Direct forward kernel: the path that takes every call. Plain loads from any strides, any
// alignment, either tap axis, any K, strides, padding and dilation, float64 included. It serves
// layouts the tiled paths cannot stage (most channels_last calls, odd strides, misaligned views)
// and rings past shared memory.
#pragma once

#include <cstdint>

#include <cutlass/numeric_types.h>

#include "dwconv_params.h"
#include "kernels/accumulator.h"
#include "kernels/column_walk.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"

namespace cute_dwconv {
namespace direct {

using column_walk::kRowsPerThread;
using column_walk::kThreads;

// One thread computes kRowsPerThread consecutive output rows of one output column (n, c, wo),
// walking the output as column_walk.h describes, coalesced on x. kAlongWidth: the taps run along
// the row ((1, K) kernels); otherwise down the column.
template <class T, bool kAlongWidth>
__global__ void __launch_bounds__(kThreads)
    fwd_direct_kernel(FwdParams const p, int64_t const row_chunks, bool const channels_fastest) {
  using Acc = accumulator_t<T>;
  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};

  int64_t const work = p.N * p.C * p.Wo * row_chunks;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < work;
       i += int64_t(gridDim.x) * kThreads) {
    auto const [n, c, wo, chunk] = column_walk::locate(i, p.C, p.Wo, row_chunks, channels_fastest);
    int64_t const wi0 = wo * p.stride_w - p.padding_w;
    int64_t const x_plane = n * p.x_stride_n + c * p.x_stride_c;
    int64_t const out_column = n * p.out_stride_n + c * p.out_stride_c + wo * p.out_stride_w;
    Acc const bias_value = bias ? static_cast<Acc>(bias[c * p.bias_stride]) : Acc(0);

    int64_t const ho_begin = chunk * kRowsPerThread;
    for (int r = 0; r < kRowsPerThread; ++r) {
      int64_t const ho = ho_begin + r;
      if (ho >= p.Ho) break;
      int64_t const hi0 = ho * p.stride_h - p.padding_h;
      Acc acc = bias_value;
      // The axis without taps has one input index; outside the image, only the bias remains.
      bool const fixed_in_image = kAlongWidth ? hi0 >= 0 && hi0 < p.H : wi0 >= 0 && wi0 < p.W;
      if (fixed_in_image) {
        for (int64_t k = 0; k < p.kernel_size; ++k) {
          int64_t const hi = kAlongWidth ? hi0 : hi0 + k * p.dilation;
          int64_t const wi = kAlongWidth ? wi0 + k * p.dilation : wi0;
          bool const tap_in_image = kAlongWidth ? wi >= 0 && wi < p.W : hi >= 0 && hi < p.H;
          if (tap_in_image) {
            Acc const w = static_cast<Acc>(weight[c * p.w_stride_c + k * p.w_stride_k]);
            acc = fma(w, static_cast<Acc>(x[x_plane + hi * p.x_stride_h + wi * p.x_stride_w]), acc);
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
  int64_t const row_chunks = column_walk::row_chunks(p.Ho);
  int64_t const work = p.N * p.C * p.Wo * row_chunks;
  bool const channels_fastest = column_walk::channels_fastest(p.C, p.x_stride_c, p.W, p.x_stride_w);
  unsigned const blocks = column_walk::blocks(work, p.device);
  if (p.axis == TapAxis::kWidth) {
    direct::fwd_direct_kernel<T, true><<<blocks, direct::kThreads, 0, stream>>>(p, row_chunks, channels_fastest);
  } else {
    direct::fwd_direct_kernel<T, false><<<blocks, direct::kThreads, 0, stream>>>(p, row_chunks, channels_fastest);
  }
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
