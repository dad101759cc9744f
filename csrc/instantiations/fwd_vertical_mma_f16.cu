// Tensor-core (K, 1) forward kernels for float16.
#define CUTE_DWCONV_ELEMENT cutlass::half_t
#include "instantiations/fwd_vertical_mma_instances.inc"
