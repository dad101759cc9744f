// The channels_last tensor-core window kernels (window_mma_channels_last.cuh), both 16-bit types.
#include <cutlass/numeric_types.h>

#include "dispatch/window_table.h"
#include "kernels/window/window_mma_channels_last.cuh"

namespace cute_dwconv {

template int window_mma_channels_last_band_steps<cutlass::half_t>(WindowParams const&);
template int window_mma_channels_last_band_steps<cutlass::bfloat16_t>(WindowParams const&);

#define CUTE_DWCONV_INSTANTIATE_TYPE(T_, STEPS_)                                                                 \
  template LaunchStatus launch_window_mma_channels_last<WindowMmaChannelsLastConfig<T_, STEPS_, false>>(        \
      WindowParams const&, int64_t, cudaStream_t);                                                              \
  template LaunchStatus launch_window_mma_channels_last<WindowMmaChannelsLastConfig<T_, STEPS_, true>>(         \
      WindowParams const&, int64_t, cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE(STEPS_)                        \
  CUTE_DWCONV_INSTANTIATE_TYPE(cutlass::half_t, STEPS_)         \
  CUTE_DWCONV_INSTANTIATE_TYPE(cutlass::bfloat16_t, STEPS_)
CUTE_DWCONV_WINDOW_MMA_CHANNELS_LAST_TABLE(CUTE_DWCONV_INSTANTIATE)
#undef CUTE_DWCONV_INSTANTIATE
#undef CUTE_DWCONV_INSTANTIATE_TYPE

}  // namespace cute_dwconv
