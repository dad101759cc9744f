// channels_last (K, 1) column kernels for float32.
#define CUTE_DWCONV_ELEMENT float
#include "instantiations/fwd_channels_last_columns_instances.inc"
