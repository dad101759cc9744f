// The autograd formulas of the functional forwards: both gradients are operators too (grad_input,
// and grad_weight with grad_bias), each launched only when a tensor needs it. In C++ rather than
// through torch.library.register_autograd: a Python formula costs tens of microseconds of host time
// per call, which layers on small maps cannot hide (InceptionNeXt's 56×56 mixer ran slower converted
// than eager until this moved here). A torch::autograd::Function, the public C++ API, keeps the
// extension building against every torch release from 2.4 on (the Node class beneath it changed
// shape in 2.14); a hand-written Node measured no faster (profiling/NOTES.md, variant 48).
// dwconv_kx1 runs the strip formula: its int arguments are strip_conv2d's for both axes.
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

using GradInputOp = at::Tensor(at::Tensor const&, at::Tensor const&, c10::SymInt, c10::SymInt, at::IntArrayRef,
                               at::IntArrayRef, at::IntArrayRef);
using GradWeightOp = std::tuple<at::Tensor, at::Tensor>(at::Tensor const&, at::Tensor const&, at::IntArrayRef,
                                                        at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);

// The gradient operators of one forward: the strip or window family, with float32 parameters
// beside 16-bit x (the *_float_params operators, whose weight and bias gradients are float32) or not.
enum class Family { kStrip, kWindow };

template <Family kFamily, bool kFloatParams>
struct GradOps {
  static char const* input() {
    if constexpr (kFamily == Family::kStrip) {
      return kFloatParams ? "cute_dwconv::_strip_conv2d_grad_input_float_params" : "cute_dwconv::strip_conv2d_grad_input";
    } else {
      return kFloatParams ? "cute_dwconv::_depthwise_conv2d_grad_input_float_params"
                          : "cute_dwconv::depthwise_conv2d_grad_input";
    }
  }
  static char const* weight() {
    if constexpr (kFamily == Family::kStrip) {
      return kFloatParams ? "cute_dwconv::_strip_conv2d_grad_weight_float_params" : "cute_dwconv::strip_conv2d_grad_weight";
    } else {
      return kFloatParams ? "cute_dwconv::_depthwise_conv2d_grad_weight_float_params"
                          : "cute_dwconv::depthwise_conv2d_grad_weight";
    }
  }
};

// The call's arguments in one saved vector (one entry in saved_data, not one per argument: each
// costs a hash-map insertion and an allocation per call): stride (2), dilation (2), kernel (2),
// has_bias, then the padding's 2 or 4 values.
constexpr size_t kPaddingAt = 7;

