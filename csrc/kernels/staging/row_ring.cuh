// The staging of input rows that the tiled and window kernels stream their input through: SM80
// cp.async copies (16 bytes where rows are 16-byte aligned, 8 otherwise), zero-fill predication for
// the padding, how a block's threads share a tile's rows, and the stage pipeline. No convolution in
// it.
//
// Pipeline: stage s of a tile holds the rows step s needs past those the ring already has; one
// commit group per stage (an empty one past the last) keeps cp_async_wait's count fixed, so step t
// can wait for its stage while kAhead later stages stay in flight.
#pragma once

#include <type_traits>

#include <cute/tensor.hpp>  // first: the atom headers below rely on what it declares
#include <cute/atom/copy_atom.hpp>
#include <cute/atom/copy_traits_sm80.hpp>
#include <cutlass/fast_math.h>

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

// How a block's threads share the staged rows of a tile, rows of `chunks` copy chunks: thread t
// copies chunk column t % lanes (and every lanes-th after it, where a row has more chunks than the
// block has threads) of rows t / lanes, t / lanes + rows_per_pass, ... The share depends on the chunk
// count alone, so a kernel makes it once and every tile reuses it: no division per chunk or tile.
struct RowShare {
  int lane;           // the thread's first chunk column
  int lanes;          // threads along a row: min(chunks, threads)
  int first_row;      // 1 << 30 past the last whole row of lanes (those would repeat another's rows)
  int rows_per_pass;  // rows the block covers in one pass
};

template <int kThreads>
CUTE_DEVICE RowShare share_rows(int chunks) {
  RowShare s;
  s.lanes = chunks < kThreads ? chunks : kThreads;
  s.rows_per_pass = kThreads / s.lanes;
  s.lane = int(threadIdx.x) % s.lanes;
  s.first_row = int(threadIdx.x) < s.rows_per_pass * s.lanes ? int(threadIdx.x) / s.lanes : 1 << 30;
  return s;
}

// The threads along a row for a run-time chunk count, as a divisor the host makes once: the two
// divisions above took 50 instructions a block, where a block may stage only one tile.
template <int kThreads>
inline cutlass::FastDivmod row_lanes(int64_t chunks) {
  return cutlass::FastDivmod(int(chunks < kThreads ? chunks : kThreads));
}

template <int kThreads>
CUTE_DEVICE RowShare share_rows(cutlass::FastDivmod const& lanes) {
  RowShare s;
  s.lanes = lanes.divisor;
  int rest, row;
  lanes(s.rows_per_pass, rest, kThreads);
  lanes(row, s.lane, int(threadIdx.x));
  s.first_row = row < s.rows_per_pass ? row : 1 << 30;
  return s;
}

// Where a tile's staged rows come from: tile row r is row row0 + r * row_step of a plane whose rows
// are row_stride elements apart, and its chunk q holds the chunk-width elements from column
// col0 + q * chunk width on. Rows outside [0, H) and chunks outside [0, W) are zero-filled (H = 0:
// every row, for a plane that does not exist; `plane` must still be a valid address).
template <class T>
struct RowSource {
  T const* plane;
  int64_t row_stride;
  int row0, row_step, H;
  int col0, W;
};

// This thread's chunks of one staged row of a stacked tile, whose rows come from several planes:
// chunk q holds the elements from row[col0 + q * chunk width] on, zero-filled where the row is not
// inside its plane or the chunk not inside [0, W). `row` must be a valid address either way.
template <class Atom, int kChunkElems, class T>
CUTE_DEVICE void copy_row(RowShare const& s, T const* row, bool row_inside, int col0, int W, int chunks, T* dst) {
  for (int q = s.lane; q < chunks; q += s.lanes) {
    int const col = col0 + q * kChunkElems;
    bool const inside = row_inside && unsigned(col) < unsigned(W);
    cute::copy(Atom{}.with(inside), cute::make_tensor(cute::make_gmem_ptr(row + (inside ? col : 0)),
                                                      cute::make_layout(cute::Int<kChunkElems>{})),
               cute::make_tensor(cute::make_smem_ptr(dst + q * kChunkElems), cute::make_layout(cute::Int<kChunkElems>{})));
  }
}

// Issues this thread's copies of tile rows [row_begin, row_end), chunks [0, chunks), into dst: tile
// row r at dst + r * pitch. One predicated cp.async per chunk, the source walked down by a running
// offset (the per-chunk coordinates, bounds and 64-bit products of a plain loop were up to 40
// instructions a chunk: a third of a 3x3 tile's, profiling/NOTES.md, variant 111).
template <class Atom, int kChunkElems, class T>
CUTE_DEVICE void copy_rows(RowShare const& s, RowSource<T> const& src, int row_begin, int row_end, int chunks,
                           T* dst, int pitch) {
  int first = s.first_row;
  if (first < row_begin) first += (row_begin - first + s.rows_per_pass - 1) / s.rows_per_pass * s.rows_per_pass;
  if (first >= row_end) return;
  int64_t const offset_step = int64_t(s.rows_per_pass) * src.row_step * src.row_stride;
  int const image_row_step = s.rows_per_pass * src.row_step;
  for (int q = s.lane; q < chunks; q += s.lanes) {
    int const col = src.col0 + q * kChunkElems;
    bool const col_inside = unsigned(col) < unsigned(src.W);
    int image_row = src.row0 + first * src.row_step;
    // The source as a running address, so that a chunk costs a select and an add, not a 64-bit
    // product and scaling (NOTES.md, variant 124). Rows outside the plane are never read from it.
    uintptr_t from = reinterpret_cast<uintptr_t>(src.plane) +
                     (int64_t(image_row) * src.row_stride + col) * int64_t(sizeof(T));
    int64_t const from_step = offset_step * int64_t(sizeof(T));
    T* to = dst + first * pitch + q * kChunkElems;
    for (int r = first; r < row_end; r += s.rows_per_pass) {
      bool const inside = col_inside && unsigned(image_row) < unsigned(src.H);
      // A zero-filled chunk still needs a valid address: the plane's first element.
      T const* const chunk = inside ? reinterpret_cast<T const*>(from) : src.plane;
      cute::copy(Atom{}.with(inside),
                 cute::make_tensor(cute::make_gmem_ptr(chunk), cute::make_layout(cute::Int<kChunkElems>{})),
                 cute::make_tensor(cute::make_smem_ptr(to), cute::make_layout(cute::Int<kChunkElems>{})));
      image_row += image_row_step;
      from += from_step;
      to += s.rows_per_pass * pitch;
    }
  }
}

}  // namespace staging
}  // namespace cute_dwconv
