// What both channels_last forward launchers (through L1 and staged) ask of a call before planning.
#pragma once

#include <cstdint>

#include "window_params.h"

namespace cute_dwconv {

// The config's stride and width bucket without dilation; x and out with unit channel stride and C a
// multiple of the lane's channels; coordinates that fit an int with a tile (at most 256 outputs each
// way) past the output's edge.
template <class Cfg>
bool channels_last_window_fits(WindowParams const& p) {
  constexpr int64_t kCoordLimit = int64_t(1) << 30;
  if (p.stride_h != Cfg::kStride || p.stride_w != Cfg::kStride || p.dilation_h != 1 || p.dilation_w != 1 ||
      p.kw > Cfg::kKwMax) {
    return false;
  }
  if (p.x_stride_c != 1 || p.out_stride_c != 1 || p.C % Cfg::kChannels != 0) return false;
  auto magnitude = [](int64_t v) { return v < 0 ? -v : v; };
  return p.H < kCoordLimit && p.W < kCoordLimit && magnitude(p.padding_h) < kCoordLimit &&
         magnitude(p.padding_w) < kCoordLimit && (p.Ho + 256) * p.stride_h + p.kh < kCoordLimit &&
         (p.Wo + 256) * p.stride_w + p.kw < kCoordLimit && p.kh * p.kw < kCoordLimit / 64;
}

}  // namespace cute_dwconv
