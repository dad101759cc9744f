#include "device_limits.h"

#include <cuda_runtime_api.h>

#include <mutex>
#include <vector>

namespace cute_dwconv {

DeviceLimits const& device_limits(int device) {
  static std::mutex mutex;
  static std::vector<DeviceLimits> cache;
  static std::vector<bool> known;
  std::lock_guard<std::mutex> lock(mutex);
  if (device >= static_cast<int>(cache.size())) {
    cache.resize(device + 1);
    known.resize(device + 1, false);
  }
  if (!known[device]) {
    DeviceLimits limits{};
    cudaDeviceGetAttribute(&limits.multiprocessors, cudaDevAttrMultiProcessorCount, device);
    cudaDeviceGetAttribute(&limits.smem_per_block_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                           device);
    cache[device] = limits;
    known[device] = true;
  }
  return cache[device];
}

}  // namespace cute_dwconv
