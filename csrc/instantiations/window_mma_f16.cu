// The tensor-core window kernels for cutlass::half_t inputs (window_mma_instances.inc).
#define CUTE_DWCONV_ELEMENT cutlass::half_t
#include "instantiations/window_mma_instances.inc"
