// Element-by-element staging with several global loads in flight per lane. Loads one at a time
// (load, store to shared memory, next) make each lane wait out every load's latency; a stacked
// tile's taps (64 planes of 49 for 16-bit 7x7 on 7x7 planes) or its unaligned rows are dozens of
// loads a lane.
#pragma once

#include <type_traits>

#include <cute/config.hpp>

namespace cute_dwconv {
namespace staging {

// Items [0, items) over a block's kThreads lanes, kBatch loads in flight per lane. load(item, value)
// sets value (left zero for none) and returns the item's index in dst, or -1 to store nothing.
template <int kThreads, int kBatch = 8, class Value, class Load>
CUTE_DEVICE void load_batched(int items, Value* dst, Load&& load) {
  for (int base = threadIdx.x; base < items; base += kBatch * kThreads) {
    Value values[kBatch];
    int slots[kBatch];
    CUTE_UNROLL
    for (int b = 0; b < kBatch; ++b) {
      int const item = base + b * kThreads;
      values[b] = Value(0);
      slots[b] = item < items ? load(item, values[b]) : -1;
    }
    CUTE_UNROLL
    for (int b = 0; b < kBatch; ++b) {
      if (slots[b] >= 0) dst[slots[b]] = values[b];
    }
  }
}

}  // namespace staging
}  // namespace cute_dwconv
