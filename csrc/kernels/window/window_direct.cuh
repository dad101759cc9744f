// The window paths that take every call: plain loads from any strides and alignment, any window,
// stride, padding and dilation, float64 included. The forward computes one output per thread; the
// input gradient at a stride above 1 gathers, per input element, the outputs whose windows hold it.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cutlass/fast_math.h>
#include <cutlass/numeric_types.h>

#include "device_limits.h"
#include "kernels/accumulator.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"
#include "window_params.h"

namespace cute_dwconv {
namespace window {

constexpr int kDirectThreads = 256;

// Element index i of an (N, C, rows, cols) walk, with the channels fastest where the tensor keeps
// them adjacent in memory (channels_last), so that a warp's reads are coalesced either way. Below
// 2^31 elements the index splits by multiplications (FastDivmod): 64-bit divisions cost a gathering
// kernel most of its time (profiling/NOTES.md, windows).
struct Walk {
  int64_t C, rows, cols;
  bool channels_fastest;
  bool small;  // the walk has fewer than 2^31 elements
  cutlass::FastDivmod C_div, rows_div, cols_div;

  Walk(int64_t C_, int64_t rows_, int64_t cols_, bool channels_fastest_, int64_t work)
      : C(C_), rows(rows_), cols(cols_), channels_fastest(channels_fastest_), small(work < (int64_t(1) << 31)) {
    if (small) {
      C_div = cutlass::FastDivmod(int(C_));
      rows_div = cutlass::FastDivmod(int(rows_));
      cols_div = cutlass::FastDivmod(int(cols_));
    }
  }

