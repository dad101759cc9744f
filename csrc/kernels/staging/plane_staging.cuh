// A block's whole NCHW planes staged as float32 (the whole-plane kernels' x and grad_out): from one
// run of 16-byte chunks where the tensor's planes lie one after another, else element by element.
#pragma once

#include <cstdint>

#include <cute/config.hpp>
#include <cutlass/fast_math.h>

#include "kernels/staging/batched_loads.cuh"
#include "kernels/staging/plane_runs.cuh"

namespace cute_dwconv {
namespace staging {

// Where a block's NCHW planes come from: the tensor's strides, and whether its planes lie one after
// another (a contiguous tensor), so that a block's planes are one run.
struct PlaneSource {
  int64_t stride_n, stride_c, stride_h, stride_w;
  bool contiguous;

  // A tensor of `channels` planes of rows x cols elements with these strides.
  static PlaneSource of(int64_t stride_n, int64_t stride_c, int64_t stride_h, int64_t stride_w, int64_t channels,
                        int64_t rows, int64_t cols) {
    return {stride_n, stride_c, stride_h, stride_w,
            stride_w == 1 && stride_h == cols && stride_c == rows * cols && stride_n == channels * rows * cols};
  }
};

// Where pixel (row, col) of a block's plane m is staged: planes plane_pitch apart, rows pitch apart,
// behind (pad_h, pad_w) of padding; -1 for pixels no window reaches (past the staged rows or
// columns, or before them where a padding is negative: the stride-1 input gradient of a padding
// wider than the window).
struct PaddedPlaneSlots {
  int plane_pitch, pitch, rows, cols, pad_h, pad_w;

  CUTE_DEVICE int operator()(int m, int row, int col) const {
    int const staged_row = row + pad_h, staged_col = col + pad_w;
    return unsigned(staged_row) < unsigned(rows) && unsigned(staged_col) < unsigned(cols)
               ? m * plane_pitch + staged_row * pitch + staged_col
               : -1;
  }
};

// Planes [plane0, plane0 + planes) of `tensor` (plane = n * C + c; channel_count splits it), rows x
// cols elements each, converted to float into staged[slot_of(m, row, col)] for the block's plane m,
// nothing where the slot is -1: one run of 16-byte chunks where the planes are contiguous, else one
// element at a time with several loads in flight.
template <int kThreads, class T, class SlotOf>
CUTE_DEVICE void stage_planes(T const* tensor, PlaneSource const& src, int64_t plane0, int planes, int rows, int cols,
                              cutlass::FastDivmod const& plane_pixels, cutlass::FastDivmod const& row_pixels,
                              cutlass::FastDivmod const& channel_count, float* staged, SlotOf&& slot_of) {
  int const items = planes * plane_pixels.divisor;
  if (src.contiguous) {
    load_plane_run<kThreads>(tensor + plane0 * plane_pixels.divisor, items, rows, cols, plane_pixels, row_pixels,
                             staged, slot_of);
    return;
  }
  load_batched<kThreads>(items, staged, [&](int item, float& value) {
    int m, pixel, row, col, n, c;
    plane_pixels(m, pixel, item);
    row_pixels(row, col, pixel);
    int const slot = slot_of(m, row, col);
    if (slot < 0) return -1;
    channel_count(n, c, int(plane0 + m));
    value = static_cast<float>(tensor[int64_t(n) * src.stride_n + int64_t(c) * src.stride_c +
                                      int64_t(row) * src.stride_h + int64_t(col) * src.stride_w]);
    return slot;
  });
}

}  // namespace staging
}  // namespace cute_dwconv
