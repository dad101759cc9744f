// NCHW window kernels for cutlass::half_t: every bucket of the table and the general one.
#define CUTE_DWCONV_ELEMENT cutlass::half_t
#include "instantiations/window_tile_instances.inc"
