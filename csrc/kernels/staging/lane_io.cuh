// A lane's reads of staged rows in shared memory and its stores of outputs to global memory, as wide
// as the alignment allows. Shared by the vertical and horizontal tiled kernels.
#pragma once

#include <cstdint>

#include <cute/tensor.hpp>

namespace cute_dwconv {
namespace staging {

template <class T>
CUTE_DEVICE float element_from_words(uint32_t const* words, int index) {
  if constexpr (sizeof(T) == 4) {
    return __uint_as_float(words[index]);
  } else {
    static_assert(sizeof(T) == 2, "16- or 32-bit elements only");
    uint32_t const word = words[index / 2];
    uint16_t const bits = static_cast<uint16_t>(index % 2 ? word >> 16 : word & 0xffffu);
    return static_cast<float>(T::bitcast(bits));
  }
}

// Reads kN consecutive 32-bit words of shared memory with the widest loads their start allows.
// kAlign is the start's alignment in words, the same for every lane and row of a launch: 4 (16
// bytes), 2 (8 bytes) or 1 (4 bytes: one word first brings it to 8). Two 8-byte loads cost the
// shared-memory pipe what one 16-byte load does, and no realigning selects follow.
template <int kAlign, int kN>
CUTE_DEVICE void load_words(uint32_t const* src, uint32_t (&words)[kN]) {
  constexpr int kHead = kAlign == 1 ? 1 : 0;
  if constexpr (kHead == 1) words[0] = src[0];
  constexpr int kQuads = kAlign == 4 ? (kN - kHead) / 4 : 0;
  CUTE_UNROLL
  for (int q = 0; q < kQuads; ++q) {
    uint4 const v = reinterpret_cast<uint4 const*>(src)[q];
    words[4 * q + 0] = v.x;
    words[4 * q + 1] = v.y;
    words[4 * q + 2] = v.z;
    words[4 * q + 3] = v.w;
  }
  constexpr int kPairs0 = kHead + 4 * kQuads;
  constexpr int kPairs = (kN - kPairs0) / 2;
  CUTE_UNROLL
  for (int i = 0; i < kPairs; ++i) {
    uint2 const v = *reinterpret_cast<uint2 const*>(src + kPairs0 + 2 * i);
    words[kPairs0 + 2 * i + 0] = v.x;
    words[kPairs0 + 2 * i + 1] = v.y;
  }
  if constexpr (kPairs0 + 2 * kPairs < kN) words[kN - 1] = src[kN - 1];
}

// Where a lane's reads start against 16-byte boundaries: the column padding puts every lane's first
// input element `shift` elements past one, the same for every lane, row and strip of a launch.
enum class RowAlignment : int {
  kWords16,  // whole words, 16-byte aligned (no shift)
  kWords8,   // whole words, 8-byte aligned
  kWords4,   // whole words, 4-byte aligned
  kHalfWord, // 16-bit elements at an odd offset: realigned by byte permutes
};

inline RowAlignment row_alignment(int shift_bytes) {
  if (shift_bytes % 4 != 0) return RowAlignment::kHalfWord;
  if (shift_bytes % 16 == 0) return RowAlignment::kWords16;
  return shift_bytes % 8 == 0 ? RowAlignment::kWords8 : RowAlignment::kWords4;
}

template <RowAlignment kAlignment>
constexpr int words_aligned() {
  return kAlignment == RowAlignment::kWords16 ? 4 : kAlignment == RowAlignment::kWords8 ? 2 : 1;
}

// Calls f(std::integral_constant<RowAlignment, A>{}) for the launch's alignment, so that each
// alignment gets its own unrolled reads. 32-bit elements never sit at half-word offsets.
template <class T, class F>
CUTE_DEVICE void with_row_alignment(int alignment, F&& f) {
  using A = RowAlignment;
  switch (A(alignment)) {
    case A::kWords16: f(std::integral_constant<A, A::kWords16>{}); break;
    case A::kWords8: f(std::integral_constant<A, A::kWords8>{}); break;
    case A::kWords4: f(std::integral_constant<A, A::kWords4>{}); break;
    default:
      if constexpr (sizeof(T) == 2) f(std::integral_constant<A, A::kHalfWord>{});
      break;
  }
}

// kN consecutive elements of a staged row from `first` on, as floats. The start's alignment is
// kAlignment; reads reach at most one word past the last element (16-bit elements), which the
// stagers keep inside the row.
template <class T, int kN, RowAlignment kAlignment>
CUTE_DEVICE void load_elements(T const* first, float (&values)[kN]) {
  constexpr int kPerWord = 4 / int(sizeof(T));
  constexpr int kWords = (kN + kPerWord - 1) / kPerWord;
  if constexpr (kAlignment != RowAlignment::kHalfWord) {
    uint32_t words[kWords];
    load_words<words_aligned<kAlignment>()>(reinterpret_cast<uint32_t const*>(first), words);
    CUTE_UNROLL
    for (int i = 0; i < kN; ++i) values[i] = element_from_words<T>(words, i);
  } else {
    static_assert(sizeof(T) == 2, "only 16-bit elements sit at half-word offsets");
    // The word holding the first element, then kWords more, shifted by half a word. That word's
    // alignment depends on the shift, so it is read word by word (this case is rare: 16-bit
    // elements with an odd column padding).
    uint32_t const* const src = reinterpret_cast<uint32_t const*>(first - 1);
    uint32_t words[kWords + 1];
    CUTE_UNROLL
    for (int m = 0; m < kWords + 1; ++m) words[m] = src[m];
    uint32_t aligned[kWords];
    CUTE_UNROLL
    for (int m = 0; m < kWords; ++m) aligned[m] = __byte_perm(words[m], words[m + 1], 0x5432u);
    CUTE_UNROLL
    for (int i = 0; i < kN; ++i) values[i] = element_from_words<T>(aligned, i);
  }
}

// kN consecutive elements of a lane's window from `first` on, as floats, read as the aligned 16-byte
// quads that hold them, `first` being kOffset elements past a 16-byte boundary. With lanes 16 bytes
// apart every shared load of a warp costs four wavefronts whatever its width, so the pairs and
// single words that load_elements reads off a 16-byte boundary cost twice the wavefronts of quads
// (NOTES.md, variant 132), and 16-bit elements at an odd offset need no realigning permutes. The
// quads stay inside the 16-byte chunks that hold the window, which the stagers copy whole.
template <class T, int kN, int kOffset>
CUTE_DEVICE void load_window_at(T const* first, float (&values)[kN]) {
  constexpr int kQuadElems = 16 / int(sizeof(T));
  static_assert(kOffset >= 0 && kOffset < kQuadElems, "an offset past a 16-byte boundary");
  constexpr int kQuads = (kOffset + kN + kQuadElems - 1) / kQuadElems;
  uint4 const* const quads = reinterpret_cast<uint4 const*>(first - kOffset);
  uint32_t q[4 * kQuads];
  CUTE_UNROLL
  for (int i = 0; i < kQuads; ++i) {
    uint4 const v = quads[i];
    q[4 * i + 0] = v.x;
    q[4 * i + 1] = v.y;
    q[4 * i + 2] = v.z;
    q[4 * i + 3] = v.w;
  }
  CUTE_UNROLL
  for (int i = 0; i < kN; ++i) values[i] = element_from_words<T>(q, kOffset + i);
}

// The same for a start known only by its RowAlignment: 8-byte starts lie 2 words past a quad, and
// 4-byte ones 1 or 3 (word_offset), picked by a select per word, so that one unrolled loop serves
// both (the (1, K) strips: ncu of float32 (1, 11) dilation 3, 21.8 M bank conflicts in 42.0 M
// wavefronts with load_elements, MIO throttle the top stall; with quads 0.194 -> 0.149 ms).
template <class T, int kN, RowAlignment kAlignment>
CUTE_DEVICE void load_window(T const* first, int word_offset, float (&values)[kN]) {
  if constexpr (kAlignment == RowAlignment::kWords16 || kAlignment == RowAlignment::kHalfWord) {
    load_elements<T, kN, kAlignment>(first, values);
  } else if constexpr (kAlignment == RowAlignment::kWords8) {
    load_window_at<T, kN, 8 / int(sizeof(T))>(first, values);
  } else {
    constexpr int kPerWord = 4 / int(sizeof(T));
    constexpr int kWords = (kN + kPerWord - 1) / kPerWord;
    // Quads under the window at offset 3; at offset 1 the last may lie past the window's chunks
    // (past the ring, for the last lane of the last row), so it is read only where needed.
    constexpr int kQuads = (kWords + 3 + 3) / 4;
    constexpr int kQuadsAtOne = (kWords + 1 + 3) / 4;
    uint4 const* const quads = reinterpret_cast<uint4 const*>(reinterpret_cast<uint32_t const*>(first) - word_offset);
    uint32_t q[4 * kQuads];
    CUTE_UNROLL
    for (int i = 0; i < kQuads; ++i) {
      uint4 v = make_uint4(0, 0, 0, 0);
      if (i < kQuadsAtOne || word_offset == 3) v = quads[i];
      q[4 * i + 0] = v.x;
      q[4 * i + 1] = v.y;
      q[4 * i + 2] = v.z;
      q[4 * i + 3] = v.w;
    }
    uint32_t words[kWords];
    CUTE_UNROLL
    for (int i = 0; i < kWords; ++i) words[i] = word_offset == 1 ? q[i + 1] : q[i + 3];
    CUTE_UNROLL
    for (int i = 0; i < kN; ++i) values[i] = element_from_words<T>(words, i);
  }
}

// The kVec input values under one lane's kVec output columns: columns shift + (lane*kVec + e)*S of
// a staged row, e < kVec. With a fixed stride the lane reads the S*kVec elements under its outputs
// (16 or 8 bytes a column stride) with aligned loads (see load_words), so shared memory is read
// without bank conflicts whatever the padding; a run-time stride reads element-wise.
template <class T, int kVec, RowAlignment kAlignment, class Stride>
CUTE_DEVICE void gather_lane_inputs(T const* row, int lane, int shift, Stride stride, float (&values)[kVec]) {
  static_assert(kVec * sizeof(T) == 16 || kVec * sizeof(T) == 8, "a lane's columns are 16 or 8 bytes");
  if constexpr (cute::is_static<Stride>::value) {
    constexpr int kS = Stride::value;
    constexpr int kWords = kS * kVec * int(sizeof(T)) / 4;
    int const byte_shift = shift * int(sizeof(T));
    uint32_t const* const lane_words = reinterpret_cast<uint32_t const*>(row) + lane * kWords + byte_shift / 4;
    if constexpr (kAlignment != RowAlignment::kHalfWord) {
      uint32_t words[kWords];
      load_words<words_aligned<kAlignment>()>(lane_words, words);
      CUTE_UNROLL
      for (int e = 0; e < kVec; ++e) values[e] = element_from_words<T>(words, e * kS);
    } else {
      static_assert(sizeof(T) == 2, "only 16-bit elements sit at half-word offsets");
      // One word more than the lane's, read word by word (the start may have any word alignment;
      // this case is rare enough not to earn its own variants), then shifted by half a word.
      uint32_t words[kWords + 1];
      CUTE_UNROLL
      for (int m = 0; m < kWords + 1; ++m) words[m] = lane_words[m];
      uint32_t aligned[kWords];
      CUTE_UNROLL
      for (int m = 0; m < kWords; ++m) aligned[m] = __byte_perm(words[m], words[m + 1], 0x5432u);
      CUTE_UNROLL
      for (int e = 0; e < kVec; ++e) values[e] = element_from_words<T>(aligned, e * kS);
    }
  } else {
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) values[e] = static_cast<float>(row[shift + (lane * kVec + e) * stride]);
  }
}

// Writes one lane's kVec outputs of one row with the widest stores the row's alignment allows: a
// padded width (Wo = 130, say) leaves every other row 8-byte aligned, and 8-byte pairs cost far
// less than element-wise stores, which split each warp's write into four strided ones. `dst` is
// the lane's first column; whole_vector: its kVec columns are all in the row and adjacent.
template <class T, int kVec>
CUTE_DEVICE void store_lane_outputs(T* dst, int64_t col_stride, bool whole_vector, int cols_left,
                                    float const (&acc)[kVec]) {
  constexpr int kBytes = kVec * int(sizeof(T));
  static_assert(kBytes == 16 || kBytes == 8, "a lane's columns are 16 or 8 bytes");
  uintptr_t const address = reinterpret_cast<uintptr_t>(dst);
  if (whole_vector && address % 4 == 0) {
    alignas(16) T packed[kVec];
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) packed[e] = static_cast<T>(acc[e]);
    uint32_t const* const v = reinterpret_cast<uint32_t const*>(packed);
    if (kBytes == 16 && address % 16 == 0) {
      *reinterpret_cast<uint4*>(dst) = make_uint4(v[0], v[1], v[2], v[3]);
    } else if (address % 8 == 0) {
      CUTE_UNROLL
      for (int i = 0; i < kBytes / 8; ++i) reinterpret_cast<uint2*>(dst)[i] = make_uint2(v[2 * i], v[2 * i + 1]);
    } else {
      CUTE_UNROLL
      for (int i = 0; i < kBytes / 4; ++i) reinterpret_cast<uint32_t*>(dst)[i] = v[i];
    }
  } else {
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) {
      if (e < cols_left) dst[e * col_stride] = static_cast<T>(acc[e]);
    }
  }
}

}  // namespace staging
}  // namespace cute_dwconv
