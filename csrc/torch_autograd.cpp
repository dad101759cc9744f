// The autograd formulas of the functional forwards: both gradients are operators too (grad_input,
// and grad_weight with grad_bias), each launched only when a tensor needs it. In C++ rather than
// through torch.library.register_autograd: a Python formula costs tens of microseconds of host time
// per call, which layers on small maps cannot hide (InceptionNeXt's 56×56 mixer ran slower converted
// than eager until this moved here). A torch::autograd::Function, the public C++ API, keeps the
// extension building against every torch release from 2.4 on (the Node class beneath it changed
// shape in 2.14); a hand-written Node measured no faster (profiling/NOTES.md, variant 48).
// dwconv_kx1 runs the same formula: its int arguments are strip_conv2d's for both axes.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <optional>
#include <tuple>
#include <vector>

#include "torch_common.h"

namespace cute_dwconv {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using StripGradInput = at::Tensor(at::Tensor const&, at::Tensor const&, c10::SymInt, c10::SymInt, at::IntArrayRef,
                                  at::IntArrayRef, at::IntArrayRef);
using StripGradWeight = std::tuple<at::Tensor, at::Tensor>(at::Tensor const&, at::Tensor const&, at::IntArrayRef,
                                                           at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);

// kFloatParams: the forward read float32 parameters beside 16-bit x (_strip_conv2d_float_params),
// so the gradients come from the matching operators, the weight's and bias's in float32.
template <bool kFloatParams>
class StripConv2dFunction : public torch::autograd::Function<StripConv2dFunction<kFloatParams>> {
 public:
  // `run` is the forward operator's call, below autograd.
  template <class Run>
  static at::Tensor forward(AutogradContext* ctx, at::Tensor const& x, at::Tensor const& weight,
                            std::optional<at::Tensor> const& bias, std::vector<int64_t> stride,
                            std::vector<int64_t> padding, std::vector<int64_t> dilation, Run const& run) {
    at::Tensor out;
    {
      at::AutoDispatchBelowADInplaceOrView const below_autograd;
      out = run();  // first: its checks raise before anything below reads a shape
    }
    // Each gradient reads one saved tensor: grad_input the weight, grad_weight (and grad_bias) x.
    bool const bias_grad = bias.has_value() && bias->defined() && bias->requires_grad();
    ctx->save_for_backward({x.requires_grad() ? weight : at::Tensor(),
                            weight.requires_grad() || bias_grad ? x : at::Tensor()});
    ctx->saved_data["has_bias"] = bias.has_value() && bias->defined();
    ctx->saved_data["stride"] = std::move(stride);
    ctx->saved_data["padding"] = std::move(padding);
    ctx->saved_data["dilation"] = std::move(dilation);
    ctx->saved_data["kernel"] = std::vector<int64_t>{weight.sym_size(2).guard_int(__FILE__, __LINE__),
                                                     weight.sym_size(3).guard_int(__FILE__, __LINE__)};
    ctx->saved_data["height"] = x.sym_size(2);
    ctx->saved_data["width"] = x.sym_size(3);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static auto const grad_input_op = operator_handle<StripGradInput>(
        kFloatParams ? "cute_dwconv::_strip_conv2d_grad_input_float_params" : "cute_dwconv::strip_conv2d_grad_input");
    static auto const grad_weight_op = operator_handle<StripGradWeight>(
        kFloatParams ? "cute_dwconv::_strip_conv2d_grad_weight_float_params" : "cute_dwconv::strip_conv2d_grad_weight");
    auto const saved = ctx->get_saved_variables();
    std::vector<int64_t> const stride = ctx->saved_data["stride"].toIntVector();
    std::vector<int64_t> const padding = ctx->saved_data["padding"].toIntVector();
    std::vector<int64_t> const dilation = ctx->saved_data["dilation"].toIntVector();
    bool const has_bias = ctx->saved_data["has_bias"].toBool();
    bool const want_x = ctx->needs_input_grad(0);
    bool const want_weight = ctx->needs_input_grad(1);
    bool const want_bias = has_bias && ctx->needs_input_grad(2);
    at::Tensor grad_x, grad_weight, grad_bias;
    if (want_x) {
      grad_x = grad_input_op.call(grads[0], saved[0], ctx->saved_data["height"].toSymInt(),
                                  ctx->saved_data["width"].toSymInt(), stride, padding, dilation);
    }
    if (want_weight || want_bias) {
      auto both = grad_weight_op.call(grads[0], saved[1], ctx->saved_data["kernel"].toIntVector(), stride, padding,
                                      dilation);
      if (want_weight) grad_weight = std::move(std::get<0>(both));
      if (want_bias) grad_bias = std::move(std::get<1>(both));
    }
    return {grad_x, grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor strip_conv2d_autograd(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                                 at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::strip_conv2d");
  return StripConv2dFunction<false>::apply(x, weight, bias, stride.vec(), padding.vec(), dilation.vec(),
                                           [&] { return op.call(x, weight, bias, stride, padding, dilation); });
}

at::Tensor strip_conv2d_float_params_autograd(at::Tensor const& x, at::Tensor const& weight,
                                              std::optional<at::Tensor> const& bias, at::IntArrayRef stride,
                                              at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::_strip_conv2d_float_params");
  return StripConv2dFunction<true>::apply(x, weight, bias, stride.vec(), padding.vec(), dilation.vec(),
                                          [&] { return op.call(x, weight, bias, stride, padding, dilation); });
}

at::Tensor dwconv_kx1_autograd(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                               int64_t stride, int64_t padding, int64_t dilation) {
  static auto const op = operator_handle<Kx1Forward>("cute_dwconv::dwconv_kx1");
  return StripConv2dFunction<false>::apply(x, weight, bias, std::vector<int64_t>{stride, stride},
                                           std::vector<int64_t>{padding, padding},
                                           std::vector<int64_t>{dilation, dilation},
                                           [&] { return op.call(x, weight, bias, stride, padding, dilation); });
}

}  // namespace

TORCH_LIBRARY_IMPL(cute_dwconv, Autograd, m) {
  m.impl("strip_conv2d", &strip_conv2d_autograd);
  m.impl("_strip_conv2d_float_params", &strip_conv2d_float_params_autograd);
  m.impl("dwconv_kx1", &dwconv_kx1_autograd);
}

}  // namespace cute_dwconv
