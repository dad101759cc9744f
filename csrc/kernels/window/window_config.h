// Compile-time configurations of the (Kh, Kw) window kernels. Light on purpose: the dispatch unit
// names these types without pulling in CuTe.
//
// The row count Kh is always read from the call: rows are walked by a loop, and a window row's
// taps come from shared memory (NCHW) or one staged row of weights (channels_last) per step, so
// one instantiation serves every height. The width is a bucket: kKwMax is the widest window row
// the instantiation unrolls into registers, and narrower rows skip the taps past Kw (a uniform
// branch). The stride is fixed (both axes) and the dilation is 1; kKwMax == 0 is the general
// instantiation, which reads every argument from the call and shared memory element by element.
#pragma once

#include <cutlass/numeric_types.h>

namespace cute_dwconv {

// NCHW: a block stages a tile of input rows of one (n, c) plane into shared memory and each lane
// computes kRows output rows of kVec adjacent columns from it.
template <class T, int kKwMax_, int kStride_>
struct WindowTileConfig {
  static_assert((kKwMax_ > 0) == (kStride_ > 0), "bucket and stride are fixed together");
  using Element = T;
  static constexpr int kKwMax = kKwMax_;
  static constexpr int kStride = kStride_;
  static constexpr bool kBucketed = kKwMax_ > 0;

  static constexpr int kThreads = 128;
  // Output columns per lane: 16 bytes, so that the lanes of a row read shared memory in adjacent
  // 16-byte units, free of bank conflicts (32 bytes of float32 per lane measured 21% of the floor on
  // ConvNeXt's 7x7: two-way conflicts within a row and more across the rows a warp spans).
  static constexpr int kVec = 16 / int(sizeof(T));
  // Output rows per lane. A stride doubles the input rows per output row, so it takes fewer.
  static constexpr int kRows = kStride_ == 1 ? 4 : 2;
  // Input columns a lane reads per window row when bucketed.
  static constexpr int kWindow = kBucketed ? (kVec - 1) * kStride_ + kKwMax_ : 0;
};

// NCHW 16-bit windows at stride 1 on tensor cores (see window_mma.cuh): a warp computes 16 output
// rows of kSubtiles * 8 columns with m16n8k16 MMAs, each window row a band matrix of kKSteps
// 16-deep steps (a window of Kw taps needs Kw + 7 + delta <= 16 * kKSteps, delta < 8 the staged
// row's offset); kSplit: float32 weights, a 16-bit head and tail MMA each.
template <class T, int kKSteps_, bool kSplit_>
struct WindowMmaConfig {
  static_assert(sizeof(T) == 2, "tensor-core windows take 16-bit inputs");
  using Element = T;
  static constexpr int kKSteps = kKSteps_;
  static constexpr bool kSplit = kSplit_;
  static constexpr int kWarps = 4;  // stacked down the tile: 64 output rows
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kSubtiles = 8;  // 8-column subtiles per warp
  static constexpr int kTileCols = 8 * kSubtiles;
  static constexpr int kSlides = kSubtiles + 2 * (kKSteps_ - 1);  // 16-column A blocks per window row
  static constexpr int kChunks = kSubtiles + 2 * kKSteps_ - 1;    // staged 16-byte chunks per row
  // A blocks as the 16 x 8 halves neighbours share: half the ldmatrix traffic, 8 more registers, which
  // cost the shallow bands a block an SM (variant 136).
  static constexpr bool kLoadHalves = kKSteps_ > 2;
};

// channels_last 16-bit windows at stride 1 on tensor cores (see window_mma_channels_last.cuh): a
// block transposes 8 channels of a tile of 16 output rows x kTileCols columns into channel planes,
// and warp w runs channel w's plane as the NCHW kernel runs a warp's rows (staged column 0 is the
// first output's window's, so a window of Kw taps needs Kw + 7 <= 16 * kKSteps).
template <class T, int kKSteps_, bool kSplit_>
struct WindowMmaChannelsLastConfig {
  static_assert(sizeof(T) == 2, "tensor-core windows take 16-bit inputs");
  using Element = T;
  static constexpr int kKSteps = kKSteps_;
  static constexpr bool kSplit = kSplit_;
  static constexpr int kChannels = 8;  // 16 bytes of a pixel; a warp each
  static constexpr int kThreads = kChannels * 32;
  static constexpr int kSubtiles = 8;  // 8-column subtiles per warp (4: 0.077 ms against 0.067 on ConvNeXt's 7x7)
  static constexpr int kTileCols = 8 * kSubtiles;
  static constexpr int kSlides = kSubtiles + 2 * (kKSteps_ - 1);  // 16-column A blocks per window row
  static constexpr int kInCols = 8 * kSlides + 8;  // staged pixels per row: every column a block reads
  // Shared memory, not registers, bounds the blocks an SM, and its bandwidth the kernel: every band
  // loads its A blocks as halves.
  static constexpr bool kLoadHalves = true;
};

// channels_last: a lane owns kChannels adjacent channels of kCols adjacent output columns in kRows
// output rows, and reads the input through L1 (adjacent lanes read adjacent channels).
template <class T, int kKwMax_, int kStride_>
struct WindowChannelsLastConfig {
  static_assert(kKwMax_ > 0 && kStride_ > 0, "channels_last windows are bucketed");
  using Element = T;
  static constexpr int kKwMax = kKwMax_;
  static constexpr int kStride = kStride_;

