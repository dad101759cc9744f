// channels_last tiled forward kernels for float32.
#define CUTE_DWCONV_ELEMENT float
#include "instantiations/fwd_channels_last_instances.inc"
