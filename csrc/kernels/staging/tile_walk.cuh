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

}  // namespace staging
}  // namespace cute_dwconv
