// Plain description of one depthwise convolution with a (Kh, Kw) window: the forward call, and the
// weight gradient's. Like dwconv_params.h it crosses from the torch glue into the kernels, which
// never include a torch header.
#pragma once

#include <cstdint>

#include "dwconv_params.h"

namespace cute_dwconv {

// out[n, c, ho, wo] = bias[c] + sum over (i, j) of
//     weight[c, i, j] * x[n, c, ho*stride_h - padding_h + i*dilation_h, wo*stride_w - padding_w + j*dilation_w]
// with x read as zero outside the image. The input gradient at stride 1 is this call on grad_out,
// with the window flipped (negative weight strides) and padding (K-1)*d - p, which may be negative.
struct WindowParams {
  ElementType dtype;

  const void* x;        // (N, C, H, W), any strides
  void* out;            // (N, C, Ho, Wo), any strides
  const void* weight;   // tap (c, i, j) at c * w_stride_c + i * w_stride_h + j * w_stride_w
  const void* bias;     // (C,) or nullptr
  bool params_float32;  // weight and bias are float32 beside 16-bit x (autocast); otherwise x's dtype

  int64_t N, C, H, W, Ho, Wo;
  int64_t x_stride_n, x_stride_c, x_stride_h, x_stride_w;
  int64_t out_stride_n, out_stride_c, out_stride_h, out_stride_w;
  int64_t w_stride_c, w_stride_h, w_stride_w;  // may be negative: a flipped window
  int64_t bias_stride;

  int64_t kh, kw;
  int64_t stride_h, stride_w;
  int64_t padding_h, padding_w;  // above and left of the image; below and right follow from Ho, Wo
  int64_t dilation_h, dilation_w;

  int device;
};

// grad_weight[c, i, j] = sum over n, ho, wo of grad_out[n, c, ho, wo] * x[n, c, ho*sh - ph + i*dh, wo*sw - pw + j*dw]
// grad_bias[c]         = sum over n, ho, wo of grad_out[n, c, ho, wo]
struct WindowGradWeightParams {
  ElementType dtype;

  const void* x;
  const void* grad_out;
  void* grad_weight;   // (C, 1, kh, kw) contiguous
  void* grad_bias;     // (C,) contiguous, or nullptr
  bool grads_float32;  // the gradients are float32 beside 16-bit x; otherwise x's dtype
  void* workspace;     // partial sums in the accumulator type: WindowGradWeightPlan::workspace_bytes

  int64_t N, C, H, W, Ho, Wo;
  int64_t x_stride_n, x_stride_c, x_stride_h, x_stride_w;
  int64_t g_stride_n, g_stride_c, g_stride_h, g_stride_w;

  int64_t kh, kw, stride_h, stride_w, padding_h, padding_w, dilation_h, dilation_w;
  int device;
};

// Tiles of output positions per channel, each summed by one block into its own slot of the
// workspace, then added in a fixed order: the same bits on every run.
struct WindowGradWeightPlan {
  int64_t tile_rows, tile_cols;  // the general kernel's output rows and columns per tile
  int64_t tiles_per_channel;     // the general kernel's partial sums per channel: N * row tiles * column tiles
  int64_t register_partials;     // a register or tensor-core kernel's partial sums per channel (0: none takes the call)
  int register_kernel;           // which register kernel planned them (the dispatch's own numbering)
  bool on_tensor_cores;          // a tensor-core kernel planned them (16-bit, stride 1: NCHW or channels_last)
  int64_t workspace_bytes;       // room for either kernel's partial sums
};

}  // namespace cute_dwconv
