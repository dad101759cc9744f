// The shared-memory ring of input rows that the tiled kernels stream their input through: SM80
// cp.async copies (16 bytes where rows are 16-byte aligned, 8 otherwise), zero-fill predication for
// the padding, and the stage pipeline. No convolution in it.
//
// Pipeline: stage s of a tile holds the rows step s needs past those the ring already has; one
// commit group per stage (an empty one past the last) keeps cp_async_wait's count fixed, so step t
// can wait for its stage while kAhead later stages stay in flight.
#pragma once

#include <type_traits>

#include <cute/tensor.hpp>  // first: the atom headers below rely on what it declares
#include <cute/atom/copy_atom.hpp>
#include <cute/atom/copy_traits_sm80.hpp>

namespace cute_dwconv {
namespace staging {

// L2-only 16-byte copies stream (the rows are read once); 8-byte copies must go through L1.
template <class T, int kCopyBytes>
using StageCopyAtom =
    std::conditional_t<kCopyBytes == 16, cute::Copy_Atom<cute::SM80_CP_ASYNC_CACHEGLOBAL_ZFILL<cute::uint128_t>, T>,
                       cute::Copy_Atom<cute::SM80_CP_ASYNC_CACHEALWAYS_ZFILL<cute::uint64_t>, T>>;

// The copy width a launch stages with: 16 bytes where every staged row starts 16-byte aligned, 8
// where rows are only 8-byte aligned, 0 where cp.async cannot stage them. `row_elements` is every
// quantity a row start moves by (row, channel and image strides, the row length).
template <class T, class... Extents>
int stage_copy_bytes(void const* data, Extents... row_elements) {
  auto all_multiples = [&](int64_t of) { return ((int64_t(row_elements) % of == 0) && ...); };
  auto const address = reinterpret_cast<uintptr_t>(data);
  constexpr int64_t kVec = 16 / int64_t(sizeof(T));
  if (all_multiples(kVec) && address % 16 == 0) return 16;
  if (kVec >= 2 && all_multiples(kVec / 2) && address % 8 == 0) return 8;
  return 0;
}

// Commits the copies issued since the last commit as one stage.
CUTE_DEVICE void commit_stage() { cute::cp_async_fence(); }

// Waits until at most kAhead committed stages are still in flight, then makes the finished ones
// visible to the whole block.
template <int kAhead>
CUTE_DEVICE void wait_stage() {
  cute::cp_async_wait<kAhead>();
  __syncthreads();
}

// Copies kRows rows of `chunks` copy-width chunks from global to shared memory, the block's
// kThreads threads taking chunks in turn along each row (consecutive threads, consecutive
// addresses). `src` and `dst` are (chunk elements, rows, chunks) views; chunk (r, q) is copied where
// wanted(r, q), and where it is wanted but in_image(r, q) is false its shared memory is zero-filled
// (the padding). Chunks not wanted are left as they are: nothing reads them. A compile-time chunk
// count unrolls the loop and divides by a constant.
template <class Atom, int kThreads, int kRows, class Src, class Dst, class Chunks, class Wanted, class InImage>
CUTE_DEVICE void copy_row_chunks(Src const& src, Dst&& dst, Chunks chunks, Wanted wanted, InImage in_image) {
  auto copy_one = [&](int q) {
    int const row = q / chunks;
    int const chunk = q - row * chunks;
    if (wanted(row, chunk)) {
      cute::copy(Atom{}.with(in_image(row, chunk)), src(cute::_, row, chunk), dst(cute::_, row, chunk));
    }
  };
  if constexpr (cute::is_static<Chunks>::value) {
    constexpr int kTotal = kRows * Chunks::value;
    CUTE_UNROLL
    for (int i = 0; i < (kTotal + kThreads - 1) / kThreads; ++i) {
      int const q = int(threadIdx.x) + i * kThreads;
      if (kTotal % kThreads == 0 || q < kTotal) copy_one(q);
    }
  } else {
    for (int q = threadIdx.x; q < kRows * chunks; q += kThreads) copy_one(q);
  }
}

}  // namespace staging
}  // namespace cute_dwconv
