// GEMM with at most 4 rows and a transposed B (x·Wᵀ while decoding): dot products, no packing.
#pragma once
// Included only by gemm.cpp (internal linkage: everything sits in an anonymous namespace).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu.h"
#include "gemm_api.h"
#include "gemm_kernels_neon.h"
#include "gemm_pack.h"
#include "threadpool.h"

namespace sftkit {
namespace {

// ---- few rows of x·Wᵀ (decoding): dot products straight from W, no packing -----------------------
// With m <= 4 every element of W is used at most 4 times, so copying W into panels costs as much as
// the product itself; dot products over W's contiguous rows read it once.

constexpr int64_t kDotRowsMax = 4;

float dot_scalar(const float* x, const float* w, int64_t k) {
  float s = 0;
  for (int64_t p = 0; p < k; ++p) s += x[p] * w[p];
  return s;
}
float dot_scalar(const float* x, const uint16_t* w, int64_t k) {
  float s = 0;
  for (int64_t p = 0; p < k; ++p) s += x[p] * bf16_to_f32(w[p]);
  return s;
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))) inline __m512 widen_bf16_avx512(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
template <typename W>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))) inline __m512 load16_avx512(const W* w,
                                                                                              __mmask16 mask) {
  if constexpr (std::is_same_v<W, float>)
    return _mm512_maskz_loadu_ps(mask, w);
  else
    return widen_bf16_avx512(_mm256_maskz_loadu_epi16(mask, w));
}
template <typename W>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))) float dot_avx512(const float* x, const W* w,
                                                                                   int64_t k) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 64 <= k; p += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + p), load16_avx512(w + p, 0xffff), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + p + 16), load16_avx512(w + p + 16, 0xffff), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + p + 32), load16_avx512(w + p + 32, 0xffff), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + p + 48), load16_avx512(w + p + 48, 0xffff), s3);
  }
  for (; p < k; p += 16) {
    const __mmask16 mask = k - p >= 16 ? 0xffff : static_cast<__mmask16>((1u << (k - p)) - 1);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, x + p), load16_avx512(w + p, mask), s0);
  }
  // Horizontal sum without _mm512_reduce_add_ps (its GCC 12 expansion trips -Wuninitialized).
  __m512 s = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
  s = _mm512_add_ps(s, _mm512_shuffle_f32x4(s, s, 0xee));
  __m128 h = _mm_add_ps(_mm512_castps512_ps128(s), _mm512_castps512_ps128(_mm512_shuffle_f32x4(s, s, 0x55)));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

template <typename W>
__attribute__((target("avx2,fma"))) inline __m256 load8_avx2(const W* w) {
  if constexpr (std::is_same_v<W, float>)
    return _mm256_loadu_ps(w);
  else
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w))), 16));
}
template <typename W>
__attribute__((target("avx2,fma"))) float dot_avx2(const float* x, const W* w, int64_t k) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 32 <= k; p += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), load8_avx2(w + p), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 8), load8_avx2(w + p + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 16), load8_avx2(w + p + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p + 24), load8_avx2(w + p + 24), s3);
  }
  for (; p + 8 <= k; p += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), load8_avx2(w + p), s0);
  __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h) + dot_scalar(x + p, w + p, k - p);
}
#endif

template <typename W>
float dot(Isa isa, const float* x, const W* w, int64_t k) {
#if defined(__x86_64__)
  if (isa >= Isa::Avx512) return dot_avx512(x, w, k);
  if (isa >= Isa::Avx2) return dot_avx2(x, w, k);
#elif defined(__aarch64__)
  if (isa >= Isa::Neon) return dot_neon(x, w, k);
#endif
  return dot_scalar(x, w, k);
}

thread_local Scratch tls_rows_buffer;

// C[i, j] (+)= alpha · op(A)[i, :] · W[j, :] for m <= kDotRowsMax, W = B stored [n, k] (trans_b).
// op(A) rows are first copied to f32 (rounded to bf16 for bf16 compute); W must be bf16 or exact f32.
void gemm_few_rows(const GemmDesc& d, const void* a, const void* b, float* c, bool threaded) {
  float* rows = static_cast<float*>(tls_rows_buffer.get(static_cast<size_t>(d.m * d.k) * sizeof(float)));
  const bool round = d.bf16_compute && d.a_type == ElemType::F32;
  for (int64_t i = 0; i < d.m; ++i)
    for (int64_t p = 0; p < d.k; ++p) {
      const int64_t off = d.trans_a ? p * d.lda + i : i * d.lda + p;
      rows[i * d.k + p] = d.a_type == ElemType::F32 ? load_as_f32(static_cast<const float*>(a) + off, round)
                                                    : bf16_to_f32(static_cast<const uint16_t*>(a)[off]);
    }
  const Isa isa = active_isa();
  auto body = [&](int64_t j0, int64_t j1, int) {
    for (int64_t j = j0; j < j1; ++j) {
      for (int64_t i = 0; i < d.m; ++i) {
        const float v = d.b_type == ElemType::F32
                            ? dot(isa, rows + i * d.k, static_cast<const float*>(b) + j * d.ldb, d.k)
                            : dot(isa, rows + i * d.k, static_cast<const uint16_t*>(b) + j * d.ldb, d.k);
        float& out = c[i * d.ldc + j];
        out = d.accumulate ? out + d.alpha * v : d.alpha * v;
      }
    }
  };
  const int64_t min_cols = std::max<int64_t>(16, 32768 / std::max<int64_t>(1, d.m * d.k));
  if (threaded)
    parallel_for(d.n, min_cols, body);
  else
    body(0, d.n, 0);
}

}  // namespace
}  // namespace sftkit
