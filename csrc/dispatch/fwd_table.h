// The dispatch table: every (K, stride, dilation) that gets its own compiled tiled kernels, for
// each of float32, float16 and bfloat16 and for both tap axes: (K, 1) kernels (vertical, the stride
// the same along both axes) and (1, K) kernels (horizontal, the stride along the width; the row
// stride is read from the call). The instantiation files and the dispatcher both expand this one
// list, so adding an entry here is the whole change. Calls outside it take the general tiled
// instantiations (run-time taps) or, where those cannot stage the input, the direct kernel.
#pragma once

#include "kernels/tile_config.h"

// X(K, stride, dilation). Dilation 3 at K = 7, 11 and 17: LSKA's dilated pairs (k = 23, 35 and 53),
// which the general tiles ran at a third of dilation 1's speed ((1, 11): 417 against 136 µs on
// 16x64x256x256, H200).
#define CUTE_DWCONV_FWD_TILED_TABLE(X)                                                          \
  X(3, 1, 1) X(5, 1, 1) X(7, 1, 1) X(9, 1, 1) X(11, 1, 1) X(15, 1, 1) X(21, 1, 1) X(31, 1, 1) \
  X(3, 1, 2) X(5, 1, 2) X(7, 1, 2)                                                            \
  X(7, 1, 3) X(11, 1, 3) X(17, 1, 3)                                                          \
  X(3, 2, 1) X(5, 2, 1) X(7, 2, 1)

// X(K, dilation): the channels_last (NHWC) kernels, stride 1: the stride-1 entries above. Each lane
// holds its columns' taps in registers: the column kernel's 4 bytes of columns (bf16 K = 31: 127
// registers), or the older tiles' four columns where the column kernel cannot stage the rows. Others
// take the window family's staged channels_last kernel where it fits, else the direct one.
#define CUTE_DWCONV_FWD_CHANNELS_LAST_TABLE(X)                                        \
  X(3, 1) X(5, 1) X(7, 1) X(9, 1) X(11, 1) X(15, 1) X(21, 1) X(31, 1) X(3, 2) X(5, 2) X(7, 2) \
  X(7, 3) X(11, 3) X(17, 3)

// X(K, dilation): the strips, (K, 1) and (1, K), whose NCHW weight gradient runs on staged rows
// (bwd_weight_staged.cuh), stride 1: the stride-1 entries above. Others take the L1 kernel
// (bwd_weight.cuh).
#define CUTE_DWCONV_BWD_WEIGHT_STAGED_TABLE(X)                                        \
  X(3, 1) X(5, 1) X(7, 1) X(9, 1) X(11, 1) X(15, 1) X(21, 1) X(31, 1) X(3, 2) X(5, 2) X(7, 2) \
  X(7, 3) X(11, 3) X(17, 3)

// X(steps): the tensor-core (1, K) kernels of 16-bit rows, by their deepest band (16-deep steps):
// reaches of up to 18, 50 and 114 columns whatever K, dilation and padding make them.
#define CUTE_DWCONV_HORIZONTAL_MMA_TABLE(X) X(2) X(4) X(8)

// X(steps): the tensor-core (K, 1) kernels of 16-bit columns, by their deepest band (16-row steps):
// reaches of up to 17, 49 and 113 rows whatever K and dilation make them.
#define CUTE_DWCONV_VERTICAL_MMA_TABLE(X) X(2) X(4) X(8)

namespace cute_dwconv {

template <class T, int kK, int kDilation>
using ChannelsLastConfig = FwdTiledConfig<T, kK, 1, kDilation, DynamicPlane, true>;

template <class T>
using GeneralTiledConfig = FwdTiledConfig<T, 0, 0, 0>;

template <class T, int kK, int kStride, int kDilation>
using HorizontalTableConfig = HorizontalConfig<T, kK, kStride, kDilation>;

template <class T>
using HorizontalGeneralConfig = HorizontalConfig<T, 0, 0, 0>;

template <class T, int kSteps, bool kSplit>
using HorizontalMmaTableConfig = HorizontalMmaConfig<T, kSteps, kSplit>;

template <class T, int kSteps, bool kSplit>
using VerticalMmaTableConfig = VerticalMmaConfig<T, kSteps, kSplit>;

// The fixed-shape entry: the headline problem (K=3, stride 1, padding 0, dilation 1 on 512x512
// float32 planes) with every extent and stride known at compile time.
using FixedShapeConfig = FwdTiledConfig<float, 3, 1, 1, PlaneShape<512, 512, 0>>;

}  // namespace cute_dwconv
