// NCHW window kernels for float: every bucket of the table and the general one.
#define CUTE_DWCONV_ELEMENT float
#include "instantiations/window_tile_instances.inc"
