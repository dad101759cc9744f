// The pipeline every staged window kernel runs over its tiles: a block takes tiles first,
// first + step, ... below count; stage(tile, buffer) issues one tile's cp.async copies into a
// shared-memory buffer (and may write it directly), and compute(tile, buffer) reads that buffer after
// a block barrier. With two buffers the next tile's copies are in flight while this one computes;
// with one, a block stages its next tile after computing, and the other blocks on the SM fill the
// wait (one buffer leaves room for more of them: profiling/NOTES.md, variant 70).
#pragma once

#include <cute/arch/copy_sm80.hpp>
#include <cute/config.hpp>

namespace cute_dwconv {
namespace staging {

struct NothingBeforeWait {
  template <class Index>
  CUTE_DEVICE void operator()(Index) const {}
};

// before_wait(tile) runs after the copies are issued and before the wait for this tile's: loads of
// its own (grad_out straight into registers, say) overlap the copies' latency.
//
// Two forms of the same pipeline. walk_tiles calls stage at three places (the first tile, the next
// with two buffers, the next with one), so each kernel holds three copies of it: the better code
// where staging is short (the window tiles of unstacked planes: 7% faster on MobileNet's float32
// 3x3 stride 2, profiling/NOTES.md, variant 118). walk_tiles_compact calls stage and compute once
// each, for kernels whose staging is long (stacked planes' lookups, batched and elementwise loads):
// three copies of it were most of their code and about half the build.
template <class Index, class Stage, class Compute, class BeforeWait = NothingBeforeWait>
CUTE_DEVICE void walk_tiles(Index first, Index count, Index step, bool two_buffers, Stage&& stage, Compute&& compute,
                            BeforeWait&& before_wait = {}) {
  Index tile = first;
  if (tile < count) stage(tile, 0);
  cute::cp_async_fence();
  for (int buffer = 0; tile < count; tile += step, buffer ^= int(two_buffers)) {
    Index const next = tile + step;
    if (two_buffers) {
      if (next < count) stage(next, buffer ^ 1);
      cute::cp_async_fence();
      before_wait(tile);
      cute::cp_async_wait<1>();  // this tile's copies (the next tile's may still be in flight)
    } else {
      before_wait(tile);
      cute::cp_async_wait<0>();
    }
    __syncthreads();
    compute(tile, buffer);
    __syncthreads();  // the next iteration restages this buffer (or, with one, the buffer just read)
    if (!two_buffers && next < count) {
      stage(next, 0);
      cute::cp_async_fence();
    }
  }
}

// Iteration k stages tile first + k * step and computes the one `ahead` tiles behind it (ahead is 1
// with two buffers, 0 with one): the same order of copies, waits and barriers as walk_tiles.
template <class Index, class Stage, class Compute, class BeforeWait = NothingBeforeWait>
CUTE_DEVICE void walk_tiles_compact(Index first, Index count, Index step, bool two_buffers, Stage&& stage,
                                    Compute&& compute, BeforeWait&& before_wait = {}) {
  int const ahead = int(two_buffers);
  Index staged = first;
  for (int k = 0;; ++k, staged += step) {
    if (staged < count) stage(staged, k & ahead);
    cute::cp_async_fence();
    if (k < ahead) continue;
    Index const tile = staged - Index(ahead) * step;
    if (tile >= count) break;
    before_wait(tile);
    // This tile's copies; with two buffers, the next tile's may still be in flight.
    if (two_buffers) {
      cute::cp_async_wait<1>();
    } else {
      cute::cp_async_wait<0>();
    }
    __syncthreads();
    compute(tile, (k - ahead) & ahead);
    __syncthreads();  // the next iteration restages the buffer just read (with one) or the other one
  }
}

}  // namespace staging
}  // namespace cute_dwconv
