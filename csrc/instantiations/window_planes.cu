// Whole-plane window kernels, every window of the table, and the weight gradients of the register
// weight gradients' buckets, for the three element types.
#include <cutlass/numeric_types.h>

#include "dispatch/window_table.h"
#include "kernels/window/window_grad_weight_planes.cuh"
#include "kernels/window/window_planes.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE_FOR(T_, K_, S_) \
  template LaunchStatus launch_window_planes<WindowPlanesConfig<T_, K_, S_>>(WindowParams const&, cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE(K_, S_)                          \
  CUTE_DWCONV_INSTANTIATE_FOR(float, K_, S_)                     \
  CUTE_DWCONV_INSTANTIATE_FOR(cutlass::half_t, K_, S_)           \
  CUTE_DWCONV_INSTANTIATE_FOR(cutlass::bfloat16_t, K_, S_)
CUTE_DWCONV_WINDOW_PLANES_TABLE(CUTE_DWCONV_INSTANTIATE)
#undef CUTE_DWCONV_INSTANTIATE
#undef CUTE_DWCONV_INSTANTIATE_FOR

#define CUTE_DWCONV_INSTANTIATE_FOR(T_, K_, S_)                                                                 \
  template int64_t window_grad_weight_planes_partials<WindowPlanesConfig<T_, K_, S_>>(WindowGradWeightParams const&); \
  template LaunchStatus launch_window_grad_weight_planes<WindowPlanesConfig<T_, K_, S_>>(WindowGradWeightParams const&, \
                                                                                         cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE(K_, S_)                          \
  CUTE_DWCONV_INSTANTIATE_FOR(float, K_, S_)                     \
  CUTE_DWCONV_INSTANTIATE_FOR(cutlass::half_t, K_, S_)           \
  CUTE_DWCONV_INSTANTIATE_FOR(cutlass::bfloat16_t, K_, S_)
CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE(CUTE_DWCONV_INSTANTIATE)
#undef CUTE_DWCONV_INSTANTIATE
#undef CUTE_DWCONV_INSTANTIATE_FOR

}  // namespace cute_dwconv
