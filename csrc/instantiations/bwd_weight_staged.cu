// The staged-row weight gradient of NCHW strips: every entry of CUTE_DWCONV_BWD_WEIGHT_STAGED_TABLE
// along both axes for float32, float16 and bfloat16.
#include <cutlass/numeric_types.h>

#include "dispatch/fwd_table.h"
#include "kernels/bwd_weight_staged.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE_AXIS(T_, K_, D_, W_)                                                          \
  template int64_t bwd_weight_staged_partials<StagedGradWeightConfig<T_, K_, D_, W_>>(BwdWeightParams const&); \
  template LaunchStatus launch_bwd_weight_staged<StagedGradWeightConfig<T_, K_, D_, W_>>(BwdWeightParams const&, \
                                                                                          cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE_ONE(T_, K_, D_) \
  CUTE_DWCONV_INSTANTIATE_AXIS(T_, K_, D_, false) CUTE_DWCONV_INSTANTIATE_AXIS(T_, K_, D_, true)
#define CUTE_DWCONV_INSTANTIATE_F32(K_, D_) CUTE_DWCONV_INSTANTIATE_ONE(float, K_, D_)
#define CUTE_DWCONV_INSTANTIATE_F16(K_, D_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::half_t, K_, D_)
#define CUTE_DWCONV_INSTANTIATE_BF16(K_, D_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::bfloat16_t, K_, D_)
CUTE_DWCONV_BWD_WEIGHT_STAGED_TABLE(CUTE_DWCONV_INSTANTIATE_F32)
CUTE_DWCONV_BWD_WEIGHT_STAGED_TABLE(CUTE_DWCONV_INSTANTIATE_F16)
CUTE_DWCONV_BWD_WEIGHT_STAGED_TABLE(CUTE_DWCONV_INSTANTIATE_BF16)
#undef CUTE_DWCONV_INSTANTIATE_F32
#undef CUTE_DWCONV_INSTANTIATE_F16
#undef CUTE_DWCONV_INSTANTIATE_BF16
#undef CUTE_DWCONV_INSTANTIATE_ONE
#undef CUTE_DWCONV_INSTANTIATE_AXIS

}  // namespace cute_dwconv
