// The autograd formulas of the functional forwards, as graph nodes written the way PyTorch's
// generated code writes its own: the forward's autograd kernel runs the operator below autograd,
// then, only when autograd records the call, attaches one node holding what the backward reads.
// Both gradients are operators too (grad_input, and grad_weight with grad_bias), each launched only
// when a tensor needs it. A torch::autograd::Function costs more host time per call (per-input
// metadata, a map of named saved values, output wrapping through std::function) and a Python
// formula tens of microseconds, which layers on small maps cannot hide (profiling/NOTES.md, host
// path). dwconv_kx1 records the strip node: its int arguments are strip_conv2d's for both axes.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/library.h>
#include <torch/version.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "torch_common.h"

// Graph nodes are held by std::shared_ptr (released through deleteNode) up to torch 2.12 and by
// c10::intrusive_ptr from 2.13 on; nodes attached from 2.14 on run the node-creation hooks.
// Compiled autograd's hooks (compiled_args, apply_with_saved) are implemented against the API of
// 2.11 on (older releases build without them, and compiled autograd then names the node it cannot
// trace).
#define CUTE_DWCONV_TORCH_AT_LEAST(MINOR) \
  (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= (MINOR)))
#if CUTE_DWCONV_TORCH_AT_LEAST(13)
#define CUTE_DWCONV_INTRUSIVE_NODES 1
#endif
#if CUTE_DWCONV_TORCH_AT_LEAST(14)
#define CUTE_DWCONV_NODE_CREATION_HOOKS 1
#endif
#if CUTE_DWCONV_TORCH_AT_LEAST(11)
#define CUTE_DWCONV_COMPILED_AUTOGRAD 1
#include <torch/csrc/dynamo/compiled_autograd.h>
#endif

namespace cute_dwconv {
namespace {

using torch::autograd::Node;
using torch::autograd::SavedVariable;
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
  static char const* node_name() { return kFamily == Family::kStrip ? "StripConv2dBackward" : "DepthwiseConv2dBackward"; }
};

// An int list of at most four values (stride and dilation: 1 or 2, padding: 1, 2 or 4), held inline
// in the node: no allocation per call.
class ShortList {
 public:
  ShortList() = default;
  explicit ShortList(at::IntArrayRef values) : size_(values.size()) {
    TORCH_INTERNAL_ASSERT(values.size() <= values_.size(), "cute_dwconv: at most four values, got ", values);
    std::copy(values.begin(), values.end(), values_.begin());
  }
  at::IntArrayRef ref() const { return {values_.data(), size_}; }

 private:
  std::array<int64_t, 4> values_{};
  size_t size_ = 0;
};

// Edges to x, weight and bias (an empty edge where there is no bias), in that order. Each gradient
// reads one saved tensor: grad_input the weight, grad_weight (and grad_bias) x; a tensor is saved
// only when the gradient that reads it can be asked for.
template <Family kFamily, bool kFloatParams>
class DepthwiseBackward final : public Node {
 public:
  DepthwiseBackward(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation)
      : stride_(stride), padding_(padding), dilation_(dilation), height_(x.sym_size(2)), width_(x.sym_size(3)),
        kernel_{weight.sym_size(2).guard_int(__FILE__, __LINE__), weight.sym_size(3).guard_int(__FILE__, __LINE__)} {
    set_next_edges(torch::autograd::collect_next_edges(x, weight, bias));
    bool const bias_grad = bias.has_value() && bias->defined() && bias->requires_grad();
    if (x.requires_grad()) weight_ = SavedVariable(weight, false);
    if (weight.requires_grad() || bias_grad) x_ = SavedVariable(x, false);
  }

  variable_list apply(variable_list&& grads) override {
    std::array<bool, 3> const wants = {task_should_compute_output(0), task_should_compute_output(1),
                                       task_should_compute_output(2)};
    return backward(grads[0], x_.unpack(), weight_.unpack(), height_, width_, stride_.ref(), padding_.ref(),
                    dilation_.ref(), kernel_, wants);
  }

  std::string name() const override { return GradOps<kFamily, kFloatParams>::node_name(); }

  void release_variables() override {
    x_.reset_data();
    weight_.reset_data();
  }

#ifdef CUTE_DWCONV_COMPILED_AUTOGRAD
  // Compiled autograd: the node's state, to specialize its cached graphs on, and the backward as a
  // function of the gradient and that state, which it traces into its graph (the gradient
  // operators have fake kernels).
  void compiled_args(torch::dynamo::autograd::CompiledNodeArgs& args) const override {
    args.collect(x_, false);
    args.collect(weight_, false);
    args.collect(height_);
    args.collect(width_);
    args.collect(stride_.ref());
    args.collect(padding_.ref());
    args.collect(dilation_.ref());
    args.collect(at::IntArrayRef(kernel_));
  }

