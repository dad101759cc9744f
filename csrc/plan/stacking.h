// How many planes (or images) of a small output stack down one tile of the window kernels. Shared
// by the NCHW forward, the stride-2 input gradient, the register weight gradient and the
// channels_last tile, which all give each stacked member its own rows of lanes.
#pragma once

#include <algorithm>
#include <cstdint>

namespace cute_dwconv {
namespace plan {

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

}  // namespace plan
}  // namespace cute_dwconv
