// Plain description of one depthwise strip convolution call: a (K, 1) or (1, K) kernel. It crosses
// from the torch glue into the kernel translation units, which therefore never include a torch header.
#pragma once

#include <cstdint>

namespace cute_dwconv {

enum class ElementType : int { kFloat32, kFloat16, kBFloat16, kFloat64 };

// The axis the taps run along: down the height for a (K, 1) kernel ("vertical"), along the width
// for a (1, K) kernel ("horizontal"). A (1, 1) kernel is taken as vertical.
enum class TapAxis : int { kHeight, kWidth };

struct FwdParams {
  ElementType dtype;
  TapAxis axis;

  // x is (N, C, H, W); out is (N, C, Ho, Wo). Strides are in elements and may be anything a
  // strided view can have: the tiled paths check what they need, the direct path takes any.
  const void* x;
  void* out;
  const void* weight;  // (C, 1, K, 1) or (C, 1, 1, K): tap (c, k) at c * w_stride_c + k * w_stride_k
  const void* bias;    // (C,) or nullptr
  // Weight and bias are float32 beside 16-bit x (as autocast leaves them); otherwise x's dtype.
  bool params_float32;

  int64_t N, C, H, W, Ho, Wo;
  int64_t x_stride_n, x_stride_c, x_stride_h, x_stride_w;
  int64_t out_stride_n, out_stride_c, out_stride_h, out_stride_w;
  int64_t w_stride_c, w_stride_k;
  int64_t bias_stride;

  int64_t kernel_size;  // K
  int64_t stride_h, stride_w;
  // Rows of padding above the image and columns left of it. What lies below and to the right
  // follows from Ho and Wo, so asymmetric ("same") padding needs nothing more. Either may be
  // negative in the input gradient, whose window starts inside grad_out.
  int64_t padding_h, padding_w;
  int64_t dilation;     // along the tap axis; the other axis has one tap

  int device;           // CUDA device ordinal, for its properties
};

}  // namespace cute_dwconv
