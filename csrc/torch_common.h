// Helpers shared by the forward and backward torch glue.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "dwconv_params.h"

namespace cute_dwconv {

// PyTorch's output size: floor((in + 2p - d(k-1) - 1) / s) + 1, or <= 0 when the kernel's reach
// exceeds the padded input.
inline int64_t output_extent(int64_t in, int64_t padding, int64_t taps, int64_t stride, int64_t dilation) {
  int64_t const numerator = in + 2 * padding - dilation * (taps - 1) - 1;
  return numerator < 0 ? 0 : numerator / stride + 1;
}

// `what` names the tensor whose dtype decides, for the message.
inline ElementType element_type(at::ScalarType dtype, char const* what = "x") {
  switch (dtype) {
    case at::kFloat: return ElementType::kFloat32;
    case at::kHalf: return ElementType::kFloat16;
    case at::kBFloat16: return ElementType::kBFloat16;
    case at::kDouble: return ElementType::kFloat64;
    default:
      TORCH_CHECK_TYPE(false, "cute_dwconv: ", what, " has dtype ", dtype,
                       "; supported dtypes are float32, float16, bfloat16 and float64");
  }
}

// x is (N, C, H, W) with C, H and W at least 1 (N may be 0).
inline void check_input_shape(at::Tensor const& x) {
  TORCH_CHECK(x.dim() == 4, "cute_dwconv: x must be a 4-D (N, C, H, W) tensor, got shape ", x.sizes());
  TORCH_CHECK(x.size(1) > 0 && x.size(2) > 0 && x.size(3) > 0,
              "cute_dwconv: x must have C, H and W of at least 1 (only N may be 0), got shape ", x.sizes());
}

// weight is (C, 1, K, 1) with K >= 1; `channels_of` names the tensor whose channels C counts.
inline void check_weight_shape(at::Tensor const& weight, int64_t C, char const* channels_of) {
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == C && weight.size(1) == 1 && weight.size(2) >= 1 &&
                  weight.size(3) == 1,
              "cute_dwconv: weight must have shape (C, 1, K, 1) with C = ", C, " (", channels_of,
              "'s channels) and K >= 1, got ", weight.sizes());
}

inline void check_conv_args(int64_t stride, int64_t padding, int64_t dilation) {
  TORCH_CHECK(stride >= 1, "cute_dwconv: stride must be >= 1, got ", stride);
  TORCH_CHECK(dilation >= 1, "cute_dwconv: dilation must be >= 1, got ", dilation);
  TORCH_CHECK(padding >= 0, "cute_dwconv: padding must be >= 0, got ", padding);
}

// `ref` (named `ref_name`) sets the dtype and device for every further tensor of the call. Dtypes
// are checked before devices, so that a CPU call with mixed dtypes hears about the dtypes.
inline void check_same_dtype(at::Tensor const& t, char const* name, at::Tensor const& ref, char const* ref_name) {
  TORCH_CHECK_TYPE(t.scalar_type() == ref.scalar_type(), "cute_dwconv: ", name, " has dtype ", t.scalar_type(),
                   " but ", ref_name, " has dtype ", ref.scalar_type(), "; they must match");
}

inline void check_same_device(at::Tensor const& t, char const* name, at::Tensor const& ref, char const* ref_name) {
  TORCH_CHECK(t.device() == ref.device(), "cute_dwconv: ", name, " must be on ", ref_name, "'s device ",
              ref.device(), ", got ", t.device());
}

}  // namespace cute_dwconv
