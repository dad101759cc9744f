// Torch glue for depthwise_conv2d, any (Kh, Kw) window, and its gradients: argument checks, output
// and workspace allocation, the dispatch call and registration. Strip windows ((K, 1) and (1, K))
// go to the strip operators, whose kernels are tuned for them; the rest to dispatch/window_dispatch.h.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/core/SymInt.h>
#include <torch/library.h>

#include <optional>
#include <string>
#include <tuple>

#include "dispatch/window_dispatch.h"
#include "torch_common.h"
#include "window_params.h"

namespace cute_dwconv {
namespace {

using StripGradInput = at::Tensor(at::Tensor const&, at::Tensor const&, c10::SymInt, c10::SymInt, at::IntArrayRef,
                                  at::IntArrayRef, at::IntArrayRef);
using StripGradWeight = std::tuple<at::Tensor, at::Tensor>(at::Tensor const&, at::Tensor const&, at::IntArrayRef,
                                                           at::IntArrayRef, at::IntArrayRef, at::IntArrayRef);

struct WindowShape {
  int64_t N, C, H, W, Ho, Wo, kh, kw;
  StripArgs args;
};

bool is_strip(int64_t kh, int64_t kw) { return kh == 1 || kw == 1; }

// weight is (C, 1, kh, kw); `channels_of` names the tensor whose channels C counts.
std::pair<int64_t, int64_t> window_kernel(at::Tensor const& weight, int64_t C, char const* channels_of) {
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == C && weight.size(1) == 1 && weight.size(2) >= 1 &&
                  weight.size(3) >= 1,
              "cute_dwconv: weight must have shape (C, 1, kh, kw) with C = ", C, " (", channels_of,
              "'s channels) and kh, kw >= 1, got ", weight.sizes());
  return {weight.size(2), weight.size(3)};
}

std::pair<int64_t, int64_t> window_output_size(int64_t H, int64_t W, int64_t kh, int64_t kw, StripArgs const& a) {
  return output_size(H, W, StripKernel{TapAxis::kHeight, kh, kh, kw, a.dilation_h}, a);
}

WindowShape check_forward_args(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                               StripArgs const& args, bool float_params) {
  check_input_shape(x);
  int64_t const N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto const [kh, kw] = window_kernel(weight, C, "x");
  check_bias_shape(bias, C);
  auto const [Ho, Wo] = window_output_size(H, W, kh, kw, args);
  check_forward_tensors(x, weight, bias, float_params);
  return {N, C, H, W, Ho, Wo, kh, kw, args};
}

WindowParams make_params(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                         at::Tensor& out, WindowShape const& s, bool float_params) {
  WindowParams p{};
  p.dtype = element_type(x.scalar_type());
  p.x = x.const_data_ptr();
  p.out = out.mutable_data_ptr();
  p.weight = weight.const_data_ptr();
  p.bias = bias.has_value() ? bias->const_data_ptr() : nullptr;
  p.params_float32 = float_params;
  p.N = s.N; p.C = s.C; p.H = s.H; p.W = s.W; p.Ho = s.Ho; p.Wo = s.Wo;
  p.x_stride_n = x.stride(0); p.x_stride_c = x.stride(1); p.x_stride_h = x.stride(2); p.x_stride_w = x.stride(3);
  p.out_stride_n = out.stride(0); p.out_stride_c = out.stride(1);
  p.out_stride_h = out.stride(2); p.out_stride_w = out.stride(3);
  p.w_stride_c = weight.stride(0); p.w_stride_h = weight.stride(2); p.w_stride_w = weight.stride(3);
  p.bias_stride = bias.has_value() ? bias->stride(0) : 0;
  p.kh = s.kh; p.kw = s.kw;
  p.stride_h = s.args.stride_h; p.stride_w = s.args.stride_w;
  p.padding_h = s.args.pad_top; p.padding_w = s.args.pad_left;
  p.dilation_h = s.args.dilation_h; p.dilation_w = s.args.dilation_w;
  p.device = x.get_device();
  return p;
}

// What users get: the shared-memory kernels where they take the call; else, for long windows on a
// layout they cannot stage (channels_last past the register-window widths, unit-stride-less views),
// the NCHW kernel on a contiguous copy, whose two copies cost little beside the window's FMAs; else
// the direct kernel. `restage` builds the call's params for a given x and out.
template <class Restage>
void run_auto(WindowParams const& p, at::Tensor const& x, at::Tensor& out, Restage const& restage,
              cudaStream_t stream) {
  if (window_forward(p, WindowPath::kStaged, stream) == FwdStatus::kLaunched) return;
  constexpr int64_t kLongWindowTaps = 25;
  if (p.dtype != ElementType::kFloat64 && p.kh * p.kw >= kLongWindowTaps && x.stride(3) != 1) {
    at::Tensor const x_rows = x.contiguous();
    at::Tensor out_rows = at::empty({p.N, p.C, p.Ho, p.Wo}, out.options().memory_format(at::MemoryFormat::Contiguous));
    if (window_forward(restage(x_rows, out_rows), WindowPath::kStaged, stream) == FwdStatus::kLaunched) {
      out.copy_(out_rows);
      return;
    }
  }
  window_forward(p, WindowPath::kDirect, stream);
}

void run_forward(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias, at::Tensor& out,
                 WindowShape const& s, WindowPath path, bool float_params) {
  if (out.numel() == 0) return;
  c10::cuda::CUDAGuard const guard(x.device());
  cudaStream_t const stream = c10::cuda::getCurrentCUDAStream();
  WindowParams const p = make_params(x, weight, bias, out, s, float_params);
  if (path == WindowPath::kAuto) {
    run_auto(p, x, out, [&](at::Tensor const& x2, at::Tensor& out2) { return make_params(x2, weight, bias, out2, s, float_params); },
             stream);
  } else {
    TORCH_CHECK(window_forward(p, path, stream) == FwdStatus::kLaunched,
                "cute_dwconv: the requested kernel path cannot take this call");
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor forward(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                   at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool float_params) {
  StripArgs const args = strip_args(stride, padding, dilation);
  WindowShape const s = check_forward_args(x, weight, bias, args, float_params);
  if (is_strip(s.kh, s.kw)) {
    static auto const strip_op = operator_handle<StripForward>("cute_dwconv::strip_conv2d");
    static auto const strip_float_op = operator_handle<StripForward>("cute_dwconv::_strip_conv2d_float_params");
    return (float_params ? strip_float_op : strip_op).call(x, weight, bias, stride, padding, dilation);
  }
  // The layout PyTorch's convolution gives: channels_last in, channels_last out.
  at::Tensor out = at::empty({s.N, s.C, s.Ho, s.Wo}, x.options().memory_format(x.suggest_memory_format()));
  run_forward(x, weight, bias, out, s, WindowPath::kAuto, float_params);
  return out;
}

at::Tensor depthwise_conv2d(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return forward(x, weight, bias, stride, padding, dilation, false);
}

// depthwise_conv2d with float32 weight and bias beside a float16 or bfloat16 x (autocast's call).
at::Tensor depthwise_conv2d_float_params(at::Tensor const& x, at::Tensor const& weight,
                                         std::optional<at::Tensor> const& bias, at::IntArrayRef stride,
                                         at::IntArrayRef padding, at::IntArrayRef dilation) {
  return forward(x, weight, bias, stride, padding, dilation, true);
}

WindowPath parse_path(c10::string_view path) {
  if (path == "auto") return WindowPath::kAuto;
  if (path == "tiled") return WindowPath::kTiled;
  if (path == "tensor_core") return WindowPath::kTensorCore;
  if (path == "channels_last_tensor_core") return WindowPath::kChannelsLastTensorCore;
  if (path == "planes") return WindowPath::kPlanes;
  if (path == "channels_last") return WindowPath::kChannelsLast;
  if (path == "channels_last_tile") return WindowPath::kChannelsLastTile;
  if (path == "channels_last_l1") return WindowPath::kChannelsLastL1;
  if (path == "direct") return WindowPath::kDirect;
  TORCH_CHECK(false, "cute_dwconv: path must be one of auto, tiled, tensor_core, channels_last_tensor_core, planes, channels_last, channels_last_tile, channels_last_l1, direct; got '", std::string(path),
              "'");
}

// The window kernels through one forced path, strips included (no strip operator), for tests and
// benchmarks.
void depthwise_conv2d_path_out(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                               at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                               c10::string_view path, at::Tensor& out) {
  WindowShape const s = check_forward_args(x, weight, bias, strip_args(stride, padding, dilation), false);
  check_out(out, x, s.N, s.C, s.Ho, s.Wo);
  run_forward(x, weight, bias, out, s, parse_path(path), false);
}

// grad_out must be (N, C, Ho, Wo) for an input of height H and width W.
void check_grad_out(at::Tensor const& grad_out, int64_t N, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                    StripArgs const& args) {
  TORCH_CHECK(grad_out.dim() == 4, "cute_dwconv: grad_out must be a 4-D (N, C, Ho, Wo) tensor, got shape ",
              grad_out.sizes());
  auto const [Ho, Wo] = window_output_size(H, W, kh, kw, args);
  TORCH_CHECK(grad_out.size(0) == N && grad_out.size(1) == C && grad_out.size(2) == Ho && grad_out.size(3) == Wo,
              "cute_dwconv: grad_out must have the forward output's shape (", N, ", ", C, ", ", Ho, ", ", Wo,
              "), got ", grad_out.sizes());
}

// The input gradient at a stride (sh, sw) above 1 (unit dilation) as sh * sw stride-1 windows, one
// per phase (rh, rw): the input rows rh, rh + sh, ... and columns rw, rw + sw, ... take the taps
// a = a0 + sh*m (a0 = (rh + pad_top) mod sh) of the window, and row rh + sh*i reads grad_out row
// i + q - m (q = (rh + pad_top - a0) / sh). That is a forward window over grad_out with those taps
// flipped, M = ceil((kh - a0) / sh) rows of them, and M - 1 - q rows of padding above; likewise along
// the width. Each phase runs on the forward kernels, writing its strided view of grad_input (the
// gathering kernel's per-element divisions made it 7x slower than this on MobileNet's 3x3 at
// stride 2: profiling/NOTES.md, windows). A phase no tap reaches is zero.
void strided_grad_input_by_phases(at::Tensor const& grad_out, at::Tensor const& weight, at::Tensor& grad_input,
                                  StripArgs const& args, bool float_weight, cudaStream_t stream) {
  int64_t const N = grad_out.size(0), C = grad_out.size(1), Ho = grad_out.size(2), Wo = grad_out.size(3);
  int64_t const H = grad_input.size(2), W = grad_input.size(3);
  int64_t const kh = weight.size(2), kw = weight.size(3);
  int64_t const sh = args.stride_h, sw = args.stride_w;
  struct Phase {
    int64_t first_tap, taps, offset;  // a0, M, q
  };
  auto phase_of = [](int64_t r, int64_t pad, int64_t s, int64_t k) {
    int64_t const first = (r + pad) % s;
    return Phase{first, first < k ? (k - first + s - 1) / s : 0, (r + pad - first) / s};
  };
  for (int64_t rh = 0; rh < sh && rh < H; ++rh) {
    for (int64_t rw = 0; rw < sw && rw < W; ++rw) {
      at::Tensor phase_out = grad_input.slice(2, rh, H, sh).slice(3, rw, W, sw);
      Phase const ph = phase_of(rh, args.pad_top, sh, kh), pw = phase_of(rw, args.pad_left, sw, kw);
      if (ph.taps == 0 || pw.taps == 0) {
        phase_out.zero_();
        continue;
      }
      StripArgs phase_args{1, 1, ph.taps - 1 - ph.offset, 0, pw.taps - 1 - pw.offset, 0, 1, 1};
      WindowShape const s{N, C, Ho, Wo, phase_out.size(2), phase_out.size(3), ph.taps, pw.taps, phase_args};
      int64_t const last_tap = (ph.first_tap + sh * (ph.taps - 1)) * weight.stride(2) +
                               (pw.first_tap + sw * (pw.taps - 1)) * weight.stride(3);
      auto params_for = [&](at::Tensor const& g, at::Tensor& out) {
        WindowParams p = make_params(g, weight, std::nullopt, out, s, float_weight);
        p.weight = static_cast<char const*>(weight.const_data_ptr()) + last_tap * weight.element_size();
        p.w_stride_h = -sh * weight.stride(2);
        p.w_stride_w = -sw * weight.stride(3);
        return p;
      };
      run_auto(params_for(grad_out, phase_out), grad_out, phase_out, params_for, stream);
    }
  }
}

at::Tensor grad_input_impl(at::Tensor const& grad_out, at::Tensor const& weight, c10::SymInt const& height,
                           c10::SymInt const& width, at::IntArrayRef stride, at::IntArrayRef padding,
                           at::IntArrayRef dilation, bool float_weight) {
  StripArgs const args = strip_args(stride, padding, dilation);
  TORCH_CHECK(grad_out.dim() == 4, "cute_dwconv: grad_out must be a 4-D (N, C, Ho, Wo) tensor, got shape ",
              grad_out.sizes());
  int64_t const N = grad_out.size(0), C = grad_out.size(1);
  int64_t const H = height.expect_int(), W = width.expect_int();
  TORCH_CHECK(C > 0, "cute_dwconv: grad_out must have at least one channel, got shape ", grad_out.sizes());
  TORCH_CHECK(H > 0 && W > 0, "cute_dwconv: the input height and width must be >= 1, got ", H, " and ", W);
  auto const [kh, kw] = window_kernel(weight, C, "grad_out");
  check_grad_out(grad_out, N, C, H, W, kh, kw, args);
  check_grad_input_tensors(grad_out, weight, float_weight);
  if (is_strip(kh, kw)) {
    static auto const strip_op = operator_handle<StripGradInput>("cute_dwconv::strip_conv2d_grad_input");
    static auto const strip_float_op =
        operator_handle<StripGradInput>("cute_dwconv::_strip_conv2d_grad_input_float_params");
    return (float_weight ? strip_float_op : strip_op).call(grad_out, weight, height, width, stride, padding, dilation);
  }

  at::Tensor grad_input = at::empty({N, C, H, W}, grad_out.options().memory_format(grad_out.suggest_memory_format()));
  if (grad_input.numel() == 0) return grad_input;
  c10::cuda::CUDAGuard const guard(grad_out.device());
  cudaStream_t const stream = c10::cuda::getCurrentCUDAStream();
  int64_t const Ho = grad_out.size(2), Wo = grad_out.size(3);
  if (args.stride_h == 1 && args.stride_w == 1) {
    // A forward window over grad_out with the taps flipped: weight read from its last tap with
    // negated strides, and the window starting (K-1)*d - p before each input position.
    StripArgs flipped = args;
    flipped.pad_top = (kh - 1) * args.dilation_h - args.pad_top;
    flipped.pad_left = (kw - 1) * args.dilation_w - args.pad_left;
    WindowShape const s{N, C, Ho, Wo, H, W, kh, kw, flipped};
    auto params_for = [&](at::Tensor const& g, at::Tensor& gi) {
      WindowParams p = make_params(g, weight, std::nullopt, gi, s, float_weight);
      int64_t const last_tap = (kh - 1) * weight.stride(2) + (kw - 1) * weight.stride(3);
      p.weight = static_cast<char const*>(weight.const_data_ptr()) + last_tap * weight.element_size();
      p.w_stride_h = -weight.stride(2);
      p.w_stride_w = -weight.stride(3);
      return p;
    };
    run_auto(params_for(grad_out, grad_input), grad_out, grad_input, params_for, stream);
  } else {
    // The forward call's geometry with x's strides replaced by grad_input's and out's by grad_out's.
    WindowShape const s{N, C, H, W, Ho, Wo, kh, kw, args};
    WindowParams p = make_params(grad_input, weight, std::nullopt, grad_input, s, float_weight);
    p.out_stride_n = grad_out.stride(0); p.out_stride_c = grad_out.stride(1);
    p.out_stride_h = grad_out.stride(2); p.out_stride_w = grad_out.stride(3);
    if (window_grad_input_phases(p, grad_out.const_data_ptr(), grad_input.mutable_data_ptr(), stream) ==
        FwdStatus::kLaunched) {
      // all four phases of a stride-2 window in one pass
    } else if (args.dilation_h == 1 && args.dilation_w == 1) {
      strided_grad_input_by_phases(grad_out, weight, grad_input, args, float_weight, stream);
    } else {
      window_grad_input_gather(p, grad_out.const_data_ptr(), grad_input.mutable_data_ptr(), stream);
    }
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_input;
}

at::Tensor depthwise_conv2d_grad_input(at::Tensor const& grad_out, at::Tensor const& weight, c10::SymInt height,
                                       c10::SymInt width, at::IntArrayRef stride, at::IntArrayRef padding,
                                       at::IntArrayRef dilation) {
  return grad_input_impl(grad_out, weight, height, width, stride, padding, dilation, false);
}

at::Tensor depthwise_conv2d_grad_input_float_params(at::Tensor const& grad_out, at::Tensor const& weight,
                                                    c10::SymInt height, c10::SymInt width, at::IntArrayRef stride,
                                                    at::IntArrayRef padding, at::IntArrayRef dilation) {
  return grad_input_impl(grad_out, weight, height, width, stride, padding, dilation, true);
}

std::tuple<at::Tensor, at::Tensor> grad_weight_impl(at::Tensor const& grad_out, at::Tensor const& x,
                                                    at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                                    at::IntArrayRef padding, at::IntArrayRef dilation,
                                                    bool float_grads) {
  TORCH_CHECK(kernel_size.size() == 2, "cute_dwconv: kernel_size must be (kh, kw), got ", kernel_size);
  int64_t const kh = kernel_size[0], kw = kernel_size[1];
  TORCH_CHECK(kh >= 1 && kw >= 1, "cute_dwconv: kernel_size must be >= 1 along both axes, got ", kernel_size);
  StripArgs const args = strip_args(stride, padding, dilation);
  check_input_shape(x);
  int64_t const N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  check_grad_out(grad_out, N, C, H, W, kh, kw, args);
  check_grad_weight_tensors(grad_out, x, float_grads);
  if (is_strip(kh, kw)) {
    static auto const strip_op = operator_handle<StripGradWeight>("cute_dwconv::strip_conv2d_grad_weight");
    static auto const strip_float_op =
        operator_handle<StripGradWeight>("cute_dwconv::_strip_conv2d_grad_weight_float_params");
    return (float_grads ? strip_float_op : strip_op).call(grad_out, x, kernel_size, stride, padding, dilation);
  }

  at::TensorOptions const grad_options = float_grads ? x.options().dtype(at::kFloat) : x.options();
  if (N == 0) return {at::zeros({C, 1, kh, kw}, grad_options), at::zeros({C}, grad_options)};
  at::Tensor grad_weight = at::empty({C, 1, kh, kw}, grad_options);
  at::Tensor grad_bias = at::empty({C}, grad_options);
  c10::cuda::CUDAGuard const guard(x.device());
  WindowGradWeightParams p{};
  p.dtype = element_type(x.scalar_type());
  p.x = x.const_data_ptr();
  p.grad_out = grad_out.const_data_ptr();
  p.grad_weight = grad_weight.mutable_data_ptr();
  p.grad_bias = grad_bias.mutable_data_ptr();
  p.grads_float32 = float_grads;
  p.N = N; p.C = C; p.H = H; p.W = W; p.Ho = grad_out.size(2); p.Wo = grad_out.size(3);
  p.x_stride_n = x.stride(0); p.x_stride_c = x.stride(1); p.x_stride_h = x.stride(2); p.x_stride_w = x.stride(3);
  p.g_stride_n = grad_out.stride(0); p.g_stride_c = grad_out.stride(1);
  p.g_stride_h = grad_out.stride(2); p.g_stride_w = grad_out.stride(3);
  p.kh = kh; p.kw = kw;
  p.stride_h = args.stride_h; p.stride_w = args.stride_w;
  p.padding_h = args.pad_top; p.padding_w = args.pad_left;
  p.dilation_h = args.dilation_h; p.dilation_w = args.dilation_w;
  p.device = x.get_device();
  WindowGradWeightPlan const plan = window_grad_weight_plan(p);
  at::Tensor workspace = at::empty({plan.workspace_bytes}, x.options().dtype(at::kByte));
  p.workspace = workspace.mutable_data_ptr();
  TORCH_CHECK(window_grad_weight(p, plan, c10::cuda::getCurrentCUDAStream()) == FwdStatus::kLaunched,
              "cute_dwconv: the weight gradient of a (", kh, ", ", kw, ") window with dilation (", args.dilation_h,
              ", ", args.dilation_w, ") needs more shared memory per tile than this GPU has");
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad_weight, grad_bias};
}

std::tuple<at::Tensor, at::Tensor> depthwise_conv2d_grad_weight(at::Tensor const& grad_out, at::Tensor const& x,
                                                                at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                                                at::IntArrayRef padding, at::IntArrayRef dilation) {
  return grad_weight_impl(grad_out, x, kernel_size, stride, padding, dilation, false);
}

std::tuple<at::Tensor, at::Tensor> depthwise_conv2d_grad_weight_float_params(
    at::Tensor const& grad_out, at::Tensor const& x, at::IntArrayRef kernel_size, at::IntArrayRef stride,
    at::IntArrayRef padding, at::IntArrayRef dilation) {
  return grad_weight_impl(grad_out, x, kernel_size, stride, padding, dilation, true);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(cute_dwconv, m) {
  // F.conv2d for any depthwise weight (C, 1, kh, kw), groups = C. Arguments as strip_conv2d's.
  m.def("depthwise_conv2d(Tensor x, Tensor weight, Tensor? bias, int[2] stride, int[] padding, int[2] dilation) "
        "-> Tensor");
  // depthwise_conv2d with float32 weight and bias beside a float16 or bfloat16 x (autocast's call).
  m.def("_depthwise_conv2d_float_params(Tensor x, Tensor weight, Tensor? bias, int[2] stride, int[] padding, "
        "int[2] dilation) -> Tensor");
  // The window kernels through a forced path (auto, tiled, channels_last, direct), written into out.
  m.def("_depthwise_conv2d_path_out(Tensor x, Tensor weight, Tensor? bias, int[2] stride, int[] padding, "
        "int[2] dilation, str path, Tensor(a!) out) -> ()");
  m.def("depthwise_conv2d_grad_input(Tensor grad_out, Tensor weight, SymInt height, SymInt width, int[2] stride, "
        "int[] padding, int[2] dilation) -> Tensor");
  m.def("_depthwise_conv2d_grad_input_float_params(Tensor grad_out, Tensor weight, SymInt height, SymInt width, "
        "int[2] stride, int[] padding, int[2] dilation) -> Tensor");
  // (grad_weight of shape (C, 1, kh, kw), grad_bias of shape (C,)), deterministic.
  m.def("depthwise_conv2d_grad_weight(Tensor grad_out, Tensor x, int[2] kernel_size, int[2] stride, int[] padding, "
        "int[2] dilation) -> (Tensor, Tensor)");
  m.def("_depthwise_conv2d_grad_weight_float_params(Tensor grad_out, Tensor x, int[2] kernel_size, int[2] stride, "
        "int[] padding, int[2] dilation) -> (Tensor, Tensor)");
}

#define CUTE_DWCONV_WINDOW_IMPLS(m)                                                                   \
  m.impl("depthwise_conv2d", &depthwise_conv2d);                                                      \
  m.impl("_depthwise_conv2d_float_params", &depthwise_conv2d_float_params);                           \
  m.impl("_depthwise_conv2d_path_out", &depthwise_conv2d_path_out);                                   \
  m.impl("depthwise_conv2d_grad_input", &depthwise_conv2d_grad_input);                                \
  m.impl("_depthwise_conv2d_grad_input_float_params", &depthwise_conv2d_grad_input_float_params);     \
  m.impl("depthwise_conv2d_grad_weight", &depthwise_conv2d_grad_weight);                              \
  m.impl("_depthwise_conv2d_grad_weight_float_params", &depthwise_conv2d_grad_weight_float_params);

TORCH_LIBRARY_IMPL(cute_dwconv, CUDA, m) { CUTE_DWCONV_WINDOW_IMPLS(m) }

// CPU tensors reach the checks, which say that the tensors must be on a CUDA device.
TORCH_LIBRARY_IMPL(cute_dwconv, CPU, m) { CUTE_DWCONV_WINDOW_IMPLS(m) }

#undef CUTE_DWCONV_WINDOW_IMPLS

}  // namespace cute_dwconv
