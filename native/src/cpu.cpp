// CPU feature detection, ISA selection (SFTKIT_ISA / setIsa), threads, and bf16 <-> f32 array conversion.
#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "convert_neon.h"
#include "gemm_api.h"  // amx_self_test
#include "napi_args.h"
#include "registry.h"
#include "threadpool.h"

namespace sftkit {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// AMX: the CPU must implement AMX-TILE and AMX-BF16 (CPUID leaf 7 sub-leaf 0, EDX bits 24 and 22), the OS must
// enable the tile state in XCR0 (bits 17 XTILECFG, 18 XTILEDATA), and Linux hands out the 8 KiB of tile data per
// thread only after the process asks once with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); a tile
// instruction before that faults. The grant covers every thread of the process, present and future. Last, a
// start-up self-test multiplies one micro-tile on the unit and compares it with scalar code. Returns "available"
// or the reason the AMX path is off.
std::string enable_amx(unsigned edx7, uint64_t xcr0, bool avx512bf16) {
  const bool amx_tile = (edx7 >> 24) & 1u, amx_bf16 = (edx7 >> 22) & 1u;
  if (!amx_tile || !amx_bf16) return "unavailable: the CPU does not report AMX-TILE and AMX-BF16 (CPUID.7.0:EDX 24/22)";
  if (!avx512bf16) return "unavailable: AMX without AVX-512 BF16 (the other kernels of the path need it)";
  if ((xcr0 & 0x60000) != 0x60000) return "unavailable: the OS does not enable the tile state (XCR0 bits 17/18)";
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0)
    return std::string("unavailable: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) failed: ") +
           std::strerror(errno);
  unsigned long long granted = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &granted) != 0 || !((granted >> kXfeatureXtiledata) & 1ull))
    return "unavailable: the kernel did not grant the tile data state (ARCH_GET_XCOMP_PERM)";
  std::string why;
  if (!amx_self_test(&why)) return "unavailable: start-up self-test failed: " + why;
  return "available";
#else
  return "unavailable: the AMX path is built for Linux x86-64 only (tile permission via arch_prctl)";
#endif
}

// The OS must save the wide registers (XCR0) as well as the CPU implementing the instructions.
Isa detect(std::string& features, std::string& amx) {
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  // avx512bf16 is CPUID leaf 7 sub-leaf 1, EAX bit 5 (older compilers lack the builtin name);
  // __get_cpuid_count returns 0 when the CPU has no such leaf.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  bool bf16 = __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && ((eax >> 5) & 1u);
  unsigned edx7 = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) edx7 = edx;
  // OS support: XCR0 must enable SSE/AVX state (bits 1,2) and, for AVX-512, opmask/ZMM (bits 5,6,7).
  bool osxsave = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && ((ecx >> 27) & 1u);
  uint64_t xcr0 = 0;
  if (osxsave) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  }
  bool os_avx = (xcr0 & 0x6) == 0x6;
  bool os_avx512 = (xcr0 & 0xe6) == 0xe6;
  if (avx2 && os_avx) features = "avx2 fma";
  if (avx512 && os_avx512) features += " avx512f avx512bw avx512vl avx512dq";
  if (avx512 && bf16 && os_avx512) features += " avx512bf16";
  if ((edx7 >> 24) & 1u) features += " amx-tile";
  if ((edx7 >> 22) & 1u) features += " amx-bf16";
  amx = enable_amx(edx7, xcr0, avx512 && bf16 && os_avx512);
  if (amx == "available") return Isa::Amx;
  if (avx512 && bf16 && os_avx512) return Isa::Avx512Bf16;
  if (avx512 && os_avx512) return Isa::Avx512;
  if (avx2 && os_avx) return Isa::Avx2;
  return Isa::Scalar;
}
#elif defined(__aarch64__) || defined(_M_ARM64)
// NEON (Advanced SIMD) is mandatory in AArch64. BF16 (BFDOT/BFMMLA, Armv8.6, optional from 8.2) and I8MM are
// optional: Linux reports them in AT_HWCAP2, macOS in hw.optional.arm.FEAT_*; elsewhere (Windows on ARM) only
// the NEON path is used.
// I8MM (SMMLA) is reported but no kernel uses it: sftkit's products are f32 or bf16 (QLoRA dequantizes NF4 to
// bf16 exactly as bitsandbytes does), and an int8 path would have to quantize activations, changing results.
Isa detect(std::string& features, std::string& amx) {
  amx = "unavailable: not an x86-64 CPU";
  bool bf16 = false, i8mm = false, dotprod = false;
#if defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  dotprod = (hw >> 20) & 1ul;  // HWCAP_ASIMDDP
  i8mm = (hw2 >> 13) & 1ul;    // HWCAP2_I8MM
  bf16 = (hw2 >> 14) & 1ul;    // HWCAP2_BF16
#elif defined(__APPLE__)
  auto has = [](const char* name) {
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname(name, &v, &len, nullptr, 0) == 0 && v != 0;
  };
  bf16 = has("hw.optional.arm.FEAT_BF16");
  i8mm = has("hw.optional.arm.FEAT_I8MM");
  dotprod = has("hw.optional.arm.FEAT_DotProd");
#endif
  features = "neon";
  if (dotprod) features += " dotprod";
  if (bf16) features += " bf16";
  if (i8mm) features += " i8mm";
#if defined(SFTKIT_NEON_BF16)
  return bf16 ? Isa::NeonBf16 : Isa::Neon;
#else
  return Isa::Neon;
#endif
}
#else
Isa detect(std::string&, std::string& amx) {
  amx = "unavailable: not an x86-64 CPU";
  return Isa::Scalar;
}
#endif

