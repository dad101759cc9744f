// Tensor-core (1, K) forward kernels for float16.
#define CUTE_DWCONV_ELEMENT cutlass::half_t
#include "instantiations/fwd_horizontal_mma_instances.inc"
