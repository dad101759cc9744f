// The autograd formulas of the functional forwards, as graph nodes written by hand the way PyTorch's
// generated code writes its own: the forward's autograd kernel runs the operator below autograd,
// then (only when an input requires grad) records one node that holds what the backward needs.
// Both gradients are operators too (grad_input, and grad_weight with grad_bias), each launched only
// when a tensor needs it. A torch::autograd::Function cost more host time per call (a map of named
// saved values, output wrapping: profiling/NOTES.md, host path), and a Python formula tens of
// microseconds, which layers on small maps cannot hide.
// dwconv_kx1 records the same node as strip_conv2d.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/library.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "torch_common.h"

namespace cute_dwconv {
namespace {

using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::variable_list;

using StripForward = at::Tensor(at::Tensor const&, at::Tensor const&, std::optional<at::Tensor> const&,
                                at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);
using Kx1Forward = at::Tensor(at::Tensor const&, at::Tensor const&, std::optional<at::Tensor> const&, int64_t,
                              int64_t, int64_t);
using StripGradInput = at::Tensor(at::Tensor const&, at::Tensor const&, c10::SymInt, c10::SymInt, at::IntArrayRef,
                                  at::IntArrayRef, at::IntArrayRef);
using StripGradWeight = std::tuple<at::Tensor, at::Tensor>(at::Tensor const&, at::Tensor const&, at::IntArrayRef,
                                                           at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);

// An int list of at most four values (stride and dilation: 1 or 2, padding: 1, 2 or 4), held inline.
class ShortList {
 public:
  ShortList() = default;
  explicit ShortList(at::IntArrayRef values) : size_(values.size()) {
    TORCH_INTERNAL_ASSERT(values.size() <= values_.size(), "cute_dwconv: at most four values, got ", values);
    std::copy(values.begin(), values.end(), values_.begin());
  }
  ShortList(int64_t value, size_t copies) : size_(copies) { values_.fill(value); }
  at::IntArrayRef ref() const { return {values_.data(), size_}; }

 private:
  std::array<int64_t, 4> values_{};
  size_t size_ = 0;
};

// Edges to x, weight and bias (an empty one when there is no bias), in that order. float_params:
// the forward read float32 parameters beside 16-bit x (_strip_conv2d_float_params), so the weight
// gradient comes back float32 from the matching operators.
class StripConv2dBackward final : public Node {
 public:
  StripConv2dBackward(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                      ShortList stride, ShortList padding, ShortList dilation, bool float_params)
      : float_params_(float_params),
        stride_(stride), padding_(padding), dilation_(dilation), height_(x.sym_size(2)), width_(x.sym_size(3)),
        kernel_{weight.sym_size(2).guard_int(__FILE__, __LINE__), weight.sym_size(3).guard_int(__FILE__, __LINE__)} {
    set_next_edges(torch::autograd::collect_next_edges(x, weight, bias));
    // Each gradient reads one saved tensor: grad_input the weight, grad_weight (and grad_bias) x.
    if (x.requires_grad()) weight_ = SavedVariable(weight, false);
    if (weight.requires_grad() || (bias.has_value() && bias->requires_grad())) x_ = SavedVariable(x, false);
  }

  variable_list apply(variable_list&& grads) override {
    variable_list result(3);
    at::Tensor const& grad_out = grads[0];
    if (!grad_out.defined()) return result;
    bool const want_x = task_should_compute_output(0);
    bool const want_weight = task_should_compute_output(1);
    bool const want_bias = task_should_compute_output(2);
    // A plain backward runs with grad mode off: straight to the kernels, past the dispatcher's
    // autograd fallback. Under create_graph the calls go through it, as any call would.
    std::optional<at::AutoDispatchBelowADInplaceOrView> below_autograd;
    if (!at::GradMode::is_enabled()) below_autograd.emplace();
    if (want_x) {
      static auto const same_dtype = operator_handle<StripGradInput>("cute_dwconv::strip_conv2d_grad_input");
      static auto const float_weight =
          operator_handle<StripGradInput>("cute_dwconv::_strip_conv2d_grad_input_float_params");
      auto const& op = float_params_ ? float_weight : same_dtype;
      result[0] = op.call(grad_out, weight_.unpack(), height_, width_, stride_.ref(), padding_.ref(), dilation_.ref());
    }
    if (want_weight || want_bias) {
      static auto const same_dtype = operator_handle<StripGradWeight>("cute_dwconv::strip_conv2d_grad_weight");
      static auto const float_grads =
          operator_handle<StripGradWeight>("cute_dwconv::_strip_conv2d_grad_weight_float_params");
      auto const& op = float_params_ ? float_grads : same_dtype;
      auto both = op.call(grad_out, x_.unpack(), kernel_, stride_.ref(), padding_.ref(), dilation_.ref());
      if (want_weight) result[1] = std::move(std::get<0>(both));
      if (want_bias) result[2] = std::move(std::get<1>(both));
    }
    return result;
  }