bool isa_is_arm(Isa isa) { return isa == Isa::Neon || isa == Isa::NeonBf16; }

// Scalar always; otherwise the same family as `best`, and not beyond it.
bool supported_on(Isa isa, Isa best) {
  if (isa == Isa::Scalar) return true;
  return best != Isa::Scalar && isa_is_arm(isa) == isa_is_arm(best) && isa <= best;
}

struct IsaState {
  std::string features;  // filled by detect()
  std::string amx;       // amx_status(), filled by detect()
  Isa detected;
  std::atomic<int> active;
  std::string env_error;  // set when SFTKIT_ISA names an unknown or unsupported path
  IsaState() : detected(detect(features, amx)), active(static_cast<int>(detected)) {
    if (const char* env = std::getenv("SFTKIT_ISA")) {
      if (*env == '\0') return;
      Isa want;
      if (!parse_isa(env, &want)) {
        env_error = std::string("SFTKIT_ISA='") + env +
                    "' is not one of scalar, avx2, avx512, avx512bf16, amx, neon, neon-bf16";
      } else if (!supported_on(want, detected)) {
        env_error = std::string("SFTKIT_ISA=") + env + " is not supported by this CPU (best: " + isa_name(detected) +
                    (want == Isa::Amx ? "; AMX " + amx : std::string()) + ")";
      } else {
        active = static_cast<int>(want);
      }
    }
  }
};

IsaState& state() {
  static IsaState s;
  return s;
}

}  // namespace

Isa detected_isa() { return state().detected; }
Isa active_isa() { return static_cast<Isa>(state().active.load(std::memory_order_relaxed)); }

bool isa_supported(Isa isa) { return supported_on(isa, state().detected); }

const char* cpu_features() { return state().features.c_str(); }
const char* amx_status() { return state().amx.c_str(); }

bool set_active_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  state().active.store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Bf16: return "avx512bf16";
    case Isa::Amx: return "amx";
    case Isa::Neon: return "neon";
    case Isa::NeonBf16: return "neon-bf16";
  }
  return "scalar";
}

bool parse_isa(const char* name, Isa* out) {
  static const Isa all[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Bf16, Isa::Amx, Isa::Neon, Isa::NeonBf16};
  for (Isa i : all) {
    if (std::strcmp(name, isa_name(i)) == 0) {
      *out = i;
      return true;
    }
  }
  return false;
}

// ---- array conversions ----------------------------------------------------------------------

