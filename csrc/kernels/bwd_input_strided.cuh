// Input gradient of a strided strip convolution, gathered: each input element sums the taps whose
// window put it under an output. On the axis without taps, only every s-th index (shifted by the
// padding) was read by the forward pass, so the others get zero; on the tap axis an index gets the
// taps k whose i + p - k*d lands on a multiple of s. Stride 1 needs none of this: it is a forward
// convolution with flipped taps and runs on the forward kernels (see bwd_dispatch.cu).
#pragma once

#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/numeric_types.h>

#include "bwd_params.h"
#include "kernels/accumulator.h"
#include "kernels/column_walk.h"
#include "kernels/param_access.h"

namespace cute_dwconv {
namespace bwd_input {

using column_walk::kRowsPerThread;
using column_walk::kThreads;

// One thread writes kRowsPerThread rows of one input column (n, c, wi), walking grad_input as
// column_walk.h describes, coalesced on grad_input's stores. kAlongWidth: (1, K) taps.
template <class T, bool kAlongWidth>
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
  ParamReader<T> const weight{p.weight, p.weight_float32};
  // The tap axis (t) and the other one (o): rows and columns, or columns and rows.
  int64_t const s_t = kAlongWidth ? p.stride_w : p.stride_h;
  int64_t const s_o = kAlongWidth ? p.stride_h : p.stride_w;
  int64_t const p_t = kAlongWidth ? p.padding_w : p.padding_h;
  int64_t const p_o = kAlongWidth ? p.padding_h : p.padding_w;
  int64_t const out_t = kAlongWidth ? p.Wo : p.Ho;
  int64_t const out_o = kAlongWidth ? p.Ho : p.Wo;

  int64_t const work = p.N * p.C * p.W * row_chunks;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < work; i += int64_t(gridDim.x) * kThreads) {
    auto const [n, c, wi, chunk] = column_walk::locate(i, p.C, p.W, row_chunks, channels_fastest);
    int64_t const hi_begin = chunk * kRowsPerThread;
    for (int r = 0; r < kRowsPerThread; ++r) {
      int64_t const hi = hi_begin + r;
      if (hi >= p.H) break;
      int64_t const i_t = kAlongWidth ? wi : hi;
      int64_t const i_o = kAlongWidth ? hi : wi;
      // The output index on the axis without taps that read this input index, if any.
      int64_t const shifted_o = i_o + p_o;
      int64_t const o = shifted_o / s_o;
      Acc acc = Acc(0);
      if (shifted_o >= 0 && shifted_o % s_o == 0 && o < out_o) {
        for (int64_t k = 0; k < p.kernel_size; ++k) {
          int64_t const shifted_t = i_t + p_t - k * p.dilation;
          if (shifted_t < 0) break;  // and for every larger k
          int64_t const t = shifted_t / s_t;
          if (shifted_t % s_t == 0 && t < out_t) {
            Acc const g = kAlongWidth ? static_cast<Acc>(grad_out(n, c, o, t)) : static_cast<Acc>(grad_out(n, c, t, o));
            acc = fma(weight[c * p.w_stride_c + k * p.w_stride_k], g, acc);
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
  unsigned const blocks = column_walk::blocks(work, p.device);
  if (p.axis == TapAxis::kWidth) {
    bwd_input_strided_kernel<T, true><<<blocks, kThreads, 0, stream>>>(p, row_chunks, channels_fastest);
  } else {
    bwd_input_strided_kernel<T, false><<<blocks, kThreads, 0, stream>>>(p, row_chunks, channels_fastest);
  }
}

}  // namespace cute_dwconv
