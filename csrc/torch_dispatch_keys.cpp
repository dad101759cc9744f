// Kernels for dispatch keys other than the backends: autocast for the functional forwards, and the
// out variants' refusal of autograd.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <array>
#include <optional>

#include "torch_common.h"

namespace cute_dwconv {
namespace {

// As nn.Conv2d under torch.autocast("cuda"): x is cast to the autocast dtype (float64 excepted, as
// autocast leaves it), then the operator runs with autocast off. Where that makes x 16-bit and the
// weight and bias are float32 CUDA tensors, they stay float32 and _strip_conv2d_float_params reads
// them as they are: no cast of either forward, no gradient cast backward, and their gradients come
// back float32 (a layer's host time under autocast is mostly those casts: profiling/NOTES.md, host
// path). The result differs from nn.Conv2d's only by the weights' rounding to 16 bits, which ours
// skips. Otherwise every floating-point argument is cast, as autocast's own kernels do; casting
// through cached_cast keeps autograd through the casts and reuses a weight's cast within a region.
// Unboxed, as PyTorch's autocast kernels are.
bool keeps_float_params(at::Tensor const& x_cast, at::Tensor const& weight, std::optional<at::Tensor> const& bias) {
  auto float_on_cuda = [](at::Tensor const& t) { return t.scalar_type() == at::kFloat && t.is_cuda(); };
  bool const sixteen_bit = x_cast.scalar_type() == at::kHalf || x_cast.scalar_type() == at::kBFloat16;
  return sixteen_bit && x_cast.is_cuda() && float_on_cuda(weight) && (!bias.has_value() || float_on_cuda(*bias));
}

// `op` and its float-parameter twin `float_params_op` (strip_conv2d's or depthwise_conv2d's).
at::Tensor autocast_forward(c10::TypedOperatorHandle<StripForward> const& op,
                            c10::TypedOperatorHandle<StripForward> const& float_params_op, at::Tensor const& x,
                            at::Tensor const& weight, std::optional<at::Tensor> const& bias, at::IntArrayRef stride,
                            at::IntArrayRef padding, at::IntArrayRef dilation) {
  c10::impl::ExcludeDispatchKeyGuard const no_autocast(c10::DispatchKey::AutocastCUDA);
  at::ScalarType const dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  at::Tensor const x_cast = at::autocast::cached_cast(dtype, x);
  if (keeps_float_params(x_cast, weight, bias)) {
    return float_params_op.call(x_cast, weight, bias, stride, padding, dilation);
  }
  return op.call(x_cast, at::autocast::cached_cast(dtype, weight), at::autocast::cached_cast(dtype, bias), stride,
                 padding, dilation);
}

at::Tensor strip_conv2d_autocast(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                                 at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::strip_conv2d");
  static auto const float_params_op = operator_handle<StripForward>("cute_dwconv::_strip_conv2d_float_params");
  return autocast_forward(op, float_params_op, x, weight, bias, stride, padding, dilation);
}

at::Tensor depthwise_conv2d_autocast(at::Tensor const& x, at::Tensor const& weight,
                                     std::optional<at::Tensor> const& bias, at::IntArrayRef stride,
                                     at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::depthwise_conv2d");
  static auto const float_params_op = operator_handle<StripForward>("cute_dwconv::_depthwise_conv2d_float_params");
  return autocast_forward(op, float_params_op, x, weight, bias, stride, padding, dilation);
}

// dwconv_kx1 takes the float-parameter path as strip_conv2d with its ints for both axes, once its
// own checks have passed, so that its messages stay its own.
at::Tensor dwconv_kx1_autocast(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                               int64_t stride, int64_t padding, int64_t dilation) {
  static auto const op = operator_handle<Kx1Forward>("cute_dwconv::dwconv_kx1");
  static auto const float_params_op = operator_handle<StripForward>("cute_dwconv::_strip_conv2d_float_params");
  c10::impl::ExcludeDispatchKeyGuard const no_autocast(c10::DispatchKey::AutocastCUDA);
  at::ScalarType const dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  at::Tensor const x_cast = at::autocast::cached_cast(dtype, x);
  bool const kx1_weight = x.dim() == 4 && weight.dim() == 4 && weight.size(0) == x.size(1) && weight.size(1) == 1 &&
                          weight.size(3) == 1;
  if (kx1_weight && keeps_float_params(x_cast, weight, bias)) {
    symmetric_args(stride, padding, dilation);  // dwconv_kx1's messages for its int arguments
    std::array<int64_t, 2> const s{stride, stride}, p{padding, padding}, d{dilation, dilation};
    return float_params_op.call(x_cast, weight, bias, s, p, d);
  }
  return op.call(x_cast, at::autocast::cached_cast(dtype, weight), at::autocast::cached_cast(dtype, bias), stride,
                 padding, dilation);
}

// As PyTorch's out= functions: no autograd through a write into a given tensor, so a call that
// would need it raises instead of silently dropping the gradient. Boxed: one function serves all
// the out variants, which are not on a training step's path.
void refuse_autograd(c10::OperatorHandle const& op, c10::DispatchKeySet keys, torch::jit::Stack* stack) {
  size_t const arguments = op.schema().arguments().size();
  if (at::GradMode::is_enabled()) {
    for (size_t i = stack->size() - arguments; i < stack->size(); ++i) {
      c10::IValue const& value = (*stack)[i];
      TORCH_CHECK(!(value.isTensor() && value.toTensor().requires_grad()), "cute_dwconv: ", op.schema().name(),
                  "(): functions with out=... arguments don't support automatic differentiation, but one of the "
                  "arguments requires grad. Call the functional form, or run under torch.no_grad().");
    }
  }
  op.redispatchBoxed(keys & c10::after_autograd_keyset, stack);
}

}  // namespace

TORCH_LIBRARY_IMPL(cute_dwconv, AutocastCUDA, m) {
  m.impl("strip_conv2d", &strip_conv2d_autocast);
  m.impl("dwconv_kx1", &dwconv_kx1_autocast);
  m.impl("depthwise_conv2d", &depthwise_conv2d_autocast);
}

TORCH_LIBRARY_IMPL(cute_dwconv, Autograd, m) {
  for (char const* name : {"strip_conv2d_out", "_strip_conv2d_path_out", "dwconv_kx1_out", "_dwconv_kx1_path_out",
                           "_depthwise_conv2d_path_out"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&refuse_autograd>());
  }
}

}  // namespace cute_dwconv