  static constexpr int kThreads = 256;
  static constexpr int kChannels = 4;  // 16 bytes of float32, 8 of 16-bit
  static constexpr int kCols = 4;
  static constexpr int kRows = 2;
  static constexpr int kWindow = (kCols - 1) * kStride_ + kKwMax_;
};

// channels_last with staged input: a block owns one chunk of kChunk channels (64 bytes of each
// pixel) and stages the input pixels under a tile of outputs; a lane owns kChannels adjacent
// channels of kCols adjacent output columns in kRows output rows (see
// window_channels_last_tile.cuh).
template <class T, int kKwMax_, int kStride_>
struct WindowChannelsLastTileConfig {
  static_assert(kKwMax_ > 0 && kStride_ > 0, "channels_last windows are bucketed");
  using Element = T;
  static constexpr int kKwMax = kKwMax_;
  static constexpr int kStride = kStride_;

  static constexpr int kChannels = 4;
  static constexpr int kPixelBytes = 64;  // two 32-byte sectors of each pixel per block
  static constexpr int kChunk = kPixelBytes / int(sizeof(T));  // 16 float32 or 32 16-bit channels
  static constexpr int kQuads = kChunk / kChannels;             // lanes per pixel
  static constexpr int kPixelLanes = 32;
  static constexpr int kThreads = kPixelLanes * kQuads;         // 128 or 256
  // At most 128 registers a lane for the unrolled windows at stride 1: 16 warps per SM (they took
  // 150-166; others spill under the cap, and the strided 7x7 by 200 bytes).
  static constexpr int kMinBlocks = 16 * 32 / kThreads;
  // 8 columns per lane held 162-172 registers at 7 wide (one block of 8 warps per SM, 26% of the FMA
  // pipe: variant 67); 4 columns leave room for more blocks.
  static constexpr int kCols = kStride_ == 1 && kKwMax_ <= 3 ? 8 : 4;
  static constexpr int kRows = 2;
  static constexpr int kWindow = (kCols - 1) * kStride_ + kKwMax_;
  // The launcher pads staged rows so that vertically adjacent lanes, kRows * kStride rows apart, read
  // opposite 64-byte halves of the banks: an odd multiple of 64 bytes must be reachable.
  static_assert((kRows * kStride_) % 8 != 0, "no row padding separates the lanes' banks");
};

// NCHW weight gradient of windows within kK x kK at stride (kStride, kStride) and dilation 1: a lane
// owns kRows output rows of kVec adjacent columns and one register per tap (see
// window_grad_weight_tile.cuh).
template <class T, int kK_, int kStride_>
struct WindowGradWeightTileConfig {
  using Element = T;
  static constexpr int kK = kK_;
  static constexpr int kStride = kStride_;
  static constexpr int kThreads = 128;
  static constexpr int kVec = 16 / int(sizeof(T));  // 16 bytes of grad_out per lane and row
  static constexpr int kRows = kStride_ == 1 ? 4 : 2;  // a stride doubles the input rows per output row
  static constexpr int kWindow = (kVec - 1) * kStride_ + kK_;  // input columns under a lane's outputs
};

// NCHW weight gradient of 16-bit windows at stride 1 and dilation 1 on tensor cores (see
// window_grad_weight_mma.cuh): taps in kTapTiles tiles of 8 (each tile's MMAs take two output rows),
// the staged input rows under a pair of output rows in kRowTiles tiles of 8 (Kh + 1 rows).
template <class T, int kTapTiles_, int kRowTiles_>
struct WindowGradWeightMmaConfig {
  static_assert(sizeof(T) == 2, "tensor-core weight gradients take 16-bit inputs");
  using Element = T;
  static constexpr int kTapTiles = kTapTiles_;
  static constexpr int kRowTiles = kRowTiles_;
  static constexpr int kWarps = 8;
  static constexpr int kThreads = kWarps * 32;
};

// channels_last weight gradient of 16-bit windows at stride 1 and dilation 1 on tensor cores (see
// window_grad_weight_mma_channels_last.cuh): the NCHW kernel's buckets of kTapTiles x kRowTiles, a
// block of 8 channels (16 bytes of a pixel), a warp each.
template <class T, int kTapTiles_, int kRowTiles_>
struct WindowGradWeightMmaChannelsLastConfig {
  static_assert(sizeof(T) == 2, "tensor-core weight gradients take 16-bit inputs");
  using Element = T;
  static constexpr int kTapTiles = kTapTiles_;
  static constexpr int kRowTiles = kRowTiles_;
  static constexpr int kChannels = 8;
  static constexpr int kThreads = 32 * kChannels;
};

// channels_last weight gradient of windows within kK x kK at stride (kStride, kStride) and dilation
// 1: a lane owns kChannels adjacent channels and one register per channel and tap, so wider windows
// take fewer channels (kK^2 * kChannels registers: 36, 50, 49).
template <class T, int kK_, int kStride_>
struct WindowGradWeightChannelsLastConfig {
  using Element = T;
  static constexpr int kK = kK_;
  static constexpr int kStride = kStride_;
  static constexpr int kThreads = 256;
  static constexpr int kChannels = kK_ <= 3 ? 4 : kK_ <= 5 ? 2 : 1;
  static constexpr int kCols = kChannels == 1 ? 8 : 4;  // output columns per run
  static constexpr int kWindow = (kCols - 1) * kStride_ + kK_;  // input pixels under a run
};

// channels_last weight gradient of windows within kK x kK at stride (kStride, kStride) and dilation
// 1 with staged x and grad_out: a block owns one chunk of kChunk channels (64 bytes of each pixel),
// and a lane kChannels channels and all kK x kK sums of them, over items of kCols adjacent grad_out
// pixels (see window_grad_weight_channels_last_tile.cuh).
template <class T, int kK_, int kStride_>
struct WindowGradWeightChannelsLastTileConfig {
  using Element = T;
  static constexpr int kK = kK_;
  static constexpr int kStride = kStride_;
  static constexpr int kChannels = 2;                        // a 4- or 8-byte shared load a pixel
  static constexpr int kChunk = 64 / int(sizeof(T));         // 16 float32 or 32 16-bit channels
  static constexpr int kLanesPerPixel = kChunk / kChannels;
  static constexpr int kThreads = 128;
  static constexpr int kBlocksPerSm = 3;                     // what 166 registers a lane (7x7) allow
  static constexpr int kPixelLanes = kThreads / kLanesPerPixel;
  static constexpr int kCols = kStride_ == 1 ? 8 : 4;        // grad_out pixels an item
  static constexpr int kWindow = (kCols - 1) * kStride_ + kK_;  // input pixels under an item
  // The most a buffer of a tile's patches takes: about what two buffers of kBlocksPerSm blocks leave
  // on sm_90 (the planner gives less where a multiprocessor has less shared memory).
  static constexpr int64_t kBufferBytes = 36 * 1024;
};

// NCHW input gradient at stride 2 of windows within kK x kK (dilation 1), all four phases in one
// pass: a lane owns kRows input rows of kVec adjacent columns, which read kG grad_out columns of
// kGRows grad_out rows (see window_grad_input_phases.cuh).
template <class T, int kK_>
struct WindowGradInputPhasesConfig {
  using Element = T;
  static constexpr int kK = kK_;
  static constexpr int kThreads = 128;
  static constexpr int kVec = 16 / int(sizeof(T));  // 16 bytes of grad_input per lane and row
  static constexpr int kRows = 4;                   // even: every lane's first row has the same parity
  static constexpr int kG = (kVec + kK_ - 1) / 2 + 1;
  static constexpr int kGRows = (kK_ + kRows - 1) / 2 + 1;
};

}  // namespace cute_dwconv
