// Tensor-core pieces shared by the kernels that run a depthwise row as a band (Toeplitz) matrix
// product: out[o0 + n] = sum_k x[o0 + k] * B[k, n], B[k, n] = w[t] where t * dilation = k - delta - n
// (zero elsewhere), in m16n8k16 MMAs with float32 accumulation. A fragments come from the staged
// 16-bit input with ldmatrix, B fragments from the weights, C fragments go to the output as pairs.
#pragma once

#include <cstdint>
#include <type_traits>

#include <cute/tensor.hpp>
#include <cute/arch/mma_sm80.hpp>
#include <cutlass/numeric_types.h>

namespace cute_dwconv {
namespace band_mma {

template <class T>
using Mma = std::conditional_t<std::is_same_v<T, cutlass::bfloat16_t>, cute::SM80_16x8x16_F32BF16BF16F32_TN,
                               cute::SM80_16x8x16_F32F16F16F32_TN>;

// ldmatrix .x4 from a shared-memory address: the four 8 x 8 blocks of a 16 x 16 A fragment, lane i
// giving row i % 16 at column 8 (i / 16) of the block. (CuTe's SM75_U32x4_LDSM_N takes a generic
// reference and converts it at every load: one more LEA per ldmatrix; profiling/NOTES.md, variant 74.)
CUTE_DEVICE void load_a_fragment(uint32_t smem_address, uint32_t (&a)[4]) {
  asm volatile("ldmatrix.sync.aligned.x4.m8n8.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
               : "r"(smem_address));
}

// ldmatrix .x2: the two 8 x 8 blocks of a 16 x 8 half of an A fragment, lane i < 16 giving row i.
// Adjacent 16 x 16 A blocks 8 columns apart share a half: loading halves reads each staged element
// once per window row instead of twice.
CUTE_DEVICE void load_a_half(uint32_t smem_address, uint32_t (&a)[2]) {
  asm volatile("ldmatrix.sync.aligned.x2.m8n8.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(a[0]), "=r"(a[1])
               : "r"(smem_address));
}

// Two 16-bit values as the halves of one B register (the lower k in the low half).
template <class T>
CUTE_DEVICE uint32_t pack_pair(T low, T high) {
  return uint32_t(low.raw()) | (uint32_t(high.raw()) << 16);
}

// The band's entry at `offset` past its diagonal: tap t where t * dilation = offset, zero between
// dilated taps and past the row's. tap(t) gives tap t as float, t in [0, taps).
template <class Tap, class Dilation>
CUTE_DEVICE float band_weight(Tap&& tap, int taps, Dilation const& dilation, int offset) {
  int t, remainder;
  if (offset < 0) return 0.0f;
  dilation(t, remainder, offset);
  return remainder == 0 && t < taps ? tap(t) : 0.0f;
}

// One fragment register of two band entries. float32 weights beside 16-bit inputs go in as a 16-bit
// head and the 16-bit rounding of what the head leaves (tail), two MMAs per block, so that they
// count as they are; 16-bit weights leave the tail zero.
template <class T>
CUTE_DEVICE void split_pair(float w0, float w1, uint32_t& head, uint32_t& tail) {
  T const h0 = static_cast<T>(w0), h1 = static_cast<T>(w1);
  head = pack_pair(h0, h1);
  tail = pack_pair(static_cast<T>(w0 - static_cast<float>(h0)), static_cast<T>(w1 - static_cast<float>(h1)));
}

// A lane's B fragments of band steps [0, kSteps): register h of step s holds B[16 s + 8 h + 2 (lane % 4)
// + {0, 1}, lane / 4]; dilation divides the band offset into a tap.
template <class T, int kSteps, class Tap, class Dilation>
CUTE_DEVICE void band_fragments(Tap&& tap, int taps, Dilation const& dilation, int delta, int lane,
                                uint32_t (&head)[kSteps][2], uint32_t (&tail)[kSteps][2]) {
  int const k0 = 2 * (lane % 4) - delta - lane / 4;
  CUTE_UNROLL
  for (int s = 0; s < kSteps; ++s) {
    CUTE_UNROLL
    for (int h = 0; h < 2; ++h) {
      int const offset = k0 + 16 * s + 8 * h;
      split_pair<T>(band_weight(tap, taps, dilation, offset), band_weight(tap, taps, dilation, offset + 1),
                    head[s][h], tail[s][h]);
    }
  }
}

// The same band as the A operand, for rows of outputs down a column (fwd_vertical_mma.cuh): A[m, k]
// = w[t] where t * dilation = k - m (zero elsewhere), output row m of a 16-row block against staged
// input row k from the block's first. A lane's fragment of band step s: register q holds A[g + 8 (q
// % 2), 16 s + 8 (q / 2) + 2 (lane % 4) + {0, 1}], g = lane / 4.
template <class T, int kSteps, class Tap, class Dilation>
CUTE_DEVICE void row_band_fragments(Tap&& tap, int taps, Dilation const& dilation, int lane,
                                    uint32_t (&head)[kSteps][4], uint32_t (&tail)[kSteps][4]) {
  int const g = lane / 4, k0 = 2 * (lane % 4);
  CUTE_UNROLL
  for (int s = 0; s < kSteps; ++s) {
    CUTE_UNROLL
    for (int q = 0; q < 4; ++q) {
      int const offset = 16 * s + 8 * (q / 2) + k0 - (g + 8 * (q % 2));
      split_pair<T>(band_weight(tap, taps, dilation, offset), band_weight(tap, taps, dilation, offset + 1),
                    head[s][q], tail[s][q]);
    }
  }
}

// ldmatrix .x4 .trans: B fragments of two 8-column n-tiles from staged rows (k along the rows, n along
// each row): lane i gives the address of row i % 16 at column 8 (i / 16); b[0..1] are n-tile 0's
// two registers, b[2..3] n-tile 1's.
CUTE_DEVICE void load_b_fragments_transposed(uint32_t smem_address, uint32_t (&b)[4]) {
  asm volatile("ldmatrix.sync.aligned.x4.trans.m8n8.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3])
               : "r"(smem_address));
}

// acc += A * B for one m16n8k16 block.
template <class T>
CUTE_DEVICE void mma(float (&acc)[4], uint32_t const (&a)[4], uint32_t const (&b)[2]) {
  Mma<T>::fma(acc[0], acc[1], acc[2], acc[3], a[0], a[1], a[2], a[3], b[0], b[1], acc[0], acc[1], acc[2], acc[3]);
}

// Whether every output row (unit column stride) takes stores of `elems` adjacent 16-bit outputs at
// each column multiple of elems: row, channel and image strides multiples of elems and the data
// pointer aligned to elems outputs. Params is FwdParams or WindowParams (host side, per launch).
template <class Params>
inline bool rows_take_stores(Params const& p, int64_t elems) {
  return p.out_stride_w == 1 && p.out_stride_h % elems == 0 && p.out_stride_c % elems == 0 &&
         p.out_stride_n % elems == 0 && reinterpret_cast<uintptr_t>(p.out) % (2 * elems) == 0;
}

// Writes a C fragment's pair of outputs at columns col and col + 1 of an output row: one 32-bit
// store where `pairs` (unit column stride and every pair on a 4-byte boundary), else one element at a
// time; columns at or past `cols` are left alone.
template <class T>
CUTE_DEVICE void store_pair(T* row, int col, int cols, int64_t col_stride, bool pairs, float v0, float v1) {
  T const o0 = static_cast<T>(v0), o1 = static_cast<T>(v1);
  if (pairs) {
    if (unsigned(col) < unsigned(cols - 1)) {
      *reinterpret_cast<uint32_t*>(row + col) = pack_pair(o0, o1);
    } else if (col == cols - 1) {
      row[col] = o0;
    }
  } else {
    if (unsigned(col) < unsigned(cols)) row[int64_t(col) * col_stride] = o0;
    if (unsigned(col + 1) < unsigned(cols)) row[int64_t(col + 1) * col_stride] = o1;
  }
}

}  // namespace band_mma
}  // namespace cute_dwconv
