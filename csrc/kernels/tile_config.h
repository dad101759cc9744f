// Compile-time configurations of the strip kernels. Light on purpose: the dispatch unit
// names these types without pulling in CuTe.
#pragma once

#include <cutlass/numeric_types.h>

namespace cute_dwconv {

constexpr int ceil_div_constexpr(int a, int b) { return (a + b - 1) / b; }
constexpr int max_constexpr(int a, int b) { return a > b ? a : b; }

// Plane geometry of the fixed-shape instantiation (H, W and padding known at compile time, x and
// out contiguous). kH == 0 means every extent and stride is read from the call.
template <int kH_ = 0, int kW_ = 0, int kPadding_ = 0>
struct PlaneShape {
  static constexpr int kH = kH_;
  static constexpr int kW = kW_;
  static constexpr int kPadding = kPadding_;
  static constexpr bool kStatic = kH_ > 0;
};
using DynamicPlane = PlaneShape<>;

// K, stride and dilation are compile-time in the dispatch table's entries; 0 (all three) means
// the general instantiation that reads them from the call.
//
// kChannelsLast_ takes channels_last (NHWC) input: a plane is then a whole image and a row
// interleaves its W columns of C channels, so the convolution runs down rows of W*C elements with
// P*C columns of padding, and each output column has its own channel's weights. Stride 1 only.
// Output columns a channels_last tile gives each lane, whatever the element type (see kVec below;
// the dispatch asks channel counts to fill whole lanes).
inline constexpr int kChannelsLastLaneColumns = 4;

template <class T, int kK_, int kStride_, int kDilation_, class Plane_ = DynamicPlane,
          bool kChannelsLast_ = false>
struct FwdTiledConfig {
  static_assert((kK_ > 0) == (kStride_ > 0) && (kK_ > 0) == (kDilation_ > 0),
                "K, stride and dilation are either all fixed or all taken from the call");
  static_assert(!Plane_::kStatic || kK_ > 0, "a fixed plane shape needs fixed taps");
  static_assert(!kChannelsLast_ || (kK_ > 0 && kStride_ == 1 && !Plane_::kStatic),
                "channels_last tiles need fixed taps, stride 1 and a dynamic plane");

  using Element = T;
  using Plane = Plane_;
  static constexpr int kK = kK_;
  static constexpr int kStride = kStride_;
  static constexpr int kDilation = kDilation_;
  static constexpr bool kStaticTaps = kK_ > 0;
  static constexpr bool kChannelsLast = kChannelsLast_;

  static constexpr int kCopyVec = 16 / int(sizeof(T));  // elements in one 16-byte cp.async
  // A lane's output columns: one 16-byte vector, or with channels_last four whatever the element
  // type, for each of them holds its channel's K weights in registers (eight 16-bit columns of
  // K = 21 took all 255 registers; of K = 31 they spilled).
  static constexpr int kVec = kChannelsLast_ ? kChannelsLastLaneColumns : kCopyVec;
  static constexpr int kLanes = 32;                  // a warp spans the strip's columns
  static constexpr int kWarps = 4;                   // warps stack down the rows
  static constexpr int kThreads = kLanes * kWarps;
  static constexpr int kTileW = kLanes * kVec;       // output columns per block strip

  // Output rows each thread accumulates per pipeline step. A stride multiplies the input rows a
  // step stages, so it takes fewer, keeping the ring small enough for six blocks per SM. (Eight
  // rows for long kernels cut shared-memory reads but halved the tiles of small problems: slower.)
  // channels_last 16-bit lanes hold four columns, eight bytes: eight rows keep a step's outputs and
  // staged bytes those of a float32 step (with four, bf16 (7, 1) took as long as float32: 50% of
  // its copy floor; with eight 62%). Not past 11 taps, whose weights already fill the registers
  // (bf16 (21, 1): 33% with four rows, 13% with eight).
  static constexpr bool kEightRows = kChannelsLast_ && sizeof(T) == 2 && kK_ <= 11;
  static constexpr int kRowsPerThread = kStride_ != 1 ? 1 : kEightRows ? 8 : 4;
  static constexpr int kOutRowsPerStep = kWarps * kRowsPerThread;

  // Stages in flight while a step computes: with 2, loads keep about 16 KB per block under way.
  // (Four or eight for channels_last did not move its 16-bit or long windows.)
  static constexpr int kStagesAhead = 2;

  // Ring geometry when the taps are fixed (0 otherwise: the host plans it per call).
  static constexpr int kStageRows = kOutRowsPerStep * kStride_;
  static constexpr int kHaloRows =
      kStaticTaps ? max_constexpr(0, (kK_ - 1) * kDilation_ + 1 - kStride_) : 0;
  static constexpr int kHaloStages = kStaticTaps ? ceil_div_constexpr(kHaloRows, kStageRows) : 0;
  static constexpr int kRingStages = kStaticTaps ? 1 + kHaloStages + kStagesAhead : 0;
};

}  // namespace cute_dwconv

