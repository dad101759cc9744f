// Plain descriptions of the backward calls, for the kernel translation units (no torch headers).
#pragma once

#include <cstdint>

#include "dwconv_params.h"
#include "window_params.h"

namespace cute_dwconv {

// grad_input (N, C, H, W) from grad_out (N, C, Ho, Wo) and the weight; the kernel, strides, padding
// (above and left) and dilation are the forward call's.
struct BwdInputParams {
  ElementType dtype;
  TapAxis axis;

  const void* grad_out;
  void* grad_input;
  const void* weight;  // tap (c, k) at c * w_stride_c + k * w_stride_k
  bool weight_float32;  // float32 beside 16-bit grad_out (as autocast leaves it); otherwise grad_out's dtype

  int64_t N, C, H, W, Ho, Wo;
  int64_t g_stride_n, g_stride_c, g_stride_h, g_stride_w;
  int64_t gi_stride_n, gi_stride_c, gi_stride_h, gi_stride_w;
  int64_t w_stride_c, w_stride_k;

  int64_t kernel_size, stride_h, stride_w, padding_h, padding_w, dilation;
  int device;
};

// grad_weight and grad_bias (C,) from x (N, C, H, W) and grad_out (N, C, Ho, Wo). With taps down the
// height (the other axis likewise):
//   grad_weight[c, k] = sum over n, ho, wo of grad_out[n, c, ho, wo] * x[n, c, ho*sh - ph + k*d, wo*sw - pw]
//   grad_bias[c]      = sum over n, ho, wo of grad_out[n, c, ho, wo]
struct BwdWeightParams {
  ElementType dtype;
  TapAxis axis;

  const void* x;
  const void* grad_out;
  void* grad_weight;  // tap (c, k) at c * gw_stride_c + k * gw_stride_k
  void* grad_bias;    // (C,)
  bool grads_float32;  // grad_weight and grad_bias are float32 beside 16-bit x; otherwise x's dtype
  void* workspace;    // per-tile partial sums; BwdWeightPlan::workspace_bytes of them

  int64_t N, C, H, W, Ho, Wo;
  int64_t x_stride_n, x_stride_c, x_stride_h, x_stride_w;
  int64_t g_stride_n, g_stride_c, g_stride_h, g_stride_w;
  int64_t gw_stride_c, gw_stride_k;
  int64_t gb_stride;

  int64_t kernel_size, stride_h, stride_w, padding_h, padding_w, dilation;
  int device;
};

// How the reduction is split: each (n, c) plane into `segments` row segments, one partial sum per
// (channel, n, segment) and per tap (plus the bias), summed in a fixed order by a second kernel so
// that every run gives the same bits.
struct BwdWeightPlan {
  int64_t segments;
  int64_t rows_per_segment;
  int64_t workspace_bytes;
  // channels_last calls that one of the window family's register kernels takes run there instead
  // (see strip_backward_weight_plan); its plan, whose workspace_bytes the field above covers.
  bool on_window;
  WindowGradWeightPlan window;
  // NCHW strips of the table run on staged rows (bwd_weight_staged.cuh), writing this many partial
  // sums a channel (0: they do not); workspace_bytes covers them.
  int64_t staged_partials;
};

}  // namespace cute_dwconv
