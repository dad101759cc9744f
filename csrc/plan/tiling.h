// Host-side planning shared by the tiled kernels: how finely each plane's rows are split into
// tiles. Read once; CUTE_DWCONV_TILE_WAVES, CUTE_DWCONV_HORIZONTAL_WAVES,
// CUTE_DWCONV_HORIZONTAL_MMA_WAVES, CUTE_DWCONV_MIN_SEGMENT_STEPS, CUTE_DWCONV_MIN_SEGMENT_HALOS,
// CUTE_DWCONV_STRIP_ORIGIN, CUTE_DWCONV_WINDOW_WAVES, CUTE_DWCONV_WINDOW_BUFFERS,
// CUTE_DWCONV_WINDOW_MMA_MIN_TAPS, CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_MIN_TAPS,
// CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_CHANNELS_LAST_MIN_TAPS, CUTE_DWCONV_VERTICAL_MMA_MIN_TAPS and
// CUTE_DWCONV_BWD_WEIGHT_STAGED_MIN_TAPS override the defaults for
// tuning runs (profiling/NOTES.md has the sweeps).
#pragma once

#include <cstdint>
#include <cstdlib>

namespace cute_dwconv {
namespace plan {

struct TilingPolicy {
  int waves;              // aim for this many waves of resident blocks
  int horizontal_waves;   // the same for the (1, K) kernels, whose tiles of few steps pay most for their start
  int horizontal_mma_waves;  // and for their tensor-core tiles, which pay more (NOTES.md, variant 116)
  int min_segment_steps;  // but keep at least this many pipeline steps per tile
  int min_segment_halos;  // and at least this many halos of rows (each segment re-reads one)
  int strip_origin;       // 1: strips may start at the first column that reads the image; 2: at 0
  int window_waves;       // NCHW window tiles: a grid of at most this many waves of resident blocks
  int window_buffers;     // NCHW window tiles: 1 or 2 staging buffers; 0 chooses by occupancy
  int window_mma_min_taps;  // 16-bit NCHW windows of at least this many taps run on tensor cores
  int vertical_mma_min_taps;  // 16-bit NCHW (K, 1) strips of at least this many taps run on tensor cores
  int window_grad_weight_mma_min_taps;  // and the weight gradients of 16-bit NCHW windows of this many
  int window_grad_weight_mma_channels_last_min_taps;  // and of channels_last ones
  int bwd_weight_staged_min_taps;  // NCHW strips' weight gradients of this many taps on staged rows
};

inline TilingPolicy const& tiling_policy() {
  static TilingPolicy const policy = [] {
    auto read = [](char const* name, int fallback) {
      char const* text = std::getenv(name);
      int const value = text ? std::atoi(text) : 0;
      return value > 0 ? value : fallback;
    };
    return TilingPolicy{read("CUTE_DWCONV_TILE_WAVES", 64), read("CUTE_DWCONV_HORIZONTAL_WAVES", 8),
                        read("CUTE_DWCONV_HORIZONTAL_MMA_WAVES", 2),
                        read("CUTE_DWCONV_MIN_SEGMENT_STEPS", 2),
                        read("CUTE_DWCONV_MIN_SEGMENT_HALOS", 1), read("CUTE_DWCONV_STRIP_ORIGIN", 1),
                        read("CUTE_DWCONV_WINDOW_WAVES", 64), read("CUTE_DWCONV_WINDOW_BUFFERS", 0),
                        read("CUTE_DWCONV_WINDOW_MMA_MIN_TAPS", 49),
                        read("CUTE_DWCONV_VERTICAL_MMA_MIN_TAPS", 11),
                        read("CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_MIN_TAPS", 49),
                        read("CUTE_DWCONV_WINDOW_GRAD_WEIGHT_MMA_CHANNELS_LAST_MIN_TAPS", 25),
                        read("CUTE_DWCONV_BWD_WEIGHT_STAGED_MIN_TAPS", 1)};
  }();
  return policy;
}

struct RowSegments {
  int steps_per_segment;
  int segments;
};

// Splits each column of tiles (a plane's strip: steps_total pipeline steps) into segments until
// there are enough tiles for `waves` waves of resident blocks, so that the blocks still running
// when the grid drains hold a small share of the run (64 waves measured best on the H100, which
// gives most large problems tiles of the minimum two steps; the (1, K) kernels take 8 since their
// staging got cheap: profiling/NOTES.md, variant 113), keeping at least min_steps steps per segment.
inline RowSegments split_rows(int64_t steps_total, int64_t columns, int64_t resident_blocks, int64_t min_steps,
                              int64_t waves) {
  int64_t const wanted_tiles = waves * resident_blocks;
  int64_t segments = (wanted_tiles + columns - 1) / columns;
  int64_t const max_segments = steps_total >= 2 * min_steps ? steps_total / min_steps : 1;
  segments = segments < 1 ? 1 : (segments > max_segments ? max_segments : segments);
  RowSegments split{};
  split.steps_per_segment = int((steps_total + segments - 1) / segments);
  split.segments = int((steps_total + split.steps_per_segment - 1) / split.steps_per_segment);
  return split;
}

}  // namespace plan
}  // namespace cute_dwconv
