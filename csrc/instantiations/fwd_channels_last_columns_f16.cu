// channels_last (K, 1) column kernels for float16.
#define CUTE_DWCONV_ELEMENT cutlass::half_t
#include "instantiations/fwd_channels_last_columns_instances.inc"
