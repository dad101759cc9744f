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
