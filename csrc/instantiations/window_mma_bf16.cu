// The tensor-core window kernels for cutlass::bfloat16_t inputs (window_mma_instances.inc).
#define CUTE_DWCONV_ELEMENT cutlass::bfloat16_t
#include "instantiations/window_mma_instances.inc"
