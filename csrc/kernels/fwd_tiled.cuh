// Tiled forward kernel: each block walks a strip of output columns down a segment of output rows
// of one (n, c) plane, or with channels_last of one image. Input rows stream through a shared-memory
// ring with SM80 cp.async (zero-fill predication supplies the padding); each thread keeps a few
// output rows of one 16-byte column vector in registers and stores them with 16-byte writes.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include <cute/tensor.hpp>  // first: the atom headers below rely on what it declares
#include <cute/atom/copy_atom.hpp>
#include <cute/atom/copy_traits_sm80.hpp>

#include "device_limits.h"
#include "dwconv_params.h"
#include "kernels/launch.h"
#include "kernels/tile_config.h"

namespace cute_dwconv {
namespace tiled {

// Host-planned split of the output into block tiles; see launch_fwd_tiled.
struct Geometry {
  int strips;             // strips of kTileW output columns per plane
  int tail_cols;          // output columns past the last strip, computed from global memory by
                          // the last strip's blocks (0: the strips cover the row)
  int segments;           // row segments per strip
  int steps_per_segment;  // pipeline steps (kOutRowsPerStep output rows each) per segment
  int halo_stages;        // stages past a step's own that its input window reaches
  int ring_stages;        // stages the ring holds: 1 + halo_stages + kStagesAhead
  int out_vectorized;     // out rows are 16-byte aligned with unit column stride
  int64_t tiles;          // planes * strips * segments
};

// A compile-time constant where the configuration fixes the value, the call's value otherwise.
template <bool kFixed, int kValue, class Dynamic>
CUTE_HOST_DEVICE constexpr auto fixed_or(Dynamic dynamic_value) {
  if constexpr (kFixed) {
    return cute::Int<kValue>{};
  } else {
    return dynamic_value;
  }
}

// The NCHW value, or with channels_last the value over a row of interleaved channels.
template <bool kChannelsLast, class Nchw>
CUTE_HOST_DEVICE constexpr auto channels_last_or(Nchw nchw, int64_t nhwc) {
  if constexpr (kChannelsLast) {
    return int(nhwc);
  } else {
    return nchw;
  }
}

CUTE_HOST_DEVICE constexpr int floor_div(int a, int b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

CUTE_HOST_DEVICE constexpr int out_extent(int in, int padding, int taps, int stride, int dilation) {
  return (in + 2 * padding - dilation * (taps - 1) - 1) / stride + 1;
}

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

// The kVec input values under one lane's kVec output columns: columns shift + (lane*kVec + e)*S of
// a staged row, e < kVec. With a fixed stride the lane reads its S aligned 16-byte vectors (and the
// vector after them when the start is misaligned), so shared memory is read in conflict-free
// 16-byte accesses whatever the padding; a run-time stride reads element-wise.
template <class T, int kVec, bool kShifted, class Stride>
CUTE_DEVICE void gather_lane_inputs(T const* row, int lane, int shift, Stride stride,
                                    float (&values)[kVec]) {
  if constexpr (cute::is_static<Stride>::value) {
    constexpr int kS = Stride::value;
    constexpr int kWordsPerVec = 4;
    uint32_t words[(kS + 1) * kWordsPerVec];
    uint4 const* vectors = reinterpret_cast<uint4 const*>(row);
    CUTE_UNROLL
    for (int j = 0; j < kS; ++j) {
      uint4 const v = vectors[lane * kS + j];
      words[j * 4 + 0] = v.x;
      words[j * 4 + 1] = v.y;
      words[j * 4 + 2] = v.z;
      words[j * 4 + 3] = v.w;
    }
    if constexpr (!kShifted) {
      CUTE_UNROLL
      for (int e = 0; e < kVec; ++e) values[e] = element_from_words<T>(words, e * kS);
    } else {
      // The vector after this lane's: the next lane's first, or for the last lane the strip's
      // extra vector. A second 16-byte read costs less than shuffles and lane tests.
      uint4 const next = vectors[(lane + 1) * kS];
      words[kS * kWordsPerVec + 0] = next.x;
      words[kS * kWordsPerVec + 1] = next.y;
      words[kS * kWordsPerVec + 2] = next.z;
      words[kS * kWordsPerVec + 3] = next.w;
      // Realign so that element `shift` comes first: shift by whole words in two select steps
      // (shift is uniform across the block, so these are cheap selects), then by half a word.
      int const byte_shift = shift * int(sizeof(T));
      int const word_shift = byte_shift / 4;
      constexpr int kAligned = kS * kWordsPerVec;
      uint32_t by_one[kAligned + 3];
      CUTE_UNROLL
      for (int m = 0; m < kAligned + 3; ++m) by_one[m] = (word_shift & 1) ? words[m + 1] : words[m];
      uint32_t by_two[kAligned + 1];
      CUTE_UNROLL
      for (int m = 0; m < kAligned + 1; ++m) by_two[m] = (word_shift & 2) ? by_one[m + 2] : by_one[m];
      uint32_t aligned[kAligned];
      if constexpr (sizeof(T) == 2) {
        uint32_t const selector = (byte_shift & 2) ? 0x5432u : 0x3210u;
        CUTE_UNROLL
        for (int m = 0; m < kAligned; ++m) aligned[m] = __byte_perm(by_two[m], by_two[m + 1], selector);
      } else {
        CUTE_UNROLL
        for (int m = 0; m < kAligned; ++m) aligned[m] = by_two[m];
      }
      CUTE_UNROLL
      for (int e = 0; e < kVec; ++e) values[e] = element_from_words<T>(aligned, e * kS);
    }
  } else {
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) {
      values[e] = static_cast<float>(row[shift + (lane * kVec + e) * stride]);
    }
  }
}

// Writes one lane's kVec outputs of one row: a 16-byte store where alignment allows.
template <class T, int kVec, class OutPlane>
CUTE_DEVICE void store_lane_outputs(OutPlane& out_plane, int row, int col, int out_width,
                                    bool vectorized, float const (&acc)[kVec]) {
  if (vectorized && col + kVec <= out_width) {
    alignas(16) T packed[kVec];
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) packed[e] = static_cast<T>(acc[e]);
    *reinterpret_cast<uint4*>(&out_plane(row, col)) = *reinterpret_cast<uint4 const*>(packed);
  } else {
    CUTE_UNROLL
    for (int e = 0; e < kVec; ++e) {
      if (col + e < out_width) out_plane(row, col + e) = static_cast<T>(acc[e]);
    }
  }
}

template <class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads)
    fwd_tiled_kernel(FwdParams const p, Geometry const g) {
  using namespace cute;
  using T = typename Cfg::Element;
  using Plane = typename Cfg::Plane;
  constexpr int kVec = Cfg::kVec;
  constexpr int kLanes = Cfg::kLanes;
  constexpr int kWarps = Cfg::kWarps;
  constexpr int kRows = Cfg::kRowsPerThread;
  constexpr int kTileW = Cfg::kTileW;
  constexpr int kOutRowsPerStep = Cfg::kOutRowsPerStep;
  constexpr bool kTaps = Cfg::kStaticTaps;
  constexpr bool kPlane = Plane::kStatic;
  constexpr bool kCL = Cfg::kChannelsLast;

  auto const K = fixed_or<kTaps, Cfg::kK>(int(p.kernel_size));
  auto const S = fixed_or<kTaps, Cfg::kStride>(int(p.stride));
  auto const D = fixed_or<kTaps, Cfg::kDilation>(int(p.dilation));
  auto const P = fixed_or<kPlane, Plane::kPadding>(int(p.padding));
  auto const H = fixed_or<kPlane, Plane::kH>(int(p.H));
  auto const W = fixed_or<kPlane, Plane::kW>(int(p.W));
  constexpr int kHo = kPlane ? out_extent(Plane::kH, Plane::kPadding, Cfg::kK, Cfg::kStride, Cfg::kDilation) : 0;
  constexpr int kWo = kPlane ? out_extent(Plane::kW, Plane::kPadding, 1, Cfg::kStride, 1) : 0;
  auto const Ho = fixed_or<kPlane, kHo>(int(p.Ho));
  auto const Wo = fixed_or<kPlane, kWo>(int(p.Wo));
  // The fixed-shape instantiation is only dispatched for contiguous x and out.
  auto const x_row_stride = fixed_or<kPlane, Plane::kW>(p.x_stride_h);
  auto const out_row_stride = fixed_or<kPlane, kWo>(p.out_stride_h);
  auto const out_col_stride = fixed_or<kPlane || kCL, 1>(p.out_stride_w);
  // Columns of a plane's rows, and the padding columns on each side (see FwdTiledConfig).
  auto const in_cols = channels_last_or<kCL>(W, p.W * p.C);
  auto const out_cols = channels_last_or<kCL>(Wo, p.Wo * p.C);
  auto const P_w = fixed_or<kPlane, Plane::kPadding>(int(p.padding_w));
  auto const col_padding = channels_last_or<kCL>(P_w, p.padding_w * p.C);

  auto const stage_rows = Int<kOutRowsPerStep>{} * S;
  auto const ring_stages = fixed_or<kTaps, Cfg::kRingStages>(g.ring_stages);
  auto const halo_stages = fixed_or<kTaps, Cfg::kHaloStages>(g.halo_stages);
  auto const ring_rows = ring_stages * stage_rows;
  auto const span = Int<kTileW>{} * S;    // input columns under a strip's outputs...
  auto const pitch = span + Int<kVec>{};  // ...plus one vector for a misaligned start

  extern __shared__ __align__(128) unsigned char smem_bytes[];
  Tensor ring = make_tensor(make_smem_ptr(reinterpret_cast<T*>(smem_bytes)),
                            make_layout(make_shape(ring_rows, pitch), make_stride(pitch, Int<1>{})));

  using CopyAtom = Copy_Atom<SM80_CP_ASYNC_CACHEGLOBAL_ZFILL<uint128_t>, T>;
  auto const tiled_copy =
      make_tiled_copy(CopyAtom{}, Layout<Shape<Int<kWarps>, Int<kLanes>>, Stride<Int<kLanes>, _1>>{},
                      Layout<Shape<_1, Int<kVec>>>{});
  auto const thr_copy = tiled_copy.get_thread_slice(threadIdx.x);

  int const warp = threadIdx.x / kLanes;
  int const lane = threadIdx.x % kLanes;
  T const* const x = static_cast<T const*>(p.x);
  T* const out = static_cast<T*>(p.out);
  T const* const weight = static_cast<T const*>(p.weight);
  T const* const bias = static_cast<T const*>(p.bias);

  int64_t const tiles_per_plane = int64_t(g.strips) * g.segments;
  for (int64_t tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
    int64_t const plane = tile / tiles_per_plane;
    int const in_plane = int(tile - plane * tiles_per_plane);
    int const strip = in_plane / g.segments;
    int const segment = in_plane - strip * g.segments;
    int64_t const n = kCL ? plane : plane / p.C;
    int64_t const c = kCL ? 0 : plane - n * p.C;

    int64_t x_offset, out_offset;
    if constexpr (kPlane) {
      x_offset = plane * (int64_t(Plane::kH) * Plane::kW);
      out_offset = plane * (int64_t(kHo) * kWo);
    } else {
      x_offset = n * p.x_stride_n + c * p.x_stride_c;
      out_offset = n * p.out_stride_n + c * p.out_stride_c;
    }
    Tensor x_plane = make_tensor(make_gmem_ptr(x + x_offset),
                                 make_layout(make_shape(H, in_cols), make_stride(x_row_stride, Int<1>{})));
    Tensor out_plane = make_tensor(make_gmem_ptr(out + out_offset),
                                   make_layout(make_shape(Ho, out_cols), make_stride(out_row_stride, out_col_stride)));

    // Output rows of this tile, and the input rows ("window rows", counted from in_row0) they read.
    int const out_row_begin = segment * g.steps_per_segment * kOutRowsPerStep;
    int const out_row_end = min(int(Ho), out_row_begin + g.steps_per_segment * kOutRowsPerStep);
    int const steps = (out_row_end - out_row_begin + kOutRowsPerStep - 1) / kOutRowsPerStep;
    int const in_row0 = out_row_begin * S - P;
    int const rows_needed = (out_row_end - out_row_begin - 1) * S + (K - 1) * D + 1;
    int const last_stage = (rows_needed - 1) / stage_rows;
    int const out_col0 = strip * kTileW;
    int const in_col_first = out_col0 * S - col_padding;
    int const in_col0 = floor_div(in_col_first, kVec) * kVec;  // cp.async needs 16-byte alignment
    int const shift = in_col_first - in_col0;                 // (-col_padding) mod kVec, every strip

    auto load_stage = [&](int stage) {
      int const first = stage * stage_rows;
      int const slot = stage % ring_stages;
      Tensor g_stage = make_tensor(x_plane.data() + (int64_t(in_row0 + first) * x_row_stride + in_col0),
                                   make_layout(make_shape(stage_rows, span), make_stride(x_row_stride, Int<1>{})));
      Tensor s_stage = make_tensor(ring.data() + slot * stage_rows * pitch,
                                   make_layout(make_shape(stage_rows, span), make_stride(pitch, Int<1>{})));
      // Rows and columns outside the image are zero-filled: that is the padding. Rows past what
      // the segment needs are zero-filled too rather than fetched.
      auto in_image = [&](auto coord) {
        int const row = first + int(get<0>(coord));
        int const image_row = in_row0 + row;
        int const image_col = in_col0 + int(get<1>(coord));
        return row < rows_needed && image_row >= 0 && image_row < H && image_col >= 0 && image_col < in_cols;
      };
      Tensor coords = make_identity_tensor(make_shape(stage_rows, span));
      copy_if(tiled_copy, lazy::transform(thr_copy.partition_S(coords), in_image),
              thr_copy.partition_S(g_stage), thr_copy.partition_D(s_stage));
      if (shift != 0) {  // a misaligned start reaches one vector past the span
        for (int r = threadIdx.x; r < int(stage_rows); r += Cfg::kThreads) {
          Tensor g_pad = make_tensor(g_stage.data() + (int64_t(r) * x_row_stride + span), Layout<Int<kVec>>{});
          Tensor s_pad = make_tensor(s_stage.data() + (r * pitch + span), Layout<Int<kVec>>{});
          copy(CopyAtom{}.with(in_image(make_coord(r, int(span)))), g_pad, s_pad);
        }
      }
    };

    // Weights and bias of each of this lane's kVec output columns: one channel for the whole tile,
    // or with channels_last the channel of each column.
    constexpr int kTapRegs = kTaps ? Cfg::kK : 1;
    constexpr int kChannelRegs = kCL ? kVec : 1;
    float w_fixed[kChannelRegs][kTapRegs];
    float bias_value[kChannelRegs];
    CUTE_UNROLL
    for (int e = 0; e < kChannelRegs; ++e) {
      int64_t const channel = kCL ? (out_col0 + lane * kVec + e) % p.C : c;
      if constexpr (kTaps) {
        CUTE_UNROLL
        for (int k = 0; k < Cfg::kK; ++k) {
          w_fixed[e][k] = static_cast<float>(weight[channel * p.w_stride_c + k * p.w_stride_k]);
        }
      }
      bias_value[e] = bias ? static_cast<float>(bias[channel * p.bias_stride]) : 0.0f;
    }

    auto compute_step = [&](int step, auto shifted) {
      constexpr bool kShifted = decltype(shifted)::value;
      int const window0 = (step % ring_stages) * stage_rows + warp * kRows * S;
      auto row_values = [&](int window_row, float (&values)[kVec]) {
        int ring_row = window0 + window_row;
        if (ring_row >= ring_rows) ring_row -= ring_rows;
        gather_lane_inputs<T, kVec, kShifted>(&ring(ring_row, 0), lane, shift, S, values);
      };
      float acc[kRows][kVec];
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        CUTE_UNROLL
        for (int e = 0; e < kVec; ++e) acc[r][e] = bias_value[kCL ? e : 0];
      }
      if constexpr (kTaps) {
        // Each window row is read once and feeds every (row, tap) pair that lands on it.
        constexpr int kWindow = (kRows - 1) * Cfg::kStride + (Cfg::kK - 1) * Cfg::kDilation + 1;
        CUTE_UNROLL
        for (int j = 0; j < kWindow; ++j) {
          float values[kVec];
          row_values(j, values);
          CUTE_UNROLL
          for (int r = 0; r < kRows; ++r) {
            CUTE_UNROLL
            for (int k = 0; k < Cfg::kK; ++k) {
              if (r * Cfg::kStride + k * Cfg::kDilation == j) {
                CUTE_UNROLL
                for (int e = 0; e < kVec; ++e) acc[r][e] = fmaf(w_fixed[kCL ? e : 0][k], values[e], acc[r][e]);
              }
            }
          }
        }
      } else {
        for (int k = 0; k < K; ++k) {
          float const w = static_cast<float>(weight[c * p.w_stride_c + k * p.w_stride_k]);
          CUTE_UNROLL
          for (int r = 0; r < kRows; ++r) {
            float values[kVec];
            row_values(r * S + k * D, values);
            CUTE_UNROLL
            for (int e = 0; e < kVec; ++e) acc[r][e] = fmaf(w, values[e], acc[r][e]);
          }
        }
      }
      int const out_row0 = out_row_begin + step * kOutRowsPerStep + warp * kRows;
      CUTE_UNROLL
      for (int r = 0; r < kRows; ++r) {
        if (out_row0 + r < out_row_end) {
          store_lane_outputs<T, kVec>(out_plane, out_row0 + r, out_col0 + lane * kVec, int(out_cols),
                                      g.out_vectorized != 0, acc[r]);
        }
      }
    };

    // Pipeline: stage s holds window rows [s*stage_rows, (s+1)*stage_rows). Step t reads stages
    // t .. t+halo_stages while stages up to t+halo_stages+kStagesAhead are in flight; one commit
    // group per stage (empty past the last) keeps cp_async_wait's count fixed.
    for (int s = 0; s < halo_stages + Cfg::kStagesAhead; ++s) {
      if (s <= last_stage) load_stage(s);
      cp_async_fence();
    }
    for (int step = 0; step < steps; ++step) {
      int const ahead = step + halo_stages + Cfg::kStagesAhead;
      if (ahead <= last_stage) load_stage(ahead);  // into the slot step-1 has finished with
      cp_async_fence();
      cp_async_wait<Cfg::kStagesAhead>();
      __syncthreads();
      if constexpr (is_static<std::remove_cv_t<decltype(S)>>::value) {
        if (shift == 0) {
          compute_step(step, false_type{});
        } else {
          compute_step(step, true_type{});
        }
      } else {  // element-wise reads handle any shift
        compute_step(step, false_type{});
      }
      __syncthreads();
    }

    // A few columns past the last whole strip (a padded row, Wo = W + 2P, say): summed straight
    // from global memory, where the strip has just brought the rows into L2, instead of by one more
    // strip of blocks that would stage and compute kTileW columns for them.
    if constexpr (!kCL) {
      if (g.tail_cols > 0 && strip == g.strips - 1) {
        int const tail_col0 = g.strips * kTileW;
        int const count = (out_row_end - out_row_begin) * g.tail_cols;
        for (int i = threadIdx.x; i < count; i += Cfg::kThreads) {
          int const r = i / g.tail_cols;
          int const row = out_row_begin + r;
          int const col = tail_col0 + (i - r * g.tail_cols);
          int const in_col = col * S - col_padding;
          float acc = bias_value[0];
          if (in_col >= 0 && in_col < in_cols) {
            for (int k = 0; k < K; ++k) {
              int const in_row = row * S - P + k * D;
              if (in_row >= 0 && in_row < H) {
                float const w = static_cast<float>(weight[c * p.w_stride_c + k * p.w_stride_k]);
                acc = fmaf(w, static_cast<float>(x_plane(in_row, in_col)), acc);
              }
            }
          }
          out_plane(row, col) = static_cast<T>(acc);
        }
      }
    }
  }
}

