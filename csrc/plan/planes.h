// Whole small planes staged in shared memory (kernels/window/window_planes.cuh): which calls go
// there, how many planes a block takes and where each staged row sits. Host code only.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace cute_dwconv {
namespace plan {

// NCHW output planes of at most this many pixels go to the whole-plane kernel when auto picks: it
// measured faster than the window tiles on every plane of 28x28 and fewer outputs, slower on
// MSCAN-T's 32x32 (profiling/NOTES.md, variant 98). CUTE_DWCONV_WINDOW_PLANES_MAX_PIXELS overrides
// it for tuning runs (1 turns the kernel off).
inline int64_t window_planes_max_pixels() {
  static int64_t const limit = [] {
    char const* text = std::getenv("CUTE_DWCONV_WINDOW_PLANES_MAX_PIXELS");
    long long const value = text ? std::atoll(text) : 0;
    return value > 0 ? int64_t(value) : int64_t(28 * 28);
  }();
  return limit;
}

// Shared memory a block of the whole-plane kernel may stage into: room for several blocks a
// multiprocessor, whose staging, compute and stores overlap one another's
// (CUTE_DWCONV_WINDOW_PLANES_SMEM_KB overrides it for tuning runs).
inline int64_t window_planes_smem_budget() {
  static int64_t const budget = [] {
    char const* text = std::getenv("CUTE_DWCONV_WINDOW_PLANES_SMEM_KB");
    long long const value = text ? std::atoll(text) : 0;
    return (value > 0 ? int64_t(value) : int64_t(48)) * 1024;
  }();
  return budget;
}

// Whether auto sends a call with Ho x Wo output planes to the whole-plane kernels (forward and
// weight gradient alike).
inline bool prefers_whole_planes(int64_t Ho, int64_t Wo) { return Ho * Wo <= window_planes_max_pixels(); }

// The planes a block stages and their shared-memory layout. A lane's item is (plane, row group,
// column chunk), plane fastest: the lanes of a warp read the same offset in consecutive planes.
struct PlanesLayout {
  int row_groups, chunks;  // items per plane: row_groups * chunks
  int in_rows, in_cols;    // staged rows and columns per plane (every lane's reads, padding included)
  int pitch;               // floats per staged row
  int plane_pitch;         // floats per staged plane, 1 more than a multiple of 32
  int out_pitch;           // output elements per staged output plane
  int block_planes;        // planes a block stages: 1 to 32
  int64_t in_bytes;        // staged input (float32), a multiple of 16
  int64_t taps_bytes;      // the planes' taps (float32), a multiple of 16
  int64_t smem_bytes;      // in_bytes and taps_bytes, then the staged outputs
  // The weight gradient's: grad_out staged as float32 beside x, and the lanes' partial sums in x's
  // place once the products are done.
  int grad_cols, grad_rows;  // grad_out columns and rows per staged plane, the lanes' whole items
  int grad_pitch;            // floats per staged grad_out plane, 1 more than a multiple of 32
  int64_t grad_smem_bytes;   // max(in_bytes, the lanes' partial sums) plus grad_out
};

struct PlanesShape {
  int64_t Ho, Wo, planes;
  int kernel, stride;         // a kernel x kernel window at stride (stride, stride), dilation 1
  int lane_rows, lane_cols;   // outputs per lane
  int element_bytes;
  int threads;                // a block's lanes
  bool weight_gradient;       // plan the weight gradient's shared memory (grad_smem_bytes)
};

// The layout for `block_planes` planes a block. Banks: a warp's lanes read one offset in
// consecutive planes, which a plane pitch of 1 modulo 32 puts on consecutive banks; with fewer than
// 32 planes a block, the next lanes read the next row group, lane_rows * stride * pitch further,
// which a pitch with that distance an odd multiple of block_planes (modulo 32) puts on the banks
// after them.
inline PlanesLayout planes_layout(PlanesShape const& s, int block_planes) {
  PlanesLayout l{};
  l.row_groups = int((s.Ho + s.lane_rows - 1) / s.lane_rows);
  l.chunks = int((s.Wo + s.lane_cols - 1) / s.lane_cols);
  l.in_rows = (l.row_groups * s.lane_rows - 1) * s.stride + s.kernel;
  l.in_cols = (l.chunks * s.lane_cols - 1) * s.stride + s.kernel;
  l.pitch = l.in_cols;
  if (block_planes < 32 && block_planes > 1) {
    int64_t const step = int64_t(s.lane_rows) * s.stride;
    for (int pitch = l.in_cols; pitch < l.in_cols + 32; ++pitch) {
      int64_t const distance = step * pitch;
      if (distance % block_planes == 0 && (distance / block_planes) % 2 == 1) {
        l.pitch = pitch;
        break;
      }
    }
  }
  l.plane_pitch = (l.in_rows * l.pitch + 30) / 32 * 32 + 1;
  // Staged outputs: consecutive planes' lanes write an odd number of words apart.
  int64_t const pixels = s.Ho * s.Wo;
  l.out_pitch = int(s.element_bytes == 4 ? (pixels | 1) : (pixels + 1) / 4 * 4 + 2);
  l.block_planes = block_planes;
  l.in_bytes = (int64_t(block_planes) * l.plane_pitch * 4 + 15) / 16 * 16;
  l.taps_bytes = (int64_t(block_planes) * s.kernel * s.kernel * 4 + 15) / 16 * 16;
  l.smem_bytes = l.in_bytes + l.taps_bytes + (int64_t(block_planes) * l.out_pitch * s.element_bytes + 15) / 16 * 16;
  l.grad_cols = l.chunks * s.lane_cols;
  l.grad_rows = l.row_groups * s.lane_rows;
  l.grad_pitch = (l.grad_rows * l.grad_cols + 30) / 32 * 32 + 1;
  int64_t const partial_bytes = int64_t(s.threads) * (s.kernel * s.kernel + 1) * 4;
  l.grad_smem_bytes = (l.in_bytes > partial_bytes ? l.in_bytes : partial_bytes) +
                      (int64_t(block_planes) * l.grad_pitch * 4 + 15) / 16 * 16;
  return l;
}

// The most planes a block (1 to 32, powers of two) whose staging fits `smem_budget`, that leaves at
// least two blocks per multiprocessor where the planes allow, and at most 8 items a lane; or
// block_planes 0 where one plane does not fit.
inline PlanesLayout plan_planes(PlanesShape const& s, int multiprocessors, int64_t smem_budget) {
  int const threads = s.threads;
  int64_t const items_per_plane =
      ((s.Ho + s.lane_rows - 1) / s.lane_rows) * ((s.Wo + s.lane_cols - 1) / s.lane_cols);
  for (int planes = 32; planes >= 1; planes /= 2) {
    PlanesLayout const l = planes_layout(s, planes);
    bool const fits = (s.weight_gradient ? l.grad_smem_bytes : l.smem_bytes) <= smem_budget;
    bool const enough_blocks =
        (s.planes + planes - 1) / planes >= 2 * int64_t(multiprocessors) || planes * items_per_plane <= threads;
    bool const short_walk = planes * items_per_plane <= 8 * int64_t(threads);
    if (planes == 1) return fits ? l : PlanesLayout{};
    if (fits && enough_blocks && short_walk) return l;
  }
  return PlanesLayout{};
}

}  // namespace plan
}  // namespace cute_dwconv
