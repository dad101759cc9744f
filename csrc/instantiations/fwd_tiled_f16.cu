// Tiled forward kernels for float16.
#define CUTE_DWCONV_ELEMENT cutlass::half_t
#include "instantiations/fwd_tiled_instances.inc"
