// Input gradient of a strided (K, 1) convolution, gathered: each input element sums the taps whose
// window put it under an output. With stride s only every s-th column (shifted by the padding) was
// read by the forward pass, so the other columns get zero, and a row gets the taps k whose
// hi + p - k*d lands on a multiple of s. Stride 1 needs none of this: it is a forward convolution
// with flipped taps and runs on the forward kernels (see bwd_dispatch.cu).
#pragma once

#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/numeric_types.h>

#include "bwd_params.h"
#include "kernels/accumulator.h"
#include "kernels/column_walk.h"

namespace cute_dwconv {
namespace bwd_input {

using column_walk::kRowsPerThread;
using column_walk::kThreads;

// One thread writes kRowsPerThread rows of one input column (n, c, wi), walking grad_input as
// column_walk.h describes, coalesced on grad_input's stores.
template <class T>
__global__ void __launch_bounds__(kThreads)
    bwd_input_strided_kernel(BwdInputParams const p, int64_t const row_chunks, bool const channels_fastest) {
  using namespace cute;
  using Acc = accumulator_t<T>;
  Tensor grad_out = make_tensor(make_gmem_ptr(static_cast<T const*>(p.grad_out)),
                                make_layout(make_shape(p.N, p.C, p.Ho, p.Wo),
                                            make_stride(p.g_stride_n, p.g_stride_c, p.g_stride_h, p.g_stride_w)));
  Tensor grad_in = make_tensor(make_gmem_ptr(static_cast<T*>(p.grad_input)),
                               make_layout(make_shape(p.N, p.C, p.H, p.W),
                                           make_stride(p.gi_stride_n, p.gi_stride_c, p.gi_stride_h, p.gi_stride_w)));
  Tensor weight = make_tensor(make_gmem_ptr(static_cast<T const*>(p.weight)),
                              make_layout(make_shape(p.C, p.kernel_size), make_stride(p.w_stride_c, p.w_stride_k)));
  int64_t const s = p.stride;

  int64_t const work = p.N * p.C * p.W * row_chunks;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < work; i += int64_t(gridDim.x) * kThreads) {
    auto const [n, c, wi, chunk] = column_walk::locate(i, p.C, p.W, row_chunks, channels_fastest);
    // The output column that read this input column, if any.
    int64_t const shifted_col = wi + p.padding;
    int64_t const wo = shifted_col / s;
    bool const column_read = shifted_col % s == 0 && wo < p.Wo;

    int64_t const hi_begin = chunk * kRowsPerThread;
    for (int r = 0; r < kRowsPerThread; ++r) {
      int64_t const hi = hi_begin + r;
      if (hi >= p.H) break;
      Acc acc = Acc(0);
      if (column_read) {
        for (int64_t k = 0; k < p.kernel_size; ++k) {
          int64_t const shifted_row = hi + p.padding - k * p.dilation;
          if (shifted_row < 0) break;  // and for every larger k
          int64_t const ho = shifted_row / s;
          if (shifted_row % s == 0 && ho < p.Ho) {
            acc = fma(static_cast<Acc>(weight(c, k)), static_cast<Acc>(grad_out(n, c, ho, wo)), acc);
          }
        }
      }
      grad_in(n, c, hi, wi) = static_cast<T>(acc);
    }
  }
}

}  // namespace bwd_input

template <class T>
void launch_bwd_input_strided(BwdInputParams const& p, cudaStream_t stream) {
  using namespace bwd_input;
  int64_t const row_chunks = column_walk::row_chunks(p.H);
  int64_t const work = p.N * p.C * p.W * row_chunks;
  if (work == 0) return;
  bool const channels_fastest = column_walk::channels_fastest(p.C, p.gi_stride_c, p.W, p.gi_stride_w);
  bwd_input_strided_kernel<T><<<column_walk::blocks(work, p.device), kThreads, 0, stream>>>(p, row_chunks,
                                                                                            channels_fastest);
}

}  // namespace cute_dwconv
