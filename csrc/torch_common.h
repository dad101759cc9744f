// Argument checks and parsing shared by the forward and backward torch glue.
#pragma once

#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdint>
#include <optional>
#include <utility>

#include "dwconv_params.h"

namespace cute_dwconv {

// The typed handle of one of our operators, for kernels that call another dispatch key's kernel
// (hold it in a function-local static: the lookup takes the dispatcher's lock).
template <class Signature>
c10::TypedOperatorHandle<Signature> operator_handle(char const* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// PyTorch's output size: floor((in + padding - d(k-1) - 1) / s) + 1 with `padding` the total of
// both sides, or <= 0 when the kernel's reach exceeds the padded input.
inline int64_t output_extent(int64_t in, int64_t padding, int64_t taps, int64_t stride, int64_t dilation) {
  int64_t const numerator = in + padding - dilation * (taps - 1) - 1;
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

// nn.Conv2d's per-axis arguments, resolved: strides and dilations per axis, padding per side.
struct StripArgs {
  int64_t stride_h, stride_w;
  int64_t pad_top, pad_bottom, pad_left, pad_right;
  int64_t dilation_h, dilation_w;
};

// stride and dilation: one value for both axes or (h, w); padding: one value, (h, w) for both sides
// of each axis, or (top, bottom, left, right).
inline StripArgs strip_args(at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  TORCH_CHECK(stride.size() == 1 || stride.size() == 2, "cute_dwconv: stride must be an int or a pair of ints, got ",
              stride);
  TORCH_CHECK(dilation.size() == 1 || dilation.size() == 2,
              "cute_dwconv: dilation must be an int or a pair of ints, got ", dilation);
  TORCH_CHECK(padding.size() == 1 || padding.size() == 2 || padding.size() == 4,
              "cute_dwconv: padding must be an int, a pair of ints (height, width) or four ints "
              "(top, bottom, left, right), got ", padding);
  StripArgs a{};
  a.stride_h = stride[0];
  a.stride_w = stride.back();
  a.dilation_h = dilation[0];
  a.dilation_w = dilation.back();
  if (padding.size() == 4) {
    a.pad_top = padding[0]; a.pad_bottom = padding[1]; a.pad_left = padding[2]; a.pad_right = padding[3];
  } else {
    a.pad_top = a.pad_bottom = padding[0];
    a.pad_left = a.pad_right = padding.back();
  }
  TORCH_CHECK(a.stride_h >= 1 && a.stride_w >= 1, "cute_dwconv: stride must be >= 1, got ", stride);
  TORCH_CHECK(a.dilation_h >= 1 && a.dilation_w >= 1, "cute_dwconv: dilation must be >= 1, got ", dilation);
  TORCH_CHECK(a.pad_top >= 0 && a.pad_bottom >= 0 && a.pad_left >= 0 && a.pad_right >= 0,
              "cute_dwconv: padding must be >= 0, got ", padding);
  return a;
}

// dwconv_kx1's int arguments, applied to both axes as nn.Conv2d applies an int.
inline StripArgs symmetric_args(int64_t stride, int64_t padding, int64_t dilation) {
  TORCH_CHECK(stride >= 1, "cute_dwconv: stride must be >= 1, got ", stride);
  TORCH_CHECK(dilation >= 1, "cute_dwconv: dilation must be >= 1, got ", dilation);
  TORCH_CHECK(padding >= 0, "cute_dwconv: padding must be >= 0, got ", padding);
  return {stride, stride, padding, padding, padding, padding, dilation, dilation};
}

// The (K, 1) or (1, K) kernel a weight describes.
struct StripKernel {
  TapAxis axis;
  int64_t taps;     // K
  int64_t kh, kw;   // the kernel's extent along each axis
  int64_t dilation; // along the tap axis
};

// weight is (C, 1, K, 1), or with allow_horizontal also (C, 1, 1, K); `channels_of` names the tensor
// whose channels C counts.
inline StripKernel strip_kernel(at::Tensor const& weight, int64_t C, char const* channels_of, StripArgs const& args,
                                bool allow_horizontal = true) {
  bool const four_d = weight.dim() == 4 && weight.size(0) == C && weight.size(1) == 1;
  bool const vertical = four_d && weight.size(2) >= 1 && weight.size(3) == 1;
  bool const horizontal = allow_horizontal && four_d && weight.size(2) == 1 && weight.size(3) > 1;
  TORCH_CHECK(vertical || horizontal, "cute_dwconv: weight must have shape ",
              allow_horizontal ? "(C, 1, K, 1) or (C, 1, 1, K)" : "(C, 1, K, 1)", " with C = ", C, " (",
              channels_of, "'s channels) and K >= 1, got ", weight.sizes());
  if (vertical) return {TapAxis::kHeight, weight.size(2), weight.size(2), 1, args.dilation_h};
  return {TapAxis::kWidth, weight.size(3), 1, weight.size(3), args.dilation_w};
}

// (Ho, Wo) for an input of height H and width W; raises, naming the axis, when either is <= 0.
inline std::pair<int64_t, int64_t> output_size(int64_t H, int64_t W, StripKernel const& k, StripArgs const& a) {
  int64_t const pad_h = a.pad_top + a.pad_bottom, pad_w = a.pad_left + a.pad_right;
  int64_t const Ho = output_extent(H, pad_h, k.kh, a.stride_h, a.dilation_h);
  int64_t const Wo = output_extent(W, pad_w, k.kw, a.stride_w, a.dilation_w);
  TORCH_CHECK(Ho > 0, "cute_dwconv: output height would be ", Ho, ": the kernel reaches dilation*(kh-1)+1 = ",
              a.dilation_h * (k.kh - 1) + 1, " rows but the padded input has H + padding = ", H + pad_h);
  TORCH_CHECK(Wo > 0, "cute_dwconv: output width would be ", Wo, ": the kernel reaches dilation*(kw-1)+1 = ",
              a.dilation_w * (k.kw - 1) + 1, " columns but the padded input has W + padding = ", W + pad_w);
  return {Ho, Wo};
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

// The forward operators' signatures: strip_conv2d's (and _strip_conv2d_float_params's) and dwconv_kx1's.
using StripForward = at::Tensor(at::Tensor const&, at::Tensor const&, std::optional<at::Tensor> const&,
                                at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);
using Kx1Forward = at::Tensor(at::Tensor const&, at::Tensor const&, std::optional<at::Tensor> const&, int64_t,
                              int64_t, int64_t);

// A weight or bias: in `ref`'s dtype, or with float_params float32 beside a float16 or bfloat16
// `ref` (what the private *_float_params operators take: autocast leaves the parameters float32).
inline void check_param_dtype(at::Tensor const& t, char const* name, at::Tensor const& ref, char const* ref_name,
                              bool float_params) {
  if (!float_params) return check_same_dtype(t, name, ref, ref_name);
  bool const sixteen_bit = ref.scalar_type() == at::kHalf || ref.scalar_type() == at::kBFloat16;
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat && sixteen_bit, "cute_dwconv: ", name,
                   " must be float32 beside a float16 or bfloat16 ", ref_name, ", got ", name, " of dtype ",
                   t.scalar_type(), " and ", ref_name, " of dtype ", ref.scalar_type());
}

inline void check_cuda(at::Tensor const& t, char const* name) {
  TORCH_CHECK(t.is_cuda(), "cute_dwconv: ", name, " must be a CUDA tensor, got a tensor on ", t.device());
}

// The checks every operator makes, in the order the messages should come: shapes, then dtypes, then
// devices (so that a CPU call with mixed dtypes hears about the dtypes).

// bias, if given, is (C,) to match x's channels.
inline void check_bias_shape(std::optional<at::Tensor> const& bias, int64_t C) {
  if (bias.has_value()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == C, "cute_dwconv: bias must have shape (", C,
                ",) to match x's channels, got ", bias->sizes());
  }
}

// A forward's dtypes and devices: x of a supported dtype on a CUDA device, weight and bias of its
// dtype (float32 beside 16-bit x with float_params) on its device.
inline void check_forward_tensors(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                                  bool float_params) {
  element_type(x.scalar_type());
  check_param_dtype(weight, "weight", x, "x", float_params);
  if (bias.has_value()) check_param_dtype(*bias, "bias", x, "x", float_params);
  check_cuda(x, "x");
  check_same_device(weight, "weight", x, "x");
  if (bias.has_value()) check_same_device(*bias, "bias", x, "x");
}

// An input gradient's dtypes and devices (float_weight: a float32 weight beside 16-bit grad_out).
inline void check_grad_input_tensors(at::Tensor const& grad_out, at::Tensor const& weight, bool float_weight) {
  element_type(grad_out.scalar_type(), "grad_out");
  check_param_dtype(weight, "weight", grad_out, "grad_out", float_weight);
  check_cuda(grad_out, "grad_out");
  check_same_device(weight, "weight", grad_out, "grad_out");
}

// A weight gradient's dtypes and devices (float_grads: float32 gradients for a 16-bit x).
inline void check_grad_weight_tensors(at::Tensor const& grad_out, at::Tensor const& x, bool float_grads) {
  element_type(x.scalar_type());
  check_same_dtype(grad_out, "grad_out", x, "x");
  check_cuda(x, "x");
  check_same_device(grad_out, "grad_out", x, "x");
  TORCH_CHECK_TYPE(!float_grads || x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16,
                   "cute_dwconv: float32 weight gradients are for a float16 or bfloat16 x, got x of dtype ",
                   x.scalar_type());
}

// An out= tensor: x's device and dtype, shape (N, C, Ho, Wo), no self-overlap, no overlap with x.
inline void check_out(at::Tensor const& out, at::Tensor const& x, int64_t N, int64_t C, int64_t Ho, int64_t Wo) {
  TORCH_CHECK(out.device() == x.device(), "cute_dwconv: out must be on x's device ", x.device(), ", got ",
              out.device());
  TORCH_CHECK_TYPE(out.scalar_type() == x.scalar_type(), "cute_dwconv: out has dtype ", out.scalar_type(),
                   " but x has dtype ", x.scalar_type(), "; they must match");
  TORCH_CHECK(out.dim() == 4 && out.size(0) == N && out.size(1) == C && out.size(2) == Ho && out.size(3) == Wo,
              "cute_dwconv: out must have shape (", N, ", ", C, ", ", Ho, ", ", Wo, "), got ", out.sizes());
  TORCH_CHECK(at::has_internal_overlap(out) != at::MemOverlap::Yes,
              "cute_dwconv: out must not have elements that share memory (an expanded tensor, say)");
  // Byte ranges, not element sets: conservative for interleaved views, but never misses a real overlap.
  auto span = [](at::Tensor const& t) {
    int64_t last = 0;
    for (int64_t d = 0; d < t.dim(); ++d) last += (t.size(d) - 1) * t.stride(d);
    char const* begin = static_cast<char const*>(t.const_data_ptr());
    return std::make_pair(begin, begin + (last + 1) * t.element_size());
  };
  auto const out_span = span(out);
  auto const x_span = span(x);
  TORCH_CHECK(out.numel() == 0 || x.numel() == 0 || out_span.second <= x_span.first || x_span.second <= out_span.first,
              "cute_dwconv: out must not overlap the memory of x");
}

}  // namespace cute_dwconv
