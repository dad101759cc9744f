// Backward kernels for every element type: the gathering input gradient and the two-pass weight
// gradient, the latter for 1-element and 16-byte runs and for 4 and 16 taps per walk.
#include "kernels/bwd_input_strided.cuh"
#include "kernels/bwd_weight.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE_BWD(T)                                                                         \
  template void launch_bwd_input_strided<T>(BwdInputParams const&, cudaStream_t);                             \
  template BwdWeightPlan plan_bwd_weight<T>(BwdWeightParams const&, int);                                     \
  template void launch_bwd_weight<T, 1, 4>(BwdWeightParams const&, BwdWeightPlan const&, bool, cudaStream_t);  \
  template void launch_bwd_weight<T, 1, 16>(BwdWeightParams const&, BwdWeightPlan const&, bool, cudaStream_t); \
  template void launch_bwd_weight<T, 16 / sizeof(T), 4>(BwdWeightParams const&, BwdWeightPlan const&, bool,   \
                                                        cudaStream_t);                                        \
  template void launch_bwd_weight<T, 16 / sizeof(T), 16>(BwdWeightParams const&, BwdWeightPlan const&, bool,  \
                                                         cudaStream_t);

CUTE_DWCONV_INSTANTIATE_BWD(float)
CUTE_DWCONV_INSTANTIATE_BWD(cutlass::half_t)
CUTE_DWCONV_INSTANTIATE_BWD(cutlass::bfloat16_t)
CUTE_DWCONV_INSTANTIATE_BWD(double)

#undef CUTE_DWCONV_INSTANTIATE_BWD

}  // namespace cute_dwconv
