// A lane's stores of kVec adjacent outputs of one row, as wide as the row's alignment allows.
#pragma once

#include <cstdint>

#include <cute/config.hpp>

namespace cute_dwconv {
namespace window {

// dst is the lane's first output column; col_stride the output's column stride; the columns from
// cols_before on and before cols_left (the row's end) are written: all kVec when cols_before is 0
// and cols_left at least kVec.
template <class T, int kVec>
CUTE_DEVICE void store_row_outputs(T* dst, int64_t col_stride, int cols_before, int cols_left,
                                   float const (&acc)[kVec]) {
  constexpr int kBytes = kVec * int(sizeof(T));
  uintptr_t const address = reinterpret_cast<uintptr_t>(dst);
  bool const whole = cols_before == 0 && cols_left >= kVec;
  if (col_stride == 1 && whole && kBytes % 16 == 0 && address % 16 == 0) {
    alignas(16) T packed[kVec];
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) packed[e] = static_cast<T>(acc[e]);
    CUTE_UNROLL
    for (int q = 0; q < kBytes / 16; ++q) reinterpret_cast<uint4*>(dst)[q] = reinterpret_cast<uint4 const*>(packed)[q];
  } else if (col_stride == 1 && whole && kBytes % 8 == 0 && address % 8 == 0) {
    alignas(16) T packed[kVec];
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) packed[e] = static_cast<T>(acc[e]);
    CUTE_UNROLL
    for (int q = 0; q < kBytes / 8; ++q) reinterpret_cast<uint2*>(dst)[q] = reinterpret_cast<uint2 const*>(packed)[q];
  } else if (col_stride == 1 && whole && kBytes % 4 == 0 && address % 4 == 0) {
    alignas(16) T packed[kVec];
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) packed[e] = static_cast<T>(acc[e]);
    CUTE_UNROLL
    for (int q = 0; q < kBytes / 4; ++q) {
      reinterpret_cast<uint32_t*>(dst)[q] = reinterpret_cast<uint32_t const*>(packed)[q];
    }
  } else {
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) {
      if (e >= cols_before && e < cols_left) dst[e * col_stride] = static_cast<T>(acc[e]);
    }
  }
}

}  // namespace window
}  // namespace cute_dwconv
