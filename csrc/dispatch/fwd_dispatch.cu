// The one place where run-time arguments become forward template instantiations.
#include "dispatch/fwd_dispatch.h"

#include <type_traits>

#include "dispatch/fwd_table.h"
#include "dispatch/strip_window.h"
#include "dispatch/window_dispatch.h"
#include "kernels/launch.h"
#include "kernels/tile_config.h"
#include "plan/tiling.h"

namespace cute_dwconv {
namespace {

bool matches_fixed_shape(FwdParams const& p) {
  using Plane = FixedShapeConfig::Plane;
  int64_t const ho = Plane::kH + 2 * Plane::kPadding - FixedShapeConfig::kDilation * (FixedShapeConfig::kK - 1);
  bool const shape = p.dtype == ElementType::kFloat32 && p.axis == TapAxis::kHeight && p.H == Plane::kH &&
                     p.W == Plane::kW && p.padding_h == Plane::kPadding && p.padding_w == Plane::kPadding &&
                     p.kernel_size == FixedShapeConfig::kK && p.stride_h == FixedShapeConfig::kStride &&
                     p.stride_w == FixedShapeConfig::kStride && p.dilation == FixedShapeConfig::kDilation;
  bool const x_contiguous = p.x_stride_w == 1 && p.x_stride_h == p.W && p.x_stride_c == p.H * p.W &&
                            p.x_stride_n == p.C * p.H * p.W;
  bool const out_contiguous = p.Ho == ho && p.Wo == Plane::kW && p.out_stride_w == 1 && p.out_stride_h == p.Wo &&
                              p.out_stride_c == p.Ho * p.Wo && p.out_stride_n == p.C * p.Ho * p.Wo;
  return shape && x_contiguous && out_contiguous;
}

template <class T>
LaunchStatus launch_vertical_entry(FwdParams const& p, cudaStream_t stream) {
#define CUTE_DWCONV_TRY_ENTRY(K_, S_, D_)                                                       \
  if (p.kernel_size == K_ && p.stride_h == S_ && p.stride_w == S_ && p.dilation == D_) {        \
    return launch_fwd_tiled<FwdTiledConfig<T, K_, S_, D_>>(p, stream);                          \
  }
  CUTE_DWCONV_FWD_TILED_TABLE(CUTE_DWCONV_TRY_ENTRY)
#undef CUTE_DWCONV_TRY_ENTRY
  return LaunchStatus::kUnsupported;
}

// channels_last (K, 1) rows: the column kernel, or the tiles where it cannot stage the rows
// (8-byte aligned rows, column padding of part of a copy chunk).
template <class T>
LaunchStatus launch_channels_last_entry(FwdParams const& p, cudaStream_t stream) {
#define CUTE_DWCONV_TRY_ENTRY(K_, D_)                                                                     \
  if (p.kernel_size == K_ && p.stride_h == 1 && p.stride_w == 1 && p.dilation == D_) {                   \
    if (launch_fwd_channels_last_columns<ChannelsLastColumnsConfig<T, K_, D_>>(p, stream) ==             \
        LaunchStatus::kLaunched) {                                                                        \
      return LaunchStatus::kLaunched;                                                                     \
    }                                                                                                     \
    return launch_fwd_tiled<ChannelsLastConfig<T, K_, D_>>(p, stream);                                     \
  }
  CUTE_DWCONV_FWD_CHANNELS_LAST_TABLE(CUTE_DWCONV_TRY_ENTRY)
#undef CUTE_DWCONV_TRY_ENTRY
  return LaunchStatus::kUnsupported;
}

template <class T>
LaunchStatus launch_horizontal_entry(FwdParams const& p, cudaStream_t stream) {
#define CUTE_DWCONV_TRY_ENTRY(K_, S_, D_)                                        \
  if (p.kernel_size == K_ && p.stride_w == S_ && p.dilation == D_) {             \
    return launch_fwd_horizontal<HorizontalTableConfig<T, K_, S_, D_>>(p, stream); \
  }
  CUTE_DWCONV_FWD_TILED_TABLE(CUTE_DWCONV_TRY_ENTRY)
#undef CUTE_DWCONV_TRY_ENTRY
  return LaunchStatus::kUnsupported;
}

// 16-bit (1, K) rows at column stride 1 on tensor cores, on the shallowest band that reaches.
template <class T>
LaunchStatus launch_horizontal_mma(FwdParams const& p, cudaStream_t stream) {
  if constexpr (sizeof(T) != 2) {
    return LaunchStatus::kUnsupported;
  } else {
#define CUTE_DWCONV_TRY_ENTRY(STEPS_)                                                                         \
  if ((p.params_float32 ? launch_fwd_horizontal<HorizontalMmaTableConfig<T, STEPS_, true>>(p, stream)          \
                        : launch_fwd_horizontal<HorizontalMmaTableConfig<T, STEPS_, false>>(p, stream)) ==     \
      LaunchStatus::kLaunched) {                                                                              \
    return LaunchStatus::kLaunched;                                                                           \
  }
    CUTE_DWCONV_HORIZONTAL_MMA_TABLE(CUTE_DWCONV_TRY_ENTRY)
#undef CUTE_DWCONV_TRY_ENTRY
    return LaunchStatus::kUnsupported;
  }
}

// 16-bit (K, 1) columns at stride 1 on tensor cores, on the shallowest band that reaches.
template <class T>
LaunchStatus launch_vertical_mma(FwdParams const& p, cudaStream_t stream) {
  if constexpr (sizeof(T) != 2) {
    return LaunchStatus::kUnsupported;
  } else {
#define CUTE_DWCONV_TRY_ENTRY(STEPS_)                                                                     \
  if ((p.params_float32 ? launch_fwd_vertical_mma<VerticalMmaTableConfig<T, STEPS_, true>>(p, stream)      \
                        : launch_fwd_vertical_mma<VerticalMmaTableConfig<T, STEPS_, false>>(p, stream)) == \
      LaunchStatus::kLaunched) {                                                                          \
    return LaunchStatus::kLaunched;                                                                       \
  }
    CUTE_DWCONV_VERTICAL_MMA_TABLE(CUTE_DWCONV_TRY_ENTRY)
#undef CUTE_DWCONV_TRY_ENTRY
    return LaunchStatus::kUnsupported;
  }
}

// The tensor cores take the 16-bit rows of at least 11 taps, where the FP32 lanes' conversions,
// shared loads and FMAs (all per tap) cost more than the tensor cores' tiles, which run at 75-79% of
// the copy floor whatever the taps: bf16 16x64x256x256 (1, 11) 0.082 against 0.088 ms, (1, 11)
// dilation 3 0.086 against 0.108, (1, 9) 0.082 against 0.079, (1, 7) dilation 3 0.085 against 0.086
// (NOTES, variant 121).
constexpr int64_t kHorizontalMmaMinTaps = 11;

bool prefers_horizontal_mma(FwdParams const& p) { return p.kernel_size >= kHorizontalMmaMinTaps; }

// And the 16-bit columns of at least 11 taps (plan::TilingPolicy), where the FP32 lanes fall behind
// them: bf16 16x64x256x256 (11, 1) 0.079 against 0.080 ms, (15, 1) 0.093 against 0.080, (21, 1)
// 0.115 against 0.081, (7, 1) dilation 3 0.081 against 0.085 (NOTES, variant 128).
bool prefers_vertical_mma(FwdParams const& p) {
  return p.kernel_size >= plan::tiling_policy().vertical_mma_min_taps;
}

// A (1, K) convolution of a channels_last tensor is, image row by image row, a (K, 1) convolution
// of channels_last data: each row (n, h) holds W positions of C interleaved channels, and the taps
// step one position along it. So it runs on the vertical channels_last tiles, with the rows of all
// images as planes of W "rows" of C channels. That needs the output rows to be the input rows
// (stride 1, no row padding) and evenly spaced rows across images. A strip then holds several
// image rows side by side where C is narrower than half of it, whole lanes each: C a multiple of a
// lane's columns. Other narrow channel counts would leave most of a strip's lanes idle.
bool as_channels_last_vertical(FwdParams const& p, FwdParams& rows) {
  // Pixels of C unit-stride channels (a channel slice of a wider tensor too), image rows evenly
  // spaced across images.
  auto channels_last_rows = [&](int64_t sn, int64_t sc, int64_t sh, int64_t sw, int64_t h) {
    return sc == 1 && sw >= p.C && sn == h * sh;
  };
  int64_t const element_bytes = p.dtype == ElementType::kFloat32 ? 4 : 2;
  bool const fits = p.axis == TapAxis::kWidth && p.stride_h == 1 && p.stride_w == 1 && p.padding_h == 0 &&
                    p.Ho == p.H && (p.C % kChannelsLastLaneColumns == 0 || p.C * element_bytes >= 128) &&
                    channels_last_rows(p.x_stride_n, p.x_stride_c, p.x_stride_h, p.x_stride_w, p.H) &&
                    channels_last_rows(p.out_stride_n, p.out_stride_c, p.out_stride_h, p.out_stride_w, p.Ho);
  if (!fits) return false;
  rows = p;
  rows.axis = TapAxis::kHeight;
  rows.N = p.N * p.H;
  rows.H = p.W;
  rows.W = 1;
  rows.Ho = p.Wo;
  rows.Wo = 1;
  rows.x_stride_n = p.x_stride_h;
  rows.x_stride_h = p.x_stride_w;
  rows.out_stride_n = p.out_stride_h;
  rows.out_stride_h = p.out_stride_w;
  rows.padding_h = p.padding_w;
  rows.padding_w = 0;
  return true;
}

// The strip as a (K, 1) or (1, K) window call.
WindowParams as_window(FwdParams const& p) {
  bool const vertical = p.axis == TapAxis::kHeight;
  WindowParams w{};
  set_strip_window_geometry(p, w);
  w.out = p.out;
  w.weight = p.weight;
  w.bias = p.bias;
  w.params_float32 = p.params_float32;
  w.out_stride_n = p.out_stride_n; w.out_stride_c = p.out_stride_c;
  w.out_stride_h = p.out_stride_h; w.out_stride_w = p.out_stride_w;
  w.w_stride_c = p.w_stride_c;
  w.w_stride_h = vertical ? p.w_stride_k : 0;
  w.w_stride_w = vertical ? 0 : p.w_stride_k;
  w.bias_stride = p.bias_stride;
  return w;
}

// channels_last strips that no strip kernel stages (long (K, 1), narrow channel counts) on the
// window family's staged channels_last kernel rather than the direct one (variant 67).
LaunchStatus launch_channels_last_window(FwdParams const& p, cudaStream_t stream) {
  return window_forward(as_window(p), WindowPath::kChannelsLastTile, stream) == FwdStatus::kLaunched
             ? LaunchStatus::kLaunched
             : LaunchStatus::kUnsupported;
}

template <class T>
LaunchStatus launch_vertical(FwdParams const& p, FwdPath path, cudaStream_t stream) {
  switch (path) {
    case FwdPath::kFixedShape:
      if constexpr (std::is_same_v<T, float>) {
        if (matches_fixed_shape(p)) return launch_fwd_tiled<FixedShapeConfig>(p, stream);
      }
      return LaunchStatus::kUnsupported;
    case FwdPath::kTable:
      // Each launcher refuses a layout it cannot stage, so at most one of these launches.
      if (launch_vertical_entry<T>(p, stream) == LaunchStatus::kLaunched) return LaunchStatus::kLaunched;
      return launch_channels_last_entry<T>(p, stream);
    case FwdPath::kGeneral:
      return launch_fwd_tiled<GeneralTiledConfig<T>>(p, stream);
    case FwdPath::kTensorCore:
      return launch_vertical_mma<T>(p, stream);
    case FwdPath::kDirect:
      return launch_fwd_direct<T>(p, stream);
    case FwdPath::kAuto:
      break;
  }
  if (prefers_vertical_mma(p) && launch_vertical_mma<T>(p, stream) == LaunchStatus::kLaunched) {
    return LaunchStatus::kLaunched;
  }
  for (FwdPath candidate : {FwdPath::kFixedShape, FwdPath::kTable, FwdPath::kGeneral}) {
    if (launch_vertical<T>(p, candidate, stream) == LaunchStatus::kLaunched) return LaunchStatus::kLaunched;
  }
  if (launch_channels_last_window(p, stream) == LaunchStatus::kLaunched) return LaunchStatus::kLaunched;
  return launch_fwd_direct<T>(p, stream);
}

template <class T>
LaunchStatus launch_horizontal(FwdParams const& p, FwdPath path, cudaStream_t stream) {
  switch (path) {
    case FwdPath::kFixedShape:
      return LaunchStatus::kUnsupported;
    case FwdPath::kTable: {
      if (launch_horizontal_entry<T>(p, stream) == LaunchStatus::kLaunched) return LaunchStatus::kLaunched;
      FwdParams rows;
      return as_channels_last_vertical(p, rows) ? launch_channels_last_entry<T>(rows, stream)
                                                : LaunchStatus::kUnsupported;
    }
    case FwdPath::kGeneral:
      return launch_fwd_horizontal<HorizontalGeneralConfig<T>>(p, stream);
    case FwdPath::kTensorCore:
      return launch_horizontal_mma<T>(p, stream);
    case FwdPath::kDirect:
      return launch_fwd_direct<T>(p, stream);
    case FwdPath::kAuto:
      break;
  }
  if (prefers_horizontal_mma(p) && launch_horizontal_mma<T>(p, stream) == LaunchStatus::kLaunched) {
    return LaunchStatus::kLaunched;
  }
  for (FwdPath candidate : {FwdPath::kTable, FwdPath::kGeneral}) {
    if (launch_horizontal<T>(p, candidate, stream) == LaunchStatus::kLaunched) return LaunchStatus::kLaunched;
  }
  if (launch_channels_last_window(p, stream) == LaunchStatus::kLaunched) return LaunchStatus::kLaunched;
  return launch_fwd_direct<T>(p, stream);
}

template <class T>
LaunchStatus launch_path(FwdParams const& p, FwdPath path, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, double>) {
    // Tiles of two float64 per vector would not pay for their instantiations.
    return path == FwdPath::kAuto || path == FwdPath::kDirect ? launch_fwd_direct<T>(p, stream)
                                                              : LaunchStatus::kUnsupported;
  } else {
    return p.axis == TapAxis::kWidth ? launch_horizontal<T>(p, path, stream) : launch_vertical<T>(p, path, stream);
  }
}

}  // namespace

