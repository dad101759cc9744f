// The NCHW input gradients at stride 2 in one pass: every bucket of
// CUTE_DWCONV_WINDOW_GRAD_INPUT_PHASES_TABLE for the 32- and 16-bit element types.
#include <cutlass/numeric_types.h>

#include "dispatch/window_table.h"
#include "kernels/window/window_grad_input_phases.cuh"

namespace cute_dwconv {

#define CUTE_DWCONV_INSTANTIATE_ONE(T_, K_)                                                                 \
  template LaunchStatus launch_window_grad_input_phases<WindowGradInputPhasesConfig<T_, K_>>(                \
      WindowParams const&, void const*, void*, cudaStream_t);
#define CUTE_DWCONV_INSTANTIATE_F32(K_) CUTE_DWCONV_INSTANTIATE_ONE(float, K_)
#define CUTE_DWCONV_INSTANTIATE_F16(K_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::half_t, K_)
#define CUTE_DWCONV_INSTANTIATE_BF16(K_) CUTE_DWCONV_INSTANTIATE_ONE(cutlass::bfloat16_t, K_)
CUTE_DWCONV_WINDOW_GRAD_INPUT_PHASES_TABLE(CUTE_DWCONV_INSTANTIATE_F32)
CUTE_DWCONV_WINDOW_GRAD_INPUT_PHASES_TABLE(CUTE_DWCONV_INSTANTIATE_F16)
CUTE_DWCONV_WINDOW_GRAD_INPUT_PHASES_TABLE(CUTE_DWCONV_INSTANTIATE_BF16)
#undef CUTE_DWCONV_INSTANTIATE_F32
#undef CUTE_DWCONV_INSTANTIATE_F16
#undef CUTE_DWCONV_INSTANTIATE_BF16
#undef CUTE_DWCONV_INSTANTIATE_ONE

}  // namespace cute_dwconv