  variable_list apply_with_saved(variable_list const& grads,
                                 torch::dynamo::autograd::SwapSavedVariables& saved) override {
    namespace ca = torch::dynamo::autograd;
    saved.before(x_);
    saved.before(weight_);
    saved.before(height_);
    saved.before(width_);
    auto const& compiler = ca::getPyCompilerInterface();
    static bool const bound = [&] {
      std::vector<at::TypePtr> schema = {
          ca::IValuePacker<at::Tensor>::packed_type(),           ca::IValuePacker<at::Tensor>::packed_type(),
          ca::IValuePacker<c10::SymInt>::packed_type(),          ca::IValuePacker<c10::SymInt>::packed_type(),
          ca::IValuePacker<std::vector<int64_t>>::packed_type(), ca::IValuePacker<std::vector<int64_t>>::packed_type(),
          ca::IValuePacker<std::vector<int64_t>>::packed_type(), ca::IValuePacker<std::vector<int64_t>>::packed_type(),
          ca::IValuePacker<std::vector<bool>>::packed_type()};
      compiler->bind_function(saved.get_py_compiler(), functional_name(), &apply_functional, schema);
      return true;
    }();
    (void)bound;
    std::vector<c10::IValue> const packed = {
        x_.unpack(), weight_.unpack(), height_, width_, stride_.ref().vec(), padding_.ref().vec(),
        dilation_.ref().vec(), std::vector<int64_t>(kernel_.begin(), kernel_.end()),
        std::vector<bool>{task_should_compute_output(0), task_should_compute_output(1), task_should_compute_output(2)}};
    auto const output_metadata =
        ca::IValuePacker<std::vector<std::optional<torch::autograd::InputMetadata>>>::pack(
            ca::get_input_metadata(next_edges()));
    variable_list result = compiler->call_function(saved.get_py_compiler(), "apply_functional", functional_name(),
                                                   grads, packed, output_metadata);
    saved.after(x_);
    saved.after(weight_);
    saved.after(height_);
    saved.after(width_);
    return result;
  }
#endif

 private:
  // The backward of one call: grad_input (wants[0]), grad_weight (wants[1]), grad_bias (wants[2]).
  static variable_list backward(at::Tensor const& grad_out, at::Tensor const& x, at::Tensor const& weight,
                                c10::SymInt const& height, c10::SymInt const& width, at::IntArrayRef stride,
                                at::IntArrayRef padding, at::IntArrayRef dilation, at::IntArrayRef kernel,
                                std::array<bool, 3> const& wants) {
    using Ops = GradOps<kFamily, kFloatParams>;
    variable_list result(3);
    if (!grad_out.defined()) return result;
    // A plain backward runs with grad mode off: straight to the kernels, past the dispatcher's
    // autograd fallback. Under create_graph the calls go through it, as any call would.
    std::optional<at::AutoDispatchBelowADInplaceOrView> below_autograd;
    if (!at::GradMode::is_enabled()) below_autograd.emplace();
    if (wants[0]) {
      static auto const op = operator_handle<GradInputOp>(Ops::input());
      result[0] = op.call(grad_out, weight, height, width, stride, padding, dilation);
    }
    if (wants[1] || wants[2]) {
      static auto const op = operator_handle<GradWeightOp>(Ops::weight());
      auto both = op.call(grad_out, x, kernel, stride, padding, dilation);
      if (wants[1]) result[1] = std::move(std::get<0>(both));
      if (wants[2]) result[2] = std::move(std::get<1>(both));
    }
    return result;
  }

#ifdef CUTE_DWCONV_COMPILED_AUTOGRAD
  static std::string functional_name() {
    return std::string("cute_dwconv_") + GradOps<kFamily, kFloatParams>::node_name() + (kFloatParams ? "_float_params" : "");
  }

  // apply_with_saved's arguments, unpacked.
  static variable_list apply_functional(variable_list const& grads, std::vector<c10::IValue> const& args) {
    std::vector<int64_t> const stride = args[4].toIntVector(), padding = args[5].toIntVector();
    std::vector<int64_t> const dilation = args[6].toIntVector(), kernel = args[7].toIntVector();
    auto const wants_list = args[8].toBoolList();
    std::array<bool, 3> const wants = {wants_list.get(0), wants_list.get(1), wants_list.get(2)};
    return backward(grads[0], args[0].toTensor(), args[1].toTensor(), args[2].toSymInt(), args[3].toSymInt(), stride,
                    padding, dilation, kernel, wants);
  }
#endif

  SavedVariable x_, weight_;
  ShortList stride_, padding_, dilation_;
  c10::SymInt height_, width_;
  std::array<int64_t, 2> kernel_;
};

template <class NodeType, class... Args>
auto make_node(Args&&... args) {
#ifdef CUTE_DWCONV_INTRUSIVE_NODES
  return c10::make_intrusive<NodeType>(std::forward<Args>(args)...);
#else
  return std::shared_ptr<NodeType>(new NodeType(std::forward<Args>(args)...), torch::autograd::deleteNode);
#endif
}

// `run` calls the forward operator (below autograd); stride, padding and dilation are the per-axis
// arguments the gradient operators take. The node is built only after the operator has accepted
// the call, so that its checks raise before anything here reads a shape.
template <Family kFamily, bool kFloatParams, class Run>
at::Tensor apply(Run const& run, at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                 at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  TORCH_CHECK_NOT_IMPLEMENTED(!(torch::autograd::isFwGradDefined(x) || torch::autograd::isFwGradDefined(weight) ||
                                torch::autograd::isFwGradDefined(bias)),
                              "cute_dwconv: forward-mode automatic differentiation is not supported");
  at::Tensor out;
  {
    at::AutoDispatchBelowADInplaceOrView const below_autograd;
    out = run();
  }
  if (torch::autograd::compute_requires_grad(x, weight, bias)) {
    auto node = make_node<DepthwiseBackward<kFamily, kFloatParams>>(x, weight, bias, stride, padding, dilation);
    torch::autograd::set_history(out, node);
#ifdef CUTE_DWCONV_NODE_CREATION_HOOKS
    torch::autograd::fire_node_creation_hooks(node);
#endif
  }
  return out;
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
