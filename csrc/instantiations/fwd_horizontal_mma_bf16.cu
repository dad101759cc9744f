// Tensor-core (1, K) forward kernels for bfloat16.
#define CUTE_DWCONV_ELEMENT cutlass::bfloat16_t
#include "instantiations/fwd_horizontal_mma_instances.inc"
