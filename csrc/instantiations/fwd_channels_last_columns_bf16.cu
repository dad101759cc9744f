// channels_last (K, 1) column kernels for bfloat16.
#define CUTE_DWCONV_ELEMENT cutlass::bfloat16_t
#include "instantiations/fwd_channels_last_columns_instances.inc"
