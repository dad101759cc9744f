// Where backward calls become template instantiations.
#include "dispatch/bwd_dispatch.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include <cutlass/numeric_types.h>

#include "dispatch/fwd_table.h"
#include "dispatch/strip_window.h"
#include "dispatch/window_dispatch.h"
#include "kernels/launch.h"
#include "kernels/param_access.h"
#include "kernels/tile_config.h"
#include "plan/tiling.h"

namespace cute_dwconv {
namespace {

template <class T>
constexpr int kVecOf = 16 / int(sizeof(T));

bool aligned16(void const* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

// The forward call whose output is grad_input (stride 1 along both axes): grad_out convolved with
// the taps in reverse order. Along the tap axis, input index i sums grad_out indices i + p - k*d,
// i.e. a window starting (K-1)*d - p before it with flipped tap j = K-1-k; along the other axis,
// input index i is grad_out index i + p (a window starting p in: negative padding).
template <class T>
FwdParams flipped_forward(BwdInputParams const& b) {
  FwdParams f{};
  f.dtype = b.dtype;
  f.axis = b.axis;
  f.x = b.grad_out;
  f.out = b.grad_input;
  f.weight = static_cast<char const*>(b.weight) + (b.kernel_size - 1) * b.w_stride_k * param_bytes<T>(b.weight_float32);
  f.bias = nullptr;
  f.params_float32 = b.weight_float32;
  f.N = b.N; f.C = b.C;
  f.H = b.Ho; f.W = b.Wo;
  f.Ho = b.H; f.Wo = b.W;
  f.x_stride_n = b.g_stride_n; f.x_stride_c = b.g_stride_c; f.x_stride_h = b.g_stride_h; f.x_stride_w = b.g_stride_w;
  f.out_stride_n = b.gi_stride_n; f.out_stride_c = b.gi_stride_c;
  f.out_stride_h = b.gi_stride_h; f.out_stride_w = b.gi_stride_w;
  f.w_stride_c = b.w_stride_c;
  f.w_stride_k = -b.w_stride_k;
  f.bias_stride = 0;
  f.kernel_size = b.kernel_size;
  f.stride_h = 1;
  f.stride_w = 1;
  int64_t const reach_before = (b.kernel_size - 1) * b.dilation;
  bool const along_width = b.axis == TapAxis::kWidth;
  f.padding_h = along_width ? -b.padding_h : reach_before - b.padding_h;
  f.padding_w = along_width ? reach_before - b.padding_w : -b.padding_w;
  f.dilation = b.dilation;
  f.device = b.device;
  return f;
}

// The strided strip's input gradient as the window family's: the forward call's geometry, with x's
// strides replaced by grad_input's and out's by grad_out's (window_dispatch.h).
WindowParams as_window_grad_input(BwdInputParams const& p) {
  bool const vertical = p.axis == TapAxis::kHeight;
  WindowParams w{};
  set_strip_window_shape(p, w);
  w.x = p.grad_input;
  w.x_stride_n = p.gi_stride_n; w.x_stride_c = p.gi_stride_c;
  w.x_stride_h = p.gi_stride_h; w.x_stride_w = p.gi_stride_w;
  w.out = nullptr;
  w.out_stride_n = p.g_stride_n; w.out_stride_c = p.g_stride_c;
  w.out_stride_h = p.g_stride_h; w.out_stride_w = p.g_stride_w;
  w.weight = p.weight;
  w.params_float32 = p.weight_float32;
  w.w_stride_c = p.w_stride_c;
  w.w_stride_h = vertical ? p.w_stride_k : 0;
  w.w_stride_w = vertical ? 0 : p.w_stride_k;
  return w;
}

// Stride 1: the flipped forward. Stride 2 along both axes: the window family's four phases in one
// pass where it takes the call (NCHW grad_out, strips of at most 5 taps, dilation 1); the gathering
// kernel's per-element divisions held the headline's stride-2 input gradient to 11% of its copy
// floor (NOTES.md, variant 110). Everything else is gathered.
template <class T>
FwdStatus backward_input(BwdInputParams const& p, BwdInputPath path, cudaStream_t stream) {
  if (path == BwdInputPath::kAuto && p.stride_h == 1 && p.stride_w == 1) {
    return strip_forward(flipped_forward<T>(p), FwdPath::kAuto, stream);
  }
  if (path == BwdInputPath::kAuto &&
      window_grad_input_phases(as_window_grad_input(p), p.grad_out, p.grad_input, stream) == FwdStatus::kLaunched) {
    return FwdStatus::kLaunched;
  }
  launch_bwd_input_strided<T>(p, stream);
  return FwdStatus::kLaunched;
}

// grad_out is read in 16-byte runs when its rows allow it.
template <class T>
int weight_grad_vector_width(BwdWeightParams const& p) {
  constexpr int kVec = kVecOf<T>;
  bool const ok = p.g_stride_w == 1 && p.Wo % kVec == 0 && p.g_stride_h % kVec == 0 && p.g_stride_c % kVec == 0 &&
                  p.g_stride_n % kVec == 0 && aligned16(p.grad_out);
  return ok ? kVec : 1;
}

// The input runs under those are 16-byte aligned too for (K, 1) taps when the column stride is 1
// and the column padding keeps whole vectors (then a run lies wholly inside the image or wholly in
// the padding).
template <class T>
bool weight_grad_x_vectorized(BwdWeightParams const& p) {
  constexpr int kVec = kVecOf<T>;
  return weight_grad_vector_width<T>(p) == kVec && p.axis == TapAxis::kHeight && p.stride_w == 1 &&
         p.padding_w % kVec == 0 && p.x_stride_w == 1 &&
         p.W % kVec == 0 && p.x_stride_h % kVec == 0 && p.x_stride_c % kVec == 0 && p.x_stride_n % kVec == 0 &&
         aligned16(p.x);
}

// The strip as a (K, 1) or (1, K) window's weight gradient call.
WindowGradWeightParams as_window_grad_weight(BwdWeightParams const& p) {
  WindowGradWeightParams w{};
  set_strip_window_geometry(p, w);
  w.grad_out = p.grad_out;
  w.grad_weight = p.grad_weight;
  w.grad_bias = p.grad_bias;
  w.grads_float32 = p.grads_float32;
  w.workspace = p.workspace;
  w.g_stride_n = p.g_stride_n; w.g_stride_c = p.g_stride_c; w.g_stride_h = p.g_stride_h; w.g_stride_w = p.g_stride_w;
  return w;
}

// The window family's reduce writes (C, 1, kh, kw) contiguous gradients, as the glue allocates them.
bool dense_grads(BwdWeightParams const& p) {
  return p.gw_stride_k == 1 && p.gw_stride_c == p.kernel_size && p.gb_stride == 1;
}

// channels_last x and grad_out: the strip kernel reads their rows element by element, C apart, so
// a window register kernel takes the call where one does (strips within 7 taps at dilation 1).
bool on_window_grad_weight(BwdWeightParams const& p) {
  return p.x_stride_c == 1 && p.g_stride_c == 1 && p.N > 0 && p.C > 1 && dense_grads(p);
}

// f(StagedGradWeightConfig<T, K, d, along the width>{}) for p's entry of the staged-row kernels'
// table (bwd_weight_staged.cuh), or false where p's K and dilation have none.
template <class T, class F>
bool with_staged_config(BwdWeightParams const& p, F&& f) {
  if constexpr (sizeof(T) <= 4) {
    bool const along_width = p.axis == TapAxis::kWidth;
#define CUTE_DWCONV_TRY_ENTRY(K_, D_)                                             \
    if (p.kernel_size == K_ && p.dilation == D_) {                                \
      return along_width ? f(StagedGradWeightConfig<T, K_, D_, true>{})          \
                         : f(StagedGradWeightConfig<T, K_, D_, false>{});        \
    }
    CUTE_DWCONV_BWD_WEIGHT_STAGED_TABLE(CUTE_DWCONV_TRY_ENTRY)
#undef CUTE_DWCONV_TRY_ENTRY
  }
  return false;
}

// The partial sums a channel of the staged-row kernel for NCHW strips in the table, or 0.
template <class T>
int64_t staged_partials(BwdWeightParams const& p) {
  if (!dense_grads(p) || p.kernel_size < plan::tiling_policy().bwd_weight_staged_min_taps) return 0;
  int64_t partials = 0;
  with_staged_config<T>(p, [&](auto cfg) { return (partials = bwd_weight_staged_partials<decltype(cfg)>(p)) > 0; });
  return partials;
}

template <class T>
BwdWeightPlan backward_weight_plan(BwdWeightParams const& p) {
  if (on_window_grad_weight(p)) {
    WindowGradWeightPlan const window = window_grad_weight_plan(as_window_grad_weight(p));
    if (window.register_partials > 0) {
      BwdWeightPlan plan{};
      plan.on_window = true;
      plan.window = window;
      plan.workspace_bytes = window.workspace_bytes;
      return plan;
    }
  }
  BwdWeightPlan plan = plan_bwd_weight<T>(p, weight_grad_vector_width<T>(p));
  plan.staged_partials = staged_partials<T>(p);
  int64_t const staged_bytes = p.C * plan.staged_partials * (p.kernel_size + 1) * int64_t(sizeof(float));
  plan.workspace_bytes = std::max(plan.workspace_bytes, staged_bytes);
  return plan;
}

// Launches the staged-row kernel of the table entry for p (the plan found one).
template <class T>
bool launch_staged(BwdWeightParams const& p, cudaStream_t stream) {
  return with_staged_config<T>(p, [&](auto cfg) {
    return launch_bwd_weight_staged<decltype(cfg)>(p, stream) == LaunchStatus::kLaunched;
  });
}

// Taps summed per walk of a tile: 4 covers the common short kernels with few registers, 16 the
// rest (kernels longer than 16 walk their tiles again).
template <class T, int kVec>
void launch_weight_taps(BwdWeightParams const& p, BwdWeightPlan const& plan, bool x_vectorized, cudaStream_t stream) {
  if (p.kernel_size <= 4) {
    launch_bwd_weight<T, kVec, 4>(p, plan, x_vectorized, stream);
  } else {
    launch_bwd_weight<T, kVec, 16>(p, plan, x_vectorized, stream);
  }
}

template <class T>
void backward_weight(BwdWeightParams const& p, BwdWeightPlan const& plan, cudaStream_t stream) {
  if (plan.on_window) {
    window_grad_weight(as_window_grad_weight(p), plan.window, stream);
    return;
  }
  if (plan.staged_partials > 0 && launch_staged<T>(p, stream)) {
    window_grad_weight_reduce(as_window_grad_weight(p), plan.staged_partials, stream);
    return;
  }
  if (weight_grad_vector_width<T>(p) > 1) {
    launch_weight_taps<T, kVecOf<T>>(p, plan, weight_grad_x_vectorized<T>(p), stream);
  } else {
    launch_weight_taps<T, 1>(p, plan, false, stream);
  }
}

}  // namespace

FwdStatus strip_backward_input(BwdInputParams const& p, BwdInputPath path, cudaStream_t stream) {
  switch (p.dtype) {
    case ElementType::kFloat32:  return backward_input<float>(p, path, stream);
    case ElementType::kFloat16:  return backward_input<cutlass::half_t>(p, path, stream);
    case ElementType::kBFloat16: return backward_input<cutlass::bfloat16_t>(p, path, stream);
    case ElementType::kFloat64:  return backward_input<double>(p, path, stream);
  }
  return FwdStatus::kPathUnavailable;
}

BwdWeightPlan strip_backward_weight_plan(BwdWeightParams const& p) {
  switch (p.dtype) {
    case ElementType::kFloat32:  return backward_weight_plan<float>(p);
    case ElementType::kFloat16:  return backward_weight_plan<cutlass::half_t>(p);
    case ElementType::kBFloat16: return backward_weight_plan<cutlass::bfloat16_t>(p);
    case ElementType::kFloat64:  return backward_weight_plan<double>(p);
  }
  return {};
}

void strip_backward_weight(BwdWeightParams const& p, BwdWeightPlan const& plan, cudaStream_t stream) {
  switch (p.dtype) {
    case ElementType::kFloat32:  backward_weight<float>(p, plan, stream); break;
    case ElementType::kFloat16:  backward_weight<cutlass::half_t>(p, plan, stream); break;
    case ElementType::kBFloat16: backward_weight<cutlass::bfloat16_t>(p, plan, stream); break;
    case ElementType::kFloat64:  backward_weight<double>(p, plan, stream); break;
  }
}

}  // namespace cute_dwconv
