// A lane's run of adjacent channels of one channels_last pixel: read with one load (global memory
// through L1, or shared memory) and written with one store where the alignment allows. Shared by
// the channels_last window kernels, forward and weight gradient.
#pragma once

#include <cstdint>

#include <cute/config.hpp>

#include "kernels/staging/lane_io.cuh"

namespace cute_dwconv {
namespace window {

enum class RunSource { kGlobal, kShared };

// kN adjacent elements as floats, with one read; the caller guarantees its alignment.
template <class T, int kN, RunSource kSource = RunSource::kGlobal>
CUTE_DEVICE void load_run(T const* src, float (&values)[kN]) {
  constexpr int kBytes = kN * int(sizeof(T));
  constexpr bool kGlobal = kSource == RunSource::kGlobal;
  if constexpr (kBytes == 2) {
    values[0] = static_cast<float>(src[0]);
  } else {
    uint32_t words[kBytes / 4];
    if constexpr (kBytes == 16) {
      auto const* p = reinterpret_cast<uint4 const*>(src);
      uint4 const v = kGlobal ? __ldg(p) : *p;
      words[0] = v.x; words[1] = v.y; words[2] = v.z; words[3] = v.w;
    } else if constexpr (kBytes == 8) {
      auto const* p = reinterpret_cast<uint2 const*>(src);
      uint2 const v = kGlobal ? __ldg(p) : *p;
      words[0] = v.x; words[1] = v.y;
    } else {
      static_assert(kBytes == 4, "2, 4, 8 or 16 bytes");
      auto const* p = reinterpret_cast<unsigned int const*>(src);
      words[0] = kGlobal ? __ldg(p) : *p;
    }
    CUTE_UNROLL
    for (int e = 0; e < kN; ++e) values[e] = staging::element_from_words<T>(words, e);
  }
}

// kN adjacent elements, one store where `vector_store` (dst aligned to the run's bytes), else one
// element at a time.
template <class T, int kN>
CUTE_DEVICE void store_run(T* dst, bool vector_store, float const (&values)[kN]) {
  constexpr int kBytes = kN * int(sizeof(T));
  if (vector_store && (kBytes == 16 || kBytes == 8)) {
    alignas(16) T packed[kN];
    CUTE_UNROLL
    for (int e = 0; e < kN; ++e) packed[e] = static_cast<T>(values[e]);
    if constexpr (kBytes == 16) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<uint4 const*>(packed);
    } else if constexpr (kBytes == 8) {
      *reinterpret_cast<uint2*>(dst) = *reinterpret_cast<uint2 const*>(packed);
    }
  } else {
    CUTE_UNROLL
    for (int e = 0; e < kN; ++e) dst[e] = static_cast<T>(values[e]);
  }
}

}  // namespace window
}  // namespace cute_dwconv
