// NEON f32 <-> bf16 array conversions (ARM64), bit-exact with f32_to_bf16_rne / bf16_to_f32 in cpu.h.
#pragma once
// Included only by cpu.cpp (internal linkage).
#include <cstdint>

#include "cpu.h"

#if defined(__aarch64__)
namespace sftkit {
namespace {

// Integer round-to-nearest-even as the scalar helper (BFCVTN would honour FPCR.FZ; this never flushes).
inline uint16x4_t f32x4_to_bf16_neon(uint32x4_t x) {
  const uint32x4_t lsb = vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1));
  const uint32x4_t rounded = vaddq_u32(x, vaddq_u32(vdupq_n_u32(0x7fff), lsb));
  const uint32x4_t nan = vcgtq_u32(vandq_u32(x, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
  return vshrn_n_u32(vbslq_u32(nan, vorrq_u32(x, vdupq_n_u32(0x00400000)), rounded), 16);
}

inline void f32_to_bf16_neon(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x4_t lo = f32x4_to_bf16_neon(vreinterpretq_u32_f32(vld1q_f32(src + i)));
    const uint16x4_t hi = f32x4_to_bf16_neon(vreinterpretq_u32_f32(vld1q_f32(src + i + 4)));
    vst1q_u16(dst + i, vcombine_u16(lo, hi));
  }
  for (; i < n; ++i) dst[i] = f32_to_bf16_rne(src[i]);
}

inline void bf16_to_f32_neon(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = vld1q_u16(src + i);
    vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
    vst1q_f32(dst + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

}  // namespace
}  // namespace sftkit
#endif
