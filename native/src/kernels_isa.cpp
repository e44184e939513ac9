// Builds the kernel tables: the same sources (kernels_pointwise.inc, kernels_attention.inc, kernels_narrow.inc) are
// compiled three times, for the portable scalar path, AVX2+FMA and AVX-512F, each in its own
// namespace. The ISA regions come after every system header so that no shared inline function
// is ever compiled with instructions the CPU might lack.
// (Checked: the only weak symbols this file emits, std::vector<float> internals, are baseline
// x86-64 code; `objdump -d` of kernels_isa.o shows no ymm/zmm in them.)
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

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace avx2 {
#define SFTKIT_VEC 256
#include "kernels_vec.inc"
#include "kernels_pointwise.inc"
#include "kernels_attention.inc"
#include "kernels_narrow.inc"
#undef SFTKIT_VEC
}  // namespace avx2
#pragma GCC pop_options
namespace avx2 {
SFTKIT_KERNEL_TABLE
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma,f16c")
namespace avx512 {
#define SFTKIT_VEC 512
#include "kernels_vec.inc"
#include "kernels_pointwise.inc"
#include "kernels_attention.inc"
#include "kernels_narrow.inc"
#undef SFTKIT_VEC
}  // namespace avx512
#pragma GCC pop_options
namespace avx512 {
SFTKIT_KERNEL_TABLE
}

const KernelTable& active_table() {
  switch (active_isa()) {
    case Isa::Avx512Bf16:
    case Isa::Avx512: return avx512::table();
    case Isa::Avx2: return avx2::table();
    default: return scalar::table();
  }
}

}  // namespace kern
}  // namespace sftkit
