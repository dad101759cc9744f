// Direct forward kernels, one per element type.
#include "kernels/fwd_direct.cuh"

namespace cute_dwconv {

template LaunchStatus launch_fwd_direct<float>(FwdParams const&, cudaStream_t);
template LaunchStatus launch_fwd_direct<cutlass::half_t>(FwdParams const&, cudaStream_t);
template LaunchStatus launch_fwd_direct<cutlass::bfloat16_t>(FwdParams const&, cudaStream_t);
template LaunchStatus launch_fwd_direct<double>(FwdParams const&, cudaStream_t);

}  // namespace cute_dwconv
