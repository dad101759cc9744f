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

// The places of a 16-byte chunk's elements, found once a chunk instead of a pixel at a time: a
// step and a slot a pixel were most of the small planes' staging, itself about 40% of their
// kernels' stall samples (profiling/NOTES.md, variant 152). Taken for chunks of 8 16-bit elements;
// over 4 float32 ones the chunk's setup measured no faster than the steps. A chunk of rows at least
// kElems wide holds at most one row break: elements [0, split) lie in its first row, [split,
// kElems) at the start of the next (the next plane's first past a plane's last row). Where slot_of
// gives every element of both parts a place, element e's is (e < split ? first : second) + e; else
// `whole` is false and the chunk goes pixel by pixel. slot_of must give a row's pixels consecutive
// places over one interval of columns (-1 outside it).
struct ChunkSlots {
  int first, second, split;
  bool whole;

  CUTE_DEVICE int operator()(int e) const { return (e < split ? first : second) + e; }
};

template <int kElems, class SlotOf>
CUTE_DEVICE ChunkSlots chunk_slots(RunPixel const& at, int H, int W, SlotOf&& slot_of) {
  ChunkSlots s;
  s.split = min(W - at.col, kElems);
  s.first = slot_of(at.plane, at.row, at.col);
  s.whole = s.first >= 0 && slot_of(at.plane, at.row, at.col + s.split - 1) >= 0;
  s.second = 0;
  if (s.split < kElems) {
    bool const last_row = at.row + 1 == H;
    int const plane = at.plane + int(last_row), row = last_row ? 0 : at.row + 1;
    int const next = slot_of(plane, row, 0);
    s.second = next - s.split;
    s.whole = s.whole && next >= 0 && slot_of(plane, row, kElems - s.split - 1) >= 0;
  }
  return s;
}

// dst[slot_of(plane, row, col)] = run[i] for the run's `items` elements, where the slot is not -1,
// kInFlight 16-byte loads in flight a lane; elements convert to Value.
template <int kThreads, int kInFlight = 4, class T, class Value, class SlotOf>
CUTE_DEVICE void load_plane_run(T const* run, int items, int H, int W, cutlass::FastDivmod const& plane_pixels,
                                cutlass::FastDivmod const& row_pixels, Value* dst, SlotOf&& slot_of) {
  RunChunks<T> const chunks(run, items);
  constexpr int kElems = RunChunks<T>::kElems;
  constexpr bool kChunkSlots = kElems >= 8;
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
      if (kChunkSlots && W >= kElems) {
        ChunkSlots const slots = chunk_slots<kElems>(at, H, W, slot_of);
        if (slots.whole) {
          CUTE_UNROLL
          for (int e = 0; e < kElems; ++e) dst[slots(e)] = static_cast<Value>(values[e]);
          continue;
        }
      }
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
  constexpr bool kChunkSlots = kElems >= 8;
  for (int v = threadIdx.x; v < chunks.vectors; v += kThreads) {
    uint4 data;
    T* const values = reinterpret_cast<T*>(&data);
    RunPixel at(chunks.head + v * kElems, plane_pixels, row_pixels);
    ChunkSlots slots{};
    if (kChunkSlots && W >= kElems) slots = chunk_slots<kElems>(at, H, W, slot_of);
    if (slots.whole) {
      CUTE_UNROLL
      for (int e = 0; e < kElems; ++e) values[e] = src[slots(e)];
    } else {
      CUTE_UNROLL
      for (int e = 0; e < kElems; ++e) {
        values[e] = src[slot_of(at.plane, at.row, at.col)];
        at.next(H, W);
      }
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