namespace {

void f32_to_bf16_scalar(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16_rne(src[i]);
}

void bf16_to_f32_scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

#if defined(__x86_64__)
// Integer RNE rather than vcvtneps2bf16: that instruction flushes denormal inputs to zero, and
// conversions here must be exact for every input.
__attribute__((target("avx512f,avx512bw"))) void f32_to_bf16_avx512(const float* src, uint16_t* dst, int64_t n) {
  const __m512i lsb_mask = _mm512_set1_epi32(1);
  const __m512i bias = _mm512_set1_epi32(0x7fff);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(0x00400000);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i x = _mm512_loadu_si512(src + i);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), lsb_mask);
    __m512i rounded = _mm512_add_epi32(x, _mm512_add_epi32(bias, lsb));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, abs_mask), inf);
    __m512i r = _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(x, quiet));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        _mm512_mask_cvtepi32_epi16(_mm256_setzero_si256(), 0xffff, _mm512_srli_epi32(r, 16)));
  }
  f32_to_bf16_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx512f,avx512bw"))) void bf16_to_f32_avx512(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_si512(dst + i, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  bf16_to_f32_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx2,fma"))) void f32_to_bf16_avx2(const float* src, uint16_t* dst, int64_t n) {
  const __m256i lsb_mask = _mm256_set1_epi32(1);
  const __m256i bias = _mm256_set1_epi32(0x7fff);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  const __m256i quiet = _mm256_set1_epi32(0x00400000);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), lsb_mask);
    __m256i rounded = _mm256_add_epi32(x, _mm256_add_epi32(bias, lsb));
    // abs(x) > inf as signed compare is fine: both are non-negative as int32.
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs_mask), inf);
    __m256i r = _mm256_blendv_epi8(rounded, _mm256_or_si256(x, quiet), nan);
    r = _mm256_srli_epi32(r, 16);
    // Pack 8 x u32 (each < 65536) to 8 x u16: packus works per 128-bit lane, then fix the lane order.
    __m256i packed = _mm256_packus_epi32(r, r);
    packed = _mm256_permute4x64_epi64(packed, 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_castsi256_si128(packed));
  }
  f32_to_bf16_scalar(src + i, dst + i, n - i);
}

__attribute__((target("avx2,fma"))) void bf16_to_f32_avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  bf16_to_f32_scalar(src + i, dst + i, n - i);
}
#endif

}  // namespace

namespace {
// Converts src[0, n) into dst over the thread pool with the widest path the active ISA allows: AVX-512 or AVX2 on
// x86-64, NEON on ARM64 (the other family's pointers are null), else scalar.
template <class Src, class Dst>
void convert(const Src* src, Dst* dst, int64_t n, void (*avx512)(const Src*, Dst*, int64_t),
             void (*avx2)(const Src*, Dst*, int64_t), void (*neon)(const Src*, Dst*, int64_t),
             void (*scalar)(const Src*, Dst*, int64_t)) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e, int) {
    const Isa isa = active_isa();
    if (avx512 && isa >= Isa::Avx512 && isa <= Isa::Amx) return avx512(src + b, dst + b, e - b);
    if (avx2 && isa >= Isa::Avx2 && isa <= Isa::Amx) return avx2(src + b, dst + b, e - b);
    if (neon && isa >= Isa::Neon) return neon(src + b, dst + b, e - b);
    scalar(src + b, dst + b, e - b);
  });
}
}  // namespace

void convert_f32_to_bf16(const float* src, uint16_t* dst, int64_t n) {
#if defined(__x86_64__)
  convert<float, uint16_t>(src, dst, n, f32_to_bf16_avx512, f32_to_bf16_avx2, nullptr, f32_to_bf16_scalar);
#elif defined(__aarch64__)
  convert<float, uint16_t>(src, dst, n, nullptr, nullptr, f32_to_bf16_neon, f32_to_bf16_scalar);
#else
  convert<float, uint16_t>(src, dst, n, nullptr, nullptr, nullptr, f32_to_bf16_scalar);
#endif
}

void convert_bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
#if defined(__x86_64__)
  convert<uint16_t, float>(src, dst, n, bf16_to_f32_avx512, bf16_to_f32_avx2, nullptr, bf16_to_f32_scalar);
#elif defined(__aarch64__)
  convert<uint16_t, float>(src, dst, n, nullptr, nullptr, bf16_to_f32_neon, bf16_to_f32_scalar);
#else
  convert<uint16_t, float>(src, dst, n, nullptr, nullptr, nullptr, bf16_to_f32_scalar);
#endif
}

}  // namespace sftkit

