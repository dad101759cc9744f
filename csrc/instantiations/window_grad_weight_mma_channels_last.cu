// The tensor-core weight gradients of channels_last 16-bit windows: every bucket of
// CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_TABLE for both 16-bit element types.
#include <cutlass/numeric_types.h>

#include "dispatch/window_table.h"
#include "kernels/window/window_grad_weight_mma_channels_last.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE_ONE(T_, M_, N_)                                                           \
  template int64_t window_grad_weight_mma_channels_last_partials<                                           \
      WindowGradWeightMmaChannelsLastConfig<T_, M_, N_>>(WindowGradWeightParams const&, int64_t);           \
  template LaunchStatus launch_window_grad_weight_mma_channels_last<                                        \
      WindowGradWeightMmaChannelsLastConfig<T_, M_, N_>>(WindowGradWeightParams const&, int64_t, cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE_F16(M_, N_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::half_t, M_, N_)
#define CUTE_DWCONV_INSTANTIATE_BF16(M_, N_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::bfloat16_t, M_, N_)
CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_TABLE(CUTE_DWCONV_INSTANTIATE_F16)
CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_TABLE(CUTE_DWCONV_INSTANTIATE_BF16)
#undef CUTE_DWCONV_INSTANTIATE_F16
#undef CUTE_DWCONV_INSTANTIATE_BF16
#undef CUTE_DWCONV_INSTANTIATE_ONE

}  // namespace cute_dwconv