  __device__ void locate(int64_t i, int64_t& n, int64_t& c, int64_t& row, int64_t& col) const {
    if (small) {
      int rest = int(i), q, r;
      if (channels_fastest) {
        C_div(q, r, rest); c = r; rest = q;
        cols_div(q, r, rest); col = r; rest = q;
        rows_div(q, r, rest); row = r; n = q;
      } else {
        cols_div(q, r, rest); col = r; rest = q;
        rows_div(q, r, rest); row = r; rest = q;
        C_div(q, r, rest); c = r; n = q;
      }
      return;
    }
    if (channels_fastest) {
      c = i % C; i /= C;
      col = i % cols; i /= cols;
      row = i % rows; n = i / rows;
    } else {
      col = i % cols; i /= cols;
      row = i % rows; i /= rows;
      c = i % C; n = i / C;
    }
  }
};

inline unsigned direct_blocks(int64_t work, int device) {
  int64_t const wanted = (work + kDirectThreads - 1) / kDirectThreads;
  int64_t const cap = int64_t(device_limits(device).multiprocessors) * 32;
  return unsigned(wanted < cap ? (wanted > 0 ? wanted : 1) : cap);
}

template <class T>
__global__ void __launch_bounds__(kDirectThreads) fwd_window_direct_kernel(WindowParams const p, Walk const walk) {
  using Acc = accumulator_t<T>;
  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  ParamReader<T> const weight{p.weight, p.params_float32};
  ParamReader<T> const bias{p.bias, p.params_float32};
  int64_t const work = p.N * p.C * p.Ho * p.Wo;
  for (int64_t i = int64_t(blockIdx.x) * kDirectThreads + threadIdx.x; i < work;
       i += int64_t(gridDim.x) * kDirectThreads) {
    int64_t n, c, ho, wo;
    walk.locate(i, n, c, ho, wo);
    T const* const x_plane = x + n * p.x_stride_n + c * p.x_stride_c;
    Acc acc = bias ? static_cast<Acc>(bias[c * p.bias_stride]) : Acc(0);
    for (int64_t a = 0; a < p.kh; ++a) {
      int64_t const hi = ho * p.stride_h - p.padding_h + a * p.dilation_h;
      if (hi < 0 || hi >= p.H) continue;
      for (int64_t b = 0; b < p.kw; ++b) {
        int64_t const wi = wo * p.stride_w - p.padding_w + b * p.dilation_w;
        if (wi < 0 || wi >= p.W) continue;
        Acc const w = static_cast<Acc>(weight[c * p.w_stride_c + a * p.w_stride_h + b * p.w_stride_w]);
        acc = fma(w, static_cast<Acc>(x_plane[hi * p.x_stride_h + wi * p.x_stride_w]), acc);
      }
    }
    out[n * p.out_stride_n + c * p.out_stride_c + ho * p.out_stride_h + wo * p.out_stride_w] = static_cast<T>(acc);
  }
}

// The input gradient as a gather, for any stride: grad_input[n, c, h, w] sums weight[c, a, b] *
// grad_out[n, c, ho, wo] over the taps with h = ho*sh - ph + a*dh and w = wo*sw - pw + b*dw. Here
// p describes the forward call: x is grad_input's geometry (H, W, strides of out), out is grad_out.
// The strides as multiplications (FastDivmod), for the gather's divisions by them.
struct StrideDivisors {
  cutlass::FastDivmod h, w;
};

// kSmallCoords: every coordinate and extent fits an int, so the tap arithmetic runs in 32 bits with
// the divisions by the stride as multiplications (64-bit divisions made the kernel 10x slower than
// the forward on MobileNet's 3x3 at stride 2, and 32-bit ones still saturated the XU pipe).
template <class T, bool kSmallCoords>
__global__ void __launch_bounds__(kDirectThreads)
    bwd_window_input_gather_kernel(WindowParams const p, void const* grad_out, void* grad_input, Walk const walk,
                                   StrideDivisors const strides) {
  using Index = std::conditional_t<kSmallCoords, int, int64_t>;
  // quotient and remainder of v (>= 0) by a stride
  auto divide = [](cutlass::FastDivmod const& d, int64_t divisor, Index v, Index& q, Index& r) {
    if constexpr (kSmallCoords) {
      int qi, ri;
      d(qi, ri, v);
      q = qi;
      r = ri;
    } else {
      q = v / divisor;
      r = v - q * divisor;
    }
  };
  using Acc = accumulator_t<T>;
  T const* const g = static_cast<T const*>(grad_out);
  T* const gi = static_cast<T*>(grad_input);
  ParamReader<T> const weight{p.weight, p.params_float32};
  int64_t const work = p.N * p.C * p.H * p.W;
  for (int64_t i = int64_t(blockIdx.x) * kDirectThreads + threadIdx.x; i < work;
       i += int64_t(gridDim.x) * kDirectThreads) {
    int64_t n, c, h, w;
    walk.locate(i, n, c, h, w);
    T const* const g_plane = g + n * p.out_stride_n + c * p.out_stride_c;
    Acc acc = Acc(0);
    Index const sh = Index(p.stride_h), sw = Index(p.stride_w), dh = Index(p.dilation_h), dw = Index(p.dilation_w);
    Index const kh = Index(p.kh), kw = Index(p.kw), Ho = Index(p.Ho), Wo = Index(p.Wo);
    Index const top = Index(h) + Index(p.padding_h), left = Index(w) + Index(p.padding_w);
    // With unit dilation only every stride-th tap reaches an output: start at the first.
    Index const a_step = dh == 1 ? sh : 1;
    Index const b_step = dw == 1 ? sw : 1;
    Index q, a_first = 0, b_first = 0;
    if (dh == 1) divide(strides.h, sh, top, q, a_first);
    if (dw == 1) divide(strides.w, sw, left, q, b_first);
    for (Index a = a_first; a < kh; a += a_step) {
      Index const row = top - a * dh;  // ho * sh
      if (row < 0) break;
      Index ho, row_rest;
      divide(strides.h, sh, row, ho, row_rest);
      if (row_rest != 0 || ho >= Ho) continue;
      for (Index b = b_first; b < kw; b += b_step) {
        Index const col = left - b * dw;
        if (col < 0) break;
        Index wo, col_rest;
        divide(strides.w, sw, col, wo, col_rest);
        if (col_rest != 0 || wo >= Wo) continue;
        Acc const tap = static_cast<Acc>(weight[c * p.w_stride_c + int64_t(a) * p.w_stride_h + int64_t(b) * p.w_stride_w]);
        acc = fma(tap, static_cast<Acc>(g_plane[int64_t(ho) * p.out_stride_h + int64_t(wo) * p.out_stride_w]), acc);
      }
    }
    gi[n * p.x_stride_n + c * p.x_stride_c + h * p.x_stride_h + w * p.x_stride_w] = static_cast<T>(acc);
  }
}

}  // namespace window

template <class T>
LaunchStatus launch_window_direct(WindowParams const& p, cudaStream_t stream) {
  int64_t const work = p.N * p.C * p.Ho * p.Wo;
  window::Walk const walk(p.C, p.Ho, p.Wo, p.x_stride_c == 1 && p.C > 1, work);
  window::fwd_window_direct_kernel<T><<<window::direct_blocks(work, p.device), window::kDirectThreads, 0, stream>>>(p, walk);
  return LaunchStatus::kLaunched;
}

// p: the forward call's geometry with x's strides replaced by grad_input's and out's by grad_out's.
template <class T>
void launch_window_grad_input_gather(WindowParams const& p, void const* grad_out, void* grad_input,
                                     cudaStream_t stream) {
  int64_t const work = p.N * p.C * p.H * p.W;
  window::Walk const walk(p.C, p.H, p.W, p.x_stride_c == 1 && p.C > 1, work);
  constexpr int64_t kLimit = int64_t(1) << 30;
  bool const small_coords = p.H < kLimit && p.W < kLimit && p.Ho < kLimit && p.Wo < kLimit && p.padding_h < kLimit &&
                            p.padding_w < kLimit && p.kh * p.dilation_h < kLimit && p.kw * p.dilation_w < kLimit &&
                            p.stride_h < kLimit && p.stride_w < kLimit;
  auto const blocks = window::direct_blocks(work, p.device);
  window::StrideDivisors strides{};
  if (small_coords) {
    strides.h = cutlass::FastDivmod(int(p.stride_h));
    strides.w = cutlass::FastDivmod(int(p.stride_w));
    window::bwd_window_input_gather_kernel<T, true>
        <<<blocks, window::kDirectThreads, 0, stream>>>(p, grad_out, grad_input, walk, strides);
  } else {
    window::bwd_window_input_gather_kernel<T, false>
        <<<blocks, window::kDirectThreads, 0, stream>>>(p, grad_out, grad_input, walk, strides);
  }
}

}  // namespace cute_dwconv
