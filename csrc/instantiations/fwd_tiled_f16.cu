// Tiled forward kernels for cutlass::half_t: the table's entries (NCHW and channels_last) and the
// general (run-time taps) one.
#include "dispatch/fwd_table.h"
#include "kernels/fwd_tiled.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE(K_, S_, D_) \
  template LaunchStatus launch_fwd_tiled<FwdTiledConfig<cutlass::half_t, K_, S_, D_>>(FwdParams const&, cudaStream_t);
CUTE_DWCONV_FWD_TILED_TABLE(CUTE_DWCONV_INSTANTIATE)
#undef CUTE_DWCONV_INSTANTIATE

#define CUTE_DWCONV_INSTANTIATE(K_, D_) \
  template LaunchStatus launch_fwd_tiled<ChannelsLastConfig<cutlass::half_t, K_, D_>>(FwdParams const&, cudaStream_t);
CUTE_DWCONV_FWD_CHANNELS_LAST_TABLE(CUTE_DWCONV_INSTANTIATE)
#undef CUTE_DWCONV_INSTANTIATE

template LaunchStatus launch_fwd_tiled<GeneralTiledConfig<cutlass::half_t>>(FwdParams const&, cudaStream_t);

}  // namespace cute_dwconv
