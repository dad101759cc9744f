// The NCHW window tiles' rows of lanes and how many planes (or images) of a small output stack down
// one tile. Shared by the NCHW forward, the stride-2 input gradient, the register weight gradient
// and (the stack alone) the channels_last tile, which all give each stacked member its own rows of
// lanes.
#pragma once

#include <algorithm>
#include <cstdint>

namespace cute_dwconv {
namespace plan {

// Lanes along a row of a tile whose lanes take lane_cols columns each: the narrowest row of lanes
// that covers `cols` (1 to 16, so that narrow planes leave few lanes idle), or 32 lanes, whose
// strips then walk wider rows.
inline int lanes_along_row(int64_t cols, int lane_cols) {
  for (int lanes : {1, 2, 4, 8, 16}) {
    if (int64_t(lanes) * lane_cols >= cols) return lanes;
  }
  return 32;
}

// The base-2 logarithm of a power of two (lanes_along_row's lanes): kernels split a thread index
// by a shift and a mask instead of a run-time division.
inline int log2_exact(int power) {
  int log = 0;
  while ((1 << log) < power) ++log;
  return log;
}

struct PlaneStack {
  int group;             // members a tile: 1, or more where a member is much shorter than a tile
  int member_lane_rows;  // rows of lanes per member (all lane_rows when group is 1)
};

// A tile of lane_rows rows of lanes, each lane rows_per_lane output rows, over `members` planes of
// `rows` output rows each: where one strip covers a plane's width and a plane needs at most half
// the rows of lanes, as many planes as the rows of lanes hold stack (ConvNeXt's 14x14 stage: 8
// planes a tile instead of one in 128 rows). Otherwise, and where only one plane would, one plane
// keeps the whole tile: the unstacked kernels have no idle-lane test.
inline PlaneStack stack_planes(int64_t strips, int lane_rows, int64_t rows, int rows_per_lane, int64_t members) {
  int64_t const plane_lane_rows = std::max<int64_t>(1, (rows + rows_per_lane - 1) / rows_per_lane);
  int64_t const stack = std::min<int64_t>(lane_rows / plane_lane_rows, members);
  if (strips == 1 && 2 * plane_lane_rows <= lane_rows && stack > 1) return {int(stack), int(plane_lane_rows)};
  return {1, lane_rows};
}

// Spaces stacked members' staged rows onto distinct banks: a shared-memory phase (8 lanes of 16
// bytes) spans 8 / lanes_x stacked members, member_rows * pitch_units apart (pitch_units in 16-byte
// units); an odd multiple of lanes_x (stride 1; odd at stride 2) puts them on distinct banks, which
// member_rows odd and pitch_units such a multiple give. Unstacked tiles and rows of 8 or more lanes
// keep their rows as they are.
inline void space_stacked_rows(int group, int lanes_x, int64_t stride_w, int64_t& member_rows,
                               int64_t& pitch_units) {
  if (group == 1 || lanes_x >= 8) return;
  int const residue = stride_w == 1 ? lanes_x : 1;
  member_rows |= 1;
  while (pitch_units % (2 * residue) != residue) ++pitch_units;
}

}  // namespace plan
}  // namespace cute_dwconv
