// A patch of channels_last pixels staged into shared memory: rows x columns of pixels, 64 bytes
// (one chunk of channels) of each, copied with SM80 cp.async in 8- or 16-byte pieces and
// zero-filled outside the image and past the last channel. The channels_last window kernels
// (forward and weight gradient) stage their input, and grad_out, with it.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <utility>

#include <cute/tensor.hpp>
#include <cutlass/fast_math.h>

#include "kernels/staging/row_ring.cuh"

namespace cute_dwconv {
namespace staging {

// Where a patch comes from: pixel (row, col) of the patch is image pixel (row0 + row, col0 + col),
// channels c_block + [0, kChunk) of it.
struct PixelPatchSource {
  int row0, col0;
  int rows_in_image, cols_in_image;  // the image's extent: pixels outside it read as zero
  int64_t stride_h, stride_w;        // elements between rows and between pixels
  int channels_left;                 // C - c_block: channels past it read as zero
};

// Copies rows x cols pixels (cols_divmod divides by cols) of kChunk elements each from `image`
// (pixel (0, 0), channel c_block) into `patch` (pixel (r, c) at r * pitch + c * kChunk), the block's
// kThreads threads taking copies in turn: adjacent threads take adjacent pieces of a pixel, then
// the next pixel, so a warp reads whole sectors.
template <class T, int kChunk, int kCopyBytes, int kThreads>
CUTE_DEVICE void stage_pixel_patch(T const* image, PixelPatchSource const& src, int rows,
                                   cutlass::FastDivmod const& cols_divmod, T* patch, int pitch) {
  using namespace cute;
  constexpr int kCopyElems = kCopyBytes / int(sizeof(T));
  constexpr int kCopiesPerPixel = kChunk / kCopyElems;
  using Atom = StageCopyAtom<T, kCopyBytes>;
  int const copies = rows * cols_divmod.divisor * kCopiesPerPixel;
  for (int q = threadIdx.x; q < copies; q += kThreads) {
    int const c = (q % kCopiesPerPixel) * kCopyElems;
    int row, col;
    cols_divmod(row, col, q / kCopiesPerPixel);
    int const h = src.row0 + row, w = src.col0 + col;
    bool const inside = unsigned(h) < unsigned(src.rows_in_image) && unsigned(w) < unsigned(src.cols_in_image) &&
                        c < src.channels_left;
    // A zero-filled copy still needs a valid address: the chunk's first element of the image.
    int64_t const offset = inside ? int64_t(h) * src.stride_h + int64_t(w) * src.stride_w + c : 0;
    Tensor s = make_tensor(make_gmem_ptr(image + offset), make_layout(Int<kCopyElems>{}));
    Tensor d = make_tensor(make_smem_ptr(patch + row * pitch + col * kChunk + c), make_layout(Int<kCopyElems>{}));
    copy(Atom{}.with(inside), s, d);
  }
}

// Which pixels of a staged row a thread copies: column `col` of every row_step-th row from first_row
// (threads past a whole number of rows copy none). Its column, and so the column's test against the
// image, stay put across rows and tiles: a per-pixel division and test were a sixth of the forward's
// instructions, and the weight gradient's divisions a tile (with those of its transposes) a sixth of
// its own (profiling/NOTES.md, variant 149c).
struct PixelRowLanes {
  int first_row, col, row_step;
};

template <int kThreads>
CUTE_DEVICE PixelRowLanes pixel_row_lanes(int cols) {
  return {int(threadIdx.x) / cols, int(threadIdx.x) % cols, kThreads / cols};
}

// Copies rows x cols pixels of 16 bytes (8 channels) into to[rows][cols] (the channels_last
// tensor-core kernels' staging; stage_pixel_patch above takes 64 bytes a pixel, a division a copy), pixel (r, c) from image
// pixel (row0 + r, col0 + c) of `image` (the block's first channel of pixel (0, 0)), zero outside rows
// [0, rows_in_image) and columns [0, cols_in_image); this thread's share as `lanes` says (cols <=
// kThreads).
template <class T>
CUTE_DEVICE void stage_pixel_rows(T const* image, int64_t stride_h, int64_t stride_w, int row0, int rows_in_image,
                                  int col0, int cols_in_image, int rows, int cols, PixelRowLanes const& lanes, T* to) {
  using namespace cute;
  using Atom = staging::StageCopyAtom<T, 16>;
  constexpr int kElems = 16 / int(sizeof(T));
  if (lanes.first_row >= lanes.row_step) return;
  int h = row0 + lanes.first_row;
  int const w = col0 + lanes.col;
  bool const column_inside = unsigned(w) < unsigned(cols_in_image);
  T const* from = image + (int64_t(h) * stride_h + int64_t(w) * stride_w);
  T* dst = to + (lanes.first_row * cols + lanes.col) * kElems;
  for (int r = lanes.first_row; r < rows; r += lanes.row_step) {
    bool const inside = column_inside && unsigned(h) < unsigned(rows_in_image);
    // A zero-filled copy still needs a valid address: the image's first pixel.
    Tensor src = make_tensor(make_gmem_ptr(inside ? from : image), make_layout(Int<kElems>{}));
    Tensor dst_tensor = make_tensor(make_smem_ptr(dst), make_layout(Int<kElems>{}));
    copy(Atom{}.with(inside), src, dst_tensor);
    h += lanes.row_step;
    from += lanes.row_step * stride_h;
    dst += lanes.row_step * cols * kElems;
  }
}

// The patches of `group` images stacked in one tile (a network's later stages, whose images are much
// shorter than a tile): image n0 + m's at patches + m * patch_elems, with src's rows and columns of
// each, and images past the last (n >= images) as zeros (no rows inside).
template <class T, int kChunk, int kCopyBytes, int kThreads>
CUTE_DEVICE void stage_image_patches(T const* tensor, int64_t stride_n, int n0, int group, int images,
                                     PixelPatchSource src, int rows, cutlass::FastDivmod const& cols_divmod,
                                     T* patches, int patch_elems, int pitch) {
  int const rows_in_image = src.rows_in_image;
  for (int m = 0; m < group; ++m) {
    int const n = n0 + m;
    src.rows_in_image = n < images ? rows_in_image : 0;
    stage_pixel_patch<T, kChunk, kCopyBytes, kThreads>(tensor + int64_t(n < images ? n : 0) * stride_n, src, rows,
                                                       cols_divmod, patches + m * patch_elems, pitch);
  }
}

// The pitch in bytes of a staged row of `cols` 64-byte pixels, padded so that two lanes reading
// rows `row_gap` apart (the two pixel lanes of one shared-memory phase) hit opposite 64-byte halves
// of the banks. row_gap must not be a multiple of 8.
inline int64_t pixel_patch_pitch_bytes(int64_t cols, int row_gap) {
  int64_t pitch = cols * 64;
  while ((pitch / 16 * row_gap) % 8 != 4) pitch += 16;
  return pitch;
}

// The copy width a channels_last patch stages with: 16 bytes where every pixel's pieces of every
// tensor are 16-byte aligned (and C is a whole number of pieces, so that a piece lies wholly inside
// or outside the channels), else 8, else 0 (cannot stage). `strides` are each tensor's n, h and w
// strides in elements, after its data pointer.
template <class T>
int pixel_patch_copy_bytes(int64_t C, std::initializer_list<std::pair<void const*, std::array<int64_t, 3>>> tensors) {
  for (int bytes : {16, 8}) {
    int64_t const elems = bytes / int64_t(sizeof(T));
    bool ok = C % elems == 0;
    for (auto const& [data, strides] : tensors) {
      ok = ok && reinterpret_cast<uintptr_t>(data) % bytes == 0;
      for (int64_t s : strides) ok = ok && s % elems == 0;
    }
    if (ok) return bytes;
  }
  return 0;
}

}  // namespace staging
}  // namespace cute_dwconv
