// The walk the direct kernels share (the direct forward and the gathering input gradient): one
// thread per (n, c, column, chunk of kRowsPerThread rows), grid-strided. Consecutive threads take
// consecutive columns along whichever of W and C is denser in memory, so that a warp's accesses
// coalesce for NCHW and channels_last alike.
#pragma once

#include <cstdint>

#include <cute/config.hpp>

#include "device_limits.h"

namespace cute_dwconv {
namespace column_walk {

constexpr int kThreads = 256;
constexpr int kRowsPerThread = 8;

struct Column {
  int64_t n, c, col, chunk;
};

// Work item i of N x C x cols x row_chunks, channels or columns fastest.
CUTE_HOST_DEVICE Column locate(int64_t i, int64_t C, int64_t cols, int64_t row_chunks, bool channels_fastest) {
  Column at{};
  if (channels_fastest) {
    at.c = i % C;     i /= C;
    at.col = i % cols; i /= cols;
    at.chunk = i % row_chunks;
    at.n = i / row_chunks;
  } else {
    at.col = i % cols; i /= cols;
    at.chunk = i % row_chunks; i /= row_chunks;
    at.c = i % C;
    at.n = i / C;
  }
  return at;
}

// Whether channels are denser than columns in a tensor with C channels and W columns. A size-1
// dimension's stride says nothing about the layout.
inline bool channels_fastest(int64_t C, int64_t c_stride, int64_t W, int64_t w_stride) {
  int64_t const huge = int64_t(1) << 62;
  int64_t const c_step = C > 1 ? (c_stride < 0 ? -c_stride : c_stride) : huge;
  int64_t const w_step = W > 1 ? (w_stride < 0 ? -w_stride : w_stride) : huge;
  return c_step < w_step;
}

inline int64_t row_chunks(int64_t rows) { return (rows + kRowsPerThread - 1) / kRowsPerThread; }

// Blocks for `work` items: one per item up to 32 per SM, the rest by grid striding.
inline unsigned blocks(int64_t work, int device) {
  int64_t const max_blocks = int64_t(device_limits(device).multiprocessors) * 32;
  int64_t const wanted = (work + kThreads - 1) / kThreads;
  return unsigned(wanted > max_blocks ? max_blocks : wanted);
}

}  // namespace column_walk
}  // namespace cute_dwconv
