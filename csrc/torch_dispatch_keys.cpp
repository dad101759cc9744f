// Kernels for dispatch keys other than the backends: autocast for the functional forwards, and the
// out variants' refusal of autograd. Both are boxed, so one function serves every operator.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

namespace cute_dwconv {
namespace {

// As nn.Conv2d under torch.autocast("cuda"): every floating-point tensor argument is cast to the
// autocast dtype (float64 excepted, as autocast leaves it), then the operator runs with autocast off.
// Casting through cached_cast keeps autograd through the casts and reuses the cast of a weight
// across calls in one autocast region.
void autocast_cuda(c10::OperatorHandle const& op, torch::jit::Stack* stack) {
  c10::impl::ExcludeDispatchKeyGuard const no_autocast(c10::DispatchKey::AutocastCUDA);
  at::ScalarType const dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  size_t const arguments = op.schema().arguments().size();
  for (size_t i = stack->size() - arguments; i < stack->size(); ++i) {
    c10::IValue& value = (*stack)[i];
    if (value.isTensor()) value = at::autocast::cached_cast(dtype, value.toTensor(), c10::DeviceType::CUDA);
  }
  op.callBoxed(stack);
}

// As PyTorch's out= functions: no autograd through a write into a given tensor, so a call that
// would need it raises instead of silently dropping the gradient.
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
  m.impl("strip_conv2d", torch::CppFunction::makeFromBoxedFunction<&autocast_cuda>());
  m.impl("dwconv_kx1", torch::CppFunction::makeFromBoxedFunction<&autocast_cuda>());
}

TORCH_LIBRARY_IMPL(cute_dwconv, Autograd, m) {
  for (char const* name : {"strip_conv2d_out", "_strip_conv2d_path_out", "dwconv_kx1_out", "_dwconv_kx1_path_out"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&refuse_autograd>());
  }
}

}  // namespace cute_dwconv
