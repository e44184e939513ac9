// C++ entry point of the GEMM, for other native kernels (the N-API gemm() wraps it).
#pragma once
#include <cstdint>
#include <string>

namespace sftkit {

enum class ElemType { F32, Bf16 };

// C[b] = alpha·op(A[b])·op(B[b]) (+ C[b] when accumulate), b < batch, row-major with leading dimensions.
// op(A) is [m,k] (A stored [k,m] when trans_a); op(B) is [k,n] (B stored [n,k] when trans_b); C is f32.
// bf16_compute: operands are rounded to bf16 (RNE) while packing and products accumulate in f32.
// C must not overlap A or B. The caller has checked every index stays inside the buffers.
struct GemmDesc {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  ElemType a_type = ElemType::F32;
  int64_t lda = 0;
  const void* b = nullptr;
  ElemType b_type = ElemType::F32;
  int64_t ldb = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1.0f;
  bool accumulate = false;
  bool bf16_compute = false;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
};

// threaded=false runs on the calling thread only: required when called from inside parallel_for.
void gemm(const GemmDesc& d, bool threaded = true);

// Multiplies one packed micro-tile on the AMX unit and compares it with scalar code (cpu.cpp runs it once, after the
// tile permission was granted, before choosing the AMX path). False, with the reason in *why, on a mismatch; false
// without running anything where the compiler or architecture has no AMX support.
bool amx_self_test(std::string* why);

}  // namespace sftkit
