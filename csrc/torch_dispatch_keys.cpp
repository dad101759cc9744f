// Kernels for dispatch keys other than the backends: autocast for the functional forwards, and the
// out variants' refusal of autograd.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <optional>

#include "torch_common.h"

namespace cute_dwconv {
namespace {

// As nn.Conv2d under torch.autocast("cuda"): every floating-point tensor argument is cast to the
// autocast dtype (float64 excepted, as autocast leaves it), then the operator runs with autocast off.
// Casting through cached_cast keeps autograd through the casts and reuses the cast of a weight
// across calls in one autocast region. Unboxed, as PyTorch's own autocast kernels are: C++ callers
// (and the autograd and backend kernels behind it) take no trip through an argument stack.
template <class Signature, class... Rest>
at::Tensor cast_and_call(c10::TypedOperatorHandle<Signature> const& op, at::Tensor const& x, at::Tensor const& weight,
                         std::optional<at::Tensor> const& bias, Rest... rest) {
  c10::impl::ExcludeDispatchKeyGuard const no_autocast(c10::DispatchKey::AutocastCUDA);
  at::ScalarType const dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  return op.call(at::autocast::cached_cast(dtype, x), at::autocast::cached_cast(dtype, weight),
                 at::autocast::cached_cast(dtype, bias), rest...);
}

at::Tensor strip_conv2d_autocast(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                                 at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  using Signature = at::Tensor(at::Tensor const&, at::Tensor const&, std::optional<at::Tensor> const&,
                               at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);
  static auto const op = operator_handle<Signature>("cute_dwconv::strip_conv2d");
  return cast_and_call(op, x, weight, bias, stride, padding, dilation);
}

at::Tensor dwconv_kx1_autocast(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                               int64_t stride, int64_t padding, int64_t dilation) {
  using Signature = at::Tensor(at::Tensor const&, at::Tensor const&, std::optional<at::Tensor> const&, int64_t,
                               int64_t, int64_t);
  static auto const op = operator_handle<Signature>("cute_dwconv::dwconv_kx1");
  return cast_and_call(op, x, weight, bias, stride, padding, dilation);
}

// As PyTorch's out= functions: no autograd through a write into a given tensor, so a call that
// would need it raises instead of silently dropping the gradient. Boxed: one function serves all
// four out variants, which are not on a training step's path.
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
}

TORCH_LIBRARY_IMPL(cute_dwconv, Autograd, m) {
  for (char const* name : {"strip_conv2d_out", "_strip_conv2d_path_out", "dwconv_kx1_out", "_dwconv_kx1_path_out"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&refuse_autograd>());
  }
}

}  // namespace cute_dwconv
