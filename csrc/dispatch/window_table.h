// The window instantiations: widths the kernels unroll into registers (a call takes the narrowest
// bucket at least as wide as its window) for each fixed stride. Any window height runs on each.
// Chosen from the networks that use depthwise windows (profiling/NOTES.md, windows): 3x3 (MSCAN's
// MLP, MobileNet, InceptionNeXt), 5x5 (SegNeXt, RepLKNet's companion), 7x7 (ConvNeXt), 13x13 and
// 31x31 (RepLKNet), 51 (SLaK's 5x51).
#pragma once

#define CUTE_DWCONV_WINDOW_TILE_TABLE(X) \
  X(3, 1) X(5, 1) X(7, 1) X(13, 1) X(31, 1) X(51, 1) X(3, 2) X(5, 2) X(7, 2)

// channels_last reads its window from registers per input row: narrow rows only (the input row's
// kWindow x 4 channels live in registers).
#define CUTE_DWCONV_WINDOW_CHANNELS_LAST_TABLE(X) X(3, 1) X(5, 1) X(7, 1) X(3, 2) X(5, 2) X(7, 2)

// Weight gradients held in registers, one per tap (NCHW and channels_last): windows within K x K at
// stride (S, S) and dilation 1, as (K, S) (the square windows of MSCAN, InceptionNeXt and ConvNeXt,
// MobileNet's strided 3x3, and what fits in them). Larger windows and other strides take the general
// weight gradient.
#define CUTE_DWCONV_WINDOW_GRAD_WEIGHT_TABLE(X) X(3, 1) X(5, 1) X(7, 1) X(3, 2) X(5, 2)

// The NCHW input gradient at stride 2, the four phases in one pass: windows within K x K, dilation 1
// (MobileNet's and EfficientNet's strided 3x3 and 5x5; each bucket is four alignment variants of
// fully unrolled code, so no wider one until a network needs it). Others take a forward launch per
// phase.
#define CUTE_DWCONV_WINDOW_GRAD_INPUT_PHASES_TABLE(X) X(3) X(5)

// The tensor-core windows of 16-bit NCHW inputs at stride 1 (window_mma.cuh), by the depth of their
// band in 16-column steps: a call takes the shallowest at least as deep as (Kw + 7 + delta) / 16
// rounded up, delta < 8 (1 for 3x3 to 9x9, 3 for RepLKNet's 31x31, 5 for SLaK's 5x51). Each runs
// any window height, with 16-bit or float32 weights.
#define CUTE_DWCONV_WINDOW_MMA_TABLE(X) X(1) X(2) X(3) X(5)

// The weight gradients of 16-bit windows at stride 1 on tensor cores, NCHW (window_grad_weight_mma.cuh)
// and channels_last (window_grad_weight_mma_channels_last.cuh), by their tiles of 8 taps and of 8
// staged rows (a pair of output rows reads Kh + 1): a call takes the first bucket that holds Kw taps
// and Kh + 1 rows. 8 x 8 holds 3x3 to 7x7, 16 x 16 13x13, 32 x 32
// RepLKNet's 31x31, 8 x 56 SLaK's 51x5 and 56 x 8 its 5x51.
#define CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_TABLE(X) X(1, 1) X(2, 2) X(4, 4) X(1, 7) X(7, 1)

// The tensor-core windows of channels_last 16-bit inputs at stride 1 (window_mma_channels_last.cuh),
// by band depth: (Kw + 7) / 16 rounded up, 1 for 3x3 to 9x9, 2 to 25 wide. Wider windows keep the
// FP32 tiles (a deeper band's staged pixels, planes and tap pairs of 8 channels outgrow a block's
// shared memory at a 16-row tile).
#define CUTE_DWCONV_WINDOW_MMA_CHANNELS_LAST_TABLE(X) X(1) X(2)