namespace cute_dwconv {

// Compile-time configuration of the horizontal (1, K) tiled kernel: taps along the width. K, the
// column stride and the dilation are fixed in the dispatch table's entries; 0 (all three) means
// the general instantiation that reads them from the call. The row stride is always read from the
// call: it only chooses which rows are staged.
//
// A block's step is kStepRows output rows of one strip of kTileW output columns; each lane of a
// warp owns kVec adjacent columns of kRowsPerThread rows and slides its window of input columns,
// read once from the staged row into registers, across them.
//
// The step pipeline both (1, K) compute forms run over the same ring: four warps of two rows each,
// and no halo rows, so a ring of a step's own stage plus the stages in flight.
struct HorizontalSteps {
  static constexpr int kLanes = 32;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kLanes * kWarps;
  static constexpr int kRowsPerThread = 2;
  static constexpr int kStepRows = kWarps * kRowsPerThread;
  static constexpr int kStagesAhead = 2;
  static constexpr int kRingStages = 1 + kStagesAhead;
};

template <class T, int kK_, int kStride_, int kDilation_>
struct HorizontalConfig : HorizontalSteps {
  static_assert((kK_ > 0) == (kStride_ > 0) && (kK_ > 0) == (kDilation_ > 0),
                "K, stride and dilation are either all fixed or all taken from the call");
  using Element = T;
  static constexpr int kK = kK_;
  static constexpr int kStride = kStride_;
  static constexpr int kDilation = kDilation_;
  static constexpr bool kStaticTaps = kK_ > 0;
  static constexpr bool kTensorCores = false;

  static constexpr int kVec = 16 / int(sizeof(T));
  static constexpr int kTileW = kLanes * kVec;

  // Input columns one lane's window covers, and a strip's.
  static constexpr int kReach = kStaticTaps ? (kK_ - 1) * kDilation_ + 1 : 0;
  static constexpr int kWindow = kStaticTaps ? (kVec - 1) * kStride_ + kReach : 0;
  static constexpr int kSpan = kStaticTaps ? (kTileW - 1) * kStride_ + kReach : 0;

  // Chunks of a staged row for copies of kCopyElems elements: the span, shifted by up to a chunk
  // less one element for a misaligned start, plus the element past the window that 16-bit word
  // reads can touch. Rows are whole 16-byte vectors apart in shared memory, so every lane's window
  // starts at the same alignment.
  static constexpr int chunks(int copy_elems) { return (copy_elems - 1 + kSpan + 1 + copy_elems - 1) / copy_elems; }
  static constexpr int pitch(int copy_elems) { return ceil_div_constexpr(chunks(copy_elems) * copy_elems, kVec) * kVec; }
};

// (1, K) rows of 16-bit inputs at column stride 1 on tensor cores (fwd_horizontal.cuh): each staged
// row is kMTiles blocks of 16 x 8 outputs (A row m: the input under output columns 8m..8m+7), one
// m16n8k16 MMA per block and band step, up to kKSteps steps (a reach of 16 kKSteps - 14 columns
// at the worst offset). K, dilation and the row stride are taken from the call. kSplit: float32
// weights (autocast's) as a 16-bit head and tail, two MMAs a block; without it the lanes hold no
// tail fragments.
template <class T, int kKSteps_, bool kSplit_>
struct HorizontalMmaConfig : HorizontalSteps {
  static_assert(sizeof(T) == 2, "tensor-core rows take 16-bit inputs");
  using Element = T;
  static constexpr int kK = 0;
  static constexpr int kStride = 1;
  static constexpr int kDilation = 0;
  static constexpr bool kStaticTaps = false;
  static constexpr bool kTensorCores = true;
  static constexpr int kKSteps = kKSteps_;
  static constexpr bool kSplit = kSplit_;

  static constexpr int kMTiles = 2;
  static constexpr int kMTileCols = 128;  // 16 A rows of 8 output columns
  static constexpr int kVec = 8;          // staged rows stay whole 16-byte units apart (ldmatrix)
  static constexpr int kTileW = kMTiles * kMTileCols;
  static constexpr int kWindow = 0;
  static constexpr int chunks(int) { return 0; }  // from the call's band depth
  static constexpr int pitch(int) { return 0; }
};

// (K, 1) columns of 16-bit NCHW inputs at stride 1 on tensor cores (fwd_vertical_mma.cuh): a step is
// 16 output rows of a strip of kTileW columns, each warp kNTiles blocks of 16 rows x 8 columns, the
// product of the row band (A: output rows against staged input rows, from the weights) with 16
// staged rows of the block's columns (B, ldmatrix .trans), one m16n8k16 MMA per block and band step,
// up to kKSteps steps (a reach of 16 kKSteps - 15 rows). K and dilation are taken from the call.
// kSplit: float32 weights (autocast's) as a 16-bit head and tail, two MMAs a block.
template <class T, int kKSteps_, bool kSplit_>
struct VerticalMmaConfig {
  static_assert(sizeof(T) == 2, "tensor-core columns take 16-bit inputs");
  using Element = T;
  static constexpr int kKSteps = kKSteps_;
  static constexpr bool kSplit = kSplit_;
  static constexpr int kLanes = 32;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kLanes * kWarps;
  static constexpr int kNTiles = 4;                       // 8-column blocks a warp takes
  static constexpr int kWarpCols = 8 * kNTiles;
  static constexpr int kTileW = kWarps * kWarpCols;       // a strip's columns: 16 copy chunks a row
  static constexpr int kStepRows = 16;                    // output rows a step, input rows a stage
  static constexpr int kStagesAhead = 2;
  // Staged rows 8 elements (16 bytes) longer than the strip, so that the 8 rows of one ldmatrix
  // matrix fall on 8 different 16-byte bank groups.
  static constexpr int kPitch = kTileW + 8;
};

}  // namespace cute_dwconv

