// Whole planes that lie one after another in global memory (a block's NCHW planes of a contiguous
// tensor: one run of elements) moved between that run and their places in shared memory, 16 bytes
// a lane where the run allows, each element to or from its own place. Small planes' rows are not
// whole 16-byte chunks (a 7x7 plane of 16-bit values is 98 bytes), so a copy per row would be
// element by element; a run of planes is not, except for its ends.
#pragma once

#include <cstdint>

#include <cute/config.hpp>
#include <cutlass/fast_math.h>

namespace cute_dwconv {
namespace staging {

// An element's plane, row and column in a run of H x W planes, stepped one element at a time.
struct RunPixel {
  int plane, row, col;

  CUTE_DEVICE RunPixel(int index, cutlass::FastDivmod const& plane_pixels, cutlass::FastDivmod const& row_pixels) {
    int pixel;
    plane_pixels(plane, pixel, index);
    row_pixels(row, col, pixel);
  }
  CUTE_DEVICE void next(int H, int W) {
    if (++col == W) {
      col = 0;
      if (++row == H) {
        row = 0;
        ++plane;
      }
    }
  }
};

// Elements [head, head + vectors * kElems) of a run are its whole 16-byte chunks.
template <class T>
struct RunChunks {
  static constexpr int kElems = 16 / int(sizeof(T));
  int head, vectors, tail;

  CUTE_DEVICE RunChunks(T const* run, int items) {
    int const misaligned = int(reinterpret_cast<uintptr_t>(run) % 16) / int(sizeof(T));
    head = min((kElems - misaligned) % kElems, items);
    vectors = (items - head) / kElems;
    tail = head + vectors * kElems;
  }
  // The i-th element read or written one at a time: the head's, then the tail's.
  CUTE_DEVICE int single(int i) const { return i < head ? i : tail + (i - head); }
  CUTE_DEVICE int singles(int items) const { return head + (items - tail); }
};

// dst[slot_of(plane, row, col)] = run[i] for the run's `items` elements, where the slot is not -1,
// kInFlight 16-byte loads in flight a lane; elements convert to Value.
template <int kThreads, int kInFlight = 4, class T, class Value, class SlotOf>
CUTE_DEVICE void load_plane_run(T const* run, int items, int H, int W, cutlass::FastDivmod const& plane_pixels,
                                cutlass::FastDivmod const& row_pixels, Value* dst, SlotOf&& slot_of) {
  RunChunks<T> const chunks(run, items);
  constexpr int kElems = RunChunks<T>::kElems;
  for (int base = threadIdx.x; base < chunks.vectors; base += kInFlight * kThreads) {
    uint4 data[kInFlight];
    CUTE_UNROLL
    for (int b = 0; b < kInFlight; ++b) {
      int const v = base + b * kThreads;
      if (v < chunks.vectors) data[b] = *reinterpret_cast<uint4 const*>(run + chunks.head + v * kElems);
    }
    CUTE_UNROLL
    for (int b = 0; b < kInFlight; ++b) {
      int const v = base + b * kThreads;
      if (v >= chunks.vectors) break;
      T const* const values = reinterpret_cast<T const*>(&data[b]);
      RunPixel at(chunks.head + v * kElems, plane_pixels, row_pixels);
      CUTE_UNROLL
      for (int e = 0; e < kElems; ++e) {
        int const slot = slot_of(at.plane, at.row, at.col);
        if (slot >= 0) dst[slot] = static_cast<Value>(values[e]);
        at.next(H, W);
      }
    }
  }
  for (int i = threadIdx.x; i < chunks.singles(items); i += kThreads) {
    int const item = chunks.single(i);
    RunPixel const at(item, plane_pixels, row_pixels);
    int const slot = slot_of(at.plane, at.row, at.col);
    if (slot >= 0) dst[slot] = static_cast<Value>(run[item]);
  }
}

// run[i] = src[slot_of(plane, row, col)] for the run's `items` elements, 16 bytes a lane where the
// run allows.
template <int kThreads, class T, class SlotOf>
CUTE_DEVICE void store_plane_run(T* run, int items, int H, int W, cutlass::FastDivmod const& plane_pixels,
                                 cutlass::FastDivmod const& row_pixels, T const* src, SlotOf&& slot_of) {
  RunChunks<T> const chunks(run, items);
  constexpr int kElems = RunChunks<T>::kElems;
  for (int v = threadIdx.x; v < chunks.vectors; v += kThreads) {
    uint4 data;
    T* const values = reinterpret_cast<T*>(&data);
    RunPixel at(chunks.head + v * kElems, plane_pixels, row_pixels);
    CUTE_UNROLL
    for (int e = 0; e < kElems; ++e) {
      values[e] = src[slot_of(at.plane, at.row, at.col)];
      at.next(H, W);
    }
    *reinterpret_cast<uint4*>(run + chunks.head + v * kElems) = data;
  }
  for (int i = threadIdx.x; i < chunks.singles(items); i += kThreads) {
    int const item = chunks.single(i);
    RunPixel const at(item, plane_pixels, row_pixels);
    run[item] = src[slot_of(at.plane, at.row, at.col)];
  }
}

}  // namespace staging
}  // namespace cute_dwconv
