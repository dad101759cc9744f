// Torch glue for the backward operators: argument checks, output and workspace allocation, the
// dispatch call and registration. The autograd formulas that call them live in torch_autograd.cpp.
// The dwconv_kx1_* operators are the strip_conv2d_* ones with int arguments and (K, 1) kernels.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/core/SymInt.h>
#include <torch/library.h>

#include <string>
#include <tuple>

#include "bwd_params.h"
#include "dispatch/bwd_dispatch.h"
#include "torch_common.h"

namespace cute_dwconv {
namespace {

// grad_out must be (N, C, Ho, Wo) for an input of height H and width W under these arguments.
void check_grad_out_shape(at::Tensor const& grad_out, int64_t N, int64_t C, int64_t H, int64_t W,
                          StripKernel const& kernel, StripArgs const& args) {
  int64_t const Ho = output_extent(H, args.pad_top + args.pad_bottom, kernel.kh, args.stride_h, args.dilation_h);
  int64_t const Wo = output_extent(W, args.pad_left + args.pad_right, kernel.kw, args.stride_w, args.dilation_w);
  TORCH_CHECK(Ho > 0 && Wo > 0, "cute_dwconv: an input of height ", H, " and width ", W,
              " has no output under a (", kernel.kh, ", ", kernel.kw, ") kernel, stride (", args.stride_h, ", ",
              args.stride_w, "), padding (", args.pad_top, ", ", args.pad_bottom, ", ", args.pad_left, ", ",
              args.pad_right, ") and dilation (", args.dilation_h, ", ", args.dilation_w, ")");
  TORCH_CHECK(grad_out.size(0) == N && grad_out.size(1) == C && grad_out.size(2) == Ho && grad_out.size(3) == Wo,
              "cute_dwconv: grad_out must have the forward output's shape (", N, ", ", C, ", ", Ho, ", ", Wo,
              "), got ", grad_out.sizes());
}

// float_weight: the weight is float32 beside a 16-bit grad_out (see check_param_dtype).
at::Tensor grad_input_impl(at::Tensor const& grad_out, at::Tensor const& weight, c10::SymInt const& height,
                           c10::SymInt const& width, StripArgs const& args, bool allow_horizontal, BwdInputPath path,
                           bool float_weight = false) {
  TORCH_CHECK(grad_out.dim() == 4, "cute_dwconv: grad_out must be a 4-D (N, C, Ho, Wo) tensor, got shape ",
              grad_out.sizes());
  int64_t const N = grad_out.size(0), C = grad_out.size(1);
  int64_t const H = height.expect_int(), W = width.expect_int();
  TORCH_CHECK(C > 0, "cute_dwconv: grad_out must have at least one channel, got shape ", grad_out.sizes());
  TORCH_CHECK(H > 0 && W > 0, "cute_dwconv: the input height and width must be >= 1, got ", H, " and ", W);
  StripKernel const kernel = strip_kernel(weight, C, "grad_out", args, allow_horizontal);
  check_grad_out_shape(grad_out, N, C, H, W, kernel, args);
  check_grad_input_tensors(grad_out, weight, float_weight);

  at::Tensor grad_input =
      at::empty({N, C, H, W}, grad_out.options().memory_format(grad_out.suggest_memory_format()));
  if (grad_input.numel() == 0) return grad_input;

  c10::cuda::CUDAGuard const guard(grad_out.device());
  BwdInputParams p{};
  p.dtype = element_type(grad_out.scalar_type());
  p.axis = kernel.axis;
  p.grad_out = grad_out.const_data_ptr();
  p.grad_input = grad_input.mutable_data_ptr();
  p.weight = weight.const_data_ptr();
  p.weight_float32 = float_weight;
  p.N = N; p.C = C; p.H = H; p.W = W; p.Ho = grad_out.size(2); p.Wo = grad_out.size(3);
  p.g_stride_n = grad_out.stride(0); p.g_stride_c = grad_out.stride(1);
  p.g_stride_h = grad_out.stride(2); p.g_stride_w = grad_out.stride(3);
  p.gi_stride_n = grad_input.stride(0); p.gi_stride_c = grad_input.stride(1);
  p.gi_stride_h = grad_input.stride(2); p.gi_stride_w = grad_input.stride(3);
  p.w_stride_c = weight.stride(0);
  p.w_stride_k = weight.stride(kernel.axis == TapAxis::kWidth ? 3 : 2);
  p.kernel_size = kernel.taps;
  p.stride_h = args.stride_h; p.stride_w = args.stride_w;
  p.padding_h = args.pad_top; p.padding_w = args.pad_left;
  p.dilation = kernel.dilation;
  p.device = grad_out.get_device();
  FwdStatus const status = strip_backward_input(p, path, c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(status == FwdStatus::kLaunched, "cute_dwconv: no kernel could take this grad_input call");
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_input;
}

BwdInputPath parse_input_path(c10::string_view path) {
  TORCH_CHECK(path == "auto" || path == "strided", "cute_dwconv: path must be auto or strided, got '",
              std::string(path), "'");
  return path == "auto" ? BwdInputPath::kAuto : BwdInputPath::kStrided;
}

// grad_weight is (C, 1, kh, kw) like the weight; kernel_size names (kh, kw) or, with int
// arguments, K of a (K, 1) kernel.
// float_grads: grad_weight and grad_bias are float32 beside a 16-bit x (the parameters' dtype under autocast).
std::tuple<at::Tensor, at::Tensor> grad_weight_impl(at::Tensor const& grad_out, at::Tensor const& x, int64_t kh,
                                                    int64_t kw, StripArgs const& args, bool float_grads = false) {
  check_input_shape(x);
  int64_t const N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  TORCH_CHECK(kh >= 1 && kw >= 1 && (kh == 1 || kw == 1),
              "cute_dwconv: kernel_size must be (K, 1) or (1, K) with K >= 1, got (", kh, ", ", kw, ")");
  bool const along_width = kw > 1;
  StripKernel const kernel{along_width ? TapAxis::kWidth : TapAxis::kHeight, along_width ? kw : kh, kh, kw,
                           along_width ? args.dilation_w : args.dilation_h};
  TORCH_CHECK(grad_out.dim() == 4, "cute_dwconv: grad_out must be a 4-D (N, C, Ho, Wo) tensor, got shape ",
              grad_out.sizes());
  check_grad_out_shape(grad_out, N, C, H, W, kernel, args);
  check_grad_weight_tensors(grad_out, x, float_grads);
  at::TensorOptions const grad_options = float_grads ? x.options().dtype(at::kFloat) : x.options();
  at::Tensor grad_weight = at::empty({C, 1, kh, kw}, grad_options);
  at::Tensor grad_bias = at::empty({C}, grad_options);

  c10::cuda::CUDAGuard const guard(x.device());
  BwdWeightParams p{};
  p.dtype = element_type(x.scalar_type());
  p.axis = kernel.axis;
  p.grad_weight = grad_weight.mutable_data_ptr();
  p.grad_bias = grad_bias.mutable_data_ptr();
  p.grads_float32 = float_grads;
  p.N = N; p.C = C; p.H = H; p.W = W; p.Ho = grad_out.size(2); p.Wo = grad_out.size(3);
  auto read_from = [&](at::Tensor const& x_rows, at::Tensor const& g_rows) {
    p.x = x_rows.const_data_ptr();
    p.grad_out = g_rows.const_data_ptr();
    p.x_stride_n = x_rows.stride(0); p.x_stride_c = x_rows.stride(1);
    p.x_stride_h = x_rows.stride(2); p.x_stride_w = x_rows.stride(3);
    p.g_stride_n = g_rows.stride(0); p.g_stride_c = g_rows.stride(1);
    p.g_stride_h = g_rows.stride(2); p.g_stride_w = g_rows.stride(3);
  };
  read_from(x, grad_out);
  p.gw_stride_c = grad_weight.stride(0);
  p.gw_stride_k = grad_weight.stride(along_width ? 3 : 2);
  p.gb_stride = grad_bias.stride(0);
  p.kernel_size = kernel.taps;
  p.stride_h = args.stride_h; p.stride_w = args.stride_w;
  p.padding_h = args.pad_top; p.padding_w = args.pad_left;
  p.dilation = kernel.dilation;
  p.device = x.get_device();

  BwdWeightPlan plan = strip_backward_weight_plan(p);
  // channels_last x or grad_out that no window register kernel takes (long or dilated strips): the
  // strip kernel would read their rows element by element, C apart ((21, 1) float32 on
  // 16x64x256x256: 29 ms forward + backward), so it reads NCHW copies of both.
  at::Tensor x_rows, g_rows;
  if (!plan.on_window && C > 1 && (x.stride(1) == 1 || grad_out.stride(1) == 1)) {
    x_rows = x.contiguous();
    g_rows = grad_out.contiguous();
    read_from(x_rows, g_rows);
    plan = strip_backward_weight_plan(p);
  }
  // Per-tile partial sums, so that the second pass can add them in a fixed order.
  at::Tensor workspace = at::empty({plan.workspace_bytes > 0 ? plan.workspace_bytes : 1}, x.options().dtype(at::kByte));
  p.workspace = workspace.mutable_data_ptr();
  strip_backward_weight(p, plan, c10::cuda::getCurrentCUDAStream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad_weight, grad_bias};
}

at::Tensor strip_conv2d_grad_input(at::Tensor const& grad_out, at::Tensor const& weight, c10::SymInt height,
                                   c10::SymInt width, at::IntArrayRef stride, at::IntArrayRef padding,
                                   at::IntArrayRef dilation) {
  return grad_input_impl(grad_out, weight, height, width, strip_args(stride, padding, dilation), true,
                         BwdInputPath::kAuto);
}

at::Tensor strip_conv2d_grad_input_path(at::Tensor const& grad_out, at::Tensor const& weight, c10::SymInt height,
                                        c10::SymInt width, at::IntArrayRef stride, at::IntArrayRef padding,
                                        at::IntArrayRef dilation, c10::string_view path) {
  return grad_input_impl(grad_out, weight, height, width, strip_args(stride, padding, dilation), true,
                         parse_input_path(path));
}

std::tuple<at::Tensor, at::Tensor> strip_conv2d_grad_weight(at::Tensor const& grad_out, at::Tensor const& x,
                                                            at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                                            at::IntArrayRef padding, at::IntArrayRef dilation) {
  TORCH_CHECK(kernel_size.size() == 2, "cute_dwconv: kernel_size must be (kh, kw), got ", kernel_size);
  return grad_weight_impl(grad_out, x, kernel_size[0], kernel_size[1], strip_args(stride, padding, dilation));
}

// The gradients of _strip_conv2d_float_params: grad_input from a float32 weight beside a 16-bit
// grad_out, and float32 grad_weight and grad_bias, the parameters' dtype.
at::Tensor strip_conv2d_grad_input_float_params(at::Tensor const& grad_out, at::Tensor const& weight,
                                                c10::SymInt height, c10::SymInt width, at::IntArrayRef stride,
                                                at::IntArrayRef padding, at::IntArrayRef dilation) {
  return grad_input_impl(grad_out, weight, height, width, strip_args(stride, padding, dilation), true,
                         BwdInputPath::kAuto, true);
}

std::tuple<at::Tensor, at::Tensor> strip_conv2d_grad_weight_float_params(
    at::Tensor const& grad_out, at::Tensor const& x, at::IntArrayRef kernel_size, at::IntArrayRef stride,
    at::IntArrayRef padding, at::IntArrayRef dilation) {
  TORCH_CHECK(kernel_size.size() == 2, "cute_dwconv: kernel_size must be (kh, kw), got ", kernel_size);
  return grad_weight_impl(grad_out, x, kernel_size[0], kernel_size[1], strip_args(stride, padding, dilation), true);
}

at::Tensor dwconv_kx1_grad_input(at::Tensor const& grad_out, at::Tensor const& weight, c10::SymInt height,
                                 c10::SymInt width, int64_t stride, int64_t padding, int64_t dilation) {
  return grad_input_impl(grad_out, weight, height, width, symmetric_args(stride, padding, dilation), false,
                         BwdInputPath::kAuto);
}

at::Tensor dwconv_kx1_grad_input_path(at::Tensor const& grad_out, at::Tensor const& weight, c10::SymInt height,
                                      c10::SymInt width, int64_t stride, int64_t padding, int64_t dilation,
                                      c10::string_view path) {
  return grad_input_impl(grad_out, weight, height, width, symmetric_args(stride, padding, dilation), false,
                         parse_input_path(path));
}

std::tuple<at::Tensor, at::Tensor> dwconv_kx1_grad_weight(at::Tensor const& grad_out, at::Tensor const& x,
                                                          int64_t kernel_size, int64_t stride, int64_t padding,
                                                          int64_t dilation) {
  TORCH_CHECK(kernel_size >= 1, "cute_dwconv: kernel_size must be >= 1, got ", kernel_size);
  return grad_weight_impl(grad_out, x, kernel_size, 1, symmetric_args(stride, padding, dilation));
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(cute_dwconv, m) {
  // The input gradient; height and width are the forward input's (a strided forward maps several
  // input sizes to one output size).
  m.def("strip_conv2d_grad_input(Tensor grad_out, Tensor weight, SymInt height, SymInt width, int[2] stride, "
        "int[] padding, int[2] dilation) -> Tensor");
  // strip_conv2d_grad_input through a forced path (auto, strided), so tests reach each kernel.
  m.def("_strip_conv2d_grad_input_path(Tensor grad_out, Tensor weight, SymInt height, SymInt width, "
        "int[2] stride, int[] padding, int[2] dilation, str path) -> Tensor");
  // (grad_weight of shape (C, 1, kh, kw), grad_bias of shape (C,)), both always: the bias gradient
  // comes from the grad_out values the weight gradient reads anyway.
  m.def("strip_conv2d_grad_weight(Tensor grad_out, Tensor x, int[2] kernel_size, int[2] stride, int[] padding, "
        "int[2] dilation) -> (Tensor, Tensor)");
  // The gradients of _strip_conv2d_float_params (float32 weight; float32 grad_weight and grad_bias).
  m.def("_strip_conv2d_grad_input_float_params(Tensor grad_out, Tensor weight, SymInt height, SymInt width, "
        "int[2] stride, int[] padding, int[2] dilation) -> Tensor");
  m.def("_strip_conv2d_grad_weight_float_params(Tensor grad_out, Tensor x, int[2] kernel_size, int[2] stride, "
        "int[] padding, int[2] dilation) -> (Tensor, Tensor)");
  m.def("dwconv_kx1_grad_input(Tensor grad_out, Tensor weight, SymInt height, SymInt width, int stride, "
        "int padding, int dilation) -> Tensor");
  m.def("_dwconv_kx1_grad_input_path(Tensor grad_out, Tensor weight, SymInt height, SymInt width, int stride, "
        "int padding, int dilation, str path) -> Tensor");
  m.def("dwconv_kx1_grad_weight(Tensor grad_out, Tensor x, int kernel_size, int stride, int padding, "
        "int dilation) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(cute_dwconv, CUDA, m) {
  m.impl("strip_conv2d_grad_input", &strip_conv2d_grad_input);
  m.impl("_strip_conv2d_grad_input_path", &strip_conv2d_grad_input_path);
  m.impl("strip_conv2d_grad_weight", &strip_conv2d_grad_weight);
  m.impl("_strip_conv2d_grad_input_float_params", &strip_conv2d_grad_input_float_params);
  m.impl("_strip_conv2d_grad_weight_float_params", &strip_conv2d_grad_weight_float_params);
  m.impl("dwconv_kx1_grad_input", &dwconv_kx1_grad_input);
  m.impl("_dwconv_kx1_grad_input_path", &dwconv_kx1_grad_input_path);
  m.impl("dwconv_kx1_grad_weight", &dwconv_kx1_grad_weight);
}

// CPU tensors reach the checks, which say that the tensors must be on a CUDA device.
TORCH_LIBRARY_IMPL(cute_dwconv, CPU, m) {
  m.impl("strip_conv2d_grad_input", &strip_conv2d_grad_input);
  m.impl("_strip_conv2d_grad_input_path", &strip_conv2d_grad_input_path);
  m.impl("strip_conv2d_grad_weight", &strip_conv2d_grad_weight);
  m.impl("_strip_conv2d_grad_input_float_params", &strip_conv2d_grad_input_float_params);
  m.impl("_strip_conv2d_grad_weight_float_params", &strip_conv2d_grad_weight_float_params);
  m.impl("dwconv_kx1_grad_input", &dwconv_kx1_grad_input);
  m.impl("_dwconv_kx1_grad_input_path", &dwconv_kx1_grad_input_path);
  m.impl("dwconv_kx1_grad_weight", &dwconv_kx1_grad_weight);
}

}  // namespace cute_dwconv
