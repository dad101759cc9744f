// channels_last window kernels with staged input, every bucket of the table, for the three element
// types.
#include <cutlass/numeric_types.h>

#include "dispatch/window_table.h"
#include "kernels/window/window_channels_last_tile.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE_FOR(T_, KW_, S_)                                                                   \
  template LaunchStatus launch_window_channels_last_tile<WindowChannelsLastTileConfig<T_, KW_, S_>>(WindowParams const&, \
                                                                                                   cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE(KW_, S_)                \
  CUTE_DWCONV_INSTANTIATE_FOR(float, KW_, S_)           \
  CUTE_DWCONV_INSTANTIATE_FOR(cutlass::half_t, KW_, S_) \
  CUTE_DWCONV_INSTANTIATE_FOR(cutlass::bfloat16_t, KW_, S_)
CUTE_DWCONV_WINDOW_CHANNELS_LAST_TABLE(CUTE_DWCONV_INSTANTIATE)
#undef CUTE_DWCONV_INSTANTIATE
#undef CUTE_DWCONV_INSTANTIATE_FOR

}  // namespace cute_dwconv
