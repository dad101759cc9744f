// What a launcher needs to know of one kernel on every call, read from the runtime once per device:
// its registers per thread (for the occupancy plan) and its opt-in to more than 48 KB of dynamic
// shared memory. Each is a driver call of several microseconds (cudaFuncGetAttributes took 5.9 µs
// a call under the profiler, 217 calls in one MSCAN-T step: profiling/NOTES.md, host path), and a
// converted network calls its layers thousands of times a step.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <mutex>

#include "device_limits.h"

namespace cute_dwconv {

template <auto Kernel>
class KernelAttributes {
 public:
  // What a launch of Kernel with `smem_bytes` of dynamic shared memory needs: its registers per
  // thread, or 0 when it cannot be launched so (the opt-in or the query failed): then the caller
  // takes another path.
  static int registers_if_launchable(int device, int smem_bytes) {
    return allow_shared_memory(device, smem_bytes) ? registers(device) : 0;
  }

  // Registers per thread of Kernel on `device` (the current device), or 0 when the runtime cannot
  // say (no image for this GPU, say): then the caller takes another path. A failed query leaves no
  // error behind for the next launch check to find.
  static int registers(int device) {
    if (device < 0 || device >= kMaxCachedDevices) return query_registers();
    int known = registers_[device].load(std::memory_order_acquire);
    if (known == 0) {
      known = query_registers();
      registers_[device].store(known, std::memory_order_release);
    }
    return known;
  }

  // Whether Kernel may be launched with `bytes` of dynamic shared memory on `device` (the current
  // device), opting in the first time a size above the default is asked for. The opt-in only
  // grows, under a lock, so a smaller request never undoes a larger one another thread relies on.
  static bool allow_shared_memory(int device, int bytes) {
    if (bytes <= 48 * 1024) return true;
    if (device >= 0 && device < kMaxCachedDevices && granted_[device].load(std::memory_order_acquire) >= bytes) {
      return true;
    }
    static std::mutex mutex;
    std::lock_guard<std::mutex> const lock(mutex);
    bool const cached = device >= 0 && device < kMaxCachedDevices;
    int const granted = cached ? granted_[device].load(std::memory_order_acquire) : 0;
    if (granted >= bytes) return true;
    if (cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    if (cached) granted_[device].store(bytes, std::memory_order_release);
    return true;
  }

 private:
  static int query_registers() {
    cudaFuncAttributes attributes{};
    if (cudaFuncGetAttributes(&attributes, Kernel) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return attributes.numRegs > 0 ? attributes.numRegs : 1;
  }

  static inline std::atomic<int> registers_[kMaxCachedDevices] = {};
  static inline std::atomic<int> granted_[kMaxCachedDevices] = {};
};

}  // namespace cute_dwconv
