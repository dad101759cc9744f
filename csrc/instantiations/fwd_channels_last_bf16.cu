// channels_last tiled forward kernels for bfloat16.
#define CUTE_DWCONV_ELEMENT cutlass::bfloat16_t
#include "instantiations/fwd_channels_last_instances.inc"
