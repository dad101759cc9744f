// Horizontal (1, K) tiled forward kernels for float16.
#define CUTE_DWCONV_ELEMENT cutlass::half_t
#include "instantiations/fwd_horizontal_instances.inc"
