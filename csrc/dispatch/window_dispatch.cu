// The one place where run-time window arguments become window kernel instantiations.
#include "dispatch/window_dispatch.h"

#include <cutlass/numeric_types.h>

#include <algorithm>
#include <type_traits>

#include "dispatch/window_table.h"
#include "kernels/window/window_config.h"
#include "kernels/window/window_launch.h"
#include "kernels/window/window_planes.h"
#include "plan/planes.h"
#include "plan/tiling.h"

namespace cute_dwconv {
namespace {

// channels_last: the staged kernel where the call's layout and shared memory allow it (variant 67),
// else the one that reads through L1, in the narrowest bucket that holds the window.
template <class T>
LaunchStatus launch_channels_last(WindowParams const& p, bool staged, bool l1, cudaStream_t stream) {
  if (p.stride_h != p.stride_w || p.dilation_h != 1 || p.dilation_w != 1) return LaunchStatus::kUnsupported;
#define CUTE_DWCONV_TRY_BUCKET(KW_, S_)                                                                        \
  if (p.stride_h == S_ && p.kw <= KW_) {                                                                       \
    if (staged && launch_window_channels_last_tile<WindowChannelsLastTileConfig<T, KW_, S_>>(p, stream) ==     \
                      LaunchStatus::kLaunched) {                                                               \
      return LaunchStatus::kLaunched;                                                                          \
    }                                                                                                          \
    return l1 ? launch_window_channels_last<WindowChannelsLastConfig<T, KW_, S_>>(p, stream)                   \
              : LaunchStatus::kUnsupported;                                                                    \
  }
  CUTE_DWCONV_WINDOW_CHANNELS_LAST_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
  return LaunchStatus::kUnsupported;
}

// NCHW 16-bit windows on tensor cores, in the shallowest band that holds the call's window.
template <class T>
LaunchStatus launch_mma(WindowParams const& p, cudaStream_t stream) {
  if constexpr (sizeof(T) == 2) {
    int const steps = window_mma_band_steps<T>(p);
#define CUTE_DWCONV_TRY_BUCKET(STEPS_)                                                          \
    if (steps > 0 && steps <= STEPS_) {                                                         \
      return p.params_float32 ? launch_window_mma<WindowMmaConfig<T, STEPS_, true>>(p, stream)  \
                              : launch_window_mma<WindowMmaConfig<T, STEPS_, false>>(p, stream); \
    }
    CUTE_DWCONV_WINDOW_MMA_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
  }
  return LaunchStatus::kUnsupported;
}

// The channels_last tensor-core kernels (forward and weight gradient) take a plan of one block an SM
// only for windows of this many taps or more: ConvNeXt's 7x7 forward at one block (sm_86's shared
// memory, emulated on the H200) took 0.160 ms against the FP32 tiles' 0.134, SLaK's 51x5 0.057
// against 0.141.
constexpr int64_t kOneBlockMinTaps = 100;

// channels_last 16-bit windows on tensor cores, in the shallowest band that holds the call's window.
template <class T>
LaunchStatus launch_mma_channels_last(WindowParams const& p, bool forced, cudaStream_t stream) {
  if constexpr (sizeof(T) == 2) {
    int const steps = window_mma_channels_last_band_steps<T>(p);
    int64_t const one_block_taps = forced ? 0 : kOneBlockMinTaps;
#define CUTE_DWCONV_TRY_BUCKET(STEPS_)                                                                      \
    if (steps > 0 && steps <= STEPS_) {                                                                     \
      return p.params_float32 ? launch_window_mma_channels_last<WindowMmaChannelsLastConfig<T, STEPS_, true>>( \
                                    p, one_block_taps, stream)                                              \
                              : launch_window_mma_channels_last<WindowMmaChannelsLastConfig<T, STEPS_, false>>( \
                                    p, one_block_taps, stream);                                             \
    }
    CUTE_DWCONV_WINDOW_MMA_CHANNELS_LAST_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
  }
  return LaunchStatus::kUnsupported;
}

// Whether a call the tensor cores can take goes to them: windows of at least
// policy.window_mma_min_taps taps, on rows of at least half a tile (a tile computes 64 columns
// whatever the width; variant 76).
inline bool prefers_mma(WindowParams const& p) {
  return p.kh * p.kw >= plan::tiling_policy().window_mma_min_taps && p.Wo >= 32;
}

// Whether a channels_last call the tensor cores can take goes to them: as for NCHW, on rows of one
// strip, or windows of 81 taps or more. bf16 7x7 (ms, against the FP32 tiles): 0.050-0.121 against
// 0.061-0.140 on 56-column rows with 64 to 256 channels, but 0.139 against 0.147 on 112-column rows
// of 96 channels and 0.224 against 0.193 of 128; 9x9 on 56 columns 0.058 against 0.199 (copied to
// NCHW).
inline bool prefers_mma_channels_last(WindowParams const& p) {
  return prefers_mma(p) && (p.Wo <= 64 || p.kh * p.kw >= 81);
}

// NCHW planes staged whole, in the narrowest window of the table that holds the call's.
template <class T>
LaunchStatus launch_planes(WindowParams const& p, cudaStream_t stream) {
#define CUTE_DWCONV_TRY_BUCKET(K_, S_)                                                    \
  if (p.kh <= K_ && p.kw <= K_ && p.stride_h == S_) {                                     \
    return launch_window_planes<WindowPlanesConfig<T, K_, S_>>(p, stream);                \
  }
  CUTE_DWCONV_WINDOW_PLANES_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
  return LaunchStatus::kUnsupported;
}

template <class T>
LaunchStatus launch_tile(WindowParams const& p, cudaStream_t stream) {
  if (p.stride_h == p.stride_w && p.dilation_h == 1 && p.dilation_w == 1) {
#define CUTE_DWCONV_TRY_BUCKET(KW_, S_)                                                         \
    if (p.stride_h == S_ && p.kw <= KW_) {                                                      \
      LaunchStatus const status = launch_window_tile<WindowTileConfig<T, KW_, S_>>(p, stream);  \
      if (status == LaunchStatus::kLaunched) return status;                                     \
    }
    CUTE_DWCONV_WINDOW_TILE_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
  }
  return launch_window_tile<WindowTileConfig<T, 0, 0>>(p, stream);
}

template <class T>
FwdStatus forward_typed(WindowParams const& p, WindowPath path, cudaStream_t stream) {
  auto done = [](LaunchStatus s) { return s == LaunchStatus::kLaunched; };
  bool const staged = path == WindowPath::kAuto || path == WindowPath::kStaged;
  if constexpr (!std::is_same_v<T, double>) {
    bool const any_channels_last = staged || path == WindowPath::kChannelsLast;
    if (((staged && prefers_mma_channels_last(p)) || path == WindowPath::kChannelsLastTensorCore) &&
        done(launch_mma_channels_last<T>(p, path == WindowPath::kChannelsLastTensorCore, stream))) {
      return FwdStatus::kLaunched;
    }
    if ((any_channels_last || path == WindowPath::kChannelsLastTile || path == WindowPath::kChannelsLastL1) &&
        done(launch_channels_last<T>(p, any_channels_last || path == WindowPath::kChannelsLastTile,
                                     any_channels_last || path == WindowPath::kChannelsLastL1, stream))) {
      return FwdStatus::kLaunched;
    }
    if (((staged && plan::prefers_whole_planes(p.Ho, p.Wo)) || path == WindowPath::kPlanes) &&
        done(launch_planes<T>(p, stream))) {
      return FwdStatus::kLaunched;
    }
    if (((staged && prefers_mma(p)) || path == WindowPath::kTensorCore) && done(launch_mma<T>(p, stream))) {
      return FwdStatus::kLaunched;
    }
    if ((staged || path == WindowPath::kTiled) && done(launch_tile<T>(p, stream))) return FwdStatus::kLaunched;
  }
  if (path == WindowPath::kAuto || path == WindowPath::kDirect) {
    launch_window_direct<T>(p, stream);
    return FwdStatus::kLaunched;
  }
  return FwdStatus::kPathUnavailable;
}

template <template <class> class Fn, class... Args>
auto by_dtype(ElementType dtype, Args&&... args) {
  switch (dtype) {
    case ElementType::kFloat32: return Fn<float>::run(args...);
    case ElementType::kFloat16: return Fn<cutlass::half_t>::run(args...);
    case ElementType::kBFloat16: return Fn<cutlass::bfloat16_t>::run(args...);
    default: return Fn<double>::run(args...);
  }
}

template <class T>
struct Forward {
  static FwdStatus run(WindowParams const& p, WindowPath path, cudaStream_t stream) {
    return forward_typed<T>(p, path, stream);
  }
};

template <class T>
struct PhasesInput {
  static FwdStatus run(WindowParams const& p, void const* grad_out, void* grad_input, cudaStream_t stream) {
    if constexpr (!std::is_same_v<T, double>) {
      if (p.stride_h == 2 && p.stride_w == 2 && p.dilation_h == 1 && p.dilation_w == 1) {
#define CUTE_DWCONV_TRY_BUCKET(K_)                                                                          \
        if (p.kh <= K_ && p.kw <= K_) {                                                                     \
          return launch_window_grad_input_phases<WindowGradInputPhasesConfig<T, K_>>(p, grad_out, grad_input, \
                                                                                     stream) ==             \
                         LaunchStatus::kLaunched                                                            \
                     ? FwdStatus::kLaunched                                                                 \
                     : FwdStatus::kPathUnavailable;                                                         \
        }
        CUTE_DWCONV_WINDOW_GRAD_INPUT_PHASES_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
      }
    }
    return FwdStatus::kPathUnavailable;
  }
};

template <class T>
struct GatherInput {
  static int run(WindowParams const& p, void const* grad_out, void* grad_input, cudaStream_t stream) {
    launch_window_grad_input_gather<T>(p, grad_out, grad_input, stream);
    return 0;
  }
};

// The register weight gradients' bucket for a call: the smallest K x K at the call's stride that
// holds the window, or 0.
inline int grad_weight_register_bucket(WindowGradWeightParams const& p) {
  if (p.stride_h != p.stride_w) return 0;
#define CUTE_DWCONV_TRY_BUCKET(K_, S_) \
  if (p.stride_h == S_ && p.kh <= K_ && p.kw <= K_) return K_;
  CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
  return 0;
}

// The register weight gradients of one bucket: on NCHW planes plan::prefers_whole_planes takes,
// the whole-plane kernel (42 µs against the tiles' 116
// on ConvNeXt's bfloat16 7x7 on 14x14 planes, 83 against 221 on 28x28: NOTES.md, variant 99); the
// NCHW tile kernel where x's rows are unit-stride;
// for channels_last, the staged kernel where x and grad_out stage, else the one that reads through
// L1, for every dtype and window (the staged one, a lane holding all the window's sums, took 0.185
// against the L1 kernel's 0.212 ms on MobileNet's strided float32 3x3 and 0.030 against 0.061 on
// MobileNetV2's 3x3 on 14x14, 0.124 against 0.114 on MSCAN's 3x3: NOTES.md, variant 102).
// `partials` (0: none takes the call) and `launch` agree on the kernel, for the plan and the launch
// are the same host code.
template <class T, int kK, int kStride>
struct RegisterGradWeight {
  using Tile = WindowGradWeightTileConfig<T, kK, kStride>;
  using ChannelsLastTile = WindowGradWeightChannelsLastTileConfig<T, kK, kStride>;
  using ChannelsLast = WindowGradWeightChannelsLastConfig<T, kK, kStride>;
  using Planes = WindowPlanesConfig<T, kK, kStride>;
  enum class Kernel { kNone, kTile, kStaged, kL1, kPlanes };
  static Kernel pick(WindowGradWeightParams const& p, int64_t& partials) {
    if (plan::prefers_whole_planes(p.Ho, p.Wo) && (partials = window_grad_weight_planes_partials<Planes>(p)) > 0) {
      return Kernel::kPlanes;
    }
    if ((partials = window_grad_weight_tile_partials<Tile>(p)) > 0) return Kernel::kTile;
    if ((partials = window_grad_weight_channels_last_tile_partials<ChannelsLastTile>(p)) > 0) return Kernel::kStaged;
    if ((partials = window_grad_weight_channels_last_partials<ChannelsLast>(p)) > 0) return Kernel::kL1;
    return Kernel::kNone;
  }
  // The kernel picked when the call was planned (WindowGradWeightPlan::register_kernel), so that
  // the launch does not plan every candidate again.
  static LaunchStatus launch(WindowGradWeightParams const& p, Kernel kernel, cudaStream_t stream) {
    switch (kernel) {
      case Kernel::kTile: return launch_window_grad_weight_tile<Tile>(p, stream);
      case Kernel::kStaged: return launch_window_grad_weight_channels_last_tile<ChannelsLastTile>(p, stream);
      case Kernel::kL1: return launch_window_grad_weight_channels_last<ChannelsLast>(p, stream);
      case Kernel::kPlanes: return launch_window_grad_weight_planes<Planes>(p, stream);
      case Kernel::kNone: break;
    }
    return LaunchStatus::kUnsupported;
  }
};

// The tensor-core weight gradients of 16-bit windows at stride 1 (NCHW: window_grad_weight_mma.cuh,
// channels_last: window_grad_weight_mma_channels_last.cuh, both Config<T, tap tiles, row tiles>) in the
// first bucket that holds the window: f(Config<T, ...>{}) for that bucket, or false where the call is
// not theirs (fewer taps than min_taps, or no bucket).
template <template <class, int, int> class Config, class T, class F>
bool with_grad_weight_mma_bucket(WindowGradWeightParams const& p, int64_t min_taps, F&& f) {
  if constexpr (sizeof(T) == 2) {
    if (p.kh * p.kw < min_taps) return false;
#define CUTE_DWCONV_TRY_BUCKET(TAPS_, ROWS_) \
    if (p.kw <= 8 * TAPS_ && p.kh < 8 * ROWS_) return f(Config<T, TAPS_, ROWS_>{});
    CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
  }
  return false;
}

// Plans (launch false) or launches a tensor-core weight gradient: NCHW's where it takes the call
// (policy.window_grad_weight_mma_min_taps), else channels_last's for windows of
// policy.window_grad_weight_mma_channels_last_min_taps (bf16, ms, against the staged register kernel:
// SegNeXt's 5x5 0.035 against 0.049, but MSCAN's 3x3 0.147 against 0.094), and not on rows of at most
// 8 outputs that a register bucket holds (ConvNeXt's 7x7 on 7x7 planes 0.047 against 0.035, on 14x14
// 0.043 against 0.051; NOTES.md, variant 149). true where one takes it (partials: its partial sums per
// channel).
template <class T>
bool grad_weight_on_tensor_cores(WindowGradWeightParams const& p, bool launch, int64_t& partials,
                                 cudaStream_t stream) {
  plan::TilingPolicy const& policy = plan::tiling_policy();
  auto nchw = [&](auto cfg) {
    using Cfg = decltype(cfg);
    if (launch) return launch_window_grad_weight_mma<Cfg>(p, stream) == LaunchStatus::kLaunched;
    return (partials = window_grad_weight_mma_partials<Cfg>(p)) > 0;
  };
  auto channels_last = [&](auto cfg) {
    using Cfg = decltype(cfg);
    if (launch) {
      return launch_window_grad_weight_mma_channels_last<Cfg>(p, kOneBlockMinTaps, stream) ==
             LaunchStatus::kLaunched;
    }
    return (partials = window_grad_weight_mma_channels_last_partials<Cfg>(p, kOneBlockMinTaps)) > 0;
  };
  if (with_grad_weight_mma_bucket<WindowGradWeightMmaConfig, T>(p, policy.window_grad_weight_mma_min_taps, nchw)) {
    return true;
  }
  if (p.Wo <= 8 && grad_weight_register_bucket(p) != 0) return false;
  return with_grad_weight_mma_bucket<WindowGradWeightMmaChannelsLastConfig, T>(
      p, policy.window_grad_weight_mma_channels_last_min_taps, channels_last);
}

template <class T>
struct GradWeightPlan {
  static WindowGradWeightPlan run(WindowGradWeightParams const& p) {
    WindowGradWeightPlan plan = plan_window_grad_weight<T>(p);
    plan.on_tensor_cores = grad_weight_on_tensor_cores<T>(p, false, plan.register_partials, nullptr);
    if constexpr (!std::is_same_v<T, double>) {
      int const bucket = plan.on_tensor_cores ? 0 : grad_weight_register_bucket(p);
#define CUTE_DWCONV_TRY_BUCKET(K_, S_)                                                                  \
      if (bucket == K_ && p.stride_h == S_) {                                                            \
        plan.register_kernel = int(RegisterGradWeight<T, K_, S_>::pick(p, plan.register_partials));      \
      }
      CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
    }
    int64_t const register_bytes = p.C * plan.register_partials * (p.kh * p.kw + 1) * int64_t(sizeof(float));
    plan.workspace_bytes = std::max(plan.workspace_bytes, register_bytes);
    return plan;
  }
};

template <class T>
struct GradWeight {
  static FwdStatus run(WindowGradWeightParams const& p, WindowGradWeightPlan const& plan, cudaStream_t stream) {
    if constexpr (!std::is_same_v<T, double>) {
      if (plan.on_tensor_cores) {
        int64_t partials = 0;
        if (grad_weight_on_tensor_cores<T>(p, true, partials, stream)) {
          launch_window_grad_weight_reduce<T>(p, plan.register_partials, stream);
          return FwdStatus::kLaunched;
        }
      } else if (plan.register_partials > 0) {
        int const bucket = grad_weight_register_bucket(p);
        LaunchStatus status = LaunchStatus::kUnsupported;
#define CUTE_DWCONV_TRY_BUCKET(K_, S_)                                                                         \
        if (bucket == K_ && p.stride_h == S_) {                                                                   \
          using Register = RegisterGradWeight<T, K_, S_>;                                                         \
          status = Register::launch(p, typename Register::Kernel(plan.register_kernel), stream);                 \
        }
        CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE(CUTE_DWCONV_TRY_BUCKET)
#undef CUTE_DWCONV_TRY_BUCKET
        if (status == LaunchStatus::kLaunched) {
          launch_window_grad_weight_reduce<T>(p, plan.register_partials, stream);
          return FwdStatus::kLaunched;
        }
      }
    }
    if (launch_window_grad_weight<T>(p, plan, stream) != LaunchStatus::kLaunched) return FwdStatus::kPathUnavailable;
    launch_window_grad_weight_reduce<T>(p, plan.tiles_per_channel, stream);
    return FwdStatus::kLaunched;
  }
};

template <class T>
struct ReduceGradWeight {
  static void run(WindowGradWeightParams const& p, int64_t partials, cudaStream_t stream) {
    launch_window_grad_weight_reduce<T>(p, partials, stream);
  }
};

}  // namespace

FwdStatus window_forward(WindowParams const& p, WindowPath path, cudaStream_t stream) {
  return by_dtype<Forward>(p.dtype, p, path, stream);
}

void window_grad_input_gather(WindowParams const& p, void const* grad_out, void* grad_input, cudaStream_t stream) {
  by_dtype<GatherInput>(p.dtype, p, grad_out, grad_input, stream);
}

FwdStatus window_grad_input_phases(WindowParams const& p, void const* grad_out, void* grad_input, cudaStream_t stream) {
  return by_dtype<PhasesInput>(p.dtype, p, grad_out, grad_input, stream);
}

WindowGradWeightPlan window_grad_weight_plan(WindowGradWeightParams const& p) {
  return by_dtype<GradWeightPlan>(p.dtype, p);
}

FwdStatus window_grad_weight(WindowGradWeightParams const& p, WindowGradWeightPlan const& plan, cudaStream_t stream) {
  return by_dtype<GradWeight>(p.dtype, p, plan, stream);
}

void window_grad_weight_reduce(WindowGradWeightParams const& p, int64_t partials, cudaStream_t stream) {
  by_dtype<ReduceGradWeight>(p.dtype, p, partials, stream);
}

}  // namespace cute_dwconv
