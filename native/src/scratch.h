// A grow-only, 64-byte aligned scratch buffer: one per thread (declare it thread_local) for packed or
// dequantized panels that each kernel call refills, so steady-state calls allocate nothing.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

namespace sftkit {

struct Scratch {
  void* ptr = nullptr;
  size_t bytes = 0;
  /** At least `want` bytes; the previous contents are lost when it grows. */
  void* get(size_t want) {
    if (want > bytes) {
      std::free(ptr);
      bytes = (want + 4095) & ~size_t(4095);
      ptr = std::aligned_alloc(64, bytes);
      if (!ptr) {
        bytes = 0;
        throw std::bad_alloc();
      }
    }
    return ptr;
  }
  ~Scratch() { std::free(ptr); }
};

}  // namespace sftkit
