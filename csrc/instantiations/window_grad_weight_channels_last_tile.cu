// The staged channels_last weight gradients: every bucket of CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE for
// the 32- and 16-bit element types.
#include <cutlass/numeric_types.h>

#include "dispatch/window_table.h"
#include "kernels/window/window_grad_weight_channels_last_tile.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE_ONE(T_, K_, S_)                                                                    \
  template int64_t                                                                                                 \
  window_grad_weight_channels_last_tile_partials<WindowGradWeightChannelsLastTileConfig<T_, K_, S_>>(              \
      WindowGradWeightParams const&);                                                                              \
  template LaunchStatus                                                                                            \
  launch_window_grad_weight_channels_last_tile<WindowGradWeightChannelsLastTileConfig<T_, K_, S_>>(                \
      WindowGradWeightParams const&, cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE(K_, S_)                 \
  CUTE_DWCONV_INSTANTIATE_ONE(float, K_, S_)            \
  CUTE_DWCONV_INSTANTIATE_ONE(cutlass::half_t, K_, S_)  \
  CUTE_DWCONV_INSTANTIATE_ONE(cutlass::bfloat16_t, K_, S_)
CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE(CUTE_DWCONV_INSTANTIATE)
#undef CUTE_DWCONV_INSTANTIATE
#undef CUTE_DWCONV_INSTANTIATE_ONE

}  // namespace cute_dwconv
