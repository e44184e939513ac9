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
constexpr int kAvx2MR = 6, kAvx2NR = 16;
__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const void* ap, const void* bp, float* c, int64_t ldc,
                                                     float alpha, bool add, int mr, int nr) {
  const float* a = static_cast<const float*>(ap);
  const float* b = static_cast<const float*>(bp);
  __m256 acc[kAvx2MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < kAvx2MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, a += kAvx2MR, b += kAvx2NR) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kAvx2MR; ++i) {
      __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
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
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))) inline void store_avx512(__m512 (&acc)[kAvx512MR][2],
                                                                                           float* c, int64_t ldc,
                                                                                           float alpha, bool add,
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

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))) void kernel_avx512(int64_t kc, const void* ap,
                                                                                     const void* bp, float* c,
                                                                                     int64_t ldc, float alpha, bool add,
                                                                                     int mr, int nr) {
  const float* a = static_cast<const float*>(ap);
  const float* b = static_cast<const float*>(bp);
  __m512 acc[kAvx512MR][2];
#pragma GCC unroll 14
  for (int i = 0; i < kAvx512MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, a += kAvx512MR, b += kAvx512NR) {
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 14
    for (int i = 0; i < kAvx512MR; ++i) {
      __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  store_avx512(acc, c, ldc, alpha, add, mr, nr);
}

// A panel: per k-pair, 14 rows x (2 bf16) = one 32-bit broadcast per row; B panel: per k-pair,
// 32 columns x (2 bf16) = two zmm. vdpbf16ps adds a0·b0 + a1·b1 into each f32 lane.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma"))) void kernel_avx512bf16(
    int64_t kc, const void* ap, const void* bp, float* c, int64_t ldc, float alpha, bool add, int mr, int nr) {
  const uint16_t* a = static_cast<const uint16_t*>(ap);
  const uint16_t* b = static_cast<const uint16_t*>(bp);
  __m512 acc[kAvx512MR][2];
#pragma GCC unroll 14
  for (int i = 0; i < kAvx512MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  const int64_t pairs = (kc + 1) / 2;
  for (int64_t p = 0; p < pairs; ++p, a += 2 * kAvx512MR, b += 2 * kAvx512NR) {
    __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 32);
#pragma GCC unroll 14
    for (int i = 0; i < kAvx512MR; ++i) {
      int32_t pair;  // the packer wrote 16-bit halves: read the 32-bit pair without type punning
      std::memcpy(&pair, a + 2 * i, sizeof pair);
      __m512bh ai = (__m512bh)_mm512_set1_epi32(pair);
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
    }
  }
  store_avx512(acc, c, ldc, alpha, add, mr, nr);
}
#endif

}  // namespace
}  // namespace sftkit
