// Per-device properties the launchers plan from (grids, shared-memory rings, occupancy), read once.
#pragma once

namespace cute_dwconv {

// Device ordinals below this have their limits and kernel attributes cached (read once); others
// are read on every call.
constexpr int kMaxCachedDevices = 64;

struct DeviceLimits {
  int multiprocessors;
  int smem_per_block_optin;  // bytes a block may have after opting in
  int smem_per_sm;           // bytes of shared memory per multiprocessor
  int smem_reserved_per_block;  // bytes the runtime keeps per resident block
  int threads_per_sm;
  int blocks_per_sm;
  int registers_per_sm;
  bool emulated;             // the limits of another architecture (see device_limits)
};

// Cached per device ordinal; safe to call from several host threads. CUTE_DWCONV_DEVICE_LIMITS=sm_86,
// read once, replaces the device's limits with those of a compute capability 8.6 GPU with 82
// multiprocessors (an RTX 3090), so that the plans such a GPU takes can be run and checked on
// another one.
DeviceLimits const& device_limits(int device);

// Blocks of `threads` threads using `registers_per_thread` registers and `smem_bytes` of shared
// memory that fit on one multiprocessor under `limits` (at least 1).
int blocks_per_multiprocessor(DeviceLimits const& limits, int threads, int registers_per_thread, int smem_bytes);

}  // namespace cute_dwconv