template <Family kFamily, bool kFloatParams>
class DepthwiseFunction : public torch::autograd::Function<DepthwiseFunction<kFamily, kFloatParams>> {
 public:
  // `run` is the forward operator's call, below autograd.
  template <class Run>
  static at::Tensor forward(AutogradContext* ctx, at::Tensor const& x, at::Tensor const& weight,
                            std::optional<at::Tensor> const& bias, at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation, Run const& run) {
    at::Tensor out;
    {
      at::AutoDispatchBelowADInplaceOrView const below_autograd;
      out = run();  // first: its checks raise before anything below reads a shape
    }
    // Each gradient reads one saved tensor: grad_input the weight, grad_weight (and grad_bias) x.
    bool const bias_grad = bias.has_value() && bias->defined() && bias->requires_grad();
    ctx->save_for_backward({x.requires_grad() ? weight : at::Tensor(),
                            weight.requires_grad() || bias_grad ? x : at::Tensor()});
    std::vector<int64_t> args;
    args.reserve(kPaddingAt + padding.size());
    args.insert(args.end(), {stride[0], stride.back(), dilation[0], dilation.back(),
                             weight.sym_size(2).guard_int(__FILE__, __LINE__),
                             weight.sym_size(3).guard_int(__FILE__, __LINE__), bias.has_value() && bias->defined()});
    args.insert(args.end(), padding.begin(), padding.end());
    ctx->saved_data["args"] = std::move(args);
    ctx->saved_data["height"] = x.sym_size(2);
    ctx->saved_data["width"] = x.sym_size(3);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    using Ops = GradOps<kFamily, kFloatParams>;
    static auto const grad_input_op = operator_handle<GradInputOp>(Ops::input());
    static auto const grad_weight_op = operator_handle<GradWeightOp>(Ops::weight());
    auto const saved = ctx->get_saved_variables();
    std::vector<int64_t> const args = ctx->saved_data["args"].toIntVector();
    at::IntArrayRef const all(args);
    at::IntArrayRef const stride = all.slice(0, 2), dilation = all.slice(2, 2), kernel = all.slice(4, 2);
    at::IntArrayRef const padding = all.slice(kPaddingAt);
    bool const has_bias = args[6] != 0;
    bool const want_x = ctx->needs_input_grad(0);
    bool const want_weight = ctx->needs_input_grad(1);
    bool const want_bias = has_bias && ctx->needs_input_grad(2);
    at::Tensor grad_x, grad_weight, grad_bias;
    if (want_x) {
      grad_x = grad_input_op.call(grads[0], saved[0], ctx->saved_data["height"].toSymInt(),
                                  ctx->saved_data["width"].toSymInt(), stride, padding, dilation);
    }
    if (want_weight || want_bias) {
      auto both = grad_weight_op.call(grads[0], saved[1], kernel, stride, padding, dilation);
      if (want_weight) grad_weight = std::move(std::get<0>(both));
      if (want_bias) grad_bias = std::move(std::get<1>(both));
    }
    return {grad_x, grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Whether autograd records this call. When it does not (no_grad, inference, or no tensor that
// requires grad), the operator runs below autograd directly: the Function's node and context cost
// host time for nothing.
bool records(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias) {
  return at::GradMode::is_enabled() &&
         (x.requires_grad() || weight.requires_grad() || (bias.has_value() && bias->defined() && bias->requires_grad()));
}

// `run` calls the forward operator (below autograd); stride, padding and dilation are the per-axis
// arguments the gradient operators take.
template <Family kFamily, bool kFloatParams, class Run>
at::Tensor apply(Run const& run, at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                 at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  if (!records(x, weight, bias)) {
    at::AutoDispatchBelowADInplaceOrView const below_autograd;
    return run();
  }
  return DepthwiseFunction<kFamily, kFloatParams>::apply(x, weight, bias, stride, padding, dilation, run);
}

// apply for an operator with strip_conv2d's signature.
template <Family kFamily, bool kFloatParams, class Op>
at::Tensor apply_op(Op const& op, at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return apply<kFamily, kFloatParams>([&] { return op.call(x, weight, bias, stride, padding, dilation); }, x, weight,
                                      bias, stride, padding, dilation);
}

at::Tensor strip_conv2d_autograd(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                                 at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::strip_conv2d");
  return apply_op<Family::kStrip, false>(op, x, weight, bias, stride, padding, dilation);
}

at::Tensor strip_conv2d_float_params_autograd(at::Tensor const& x, at::Tensor const& weight,
                                              std::optional<at::Tensor> const& bias, at::IntArrayRef stride,
                                              at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::_strip_conv2d_float_params");
  return apply_op<Family::kStrip, true>(op, x, weight, bias, stride, padding, dilation);
}

at::Tensor depthwise_conv2d_autograd(at::Tensor const& x, at::Tensor const& weight,
                                     std::optional<at::Tensor> const& bias, at::IntArrayRef stride,
                                     at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::depthwise_conv2d");
  return apply_op<Family::kWindow, false>(op, x, weight, bias, stride, padding, dilation);
}

at::Tensor depthwise_conv2d_float_params_autograd(at::Tensor const& x, at::Tensor const& weight,
                                                  std::optional<at::Tensor> const& bias, at::IntArrayRef stride,
                                                  at::IntArrayRef padding, at::IntArrayRef dilation) {
  static auto const op = operator_handle<StripForward>("cute_dwconv::_depthwise_conv2d_float_params");
  return apply_op<Family::kWindow, true>(op, x, weight, bias, stride, padding, dilation);
}

at::Tensor dwconv_kx1_autograd(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                               int64_t stride, int64_t padding, int64_t dilation) {
  static auto const op = operator_handle<Kx1Forward>("cute_dwconv::dwconv_kx1");
  int64_t const s[2] = {stride, stride}, p[2] = {padding, padding}, d[2] = {dilation, dilation};
  return apply<Family::kStrip, false>([&] { return op.call(x, weight, bias, stride, padding, dilation); }, x, weight,
                                      bias, s, p, d);
}

}  // namespace

TORCH_LIBRARY_IMPL(cute_dwconv, Autograd, m) {
  m.impl("strip_conv2d", &strip_conv2d_autograd);
  m.impl("_strip_conv2d_float_params", &strip_conv2d_float_params_autograd);
  m.impl("dwconv_kx1", &dwconv_kx1_autograd);
  m.impl("depthwise_conv2d", &depthwise_conv2d_autograd);
  m.impl("_depthwise_conv2d_float_params", &depthwise_conv2d_float_params_autograd);
}

}  // namespace cute_dwconv
