// Plain description of one (K, 1) depthwise convolution call. It crosses from the torch glue into
// the kernel translation units, which therefore never include a torch header.
#pragma once

#include <cstdint>

namespace cute_dwconv {

enum class ElementType : int { kFloat32, kFloat16, kBFloat16, kFloat64 };

struct FwdParams {
  ElementType dtype;

  // x is (N, C, H, W); out is (N, C, Ho, Wo). Strides are in elements and may be anything a
  // strided view can have: the tiled path checks what it needs, the direct path takes any.
  const void* x;
  void* out;
  const void* weight;  // (C, 1, K, 1): element (c, k) at c * w_stride_c + k * w_stride_k
  const void* bias;    // (C,) or nullptr

  int64_t N, C, H, W, Ho, Wo;
  int64_t x_stride_n, x_stride_c, x_stride_h, x_stride_w;
  int64_t out_stride_n, out_stride_c, out_stride_h, out_stride_w;
  int64_t w_stride_c, w_stride_k;
  int64_t bias_stride;

  int64_t kernel_size;  // K
  int64_t stride;       // same along height and width
  int64_t padding;      // rows of padding above and below
  int64_t padding_w;    // columns of padding left and right: nn.Conv2d's padding again, except in
                        // the input gradient, which runs this convolution with other paddings
                        // (either may then be negative: the window starts inside the input)
  int64_t dilation;     // height only matters: the kernel is one column wide

  int device;           // CUDA device ordinal, for its properties
};

}  // namespace cute_dwconv
