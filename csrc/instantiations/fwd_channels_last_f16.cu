// channels_last tiled forward kernels for float16.
#define CUTE_DWCONV_ELEMENT cutlass::half_t
#include "instantiations/fwd_channels_last_instances.inc"
