// Builds the kernel tables: the same sources (kernels_pointwise.inc, kernels_attention.inc, kernels_narrow.inc) are
// compiled once per path, each in its own namespace: the portable scalar path everywhere, AVX2+FMA and AVX-512F on
// x86-64 (GCC and clang; `#pragma GCC target` for GCC, `#pragma clang attribute` for clang), NEON on ARM64 (the
// base architecture there, no target switch). The ISA regions come after every system header so that no shared inline
// function is ever compiled with instructions the CPU might lack. (Checked: the only weak symbols this file emits,
// std::vector<float> internals, are baseline x86-64 code; `objdump -d` of kernels_isa.o shows no ymm/zmm in them.)
// cpu.h first: it includes <immintrin.h> with GCC 12's false -Wmaybe-uninitialized reports silenced.
#include "cpu.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

// The table of one ISA namespace: each slot assigned by name from that namespace's function of the same name.
#define SFTKIT_FILL_SLOT(name) t.name = &name;
#define SFTKIT_KERNEL_TABLE                 \
  const KernelTable& table() {              \
    static const KernelTable t = [] {       \
      KernelTable t{};                      \
      SFTKIT_KERNEL_SLOTS(SFTKIT_FILL_SLOT) \
      return t;                             \
    }();                                    \
    return t;                               \
  }

namespace sftkit {
namespace kern {

namespace scalar {
#define SFTKIT_VEC 1
#include "kernels_vec.inc"
#include "kernels_pointwise.inc"
#include "kernels_attention.inc"
#include "kernels_narrow.inc"
#undef SFTKIT_VEC
SFTKIT_KERNEL_TABLE
}  // namespace scalar

#if defined(__x86_64__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
namespace avx2 {
#define SFTKIT_VEC 256
#include "kernels_vec.inc"
#include "kernels_pointwise.inc"
#include "kernels_attention.inc"
#include "kernels_narrow.inc"
#undef SFTKIT_VEC
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
namespace avx2 {
SFTKIT_KERNEL_TABLE
}

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma,f16c")
#endif
namespace avx512 {
#define SFTKIT_VEC 512
#include "kernels_vec.inc"
#include "kernels_pointwise.inc"
#include "kernels_attention.inc"
#include "kernels_narrow.inc"
#undef SFTKIT_VEC
}  // namespace avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
namespace avx512 {
SFTKIT_KERNEL_TABLE
}
#endif

#if defined(__aarch64__)
namespace neon {
#define SFTKIT_VEC 128
#include "kernels_vec.inc"
#include "kernels_pointwise.inc"
#include "kernels_attention.inc"
#include "kernels_narrow.inc"
#undef SFTKIT_VEC
SFTKIT_KERNEL_TABLE
}  // namespace neon
#endif

const KernelTable& active_table() {
  switch (active_isa()) {
#if defined(__x86_64__)
    case Isa::Amx:  // AMX adds tile GEMMs (gemm.cpp); the fused kernels run their AVX-512 code
    case Isa::Avx512Bf16:
    case Isa::Avx512: return avx512::table();
    case Isa::Avx2: return avx2::table();
#endif
#if defined(__aarch64__)
    case Isa::NeonBf16:
    case Isa::Neon: return neon::table();
#endif
    default: return scalar::table();
  }
}

}  // namespace kern
}  // namespace sftkit