// How finely rows are split into tiles. Read once; CUTE_DWCONV_TILE_WAVES and
// CUTE_DWCONV_MIN_SEGMENT_STEPS override the defaults for tuning runs.
struct TilingPolicy {
  int waves;              // aim for this many waves of resident blocks
  int min_segment_steps;  // but keep at least this many pipeline steps per tile
};

inline TilingPolicy const& tiling_policy() {
  static TilingPolicy const policy = [] {
    auto read = [](char const* name, int fallback) {
      char const* text = std::getenv(name);
      int const value = text ? std::atoi(text) : 0;
      return value > 0 ? value : fallback;
    };
    return TilingPolicy{read("CUTE_DWCONV_TILE_WAVES", 32), read("CUTE_DWCONV_MIN_SEGMENT_STEPS", 2)};
  }();
  return policy;
}

}  // namespace tiled

template <class Cfg>
LaunchStatus launch_fwd_tiled(FwdParams const& p, cudaStream_t stream) {
  using T = typename Cfg::Element;
  constexpr int kVec = Cfg::kVec;
  constexpr int64_t kCoordLimit = int64_t(1) << 30;  // window and column arithmetic stays in int

  constexpr bool kCL = Cfg::kChannelsLast;
  // The row a tile stages: W columns (NCHW), or W*C interleaved channels (channels_last).
  int64_t const in_cols = kCL ? p.W * p.C : p.W;
  int64_t const out_cols = kCL ? p.Wo * p.C : p.Wo;
  int64_t const planes = kCL ? p.N : p.N * p.C;
  bool const layout_ok = kCL ? p.x_stride_c == 1 && p.x_stride_w == p.C && p.out_stride_c == 1 &&
                                   p.out_stride_w == p.C && p.stride == 1
                             : p.x_stride_w == 1 && p.x_stride_c % kVec == 0;
  bool const aligned_rows = layout_ok && in_cols % kVec == 0 && p.x_stride_h % kVec == 0 &&
                            p.x_stride_n % kVec == 0 && reinterpret_cast<uintptr_t>(p.x) % 16 == 0;
  int64_t const reach = (p.kernel_size - 1) * p.dilation + 1;
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  bool const small_coords = p.H < kCoordLimit && in_cols < kCoordLimit && magnitude(p.padding) < kCoordLimit &&
                            magnitude(p.padding_w) * (kCL ? p.C : 1) < kCoordLimit &&
                            reach < kCoordLimit && (p.Ho + Cfg::kOutRowsPerStep) * p.stride < kCoordLimit &&
                            (out_cols + Cfg::kTileW) * p.stride < kCoordLimit;
  if (!aligned_rows || !small_coords) return LaunchStatus::kUnsupported;

  int const stride = int(p.stride);
  int const stage_rows = Cfg::kOutRowsPerStep * stride;
  int64_t const halo_rows = reach - stride > 0 ? reach - stride : 0;
  int64_t const halo_stages = (halo_rows + stage_rows - 1) / stage_rows;
  int64_t const ring_stages = 1 + halo_stages + Cfg::kStagesAhead;
  int64_t const pitch = int64_t(Cfg::kTileW) * stride + kVec;
  int64_t const smem_bytes = ring_stages * stage_rows * pitch * int64_t(sizeof(T));
  DeviceLimits const& limits = device_limits(p.device);
  if (smem_bytes > limits.smem_per_block_optin) return LaunchStatus::kUnsupported;

  auto* kernel = &tiled::fwd_tiled_kernel<Cfg>;
  if (smem_bytes > 48 * 1024) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_bytes));
  }
  int blocks_per_sm = 1;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel, Cfg::kThreads, int(smem_bytes));
  if (blocks_per_sm < 1) blocks_per_sm = 1;

  tiled::Geometry g{};
  g.strips = int((out_cols + Cfg::kTileW - 1) / Cfg::kTileW);
  // A remainder past the last whole strip is cheaper summed directly than as a strip of its own
  // (which costs as much as a full one), but only while it is a few loads per row: the last
  // strip's blocks do it after their own steps, one dependent load chain per element. Measured:
  // 2 columns x 3 taps (K=3, padding 1) gain 7%; 12 x 13 rows and 20 x 21 lose 14% and 2x.
  constexpr int64_t kTailLoadsPerRow = 8;
  int64_t const whole_strips = out_cols / Cfg::kTileW;
  int64_t const remainder = out_cols - whole_strips * Cfg::kTileW;
  g.tail_cols = 0;
  if (!kCL && whole_strips >= 1 && remainder > 0 && remainder * reach <= kTailLoadsPerRow) {
    g.strips = int(whole_strips);
    g.tail_cols = int(remainder);
  }
  g.halo_stages = int(halo_stages);
  g.ring_stages = int(ring_stages);
  g.out_vectorized = (kCL || (p.out_stride_w == 1 && p.out_stride_c % kVec == 0)) && p.out_stride_h % kVec == 0 &&
                     p.out_stride_n % kVec == 0 && reinterpret_cast<uintptr_t>(p.out) % 16 == 0;
  // Split the rows into segments until there are enough tiles for many waves, so that the blocks
  // still running when the grid drains hold a small share of the run (32 waves measured best on
  // the H100; see profiling/NOTES.md).
  int const steps_total = int((p.Ho + Cfg::kOutRowsPerStep - 1) / Cfg::kOutRowsPerStep);
  int64_t const columns = planes * g.strips;
  tiled::TilingPolicy const& policy = tiled::tiling_policy();
  int64_t const wanted_tiles = int64_t(policy.waves) * blocks_per_sm * limits.multiprocessors;
  int64_t segments = (wanted_tiles + columns - 1) / columns;
  // A segment re-reads the halo rows of the one above it: keep it at least four halos long.
  int64_t const halo_steps = (4 * halo_rows + stage_rows - 1) / stage_rows;
  int64_t const min_steps = halo_steps > policy.min_segment_steps ? halo_steps : policy.min_segment_steps;
  int64_t const max_segments = steps_total >= 2 * min_steps ? steps_total / min_steps : 1;
  segments = segments < 1 ? 1 : (segments > max_segments ? max_segments : segments);
  g.steps_per_segment = int((steps_total + segments - 1) / segments);
  g.segments = (steps_total + g.steps_per_segment - 1) / g.steps_per_segment;
  g.tiles = columns * g.segments;

  int64_t const max_grid = 0x7fffffff;
  dim3 const grid(unsigned(g.tiles < max_grid ? g.tiles : max_grid));
  kernel<<<grid, Cfg::kThreads, size_t(smem_bytes), stream>>>(p, g);
  return LaunchStatus::kLaunched;
}

}  // namespace cute_dwconv
