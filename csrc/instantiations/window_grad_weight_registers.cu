// The register weight gradients, NCHW and channels_last: every bucket of
// CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE for the 32- and 16-bit element types.
#include <cutlass/numeric_types.h>

#include "dispatch/window_table.h"
#include "kernels/window/window_grad_weight_channels_last.cuh"
#include "kernels/window/window_grad_weight_tile.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE_ONE(T_, K_, S_)                                                                      \
  template int64_t window_grad_weight_tile_partials<WindowGradWeightTileConfig<T_, K_, S_>>(                         \
      WindowGradWeightParams const&);                                                                                \
  template LaunchStatus launch_window_grad_weight_tile<WindowGradWeightTileConfig<T_, K_, S_>>(                      \
      WindowGradWeightParams const&, cudaStream_t);                                                                  \
  template int64_t window_grad_weight_channels_last_partials<WindowGradWeightChannelsLastConfig<T_, K_, S_>>(        \
      WindowGradWeightParams const&);                                                                                \
  template LaunchStatus launch_window_grad_weight_channels_last<WindowGradWeightChannelsLastConfig<T_, K_, S_>>(     \
      WindowGradWeightParams const&, cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE_F32(K_, S_) CUTE_DWCONV_INSTANTIATE_ONE(float, K_, S_)
#define CUTE_DWCONV_INSTANTIATE_F16(K_, S_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::half_t, K_, S_)
#define CUTE_DWCONV_INSTANTIATE_BF16(K_, S_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::bfloat16_t, K_, S_)
CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE(CUTE_DWCONV_INSTANTIATE_F32)
CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE(CUTE_DWCONV_INSTANTIATE_F16)
CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE(CUTE_DWCONV_INSTANTIATE_BF16)
#undef CUTE_DWCONV_INSTANTIATE_F32
#undef CUTE_DWCONV_INSTANTIATE_F16
#undef CUTE_DWCONV_INSTANTIATE_BF16
#undef CUTE_DWCONV_INSTANTIATE_ONE

}  // namespace cute_dwconv
