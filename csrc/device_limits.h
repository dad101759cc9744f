// Per-device properties the launchers size their grids and shared memory from, read once.
#pragma once

namespace cute_dwconv {

struct DeviceLimits {
  int multiprocessors;
  int smem_per_block_optin;  // bytes a block may have after opting in
};

// Cached per device ordinal; safe to call from several host threads.
DeviceLimits const& device_limits(int device);

}  // namespace cute_dwconv
