// The staged-row weight gradient of NCHW (K, 1) strips: every entry of
// CUTE_DWCONV_BWD_WEIGHT_VERTICAL_TABLE for float32, float16 and bfloat16.
#include <cutlass/numeric_types.h>

#include "dispatch/fwd_table.h"
#include "kernels/bwd_weight_vertical.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE_ONE(T_, K_, D_)                                                             \
  template int64_t bwd_weight_vertical_partials<VerticalGradWeightConfig<T_, K_, D_>>(BwdWeightParams const&); \
  template LaunchStatus launch_bwd_weight_vertical<VerticalGradWeightConfig<T_, K_, D_>>(BwdWeightParams const&, \
                                                                                          cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE_F32(K_, D_) CUTE_DWCONV_INSTANTIATE_ONE(float, K_, D_)
#define CUTE_DWCONV_INSTANTIATE_F16(K_, D_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::half_t, K_, D_)
#define CUTE_DWCONV_INSTANTIATE_BF16(K_, D_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::bfloat16_t, K_, D_)
CUTE_DWCONV_BWD_WEIGHT_VERTICAL_TABLE(CUTE_DWCONV_INSTANTIATE_F32)
CUTE_DWCONV_BWD_WEIGHT_VERTICAL_TABLE(CUTE_DWCONV_INSTANTIATE_F16)
CUTE_DWCONV_BWD_WEIGHT_VERTICAL_TABLE(CUTE_DWCONV_INSTANTIATE_BF16)
#undef CUTE_DWCONV_INSTANTIATE_F32
#undef CUTE_DWCONV_INSTANTIATE_F16
#undef CUTE_DWCONV_INSTANTIATE_BF16
#undef CUTE_DWCONV_INSTANTIATE_ONE

}  // namespace cute_dwconv
