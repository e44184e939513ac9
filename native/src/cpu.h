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

// ARM64: NEON is part of the base architecture; the BF16 kernels sit in functions compiled for +bf16 and run
// only when the CPU reports FEAT_BF16 at run time.
#if defined(__aarch64__) || defined(_M_ARM64)
#include <arm_neon.h>
#endif
// The BF16 kernels need a compiler whose <arm_neon.h> offers the BF16 intrinsics under a target attribute (GCC 10+,
// clang 16+), or a build for a BF16 CPU. Without them a BF16 CPU runs the NEON f32 path.
#if defined(__aarch64__) && (defined(__ARM_FEATURE_BF16) || \
                             (defined(__clang__) ? __clang_major__ >= 16 : defined(__GNUC__) && __GNUC__ >= 10))
#define SFTKIT_NEON_BF16 1
#if defined(__clang__)
#define SFTKIT_TARGET_BF16 __attribute__((target("bf16")))
#else
#define SFTKIT_TARGET_BF16 __attribute__((target("arch=armv8.2-a+bf16")))
#endif
#endif

// x86 SIMD code uses GCC/clang function attributes (__attribute__((target))) and is compiled only where
// __x86_64__ is defined, which GCC and clang define and MSVC does not: an MSVC build gets the portable path.

namespace sftkit {

// Two families, each ordered from least to most capable: a path is usable when it is Scalar or in the detected
// ISA's family and <= it (x86: Avx2 < Avx512 < Avx512Bf16 < Amx; ARM64: Neon < NeonBf16). Comparisons such as
// `isa >= Isa::Avx512` are only made inside code compiled for that family's architecture. Amx is Avx512Bf16 plus
// bf16 GEMMs on the AMX tile unit (every other kernel runs its AVX-512 code).
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3, Amx = 4, Neon = 5, NeonBf16 = 6 };

// The ISA kernels should use now: the best detected one, or what SFTKIT_ISA / setIsa() forced.
Isa active_isa();
// The best ISA this CPU (and OS) supports.
Isa detected_isa();
// Force a path; returns false if the CPU does not support it.
bool set_active_isa(Isa isa);
const char* isa_name(Isa isa);
// Parses "scalar" | "avx2" | "avx512" | "avx512bf16" | "amx" | "neon" | "neon-bf16"; returns false on an unknown name.
bool parse_isa(const char* name, Isa* out);
// Whether a path can run on this CPU (Scalar always; otherwise the detected family, up to the detected ISA).
bool isa_supported(Isa isa);
// CPU features relevant to the kernels, space-separated (e.g. "neon bf16 i8mm" or "avx2 fma avx512f").
const char* cpu_features();
// Why the AMX path is or is not available: "available", or the first check that failed (CPUID, XCR0, the Linux
// arch_prctl tile-data permission, the start-up self-test).
const char* amx_status();

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
