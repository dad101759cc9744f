// Tiled forward kernels for float32, and the fixed-shape headline instantiation.
#define CUTE_DWCONV_ELEMENT float
#include "instantiations/fwd_tiled_instances.inc"

namespace cute_dwconv {
template LaunchStatus launch_fwd_tiled<FixedShapeConfig>(FwdParams const&, cudaStream_t);
}  // namespace cute_dwconv
