// The window paths for every element type: direct forward, gathered input gradient, weight gradient.
#include <cutlass/numeric_types.h>

#include "kernels/window/window_direct.cuh"
#include "kernels/window/window_grad_weight.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE(T_)                                                                             \
  template LaunchStatus launch_window_direct<T_>(WindowParams const&, cudaStream_t);                           \
  template void launch_window_grad_input_gather<T_>(WindowParams const&, void const*, void*, cudaStream_t);   \
  template WindowGradWeightPlan plan_window_grad_weight<T_>(WindowGradWeightParams const&);                    \
  template LaunchStatus launch_window_grad_weight<T_>(WindowGradWeightParams const&, WindowGradWeightPlan const&, \
                                                      cudaStream_t);                                            \
  template void launch_window_grad_weight_reduce<T_>(WindowGradWeightParams const&, int64_t, cudaStream_t);
CUTE_DWCONV_INSTANTIATE(float)
CUTE_DWCONV_INSTANTIATE(cutlass::half_t)
CUTE_DWCONV_INSTANTIATE(cutlass::bfloat16_t)
CUTE_DWCONV_INSTANTIATE(double)
#undef CUTE_DWCONV_INSTANTIATE

}  // namespace cute_dwconv