FwdStatus strip_forward(FwdParams const& p, FwdPath path, cudaStream_t stream) {
  LaunchStatus status = LaunchStatus::kUnsupported;
  switch (p.dtype) {
    case ElementType::kFloat32:  status = launch_path<float>(p, path, stream); break;
    case ElementType::kFloat16:  status = launch_path<cutlass::half_t>(p, path, stream); break;
    case ElementType::kBFloat16: status = launch_path<cutlass::bfloat16_t>(p, path, stream); break;
    case ElementType::kFloat64:  status = launch_path<double>(p, path, stream); break;
  }
  return status == LaunchStatus::kLaunched ? FwdStatus::kLaunched : FwdStatus::kPathUnavailable;
}

std::vector<FwdTableEntry> fwd_channels_last_table_entries() {
  std::vector<FwdTableEntry> entries;
#define CUTE_DWCONV_LIST_ENTRY(K_, D_) entries.push_back({K_, 1, D_});
  CUTE_DWCONV_FWD_CHANNELS_LAST_TABLE(CUTE_DWCONV_LIST_ENTRY)
#undef CUTE_DWCONV_LIST_ENTRY
  return entries;
}

std::vector<FwdTableEntry> fwd_table_entries() {
  std::vector<FwdTableEntry> entries;
#define CUTE_DWCONV_LIST_ENTRY(K_, S_, D_) entries.push_back({K_, S_, D_});
  CUTE_DWCONV_FWD_TILED_TABLE(CUTE_DWCONV_LIST_ENTRY)
#undef CUTE_DWCONV_LIST_ENTRY
  return entries;
}

}  // namespace cute_dwconv
