// The one place where run-time arguments become template instantiations.
#include "dispatch/fwd_dispatch.h"

#include <type_traits>

#include "dispatch/fwd_table.h"
#include "kernels/launch.h"
#include "kernels/tile_config.h"

namespace cute_dwconv {
namespace {

bool matches_fixed_shape(FwdParams const& p) {
  using Plane = FixedShapeConfig::Plane;
  int64_t const ho = Plane::kH + 2 * Plane::kPadding - FixedShapeConfig::kDilation * (FixedShapeConfig::kK - 1);
  bool const shape = p.dtype == ElementType::kFloat32 && p.H == Plane::kH && p.W == Plane::kW &&
                     p.padding == Plane::kPadding && p.padding_w == Plane::kPadding && p.kernel_size == FixedShapeConfig::kK &&
                     p.stride == FixedShapeConfig::kStride && p.dilation == FixedShapeConfig::kDilation;
  bool const x_contiguous = p.x_stride_w == 1 && p.x_stride_h == p.W && p.x_stride_c == p.H * p.W &&
                            p.x_stride_n == p.C * p.H * p.W;
  bool const out_contiguous = p.Ho == ho && p.out_stride_w == 1 && p.out_stride_h == p.Wo &&
                              p.out_stride_c == p.Ho * p.Wo && p.out_stride_n == p.C * p.Ho * p.Wo;
  return shape && x_contiguous && out_contiguous;
}

template <class T>
LaunchStatus launch_table_entry(FwdParams const& p, cudaStream_t stream) {
#define CUTE_DWCONV_TRY_ENTRY(K_, S_, D_)                                   \
  if (p.kernel_size == K_ && p.stride == S_ && p.dilation == D_) {          \
    return launch_fwd_tiled<FwdTiledConfig<T, K_, S_, D_>>(p, stream);      \
  }
  CUTE_DWCONV_FWD_TILED_TABLE(CUTE_DWCONV_TRY_ENTRY)
#undef CUTE_DWCONV_TRY_ENTRY
  return LaunchStatus::kUnsupported;
}

template <class T>
LaunchStatus launch_channels_last_entry(FwdParams const& p, cudaStream_t stream) {
#define CUTE_DWCONV_TRY_ENTRY(K_, D_)                                        \
  if (p.kernel_size == K_ && p.stride == 1 && p.dilation == D_) {            \
    return launch_fwd_tiled<ChannelsLastConfig<T, K_, D_>>(p, stream);       \
  }
  CUTE_DWCONV_FWD_CHANNELS_LAST_TABLE(CUTE_DWCONV_TRY_ENTRY)
#undef CUTE_DWCONV_TRY_ENTRY
  return LaunchStatus::kUnsupported;
}

template <class T>
LaunchStatus launch_path(FwdParams const& p, FwdPath path, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, double>) {
    // Tiles of two float64 per vector would not pay for their instantiations.
    return path == FwdPath::kAuto || path == FwdPath::kDirect ? launch_fwd_direct<T>(p, stream)
                                                              : LaunchStatus::kUnsupported;
  } else {
    switch (path) {
      case FwdPath::kFixedShape:
        if constexpr (std::is_same_v<T, float>) {
          if (matches_fixed_shape(p)) return launch_fwd_tiled<FixedShapeConfig>(p, stream);
        }
        return LaunchStatus::kUnsupported;
      case FwdPath::kTable:
        // Each launcher refuses a layout it cannot stage, so at most one of these launches.
        if (launch_table_entry<T>(p, stream) == LaunchStatus::kLaunched) return LaunchStatus::kLaunched;
        return launch_channels_last_entry<T>(p, stream);
      case FwdPath::kGeneral:
        return launch_fwd_tiled<GeneralTiledConfig<T>>(p, stream);
      case FwdPath::kDirect:
        return launch_fwd_direct<T>(p, stream);
      case FwdPath::kAuto:
        break;
    }
    for (FwdPath candidate : {FwdPath::kFixedShape, FwdPath::kTable, FwdPath::kGeneral}) {
      if (launch_path<T>(p, candidate, stream) == LaunchStatus::kLaunched) return LaunchStatus::kLaunched;
    }
    return launch_fwd_direct<T>(p, stream);
  }
}

}  // namespace

FwdStatus dwconv_kx1_forward(FwdParams const& p, FwdPath path, cudaStream_t stream) {
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
