// ARM64 GEMM micro-kernels: NEON f32 (FMLA by lane) and BF16 (BFMMLA, Armv8.6 FEAT_BF16), over the packed
// panels of gemm_pack.h. Same contract as the x86 kernels in gemm_kernels.h.
//
// f32, 8 x 12: per depth step two 128-bit loads of A (8 rows), three of B (12 columns) and 24 FMLA (by lane)
// into 24 accumulator registers: 29 of the 32 vector registers, 96 flops per 5 loads.
// BF16, 8 x 8: per group of 4 depth steps, A holds 4 registers (row pairs x 4 k), B 4 (column pairs x 4 k);
// each BFMMLA multiplies a 2 x 4 by a 4 x 2 block into a 2 x 2 f32 block (16 multiply-adds), so 16 BFMMLA
// (512 flops) per 8 loads, 24 registers (8 x 12 would need 34 and spills). The 2 x 2 blocks are untangled into
// rows only when C is written.
#pragma once
// Included only by gemm.cpp (internal linkage: everything sits in an anonymous namespace).
#include <cstdint>

#include "cpu.h"
#include "gemm_kernels.h"  // store_tile
#include "gemm_pack.h"     // load_as_f32

#if defined(__aarch64__)
namespace sftkit {
namespace {

constexpr int kNeonMR = 8, kNeonNR = 12;

constexpr int kNeonBfNR = 8;  // BFMMLA: 8 x 8 (16 accumulators; 8 x 12 would spill)

// C rows from an 8 x (4·NQ) accumulator held as acc[row][column quad].
template <int NQ>
__attribute__((always_inline)) inline void store_neon(const float32x4_t (&acc)[kNeonMR][NQ], float* c, int64_t ldc,
                                                      float alpha, bool add, int mr, int nr) {
  const float32x4_t va = vdupq_n_f32(alpha);
  if (mr == kNeonMR && nr == 4 * NQ) {
    for (int i = 0; i < kNeonMR; ++i) {
      float* row = c + i * ldc;
      for (int j = 0; j < NQ; ++j) {
        float32x4_t r = vmulq_f32(acc[i][j], va);
        if (add) r = vaddq_f32(r, vld1q_f32(row + 4 * j));
        vst1q_f32(row + 4 * j, r);
      }
    }
    return;
  }
  float tile[kNeonMR * 4 * NQ];
  for (int i = 0; i < kNeonMR; ++i)
    for (int j = 0; j < NQ; ++j) vst1q_f32(tile + i * 4 * NQ + 4 * j, acc[i][j]);
  store_tile<kNeonMR, 4 * NQ>(tile, c, ldc, alpha, add, mr, nr);
}

// The 24 accumulators are named variables rather than an array: GCC 12 keeps an array this size in memory and
// stores it on every iteration. Row i uses c<i>0..c<i>2; `av` holds rows 0-3 (a0) or 4-7 (a1), the lane the row.
#define SFTKIT_NEON_ROW(i, av, lane)                \
  c##i##0 = vfmaq_laneq_f32(c##i##0, b0, av, lane); \
  c##i##1 = vfmaq_laneq_f32(c##i##1, b1, av, lane); \
  c##i##2 = vfmaq_laneq_f32(c##i##2, b2, av, lane)
#define SFTKIT_NEON_ZERO(i) float32x4_t c##i##0 = vdupq_n_f32(0.0f), c##i##1 = c##i##0, c##i##2 = c##i##0
#define SFTKIT_NEON_OUT(i) \
  { c##i##0, c##i##1, c##i##2 }

void kernel_neon(int64_t kc, const void* ap, const void* bp, float* c, int64_t ldc, float alpha, bool add, int mr,
                 int nr) {
  const float* a = static_cast<const float*>(ap);
  const float* b = static_cast<const float*>(bp);
  SFTKIT_NEON_ZERO(0);
  SFTKIT_NEON_ZERO(1);
  SFTKIT_NEON_ZERO(2);
  SFTKIT_NEON_ZERO(3);
  SFTKIT_NEON_ZERO(4);
  SFTKIT_NEON_ZERO(5);
  SFTKIT_NEON_ZERO(6);
  SFTKIT_NEON_ZERO(7);
  for (int64_t p = 0; p < kc; ++p, a += kNeonMR, b += kNeonNR) {
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    SFTKIT_NEON_ROW(0, a0, 0);
    SFTKIT_NEON_ROW(1, a0, 1);
    SFTKIT_NEON_ROW(2, a0, 2);
    SFTKIT_NEON_ROW(3, a0, 3);
    SFTKIT_NEON_ROW(4, a1, 0);
    SFTKIT_NEON_ROW(5, a1, 1);
    SFTKIT_NEON_ROW(6, a1, 2);
    SFTKIT_NEON_ROW(7, a1, 3);
  }
  const float32x4_t acc[kNeonMR][3] = {SFTKIT_NEON_OUT(0), SFTKIT_NEON_OUT(1), SFTKIT_NEON_OUT(2), SFTKIT_NEON_OUT(3),
                                       SFTKIT_NEON_OUT(4), SFTKIT_NEON_OUT(5), SFTKIT_NEON_OUT(6), SFTKIT_NEON_OUT(7)};
  store_neon(acc, c, ldc, alpha, add, mr, nr);
}
#undef SFTKIT_NEON_ROW
#undef SFTKIT_NEON_ZERO
#undef SFTKIT_NEON_OUT

// BFMMLA on Quads panels. acc[i][j] = [r(2i)c(2j), r(2i)c(2j+1), r(2i+1)c(2j), r(2i+1)c(2j+1)].
// Without FEAT_EBF16 each BFMMLA rounds its products and partial sums to odd and flushes denormal bf16 inputs and
// results to zero (Arm ARM): differences of an ulp of f32 per step, far inside bf16 compute's tolerance.
#if defined(SFTKIT_NEON_BF16)
SFTKIT_TARGET_BF16 void kernel_neon_bfmmla(int64_t kc, const void* ap, const void* bp, float* c, int64_t ldc,
                                           float alpha, bool add, int mr, int nr) {
  const bfloat16_t* a = static_cast<const bfloat16_t*>(ap);
  const bfloat16_t* b = static_cast<const bfloat16_t*>(bp);
  // acc<i><j>: row pair i, column pair j (named variables, as in kernel_neon).
#define SFTKIT_BF_ZERO(i) \
  float32x4_t acc##i##0 = vdupq_n_f32(0.0f), acc##i##1 = acc##i##0, acc##i##2 = acc##i##0, acc##i##3 = acc##i##0
#define SFTKIT_BF_COL(j)                           \
  {                                                \
    const bfloat16x8_t bv = vld1q_bf16(b + 8 * j); \
    acc0##j = vbfmmlaq_f32(acc0##j, a0, bv);       \
    acc1##j = vbfmmlaq_f32(acc1##j, a1, bv);       \
    acc2##j = vbfmmlaq_f32(acc2##j, a2, bv);       \
    acc3##j = vbfmmlaq_f32(acc3##j, a3, bv);       \
  }
  SFTKIT_BF_ZERO(0);
  SFTKIT_BF_ZERO(1);
  SFTKIT_BF_ZERO(2);
  SFTKIT_BF_ZERO(3);
  const int64_t quads = (kc + 3) / 4;
  for (int64_t q = 0; q < quads; ++q, a += 4 * kNeonMR, b += 4 * kNeonBfNR) {
    const bfloat16x8_t a0 = vld1q_bf16(a), a1 = vld1q_bf16(a + 8), a2 = vld1q_bf16(a + 16), a3 = vld1q_bf16(a + 24);
    SFTKIT_BF_COL(0)
    SFTKIT_BF_COL(1)
    SFTKIT_BF_COL(2)
    SFTKIT_BF_COL(3)
  }
  const float32x4_t acc[kNeonMR / 2][kNeonBfNR / 2] = {{acc00, acc01, acc02, acc03},
                                                       {acc10, acc11, acc12, acc13},
                                                       {acc20, acc21, acc22, acc23},
                                                       {acc30, acc31, acc32, acc33}};
#undef SFTKIT_BF_ZERO
#undef SFTKIT_BF_COL
  // 2 x 2 blocks -> rows: the low halves of a row pair's blocks are row 2i, the high halves row 2i + 1.
  float32x4_t rows[kNeonMR][kNeonBfNR / 4];
  for (int i = 0; i < kNeonMR / 2; ++i)
    for (int j = 0; j < kNeonBfNR / 4; ++j) {
      const float64x2_t lo = vreinterpretq_f64_f32(acc[i][2 * j]), hi = vreinterpretq_f64_f32(acc[i][2 * j + 1]);
      rows[2 * i][j] = vreinterpretq_f32_f64(vzip1q_f64(lo, hi));
      rows[2 * i + 1][j] = vreinterpretq_f32_f64(vzip2q_f64(lo, hi));
    }
  store_neon(rows, c, ldc, alpha, add, mr, nr);
}
#endif

// ---- dot products for few-row x·Wᵀ (gemm_few_rows.h) ----------------------------------------------

inline float32x4_t load4_neon(const float* w) { return vld1q_f32(w); }
inline float32x4_t load4_neon(const uint16_t* w) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(w), 16)); }

template <typename W>
float dot_neon(const float* x, const W* w, int64_t k) {
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
  int64_t p = 0;
  for (; p + 16 <= k; p += 16) {
    s0 = vfmaq_f32(s0, vld1q_f32(x + p), load4_neon(w + p));
    s1 = vfmaq_f32(s1, vld1q_f32(x + p + 4), load4_neon(w + p + 4));
    s2 = vfmaq_f32(s2, vld1q_f32(x + p + 8), load4_neon(w + p + 8));
    s3 = vfmaq_f32(s3, vld1q_f32(x + p + 12), load4_neon(w + p + 12));
  }
  for (; p + 4 <= k; p += 4) s0 = vfmaq_f32(s0, vld1q_f32(x + p), load4_neon(w + p));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for (; p < k; ++p) s += x[p] * load_as_f32(w + p, false);
  return s;
}

}  // namespace
}  // namespace sftkit
#endif
