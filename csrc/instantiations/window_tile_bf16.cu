// NCHW window kernels for cutlass::bfloat16_t: every bucket of the table and the general one.
#define CUTE_DWCONV_ELEMENT cutlass::bfloat16_t
#include "instantiations/window_tile_instances.inc"