  std::string name() const override { return "StripConv2dBackward"; }

  void release_variables() override {
    x_.reset_data();
    weight_.reset_data();
  }

 private:
  bool float_params_;
  SavedVariable x_, weight_;
  ShortList stride_, padding_, dilation_;
  c10::SymInt height_, width_;
  std::array<int64_t, 2> kernel_;
};

// Runs the operator below autograd, then records the node when any input requires grad. The node's
// arguments are taken only after the operator has accepted them (`arguments` returns stride,
// padding and dilation as ShortLists).
template <class Call, class Arguments>
at::Tensor forward_with_history(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                                Call const& call, Arguments const& arguments, bool float_params = false) {
  TORCH_CHECK_NOT_IMPLEMENTED(!(torch::autograd::isFwGradDefined(x) || torch::autograd::isFwGradDefined(weight) ||
                                torch::autograd::isFwGradDefined(bias)),
                              "cute_dwconv: forward-mode automatic differentiation is not supported");
  at::Tensor out;
  {
    at::AutoDispatchBelowADInplaceOrView const below_autograd;
    out = call();
  }
  if (torch::autograd::compute_requires_grad(x, weight, bias)) {
    auto const [stride, padding, dilation] = arguments();
    auto node = std::shared_ptr<StripConv2dBackward>(
        new StripConv2dBackward(x, weight, bias, stride, padding, dilation, float_params), torch::autograd::deleteNode);
    torch::autograd::set_history(out, node);
  }
  return out;
}

at::Tensor strip_conv2d_autograd(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                                 at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::strip_conv2d");
  return forward_with_history(
      x, weight, bias, [&] { return op.call(x, weight, bias, stride, padding, dilation); },
      [&] { return std::make_tuple(ShortList(stride), ShortList(padding), ShortList(dilation)); });
}

at::Tensor strip_conv2d_float_params_autograd(at::Tensor const& x, at::Tensor const& weight,
                                              std::optional<at::Tensor> const& bias, at::IntArrayRef stride,
                                              at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::_strip_conv2d_float_params");
  return forward_with_history(
      x, weight, bias, [&] { return op.call(x, weight, bias, stride, padding, dilation); },
      [&] { return std::make_tuple(ShortList(stride), ShortList(padding), ShortList(dilation)); }, true);
}

// dwconv_kx1's int arguments are strip_conv2d's for both axes.
at::Tensor dwconv_kx1_autograd(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                               int64_t stride, int64_t padding, int64_t dilation) {
  static auto const op = operator_handle<Kx1Forward>("cute_dwconv::dwconv_kx1");
  return forward_with_history(
      x, weight, bias, [&] { return op.call(x, weight, bias, stride, padding, dilation); },
      [&] { return std::make_tuple(ShortList(stride, 2), ShortList(padding, 2), ShortList(dilation, 2)); });
}

}  // namespace

TORCH_LIBRARY_IMPL(cute_dwconv, Autograd, m) {
  m.impl("strip_conv2d", &strip_conv2d_autograd);
  m.impl("_strip_conv2d_float_params", &strip_conv2d_float_params_autograd);
  m.impl("dwconv_kx1", &dwconv_kx1_autograd);
}

}  // namespace cute_dwconv
