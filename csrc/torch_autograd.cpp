// The autograd formulas of the functional forwards: both gradients are operators too (grad_input,
// and grad_weight with grad_bias), each launched only when a tensor needs it. In C++ rather than
// through torch.library.register_autograd: a Python formula costs tens of microseconds of host time
// per call, which layers on small maps cannot hide (InceptionNeXt's 56×56 mixer ran slower converted
// than eager until this moved here).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <optional>
#include <vector>

namespace cute_dwconv {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <class Signature>
c10::TypedOperatorHandle<Signature> operator_handle(char const* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

using StripForward = at::Tensor(at::Tensor const&, at::Tensor const&, std::optional<at::Tensor> const&,
                                at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);
using StripGradInput = at::Tensor(at::Tensor const&, at::Tensor const&, c10::SymInt, c10::SymInt, at::IntArrayRef,
                                  at::IntArrayRef, at::IntArrayRef);
using StripGradWeight = std::tuple<at::Tensor, at::Tensor>(at::Tensor const&, at::Tensor const&, at::IntArrayRef,
                                                           at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);
using Kx1Forward = at::Tensor(at::Tensor const&, at::Tensor const&, std::optional<at::Tensor> const&, int64_t,
                              int64_t, int64_t);
using Kx1GradInput = at::Tensor(at::Tensor const&, at::Tensor const&, c10::SymInt, c10::SymInt, int64_t, int64_t,
                                int64_t);
using Kx1GradWeight = std::tuple<at::Tensor, at::Tensor>(at::Tensor const&, at::Tensor const&, int64_t, int64_t,
                                                         int64_t, int64_t);

// Saves what every backward needs; the arguments go in ctx->saved_data under their names.
void save_inputs(AutogradContext* ctx, at::Tensor const& x, at::Tensor const& weight,
                 std::optional<at::Tensor> const& bias) {
  ctx->save_for_backward({x, weight});
  ctx->saved_data["has_bias"] = bias.has_value() && bias->defined();
}

struct Wanted {
  bool x, weight, bias;
};

// Edges exist for x, weight and (when given) bias, in that order.
Wanted wanted(AutogradContext* ctx) {
  bool const has_bias = ctx->saved_data["has_bias"].toBool();
  return {ctx->needs_input_grad(0), ctx->needs_input_grad(1), has_bias && ctx->needs_input_grad(2)};
}

class StripConv2dFunction : public torch::autograd::Function<StripConv2dFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, at::Tensor const& x, at::Tensor const& weight,
                            std::optional<at::Tensor> const& bias, at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation) {
    save_inputs(ctx, x, weight, bias);
    ctx->saved_data["stride"] = stride.vec();
    ctx->saved_data["padding"] = padding.vec();
    ctx->saved_data["dilation"] = dilation.vec();
    at::AutoDispatchBelowADInplaceOrView const below_autograd;
    static auto const op = operator_handle<StripForward>("cute_dwconv::strip_conv2d");
    return op.call(x, weight, bias, stride, padding, dilation);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto const saved = ctx->get_saved_variables();
    at::Tensor const& x = saved[0];
    at::Tensor const& weight = saved[1];
    std::vector<int64_t> const stride = ctx->saved_data["stride"].toIntVector();
    std::vector<int64_t> const padding = ctx->saved_data["padding"].toIntVector();
    std::vector<int64_t> const dilation = ctx->saved_data["dilation"].toIntVector();
    Wanted const want = wanted(ctx);
    at::Tensor grad_x, grad_weight, grad_bias;
    if (want.x) {
      static auto const op = operator_handle<StripGradInput>("cute_dwconv::strip_conv2d_grad_input");
      grad_x = op.call(grads[0], weight, x.sym_size(2), x.sym_size(3), stride, padding, dilation);
    }
    if (want.weight || want.bias) {
      static auto const op = operator_handle<StripGradWeight>("cute_dwconv::strip_conv2d_grad_weight");
      std::vector<int64_t> const kernel{weight.sym_size(2).guard_int(__FILE__, __LINE__),
                                        weight.sym_size(3).guard_int(__FILE__, __LINE__)};
      auto both = op.call(grads[0], x, kernel, stride, padding, dilation);
      if (want.weight) grad_weight = std::get<0>(both);
      if (want.bias) grad_bias = std::get<1>(both);
    }
    return {grad_x, grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class DwconvKx1Function : public torch::autograd::Function<DwconvKx1Function> {
 public:
  static at::Tensor forward(AutogradContext* ctx, at::Tensor const& x, at::Tensor const& weight,
                            std::optional<at::Tensor> const& bias, int64_t stride, int64_t padding, int64_t dilation) {
    save_inputs(ctx, x, weight, bias);
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    at::AutoDispatchBelowADInplaceOrView const below_autograd;
    static auto const op = operator_handle<Kx1Forward>("cute_dwconv::dwconv_kx1");
    return op.call(x, weight, bias, stride, padding, dilation);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto const saved = ctx->get_saved_variables();
    at::Tensor const& x = saved[0];
    at::Tensor const& weight = saved[1];
    int64_t const stride = ctx->saved_data["stride"].toInt();
    int64_t const padding = ctx->saved_data["padding"].toInt();
    int64_t const dilation = ctx->saved_data["dilation"].toInt();
    Wanted const want = wanted(ctx);
    at::Tensor grad_x, grad_weight, grad_bias;
    if (want.x) {
      static auto const op = operator_handle<Kx1GradInput>("cute_dwconv::dwconv_kx1_grad_input");
      grad_x = op.call(grads[0], weight, x.sym_size(2), x.sym_size(3), stride, padding, dilation);
    }
    if (want.weight || want.bias) {
      static auto const op = operator_handle<Kx1GradWeight>("cute_dwconv::dwconv_kx1_grad_weight");
      auto both = op.call(grads[0], x, weight.sym_size(2).guard_int(__FILE__, __LINE__), stride, padding, dilation);
      if (want.weight) grad_weight = std::get<0>(both);
      if (want.bias) grad_bias = std::get<1>(both);
    }
    return {grad_x, grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor strip_conv2d_autograd(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                                 at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return StripConv2dFunction::apply(x, weight, bias, stride, padding, dilation);
}

at::Tensor dwconv_kx1_autograd(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                               int64_t stride, int64_t padding, int64_t dilation) {
  return DwconvKx1Function::apply(x, weight, bias, stride, padding, dilation);
}

}  // namespace

TORCH_LIBRARY_IMPL(cute_dwconv, Autograd, m) {
  m.impl("strip_conv2d", &strip_conv2d_autograd);
  m.impl("dwconv_kx1", &dwconv_kx1_autograd);
}

}  // namespace cute_dwconv
