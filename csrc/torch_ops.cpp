// Torch glue for the forward operators: argument checks, output allocation, the dispatch call and
// operator registration. Nothing here computes; every kernel lives behind dispatch/fwd_dispatch.h.
// dwconv_kx1 is strip_conv2d with int arguments and a (K, 1) kernel: the same code below.
#include <Python.h>

#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "device_limits.h"
#include "dispatch/fwd_dispatch.h"
#include "dwconv_params.h"
#include "torch_common.h"

namespace cute_dwconv {
namespace {

struct ConvShape {
  int64_t N, C, H, W, Ho, Wo;
  StripKernel kernel;
  StripArgs args;
};

// float_params: weight and bias are float32 beside a 16-bit x (see check_param_dtype).
ConvShape check_args(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                     StripArgs const& args, bool allow_horizontal, bool float_params) {
  check_input_shape(x);
  int64_t const N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  StripKernel const kernel = strip_kernel(weight, C, "x", args, allow_horizontal);
  check_bias_shape(bias, C);
  auto const [Ho, Wo] = output_size(H, W, kernel, args);
  check_forward_tensors(x, weight, bias, float_params);
  return {N, C, H, W, Ho, Wo, kernel, args};
}

FwdParams make_params(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                      at::Tensor& out, ConvShape const& s, bool float_params) {
  bool const along_width = s.kernel.axis == TapAxis::kWidth;
  FwdParams p{};
  p.dtype = element_type(x.scalar_type());
  p.axis = s.kernel.axis;
  p.x = x.const_data_ptr();
  p.out = out.mutable_data_ptr();
  p.weight = weight.const_data_ptr();
  p.bias = bias.has_value() ? bias->const_data_ptr() : nullptr;
  p.params_float32 = float_params;
  p.N = s.N; p.C = s.C; p.H = s.H; p.W = s.W; p.Ho = s.Ho; p.Wo = s.Wo;
  p.x_stride_n = x.stride(0); p.x_stride_c = x.stride(1); p.x_stride_h = x.stride(2); p.x_stride_w = x.stride(3);
  p.out_stride_n = out.stride(0); p.out_stride_c = out.stride(1);
  p.out_stride_h = out.stride(2); p.out_stride_w = out.stride(3);
  p.w_stride_c = weight.stride(0);
  p.w_stride_k = weight.stride(along_width ? 3 : 2);
  p.bias_stride = bias.has_value() ? bias->stride(0) : 0;
  p.kernel_size = s.kernel.taps;
  p.stride_h = s.args.stride_h;
  p.stride_w = s.args.stride_w;
  p.padding_h = s.args.pad_top;
  p.padding_w = s.args.pad_left;
  p.dilation = s.kernel.dilation;
  p.device = x.get_device();
  return p;
}

FwdPath parse_path(c10::string_view path) {
  if (path == "auto") return FwdPath::kAuto;
  if (path == "fixed_shape") return FwdPath::kFixedShape;
  if (path == "table") return FwdPath::kTable;
  if (path == "general") return FwdPath::kGeneral;
  if (path == "tensor_core") return FwdPath::kTensorCore;
  if (path == "direct") return FwdPath::kDirect;
  TORCH_CHECK(false, "cute_dwconv: path must be one of auto, fixed_shape, table, general, tensor_core, direct; got '",
              std::string(path), "'");
}

void run_forward(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                 at::Tensor& out, ConvShape const& s, FwdPath path, bool float_params = false) {
  if (out.numel() == 0) return;
  c10::cuda::CUDAGuard const guard(x.device());
  FwdParams const p = make_params(x, weight, bias, out, s, float_params);
  FwdStatus const status = strip_forward(p, path, c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(status == FwdStatus::kLaunched, "cute_dwconv: the requested kernel path cannot take this call");
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor forward(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                   StripArgs const& args, bool allow_horizontal, bool float_params = false) {
  ConvShape const s = check_args(x, weight, bias, args, allow_horizontal, float_params);
  // The layout PyTorch's convolution gives: channels_last in, channels_last out.
  at::Tensor out = at::empty({s.N, s.C, s.Ho, s.Wo}, x.options().memory_format(x.suggest_memory_format()));
  run_forward(x, weight, bias, out, s, FwdPath::kAuto, float_params);
  return out;
}

void forward_out(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                 StripArgs const& args, bool allow_horizontal, FwdPath path, at::Tensor& out) {
  ConvShape const s = check_args(x, weight, bias, args, allow_horizontal, false);
  check_out(out, x, s.N, s.C, s.Ho, s.Wo);
  run_forward(x, weight, bias, out, s, path);
}

at::Tensor strip_conv2d(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                        at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation) {
  return forward(x, weight, bias, strip_args(stride, padding, dilation), true);
}

// strip_conv2d with float32 weight and bias beside a float16 or bfloat16 x: what strip_conv2d and
// dwconv_kx1 run under autocast, which leaves the parameters float32.
at::Tensor strip_conv2d_float_params(at::Tensor const& x, at::Tensor const& weight,
                                     std::optional<at::Tensor> const& bias, at::IntArrayRef stride,
                                     at::IntArrayRef padding, at::IntArrayRef dilation) {
  return forward(x, weight, bias, strip_args(stride, padding, dilation), true, true);
}

void strip_conv2d_out(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                      at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, at::Tensor& out) {
  forward_out(x, weight, bias, strip_args(stride, padding, dilation), true, FwdPath::kAuto, out);
}

void strip_conv2d_path_out(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                           c10::string_view path, at::Tensor& out) {
  forward_out(x, weight, bias, strip_args(stride, padding, dilation), true, parse_path(path), out);
}

at::Tensor dwconv_kx1(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                      int64_t stride, int64_t padding, int64_t dilation) {
  return forward(x, weight, bias, symmetric_args(stride, padding, dilation), false);
}

void dwconv_kx1_out(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                    int64_t stride, int64_t padding, int64_t dilation, at::Tensor& out) {
  forward_out(x, weight, bias, symmetric_args(stride, padding, dilation), false, FwdPath::kAuto, out);
}

void dwconv_kx1_path_out(at::Tensor const& x, at::Tensor const& weight, std::optional<at::Tensor> const& bias,
                         int64_t stride, int64_t padding, int64_t dilation, c10::string_view path, at::Tensor& out) {
  forward_out(x, weight, bias, symmetric_args(stride, padding, dilation), false, parse_path(path), out);
}

// A dispatch table as a flat list K0, stride0, dilation0, K1, ...
std::vector<int64_t> flatten(std::vector<FwdTableEntry> const& entries) {
  std::vector<int64_t> flat;
  for (FwdTableEntry const& e : entries) flat.insert(flat.end(), {e.kernel_size, e.stride, e.dilation});
  return flat;
}

std::vector<int64_t> forward_table() { return flatten(fwd_table_entries()); }

// The limits the launchers plan from on `device`, for tests: multiprocessors, shared memory per
// block (opt-in) and per multiprocessor, threads, blocks and registers per multiprocessor, and
// whether they are emulated (CUTE_DWCONV_DEVICE_LIMITS).
std::vector<int64_t> planning_limits(int64_t device) {
  TORCH_CHECK(device >= 0 && device < c10::cuda::device_count(), "cute_dwconv: no CUDA device ", device);
  DeviceLimits const& l = device_limits(int(device));
  return {l.multiprocessors, l.smem_per_block_optin, l.smem_per_sm, l.threads_per_sm, l.blocks_per_sm,
          l.registers_per_sm, l.emulated ? 1 : 0};
}
std::vector<int64_t> forward_channels_last_table() { return flatten(fwd_channels_last_table_entries()); }

}  // namespace

TORCH_LIBRARY(cute_dwconv, m) {
  // F.conv2d for a depthwise (K, 1) or (1, K) weight. stride and dilation: one int for both axes or
  // (h, w); padding: one int, (h, w), or (top, bottom, left, right) (asymmetric "same" padding).
  m.def("strip_conv2d(Tensor x, Tensor weight, Tensor? bias, int[2] stride, int[] padding, int[2] dilation) -> Tensor");
  // strip_conv2d with float32 weight and bias beside a float16 or bfloat16 x (autocast's call).
  m.def("_strip_conv2d_float_params(Tensor x, Tensor weight, Tensor? bias, int[2] stride, int[] padding, "
        "int[2] dilation) -> Tensor");
  m.def("strip_conv2d_out(Tensor x, Tensor weight, Tensor? bias, int[2] stride, int[] padding, int[2] dilation, "
        "Tensor(a!) out) -> ()");
  // strip_conv2d_out through one forced kernel path (auto, fixed_shape, table, general, tensor_core,
  // direct), so that tests and benchmarks reach each path on any input.
  m.def("_strip_conv2d_path_out(Tensor x, Tensor weight, Tensor? bias, int[2] stride, int[] padding, "
        "int[2] dilation, str path, Tensor(a!) out) -> ()");
  // The (K, 1) case with one int each for stride, padding and dilation, as nn.Conv2d takes ints.
  m.def("dwconv_kx1(Tensor x, Tensor weight, Tensor? bias, int stride, int padding, int dilation) -> Tensor");
  m.def("dwconv_kx1_out(Tensor x, Tensor weight, Tensor? bias, int stride, int padding, int dilation, "
        "Tensor(a!) out) -> ()");
  m.def("_dwconv_kx1_path_out(Tensor x, Tensor weight, Tensor? bias, int stride, int padding, int dilation, "
        "str path, Tensor(a!) out) -> ()");
  m.def("_forward_table() -> int[]", &forward_table);
  m.def("_forward_channels_last_table() -> int[]", &forward_channels_last_table);
  m.def("_planning_limits(int device) -> int[]", &planning_limits);
}

TORCH_LIBRARY_IMPL(cute_dwconv, CUDA, m) {
  m.impl("strip_conv2d", &strip_conv2d);
  m.impl("_strip_conv2d_float_params", &strip_conv2d_float_params);
  m.impl("strip_conv2d_out", &strip_conv2d_out);
  m.impl("_strip_conv2d_path_out", &strip_conv2d_path_out);
  m.impl("dwconv_kx1", &dwconv_kx1);
  m.impl("dwconv_kx1_out", &dwconv_kx1_out);
  m.impl("_dwconv_kx1_path_out", &dwconv_kx1_path_out);
}

// CPU tensors reach the same checks, which say that x must be on a CUDA device, instead of the
// dispatcher's generic "could not run with arguments from the CPU backend".
TORCH_LIBRARY_IMPL(cute_dwconv, CPU, m) {
  m.impl("strip_conv2d", &strip_conv2d);
  m.impl("_strip_conv2d_float_params", &strip_conv2d_float_params);
  m.impl("strip_conv2d_out", &strip_conv2d_out);
  m.impl("_strip_conv2d_path_out", &strip_conv2d_path_out);
  m.impl("dwconv_kx1", &dwconv_kx1);
  m.impl("dwconv_kx1_out", &dwconv_kx1_out);
  m.impl("_dwconv_kx1_path_out", &dwconv_kx1_path_out);
}

}  // namespace cute_dwconv

// Lets `import cute_dwconv._C` load this library (and run the registrations above) without pybind11.
extern "C" PyObject* PyInit__C(void) {
  static PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
