#include "device_limits.h"

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

namespace cute_dwconv {
namespace {

// Compute capability 8.6 (GA102: RTX 3090 with 82 multiprocessors; the A10 has 72): 100 KB of
// shared memory per multiprocessor (99 KB per block), 1536 threads, 16 blocks, 64K registers.
DeviceLimits sm86_limits() {
  return DeviceLimits{82, 99 * 1024, 100 * 1024, 1024, 1536, 16, 65536, true};
}

// A query that fails (a device that vanished, say) leaves the limits of the sm_86 stand-in, which
// every supported GPU meets, and no error behind for the next launch check to find.
DeviceLimits read_device(int device) {
  DeviceLimits limits{};
  std::pair<int*, cudaDeviceAttr> const queries[] = {
      {&limits.multiprocessors, cudaDevAttrMultiProcessorCount},
      {&limits.smem_per_block_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin},
      {&limits.smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor},
      {&limits.smem_reserved_per_block, cudaDevAttrReservedSharedMemoryPerBlock},
      {&limits.threads_per_sm, cudaDevAttrMaxThreadsPerMultiProcessor},
      {&limits.blocks_per_sm, cudaDevAttrMaxBlocksPerMultiprocessor},
      {&limits.registers_per_sm, cudaDevAttrMaxRegistersPerMultiprocessor},
  };
  for (auto const& [value, attribute] : queries) {
    if (cudaDeviceGetAttribute(value, attribute, device) != cudaSuccess) {
      cudaGetLastError();
      return sm86_limits();
    }
  }
  limits.emulated = false;
  return limits;
}

bool emulate_sm86() {
  static bool const emulate = [] {
    char const* text = std::getenv("CUTE_DWCONV_DEVICE_LIMITS");
    return text != nullptr && (std::strcmp(text, "sm_86") == 0 || std::strcmp(text, "sm86") == 0);
  }();
  return emulate;
}

}  // namespace

DeviceLimits const& device_limits(int device) {
  // Read on every launch: after the first call per device, one atomic load and no lock.
  static std::once_flag once[kMaxCachedDevices];
  static DeviceLimits cache[kMaxCachedDevices];
  if (device < 0 || device >= kMaxCachedDevices) {
    thread_local DeviceLimits uncached;
    uncached = emulate_sm86() ? sm86_limits() : read_device(device);
    return uncached;
  }
  std::call_once(once[device], [device] { cache[device] = emulate_sm86() ? sm86_limits() : read_device(device); });
  return cache[device];
}

int blocks_per_multiprocessor(DeviceLimits const& limits, int threads, int registers_per_thread, int smem_bytes) {
  int blocks = limits.blocks_per_sm;
  auto at_most = [&](int fit) { blocks = fit < blocks ? fit : blocks; };
  at_most(limits.threads_per_sm / threads);
  // Registers are allocated per warp in units of 256.
  int const warp_registers = (registers_per_thread * 32 + 255) / 256 * 256;
  if (warp_registers > 0) at_most(limits.registers_per_sm / (warp_registers * ((threads + 31) / 32)));
  if (smem_bytes > 0) at_most(limits.smem_per_sm / (smem_bytes + limits.smem_reserved_per_block));
  return blocks < 1 ? 1 : blocks;
}

}  // namespace cute_dwconv
