// CPU instruction-set selection and bf16 <-> f32 conversion helpers shared by all kernels.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
// GCC 12's AVX-512 intrinsic headers self-initialise "undefined" vectors (`__m512 __Y = __Y;`), which
// -Wall reports at every inlined use. Diagnostics are judged at the header's own lines, so silencing them
// around the include alone keeps these warnings on for our code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#endif

namespace sftkit {

// Ordered from least to most capable: a path is usable when it is <= the detected ISA.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3 };

// The ISA kernels should use now: the best detected one, or what SFTKIT_ISA / setIsa() forced.
Isa active_isa();
// The best ISA this CPU (and OS) supports.
Isa detected_isa();
// Force a path; returns false if the CPU does not support it.
bool set_active_isa(Isa isa);
const char* isa_name(Isa isa);
// Parses "scalar" | "avx2" | "avx512" | "avx512bf16"; returns false on an unknown name.
bool parse_isa(const char* name, Isa* out);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round to nearest, ties to even; NaN stays NaN (quiet bit forced so truncation cannot make Inf).
inline uint16_t f32_to_bf16_rne(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

// Whole-array conversions (vectorised for the active ISA, threaded for large n).
void convert_f32_to_bf16(const float* src, uint16_t* dst, int64_t n);
void convert_bf16_to_f32(const uint16_t* src, float* dst, int64_t n);

// f32 -> bf16-representable f32 (RNE), used when bf16 compute emulates on f32 hardware.
inline float round_to_bf16(float f) { return bf16_to_f32(f32_to_bf16_rne(f)); }

}  // namespace sftkit
