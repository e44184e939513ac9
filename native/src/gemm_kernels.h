// GEMM micro-kernels: register-tiled MR x NR updates of C from packed panels, one per ISA.
#pragma once
// Included only by gemm.cpp (internal linkage: everything sits in an anonymous namespace).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu.h"
#include "gemm_api.h"

namespace sftkit {
namespace {

// ---- micro-kernels ---------------------------------------------------------------------------
// kernel(kc, A panel, B panel, C, ldc, alpha, add, mr, nr): C[0:mr, 0:nr] (+)= alpha * A·B where the
// panels hold kc depth steps (Pairs: ceil(kc/2) pair steps) of MR rows / NR columns.
using MicroKernel = void (*)(int64_t, const void*, const void*, float*, int64_t, float, bool, int, int);

// Writes an MR x NR tile held in a row-major buffer into C (edges and the portable kernels).
template <int MR, int NR>
inline void store_tile(const float* tile, float* c, int64_t ldc, float alpha, bool add, int mr, int nr) {
  for (int i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    const float* t = tile + i * NR;
    if (add)
      for (int j = 0; j < nr; ++j) row[j] += alpha * t[j];
    else
      for (int j = 0; j < nr; ++j) row[j] = alpha * t[j];
  }
}

constexpr int kScalarMR = 4, kScalarNR = 8;
void kernel_scalar(int64_t kc, const void* ap, const void* bp, float* c, int64_t ldc, float alpha, bool add, int mr,
                   int nr) {
  const float* a = static_cast<const float*>(ap);
  const float* b = static_cast<const float*>(bp);
  float acc[kScalarMR * kScalarNR] = {};
  for (int64_t p = 0; p < kc; ++p, a += kScalarMR, b += kScalarNR)
    for (int i = 0; i < kScalarMR; ++i)
      for (int j = 0; j < kScalarNR; ++j) acc[i * kScalarNR + j] += a[i] * b[j];
  store_tile<kScalarMR, kScalarNR>(acc, c, ldc, alpha, add, mr, nr);
}

#if defined(__x86_64__)
// ---- the register-tile loop shared by the SIMD micro-kernels ------------------------------------------------
// Every SIMD kernel runs the same loop: MR rows x two vectors of accumulators, zeroed; per depth step, two B
// vectors are loaded and each row's A element(s) of the step are broadcast and multiply-added into both. Only the
// instructions differ: they are the overloads below, one line per instruction and vector type (__m256 / __m512
// f32 lanes, __m512bh bf16 k-pairs), and a panel layout P names the types and steps:
//   Elem          panel element type (float, or uint16_t bf16)
//   Acc / Vec     accumulator vector / operand vector (the same type except for bf16 pairs)
//   kAStep        A elements per row per depth step (1, or 2 for a bf16 k-pair)
//   kBVec         B elements per operand vector (the B panel holds 2 vectors per depth step)
//   steps(kc)     depth steps in kc
// The overloads are target-attributed inline functions and the loop a plain inline template; each kernel is
// marked `flatten`, which inlines both into it, so the instructions are emitted under the kernel's own target (an
// always_inline template cannot do this: GCC and clang refuse to inline target-specific code into a function
// compiled for the baseline ISA). Values travel by reference: a vector returned by value from baseline-ISA code
// is an ABI error in clang.
#define SFTKIT_AVX2 __attribute__((target("avx2,fma")))
#define SFTKIT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define SFTKIT_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

SFTKIT_AVX2 inline void vzero(__m256& r) { r = _mm256_setzero_ps(); }
SFTKIT_AVX512 inline void vzero(__m512& r) { r = _mm512_setzero_ps(); }
SFTKIT_AVX2 inline void vload(__m256& r, const float* p) { r = _mm256_loadu_ps(p); }
SFTKIT_AVX512 inline void vload(__m512& r, const float* p) { r = _mm512_loadu_ps(p); }
SFTKIT_AVX512BF16 inline void vload(__m512bh& r, const uint16_t* p) { r = (__m512bh)_mm512_loadu_si512(p); }
SFTKIT_AVX2 inline void vbroadcast(__m256& r, const float* p) { r = _mm256_broadcast_ss(p); }
SFTKIT_AVX512 inline void vbroadcast(__m512& r, const float* p) { r = _mm512_set1_ps(*p); }
// One k-pair of bf16 (the packer wrote 16-bit halves: read the 32-bit pair without type punning) to every lane.
SFTKIT_AVX512BF16 inline void vbroadcast(__m512bh& r, const uint16_t* p) {
  int32_t pair;
  std::memcpy(&pair, p, sizeof pair);
  r = (__m512bh)_mm512_set1_epi32(pair);
}
SFTKIT_AVX2 inline void vmadd(__m256& acc, const __m256& a, const __m256& b) { acc = _mm256_fmadd_ps(a, b, acc); }
SFTKIT_AVX512 inline void vmadd(__m512& acc, const __m512& a, const __m512& b) { acc = _mm512_fmadd_ps(a, b, acc); }
// vdpbf16ps adds a0·b0 + a1·b1 into each f32 lane.
SFTKIT_AVX512BF16 inline void vmadd(__m512& acc, const __m512bh& a, const __m512bh& b) {
  acc = _mm512_dpbf16_ps(acc, a, b);
}

// f32 panels: one float per row per depth step, in __m256 (AVX2) or __m512 (AVX-512) vectors.
struct F32Panels {
  using Elem = float;
  static constexpr int kAStep = 1;
  static int64_t steps(int64_t kc) { return kc; }
};
struct Avx2Panels : F32Panels {
  using Acc = __m256;
  using Vec = __m256;
  static constexpr int kBVec = 8;
};
struct Avx512Panels : F32Panels {
  using Acc = __m512;
  using Vec = __m512;
  static constexpr int kBVec = 16;
};

// bf16 k-pair panels: A holds per k-pair MR rows x (2 bf16) = one 32-bit broadcast per row; B per k-pair 32
// columns x (2 bf16) = two zmm.
struct Bf16PairPanels {
  using Elem = uint16_t;
  using Acc = __m512;
  using Vec = __m512bh;
  static constexpr int kAStep = 2, kBVec = 32;
  static int64_t steps(int64_t kc) { return (kc + 1) / 2; }
};

template <class P, int MR>
inline void accumulate_panels(int64_t kc, const typename P::Elem* a, const typename P::Elem* b,
                              typename P::Acc (&acc)[MR][2]) {
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) vzero(acc[i][0]), vzero(acc[i][1]);
  const int64_t steps = P::steps(kc);
  for (int64_t p = 0; p < steps; ++p, a += P::kAStep * MR, b += 2 * P::kBVec) {
    typename P::Vec b0, b1;
    vload(b0, b);
    vload(b1, b + P::kBVec);
#pragma GCC unroll 14
    for (int i = 0; i < MR; ++i) {
      typename P::Vec ai;
      vbroadcast(ai, a + P::kAStep * i);
      vmadd(acc[i][0], ai, b0);
      vmadd(acc[i][1], ai, b1);
    }
  }
}

constexpr int kAvx2MR = 6, kAvx2NR = 16;
__attribute__((target("avx2,fma"), flatten)) void kernel_avx2(int64_t kc, const void* ap, const void* bp, float* c,
                                                              int64_t ldc, float alpha, bool add, int mr, int nr) {
  __m256 acc[kAvx2MR][2];
  accumulate_panels<Avx2Panels, kAvx2MR>(kc, static_cast<const float*>(ap), static_cast<const float*>(bp), acc);
  const __m256 va = _mm256_set1_ps(alpha);
  if (mr == kAvx2MR && nr == kAvx2NR) {
#pragma GCC unroll 6
    for (int i = 0; i < kAvx2MR; ++i) {
      float* row = c + i * ldc;
      __m256 r0 = _mm256_mul_ps(acc[i][0], va), r1 = _mm256_mul_ps(acc[i][1], va);
      if (add) r0 = _mm256_add_ps(r0, _mm256_loadu_ps(row)), r1 = _mm256_add_ps(r1, _mm256_loadu_ps(row + 8));
      _mm256_storeu_ps(row, r0);
      _mm256_storeu_ps(row + 8, r1);
    }
    return;
  }
  alignas(32) float tile[kAvx2MR * kAvx2NR];
#pragma GCC unroll 6
  for (int i = 0; i < kAvx2MR; ++i) {
    _mm256_store_ps(tile + i * kAvx2NR, acc[i][0]);
    _mm256_store_ps(tile + i * kAvx2NR + 8, acc[i][1]);
  }
  store_tile<kAvx2MR, kAvx2NR>(tile, c, ldc, alpha, add, mr, nr);
}

constexpr int kAvx512MR = 14, kAvx512NR = 32;

// Stores the 14 x 32 accumulator tile with AVX-512 masks for the column edge.
SFTKIT_AVX512 inline void store_avx512(__m512 (&acc)[kAvx512MR][2], float* c, int64_t ldc, float alpha, bool add,
                                       int mr, int nr) {
  const __m512 va = _mm512_set1_ps(alpha);
  const __mmask16 m0 = nr >= 16 ? 0xffff : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : static_cast<__mmask16>((1u << (nr - 16)) - 1);
#pragma GCC unroll 14
  for (int i = 0; i < kAvx512MR; ++i) {
    if (i < mr) {
      float* row = c + i * ldc;
      __m512 r0 = _mm512_mul_ps(acc[i][0], va), r1 = _mm512_mul_ps(acc[i][1], va);
      if (add) {
        r0 = _mm512_add_ps(r0, _mm512_maskz_loadu_ps(m0, row));
        r1 = _mm512_add_ps(r1, _mm512_maskz_loadu_ps(m1, row + 16));
      }
      _mm512_mask_storeu_ps(row, m0, r0);
      _mm512_mask_storeu_ps(row + 16, m1, r1);
    }
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"), flatten)) void kernel_avx512(
    int64_t kc, const void* ap, const void* bp, float* c, int64_t ldc, float alpha, bool add, int mr, int nr) {
  __m512 acc[kAvx512MR][2];
  accumulate_panels<Avx512Panels, kAvx512MR>(kc, static_cast<const float*>(ap), static_cast<const float*>(bp), acc);
  store_avx512(acc, c, ldc, alpha, add, mr, nr);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma"), flatten)) void kernel_avx512bf16(
    int64_t kc, const void* ap, const void* bp, float* c, int64_t ldc, float alpha, bool add, int mr, int nr) {
  __m512 acc[kAvx512MR][2];
  accumulate_panels<Bf16PairPanels, kAvx512MR>(kc, static_cast<const uint16_t*>(ap), static_cast<const uint16_t*>(bp),
                                               acc);
  store_avx512(acc, c, ldc, alpha, add, mr, nr);
}
#undef SFTKIT_AVX2
#undef SFTKIT_AVX512
#undef SFTKIT_AVX512BF16
#endif

}  // namespace
}  // namespace sftkit
