// Horizontal (1, K) tiled forward kernels for float32.
#define CUTE_DWCONV_ELEMENT float
#include "instantiations/fwd_horizontal_instances.inc"
