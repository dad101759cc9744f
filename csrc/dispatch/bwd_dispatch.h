// Entry from the torch glue into the backward kernels.
#pragma once

#include <cuda_runtime_api.h>

#include "bwd_params.h"
#include "dispatch/fwd_dispatch.h"

namespace cute_dwconv {

// kAuto is what users get; kStrided forces the gathering kernel, so tests can check it on stride 1.
enum class BwdInputPath { kAuto, kStrided };

// Launches the input gradient on `stream`. Stride 1 is a forward convolution of grad_out with the
// taps flipped, `(K-1)*d - p` of padding along the tap axis and `-p` along the other (the window
// starts p in), so it takes the forward dispatch table; other strides take the gathering kernel.
FwdStatus strip_backward_input(BwdInputParams const& p, BwdInputPath path, cudaStream_t stream);

// Tiles and workspace of the weight and bias gradients for this call.
BwdWeightPlan strip_backward_weight_plan(BwdWeightParams const& p);

// Launches both passes; p.workspace must hold plan.workspace_bytes.
void strip_backward_weight(BwdWeightParams const& p, BwdWeightPlan const& plan, cudaStream_t stream);

}  // namespace cute_dwconv
