// A window lane's stores of kVec adjacent outputs of one row: staging::store_lane_outputs, plus the
// lanes of a strip that starts left of the image (a shifted column origin), whose first columns
// are not outputs.
#pragma once

#include <cstdint>

#include <cute/config.hpp>

#include "kernels/staging/lane_io.cuh"

namespace cute_dwconv {
namespace window {

// dst is the lane's first output column; col_stride the output's column stride; the columns from
// cols_before on and before cols_left (the row's end) are written: all kVec, as wide as the row's
// alignment allows, when cols_before is 0 and cols_left at least kVec.
template <class T, int kVec>
CUTE_DEVICE void store_row_outputs(T* dst, int64_t col_stride, int cols_before, int cols_left,
                                   float const (&acc)[kVec]) {
  if (cols_before == 0) {
    staging::store_lane_outputs<T, kVec>(dst, col_stride, col_stride == 1 && cols_left >= kVec, cols_left, acc);
    return;
  }
  CUTE_UNROLL
  for (int e = 0; e < kVec; ++e) {
    if (e >= cols_before && e < cols_left) dst[e * col_stride] = static_cast<T>(acc[e]);
  }
}

}  // namespace window
}  // namespace cute_dwconv