// ---- N-API bindings ---------------------------------------------------------------------------

namespace {

using sftkit::Isa;

void ThrowIfEnvIsaInvalid(Napi::Env env) {
  const std::string& err = sftkit::state().env_error;
  if (!err.empty()) Napi::Error::New(env, "sftkit: " + err).ThrowAsJavaScriptException();
}

Napi::Value IsaFn(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), sftkit::isa_name(sftkit::active_isa()));
}

Napi::Value SetIsaFn(const Napi::CallbackInfo& info) {
  sftkit::napi::Args a(info, "setIsa");
  const std::string name = a.string(a.at(0), "name");
  if (a.failed()) return a.env().Undefined();
  Isa isa;
  if (!sftkit::parse_isa(name.c_str(), &isa)) {
    a.range_error("unknown ISA '" + name + "' (scalar, avx2, avx512, avx512bf16, amx, neon, neon-bf16)");
  } else if (!sftkit::set_active_isa(isa)) {
    Napi::Error::New(a.env(), "setIsa: '" + name +
                                  "' is not supported by this CPU (best: " + sftkit::isa_name(sftkit::detected_isa()) +
                                  (isa == Isa::Amx ? std::string("; AMX ") + sftkit::amx_status() : std::string()) +
                                  ")")
        .ThrowAsJavaScriptException();
  }
  return a.env().Undefined();
}

Napi::Value DetectedIsaFn(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), sftkit::isa_name(sftkit::detected_isa()));
}

Napi::Value CpuFeaturesFn(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), sftkit::cpu_features());
}

Napi::Value AmxStatusFn(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), sftkit::amx_status()); }

Napi::Value ThreadsFn(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), sftkit::num_threads()); }

Napi::Value SetThreadsFn(const Napi::CallbackInfo& info) {
  sftkit::napi::Args a(info, "setThreads");
  const double n = a.number(a.at(0), "n");
  a.require(n >= 1 && n <= 1024 && n == static_cast<int>(n), "'n' must be an integer in [1, 1024]");
  if (!a.failed()) sftkit::set_num_threads(static_cast<int>(n));
  return a.env().Undefined();
}

Napi::Value F32ToBf16Fn(const Napi::CallbackInfo& info) {
  sftkit::napi::Args a(info, "f32ToBf16");
  const sftkit::napi::F32 src = a.f32(a.at(0), "src");
  const sftkit::napi::U16 dst = a.u16(a.at(1), "dst");
  a.at_least(dst, src.len, "dst");
  if (!a.failed()) sftkit::convert_f32_to_bf16(src.data, dst.data, src.len);
  return a.env().Undefined();
}

Napi::Value Bf16ToF32Fn(const Napi::CallbackInfo& info) {
  sftkit::napi::Args a(info, "bf16ToF32");
  const sftkit::napi::U16 src = a.u16(a.at(0), "src");
  const sftkit::napi::F32 dst = a.f32(a.at(1), "dst");
  a.at_least(dst, src.len, "dst");
  if (!a.failed()) sftkit::convert_bf16_to_f32(src.data, dst.data, src.len);
  return a.env().Undefined();
}

}  // namespace

void RegisterCpu(Napi::Env env, Napi::Object exports) {
  // A bad SFTKIT_ISA makes loading the addon fail with a clear message instead of silently ignoring it.
  if (!sftkit::state().env_error.empty()) return ThrowIfEnvIsaInvalid(env);
  exports.Set("isa", Napi::Function::New(env, IsaFn, "isa"));
  exports.Set("detectedIsa", Napi::Function::New(env, DetectedIsaFn, "detectedIsa"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsaFn, "setIsa"));
  exports.Set("cpuFeatures", Napi::Function::New(env, CpuFeaturesFn, "cpuFeatures"));
  exports.Set("amxStatus", Napi::Function::New(env, AmxStatusFn, "amxStatus"));
  exports.Set("threads", Napi::Function::New(env, ThreadsFn, "threads"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreadsFn, "setThreads"));
  exports.Set("f32ToBf16", Napi::Function::New(env, F32ToBf16Fn, "f32ToBf16"));
  exports.Set("bf16ToF32", Napi::Function::New(env, Bf16ToF32Fn, "bf16ToF32"));
}
