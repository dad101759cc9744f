// Where the NCHW window tiles' strips of output columns start. Shared by the forward tile and the
// register weight gradient, which both stage 16-byte chunks of input rows and read each lane's
// input columns from them.
#pragma once

#include <cstdint>

#include "kernels/staging/lane_io.cuh"

namespace cute_dwconv {
namespace plan {

struct ColumnOrigin {
  int64_t origin;  // strips start at output column -origin, in [0, chunk_elems)
  int64_t shift;   // the first strip's first input column, in elements past its chunk
};

// Strips from output column -origin: the first input column's offset past its chunk.
inline ColumnOrigin origin_at(int64_t origin, int64_t stride_w, int64_t padding_w, int64_t chunk_elems) {
  return {origin, ((-origin * stride_w - padding_w) % chunk_elems + chunk_elems) % chunk_elems};
}

// The origin that puts every lane's first input column on the best boundary for its shared-memory
// reads (16 bytes, then 8, then 4; a 16-bit element at an odd column is realigned word by word),
// among those that cost no extra strip: a 128-column plane with a 16-bit 3x3 would take two strips
// for the alignment, the second nearly idle (measured twice as slow in the forward; half the weight
// gradient's tiles, profiling/NOTES.md, variant 109). chunk_elems 1 (rows staged pixel by pixel)
// gives origin 0.
inline ColumnOrigin column_origin(int64_t cols, int64_t tile_cols, int64_t stride_w, int64_t padding_w,
                                  int64_t chunk_elems, int64_t element_bytes) {
  auto shift_at = [&](int64_t o) { return origin_at(o, stride_w, padding_w, chunk_elems).shift; };
  auto rank = [&](int64_t o) { return int(staging::row_alignment(int(shift_at(o) * element_bytes))); };
  auto strips = [&](int64_t o) { return (cols + o + tile_cols - 1) / tile_cols; };
  int64_t best = 0;
  for (int64_t o = 1; o < chunk_elems && strips(o) == strips(0); ++o) {
    if (rank(o) < rank(best)) best = o;
  }
  return origin_at(best, stride_w, padding_w, chunk_elems);
}

}  // namespace plan
}  // namespace cute_dwconv
