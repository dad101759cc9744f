// channels_last pixels of 8 16-bit channels (16 bytes) turned into 8 NCHW channel planes in shared
// memory, and back. A depthwise window's weights differ by channel, so a channel cannot be a dimension
// of an MMA, and in channels_last a channel's row is not contiguous: the tensor-core kernels for
// channels_last (window_mma_channels_last.cuh, window_grad_weight_mma_channels_last.cuh) stage pixels
// with cp.async (staging::stage_pixel_rows) and transpose them here, so that each warp runs one
// channel's plane through the NCHW kernels' MMA loops.
#pragma once

#include <cstdint>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

namespace cute_dwconv {
namespace window {

// The tiles of a channels_last tensor by image, row tile, strip and chunk of 8 channels, the chunk
// fastest: a grid of a whole number of chunks, stepping by its size, keeps each block on one chunk.
struct PixelTileWalk {
  int64_t tiles;
  cutlass::FastDivmod chunks;     // tile -> (pixel tile, chunk)
  cutlass::FastDivmod strips;     // pixel tile -> (n * row tiles + row tile, strip)
  cutlass::FastDivmod row_tiles;  // -> (n, row tile)
};

// The walk over N images of row_tiles x strips tiles and `chunks` chunks; false where a tile's index
// would not fit an int.
inline bool plan_pixel_tile_walk(int64_t N, int64_t row_tiles, int64_t strips, int64_t chunks, PixelTileWalk& walk) {
  constexpr int64_t kIndexLimit = int64_t(1) << 31;
  walk.tiles = N * row_tiles * strips * chunks;
  if (N * row_tiles * strips >= kIndexLimit || walk.tiles >= kIndexLimit) return false;
  walk.chunks = cutlass::FastDivmod(int(chunks));
  walk.strips = cutlass::FastDivmod(int(strips));
  walk.row_tiles = cutlass::FastDivmod(int(row_tiles));
  return true;
}

// Where tile `tile` of the walk starts: its image and first output row and column.
struct PixelTile {
  int n, out_row0, out_col0;
};

CUTE_DEVICE PixelTile pixel_tile(PixelTileWalk const& walk, int64_t tile, int tile_rows, int tile_cols) {
  int pixel_tile_index, chunk, image_row_tile, strip, n, row_tile;
  walk.chunks(pixel_tile_index, chunk, int(tile));
  walk.strips(image_row_tile, strip, pixel_tile_index);
  walk.row_tiles(n, row_tile, image_row_tile);
  return PixelTile{n, row_tile * tile_rows, strip * tile_cols};
}

// ldmatrix .x4 .trans: four 8 x 8 blocks of 16-bit values, lane i giving the address of row i % 8 of
// block i / 8; register m of lane i holds elements 2 (i % 4) and the next of block m's column i / 4,
// that is, rows 2 (i % 4) and 2 (i % 4) + 1 of it.
CUTE_DEVICE void load_transposed(uint32_t smem_address, uint32_t (&v)[4]) {
  asm volatile("ldmatrix.sync.aligned.x4.trans.m8n8.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v[0]), "=r"(v[1]), "=r"(v[2]), "=r"(v[3])
               : "r"(smem_address));
}

// Staged pixels [rows][8 blocks][8 channels] of 16-bit values (at pixels_address) to the 8 channels'
// planes: channel ch's row r at planes + ch * plane_words + r * row_words (words), 4 words of pixel
// pairs a block. Block m of a load is the 8 pixels from column 8 b of row 4 q + m, and lane i gets channel
// i / 4 of pixels 2 (i % 4) and the next (rows past the last repeat it and are not stored). The
// block's kWarps warps take (q, b) in turn. plane_words = 4 x an odd number keeps the stores of the 8
// channels on 32 banks.
template <int kWarps>
CUTE_DEVICE void pixels_to_planes(uint32_t pixels_address, int rows, int blocks, uint32_t* planes, int plane_words,
                                  int row_words, int warp, int lane) {
  // Items (quad, b) in turn, stepped without a division (blocks is known only at run time).
  int quad = 0, b = warp;
  while (b >= blocks) b -= blocks, ++quad;
  while (4 * quad < rows) {
    int const row = min(4 * quad + lane / 8, rows - 1);
    uint32_t v[4];
    load_transposed(pixels_address + uint32_t((row * blocks * 8 + b * 8 + lane % 8) * 16), v);
    uint32_t* const to = planes + (lane / 4) * plane_words + 4 * quad * row_words + b * 4 + lane % 4;
    CUTE_UNROLL
    for (int m = 0; m < 4; ++m) {
      if (4 * quad + m < rows) to[m * row_words] = v[m];
    }
    for (b += kWarps; b >= blocks; b -= blocks) ++quad;
  }
}

}  // namespace window
}  // namespace cute_dwconv