namespace cute_dwconv {

// (K, 1) columns of channels_last rows (fwd_channels_last_columns.cuh): a row of an image is W * C
// interleaved channels, so each column has its own channel's taps. A lane owns kVec adjacent
// columns (4 bytes: one float32 channel or two 16-bit ones) and every output row of a step; the four
// warps sit side by side along a strip of kTileW columns (512 bytes a row), so that every staged row a
// step reads sits at a compile-time offset from its stage. The tiles' lanes held 4 columns of 4 rows
// and 168 registers, and spent 5 address instructions a staged row on the ring's wrap: half their
// instructions were not FMAs (profiling/NOTES.md, variant 131).
template <class T, int kK_, int kDilation_>
struct ChannelsLastColumnsConfig {
  using Element = T;
  static constexpr int kK = kK_;
  static constexpr int kDilation = kDilation_;
  static constexpr int kReach = (kK_ - 1) * kDilation_ + 1;
  static constexpr int kLanes = 32;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kLanes * kWarps;
  static constexpr int kVec = 4 / int(sizeof(T));
  static constexpr int kTileW = kThreads * kVec;
  static constexpr int kCopyElems = 16 / int(sizeof(T));
  static constexpr int kStepRows = 16;
  // Input rows a step reads, and the stages they span from the step's own.
  static constexpr int kWindowRows = kStepRows - 1 + kReach;
  static constexpr int kStagesRead = ceil_div_constexpr(kWindowRows, kStepRows);
  static constexpr int kStagesAhead = 2;
  static constexpr int kRingStages = kStagesRead + kStagesAhead;
  static constexpr int kStageElems = kStepRows * kTileW;
};

// The weight gradient of NCHW strips at stride 1 on staged rows (bwd_weight_staged.cuh): K, the
// dilation and the tap axis fixed, so that a lane's (row, tap) products unroll into straight FMAs.
template <class T, int kK, int kDilation, bool kAlongWidth_>
struct StagedGradWeightConfig {
  using Element = T;
  static constexpr bool kAlongWidth = kAlongWidth_;  // (1, K) taps; else (K, 1)
  static constexpr int kTaps = kK;
  static constexpr int kTapDilation = kDilation;
  static constexpr int kReach = (kK - 1) * kDilation;
  static constexpr int kThreads = 256;
  static constexpr int kWarps = kThreads / 32;
  static constexpr int kChunkElems = 16 / int(sizeof(T));  // x staged in 16-byte copies
  // (K, 1): a lane owns a column and runs of 8 grad_out rows, streaming the run's x rows.
  static constexpr int kRunRows = kAlongWidth ? 1 : 8;
  static constexpr int kRunXRows = kRunRows + (kAlongWidth ? 0 : kReach);
  // (1, K): a lane owns 4 adjacent columns of a row and reads the window under them as vectors of
  // 4, starting at most 3 values before its first tap.
  static constexpr int kLaneCols = kAlongWidth ? 4 : 1;
  static constexpr int kWindowVecs = (3 + kLaneCols + kReach + 3) / 4;
  // A strip: 128 bytes of columns for (K, 1) (1 float32 or 2 16-bit warps side by side), 128
  // columns for (1, K) (one warp); the rest of the warps down the rows. Staged rows of fixed
  // pitches, so that every shared load of a lane is an immediate offset from one base: x's one chunk
  // longer for a column padding that is not whole chunks, and (1, K) the window's reach and a vector's
  // overhang longer.
  static constexpr int kColGroups = kAlongWidth ? 1 : 128 / (32 * int(sizeof(T)));
  static constexpr int kStripCols = 32 * kLaneCols * kColGroups;
  static constexpr int kRowGroups = kWarps / kColGroups;
  static constexpr int kXPitch = (kStripCols + (kAlongWidth ? kReach + 16 : 0) + kChunkElems + kChunkElems - 1) /
                                 kChunkElems * kChunkElems;
  static constexpr int kGradPitch = kStripCols;
};

}  // namespace cute_dwconv
