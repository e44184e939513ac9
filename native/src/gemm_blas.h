// The vendor BLAS path: on macOS (SFTKIT_ACCELERATE, set by binding.gyp) plain f32 products go to Apple
// Accelerate's cblas_sgemm, which on Apple Silicon runs on the AMX matrix units at several times the NEON kernels'
// throughput. SFTKIT_CBLAS=1 builds the same path against any CBLAS (e.g. OpenBLAS on Linux) to test it.
// bf16 compute keeps sftkit's kernels (BLAS has no bf16-rounding GEMM); SFTKIT_ISA=scalar and SFTKIT_BLAS=0
// turn the BLAS path off.
#pragma once
// Included only by gemm.cpp (internal linkage).
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "cpu.h"
#include "gemm_api.h"

#if defined(SFTKIT_ACCELERATE)
#include <Accelerate/Accelerate.h>
#define SFTKIT_HAVE_CBLAS 1
#elif defined(SFTKIT_CBLAS)
#include <cblas.h>
#define SFTKIT_HAVE_CBLAS 1
#endif

#if defined(SFTKIT_HAVE_CBLAS)
namespace sftkit {
namespace {

inline bool blas_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("SFTKIT_BLAS");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on && active_isa() != Isa::Scalar;
}

// C[b] = alpha·op(A[b])·op(B[b]) (+ C[b]) through cblas_sgemm; false when the product is not a plain f32 one.
inline bool gemm_blas(const GemmDesc& d) {
  if (!blas_enabled() || d.bf16_compute || d.a_type != ElemType::F32 || d.b_type != ElemType::F32) return false;
  for (int64_t v : {d.m, d.n, d.k, d.lda, d.ldb, d.ldc})
    if (v > INT_MAX) return false;
  if (d.m <= 0 || d.n <= 0) return true;
  const auto ta = d.trans_a ? CblasTrans : CblasNoTrans, tb = d.trans_b ? CblasTrans : CblasNoTrans;
  const float* a = static_cast<const float*>(d.a);
  const float* b = static_cast<const float*>(d.b);
  for (int64_t i = 0; i < d.batch; ++i) {
    float* c = d.c + i * d.stride_c;
    if (d.k <= 0) {  // BLAS leaves C untouched for k = 0 only when beta = 1
      if (!d.accumulate)
        for (int64_t r = 0; r < d.m; ++r) std::memset(c + r * d.ldc, 0, sizeof(float) * static_cast<size_t>(d.n));
      continue;
    }
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(d.m), static_cast<int>(d.n), static_cast<int>(d.k), d.alpha,
                a + i * d.stride_a, static_cast<int>(d.lda), b + i * d.stride_b, static_cast<int>(d.ldb),
                d.accumulate ? 1.0f : 0.0f, c, static_cast<int>(d.ldc));
  }
  return true;
}

}  // namespace
}  // namespace sftkit
#endif
