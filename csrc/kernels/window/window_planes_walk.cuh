// The window walk the whole-plane kernels share (window_planes.cuh, the forward, and
// window_grad_weight_planes.cuh, its weight gradient): a lane's kRows x kCols outputs of a staged
// float32 plane, each staged row under them read into registers once and used for every output row
// whose window holds it.
#pragma once

#include <cute/config.hpp>

namespace cute_dwconv {
namespace window {

// fn(r, i, row) for output row r of the lane and staged row `row` (Cfg::kWindow values from the
// lane's first column), window row i of r's window; lane_in is the lane's first staged pixel.
template <class Cfg, class Fn>
CUTE_DEVICE void for_each_window_row(float const* lane_in, int pitch, Fn&& fn) {
  CUTE_UNROLL
  for (int in_row = 0; in_row < Cfg::kInRows; ++in_row) {
    float row[Cfg::kWindow];
    CUTE_UNROLL
    for (int e = 0; e < Cfg::kWindow; ++e) row[e] = lane_in[in_row * pitch + e];
    CUTE_UNROLL
    for (int r = 0; r < Cfg::kRows; ++r) {
      int const i = in_row - r * Cfg::kStride;
      if (i < 0 || i >= Cfg::kK) continue;
      fn(r, i, row);
    }
  }
}

}  // namespace window
}  // namespace cute_dwconv
