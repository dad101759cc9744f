// Weights and biases as the kernels read and write them: in their own dtype, which is the
// activations' dtype T or, beside 16-bit activations, float32. Under autocast the parameters stay
// float32 and the kernels read them as such, so that a layer costs no cast of its weight and bias
// forward and none of their gradients backward (profiling/NOTES.md, host path).
#pragma once

#include <cstdint>

#include "kernels/accumulator.h"

namespace cute_dwconv {

template <class T>
constexpr bool kSixteenBit = sizeof(T) == 2;

// Reads element i of a weight or bias in the accumulator type. The dtype test is uniform across a
// launch and sits outside the tap loops of the table's kernels, which keep their weights in registers.
template <class T>
struct ParamReader {
  void const* data;
  bool float32;  // only meaningful beside 16-bit T; otherwise the parameters are T

  __device__ __forceinline__ accumulator_t<T> operator[](int64_t i) const {
    if constexpr (kSixteenBit<T>) {
      if (float32) return static_cast<float const*>(data)[i];
    }
    return static_cast<accumulator_t<T>>(static_cast<T const*>(data)[i]);
  }
  __device__ __forceinline__ explicit operator bool() const { return data != nullptr; }
};

// Calls fn with the parameters' pointer in their own dtype (float const* or T const*): one dtype
// test around a whole unrolled load of taps into registers. A test per tap cost the 16-bit tiled
// kernels up to 34 registers (ptxas, sm_90), and the channels_last ones, which load kVec channels,
// up to 21 with a test per channel.
template <class T, class Fn>
__device__ __forceinline__ void with_param_pointer(ParamReader<T> const& params, Fn&& fn) {
  if constexpr (kSixteenBit<T>) {
    if (params.float32) {
      fn(static_cast<float const*>(params.data));
      return;
    }
  }
  fn(static_cast<T const*>(params.data));
}

// Taps 0..kK-1 of one channel (element first + k * step) into registers.
template <class T, int kK>
__device__ __forceinline__ void load_taps(ParamReader<T> const& weight, int64_t first, int64_t step, float (&taps)[kK]) {
  with_param_pointer(weight, [&](auto const* from) {
#pragma unroll
    for (int k = 0; k < kK; ++k) taps[k] = static_cast<float>(from[first + k * step]);
  });
}

// Writes element i of a weight or bias gradient from the accumulator type.
template <class T>
struct ParamWriter {
  void* data;
  bool float32;

  __device__ __forceinline__ void set(int64_t i, accumulator_t<T> value) const {
    if constexpr (kSixteenBit<T>) {
      if (float32) {
        static_cast<float*>(data)[i] = value;
        return;
      }
    }
    static_cast<T*>(data)[i] = static_cast<T>(value);
  }
  __device__ __forceinline__ explicit operator bool() const { return data != nullptr; }
};

// Bytes per element of a parameter tensor.
template <class T>
constexpr int64_t param_bytes(bool float32) {
  return kSixteenBit<T> && float32 ? 4 : int64_t(sizeof(T));
}

}  // namespace cute_dwconv
