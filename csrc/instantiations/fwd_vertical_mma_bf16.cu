// Tensor-core (K, 1) forward kernels for bfloat16.
#define CUTE_DWCONV_ELEMENT cutlass::bfloat16_t
#include "instantiations/fwd_vertical_mma_instances.inc"
