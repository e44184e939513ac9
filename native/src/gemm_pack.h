// GEMM operand packing: op(A) / op(B) blocks into zero-padded micro-panels (f32, or bf16 k-pairs).
#pragma once
// Included only by gemm.cpp (internal linkage: everything sits in an anonymous namespace).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#include "convert_neon.h"  // f32x4_to_bf16_neon (ARM64 only)
#include "cpu.h"
#include "gemm_api.h"
#include "scratch.h"  // Scratch: the per-thread packing buffers (packing is per call, never shared across calls)

namespace sftkit {
namespace {

// ---- packing ---------------------------------------------------------------------------------

// Packed formats: F32 (exact), F32Round (f32 values rounded to bf16, for bf16 compute on CPUs without
// vdpbf16ps), Pairs (bf16, two consecutive k per 32-bit lane, the vdpbf16ps operand layout), Quads (bf16, four
// consecutive k per 64-bit word, the ARM BFMMLA operand layout: a 128-bit register holds two rows x 4 k).
// The AMX tile formats (TDPBF16PS operands), depth padded with zeros to whole 32-step tiles:
// - AmxA: each row's depth contiguous (row-major bf16, row stride = the padded depth): 16 rows x 32 k of it is
//   one A tile (16 rows of 64 bytes).
// - AmxB: the Pairs layout ("VNNI": per k-pair, `width` columns x 2 bf16), so with width 32 one k-pair is a
//   128-byte row and a B tile (16 k-pairs x 16 columns x 2 bf16) is 16 rows of 64 bytes at stride 128.
enum class PackMode { F32, F32Round, Pairs, Quads, AmxA, AmxB };

constexpr int64_t kAmxDepth = 32;  // depth steps per AMX tile (32 bf16 = 64 bytes per A tile row)

// Depth steps per packed group: the packed depth is padded to a multiple of it.
inline int64_t pack_group(PackMode mode) {
  switch (mode) {
    case PackMode::Quads: return 4;
    case PackMode::Pairs: return 2;
    case PackMode::AmxA:
    case PackMode::AmxB: return kAmxDepth;
    default: return 1;
  }
}

inline float load_as_f32(const float* p, bool round) { return round ? round_to_bf16(*p) : *p; }
inline float load_as_f32(const uint16_t* p, bool) { return bf16_to_f32(*p); }
inline uint16_t load_as_bf16(const float* p) { return f32_to_bf16_rne(*p); }
inline uint16_t load_as_bf16(const uint16_t* p) { return *p; }

#if defined(__x86_64__)
// In-register transpose of a 16 x 16 float block: v[r][c] -> v[c][r].
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline void transpose16(__m512 (&v)[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
  }
  // u[4i + j], 128-bit lane L: rows 4i..4i+3 of column 4L + j.
  for (int i = 0; i < 4; ++i) {
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  // A 4 x 4 transpose of 128-bit lanes for each j.
  for (int j = 0; j < 4; ++j) {
    __m512 x0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), x1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xee);
    __m512 x2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44), x3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xee);
    v[j] = _mm512_shuffle_f32x4(x0, x2, 0x88);
    v[4 + j] = _mm512_shuffle_f32x4(x0, x2, 0xdd);
    v[8 + j] = _mm512_shuffle_f32x4(x1, x3, 0x88);
    v[12 + j] = _mm512_shuffle_f32x4(x1, x3, 0xdd);
  }
}

// Packs rows whose depth is contiguous (the x·Wᵀ operands) 16 x 16 32-bit words at a time: F32 values,
// or bf16 k-pairs. load(r, w) returns words w..w+15 of row r as floats' bits. Rows missing from a panel
// were zeroed beforehand. Returns the words handled (a multiple of 16); the caller packs the rest.
template <typename Load>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline int64_t pack_words_avx512(float* panel, int valid,
                                                                                               int64_t words, int width,
                                                                                               const Load& load) {
  const int64_t full = words / 16 * 16;
  for (int g = 0; g < valid; g += 16) {
    const int rows = std::min(16, valid - g);
    const __mmask16 store_mask = static_cast<__mmask16>((1u << std::min(16, width - g)) - 1);
    for (int64_t w = 0; w < full; w += 16) {
      __m512 v[16];
      for (int r = 0; r < 16; ++r) v[r] = r < rows ? load(g + r, w) : _mm512_setzero_ps();
      transpose16(v);
      for (int q = 0; q < 16; ++q) _mm512_mask_storeu_ps(panel + (w + q) * width + g, store_mask, v[q]);
    }
  }
  return full;
}

// 16 floats -> 8 words of two RNE-rounded bf16 each (NaN stays NaN), as in f32_to_bf16_rne.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline __m256i round_pairs_avx512(__m512i x) {
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(x, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(x, _mm512_set1_epi32(0x00400000)));
  // 16 bf16 in order; as 32-bit words, word i = (f[2i], f[2i+1]).
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) int64_t pack_rows_avx512(void* panel, const float* src,
                                                                                       int64_t rs, int valid,
                                                                                       int64_t depth, int width,
                                                                                       bool pairs) {
  float* out = static_cast<float*>(panel);
  if (!pairs)
    return pack_words_avx512(
        out, valid, depth,
        width, [&](int r, int64_t w) __attribute__((target("avx512f"))) { return _mm512_loadu_ps(src + r * rs + w); });
  return 2 * pack_words_avx512(
                 out, valid, depth / 2,
                 width, [&](int r, int64_t w) __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) {
                   const float* p = src + r * rs + 2 * w;
                   const __m256i lo = round_pairs_avx512(_mm512_castps_si512(_mm512_loadu_ps(p)));
                   const __m256i hi = round_pairs_avx512(_mm512_castps_si512(_mm512_loadu_ps(p + 16)));
                   return _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
                 });
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) int64_t pack_rows_avx512(void* panel, const uint16_t* src,
                                                                                       int64_t rs, int valid,
                                                                                       int64_t depth, int width,
                                                                                       bool pairs) {
  if (!pairs) return 0;  // bf16 -> f32 widening packs stay scalar (rare: f32 compute on bf16 weights)
  return 2 * pack_words_avx512(
                 static_cast<float*>(panel), valid, depth / 2,
                 width, [&](int r, int64_t w) __attribute__((target("avx512f"))) {
                   return _mm512_loadu_ps(reinterpret_cast<const float*>(src + r * rs + 2 * w));
                 });
}

// 16 values of a source row (columns g..g+15 of the panel) as bf16 in the low halves of 32-bit lanes.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline __m512i load16_bf16_lanes(const float* p,
                                                                                               __mmask16 m) {
  const __m512i x = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, p));
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(x, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(x, _mm512_set1_epi32(0x00400000)));
  return _mm512_srli_epi32(r, 16);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline __m512i load16_bf16_lanes(const uint16_t* p,
                                                                                               __mmask16 m) {
  return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
}

// The k-pair words (depth steps p, p + 1; zero for a step past `depth`) of 16 panel rows g.. (mask m) when rows
// are contiguous in the source: steps p and p + 1 are two source rows.
template <typename Src>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline __m512i pair_words16(const Src* src, int64_t cs,
                                                                                          int64_t p, int64_t depth,
                                                                                          int g, __mmask16 m) {
  __m512i w = load16_bf16_lanes(src + p * cs + g, m);
  if (p + 1 < depth) w = _mm512_or_si512(w, _mm512_slli_epi32(load16_bf16_lanes(src + (p + 1) * cs + g, m), 16));
  return w;
}

// Pairs pack when rows are contiguous in the source (dYᵀ·X's A, dY·W's B), 16 panel rows at a time.
template <typename Src>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void pack_pairs_columns_avx512(uint16_t* panel,
                                                                                             const Src* src, int64_t cs,
                                                                                             int valid, int64_t depth,
                                                                                             int width) {
  for (int64_t p = 0; p < depth; p += 2) {
    uint16_t* out = panel + (p >> 1) * width * 2;
    for (int g = 0; g < valid; g += 16) {
      const __mmask16 m = static_cast<__mmask16>((1u << std::min(16, valid - g)) - 1);
      _mm512_mask_storeu_epi32(out + 2 * g, m, pair_words16(src, cs, p, depth, g, m));
    }
  }
}

// AmxA when rows are contiguous in the source (dYᵀ·X's A): 16 rows x 16 k-pairs of 32-bit words, gathered as
// pack_pairs_columns_avx512 does and transposed to row-major. Depth past `depth`
// is zero; rows past `valid` are left for the caller to zero.
template <typename Src>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void pack_amx_columns_avx512(uint16_t* panel,
                                                                                           const Src* src, int64_t cs,
                                                                                           int valid, int64_t depth,
                                                                                           int64_t kpad) {
  for (int g = 0; g < valid; g += 16) {
    const int rows = std::min(16, valid - g);
    const __mmask16 m = static_cast<__mmask16>((1u << rows) - 1);
    for (int64_t q0 = 0; q0 < kpad / 2; q0 += 16) {
      __m512 v[16];
      for (int qq = 0; qq < 16; ++qq) {
        const int64_t p = 2 * (q0 + qq);
        v[qq] = p < depth ? _mm512_castsi512_ps(pair_words16(src, cs, p, depth, g, m)) : _mm512_setzero_ps();
      }
      transpose16(v);  // v[r] = words q0..q0+15 of row g + r
      for (int r = 0; r < rows; ++r) _mm512_storeu_ps(reinterpret_cast<float*>(panel + (g + r) * kpad + 2 * q0), v[r]);
    }
  }
}

// One row of AmxA from a depth-contiguous source: RNE-rounded (f32) or copied (bf16), 16 at a time.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) int64_t convert_row_avx512(uint16_t* out,
                                                                                         const float* src,
                                                                                         int64_t depth) {
  int64_t p = 0;
  for (; p + 16 <= depth; p += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + p),
                        round_pairs_avx512(_mm512_castps_si512(_mm512_loadu_ps(src + p))));
  return p;
}
#endif

// AmxA: panels of `width` rows x the depth padded to kAmxDepth, each row's bf16 contiguous. Rows past `rows` and
// depth past `depth` are zero.
template <typename Src>
void pack_amx_rows(uint16_t* out, const Src* src, int64_t rs, int64_t cs, int64_t rows, int64_t depth, int width) {
  const int64_t kpad = (depth + kAmxDepth - 1) / kAmxDepth * kAmxDepth;
  const int64_t panels = (rows + width - 1) / width;
  for (int64_t pi = 0; pi < panels; ++pi) {
    uint16_t* panel = out + pi * width * kpad;
    const int64_t r0 = pi * width;
    const int valid = static_cast<int>(std::min<int64_t>(width, rows - r0));
    std::memset(panel + valid * kpad, 0, sizeof(uint16_t) * (width - valid) * kpad);
    if (cs == 1) {
      for (int r = 0; r < valid; ++r) {
        const Src* row = src + (r0 + r) * rs;
        uint16_t* o = panel + r * kpad;
        int64_t p = 0;
        if constexpr (std::is_same_v<Src, uint16_t>) {
          std::memcpy(o, row, sizeof(uint16_t) * depth);
          p = depth;
        }
#if defined(__x86_64__)
        if constexpr (std::is_same_v<Src, float>)
          if (active_isa() >= Isa::Avx512) p = convert_row_avx512(o, row, depth);
#endif
        for (; p < depth; ++p) o[p] = load_as_bf16(row + p);
        std::memset(o + depth, 0, sizeof(uint16_t) * (kpad - depth));
      }
      continue;
    }
#if defined(__x86_64__)
    if (rs == 1 && active_isa() >= Isa::Avx512) {
      pack_amx_columns_avx512(panel, src + r0, cs, valid, depth, kpad);
      continue;
    }
#endif
    std::memset(panel, 0, sizeof(uint16_t) * valid * kpad);
    for (int64_t p = 0; p < depth; ++p) {
      const Src* col = src + p * cs + r0 * rs;
      for (int r = 0; r < valid; ++r) panel[r * kpad + p] = load_as_bf16(col + r * rs);
    }
  }
}

// Quads: per group of 4 depth steps, `width` rows x 4 bf16 (row-major), zero-padded in rows and depth.
template <typename Src>
void pack_quads(uint16_t* out, const Src* src, int64_t rs, int64_t cs, int64_t rows, int64_t depth, int width) {
  const int64_t panels = (rows + width - 1) / width;
  const int64_t quads = (depth + 3) / 4;
  for (int64_t pi = 0; pi < panels; ++pi) {
    uint16_t* panel = out + pi * quads * width * 4;
    const int64_t r0 = pi * width;
    const int valid = static_cast<int>(std::min<int64_t>(width, rows - r0));
    if (valid < width || (depth & 3)) std::memset(panel, 0, sizeof(uint16_t) * quads * width * 4);
    if (cs == 1) {  // depth contiguous: each row's 4 k are 4 consecutive source elements
      const int64_t full = depth >> 2;
      for (int r = 0; r < valid; ++r) {
        const Src* row = src + (r0 + r) * rs;
        uint16_t* o = panel + 4 * r;
        int64_t q = 0;
#if defined(__aarch64__)
        if constexpr (std::is_same_v<Src, float>)
          for (; q < full; ++q)
            vst1_u16(o + q * width * 4, f32x4_to_bf16_neon(vreinterpretq_u32_f32(vld1q_f32(row + 4 * q))));
#endif
        for (; q < full; ++q)
          for (int e = 0; e < 4; ++e) o[q * width * 4 + e] = load_as_bf16(row + 4 * q + e);
        for (int64_t p = 4 * full; p < depth; ++p) o[full * width * 4 + (p & 3)] = load_as_bf16(row + p);
      }
    } else {
      for (int64_t p = 0; p < depth; ++p) {
        const Src* col = src + p * cs + r0 * rs;
        uint16_t* o = panel + (p >> 2) * width * 4 + (p & 3);
        for (int r = 0; r < valid; ++r) o[r * 4] = load_as_bf16(col + r * rs);
      }
    }
  }
}

// Packs a rows x depth block of a matrix whose element (r, p) is src[r*rs + p*cs] into micro-panels of
// `width` rows: panel-major, then depth, then row (Pairs: depth pairs, row, pair element).
// Rows past `rows` and depth past `depth` (up to the padded depth) are zero.
template <typename Src>
void pack_block(void* dst, const Src* src, int64_t rs, int64_t cs, int64_t rows, int64_t depth, int width,
                PackMode mode) {
  if (mode == PackMode::Quads) return pack_quads(static_cast<uint16_t*>(dst), src, rs, cs, rows, depth, width);
  if (mode == PackMode::AmxA) return pack_amx_rows(static_cast<uint16_t*>(dst), src, rs, cs, rows, depth, width);
  const int64_t panels = (rows + width - 1) / width;
  if (mode == PackMode::Pairs || mode == PackMode::AmxB) {  // AmxB: Pairs with the depth padded to whole tiles
    const int64_t group = pack_group(mode);
    const int64_t pairs = (depth + group - 1) / group * group / 2;
    uint16_t* out = static_cast<uint16_t*>(dst);
    for (int64_t pi = 0; pi < panels; ++pi) {
      uint16_t* panel = out + pi * pairs * width * 2;
      const int64_t r0 = pi * width;
      const int valid = static_cast<int>(std::min<int64_t>(width, rows - r0));
      if (valid < width || depth % group) std::memset(panel, 0, sizeof(uint16_t) * pairs * width * 2);
      if (cs == 1) {  // depth contiguous in the source: each k-pair becomes one 32-bit word
        const int64_t full = depth >> 1;
        int64_t done = 0;  // pairs packed by the vector code
#if defined(__x86_64__)
        if (width <= 32 && active_isa() >= Isa::Avx512)
          done = pack_rows_avx512(panel, src + r0 * rs, rs, valid, depth, width, true) / 2;
#endif
        for (int r = 0; r < valid; ++r) {
          const Src* row = src + (r0 + r) * rs;
          uint16_t* o = panel + 2 * r;
          for (int64_t pp = done; pp < full; ++pp) {
            const uint32_t word = static_cast<uint32_t>(load_as_bf16(row + 2 * pp)) |
                                  (static_cast<uint32_t>(load_as_bf16(row + 2 * pp + 1)) << 16);
            std::memcpy(o + pp * width * 2, &word, sizeof word);
          }
          if (depth & 1) o[full * width * 2] = load_as_bf16(row + depth - 1);
        }
      } else {
#if defined(__x86_64__)
        if (rs == 1 && active_isa() >= Isa::Avx512) {
          pack_pairs_columns_avx512(panel, src + r0, cs, valid, depth, width);
          continue;
        }
#endif
        for (int64_t p = 0; p < depth; ++p) {
          const Src* col = src + p * cs + r0 * rs;
          uint16_t* o = panel + (p >> 1) * width * 2 + (p & 1);
          for (int r = 0; r < valid; ++r) o[r * 2] = load_as_bf16(col + r * rs);
        }
      }
    }
    return;
  }
  const bool round = mode == PackMode::F32Round;
  float* out = static_cast<float*>(dst);
  for (int64_t pi = 0; pi < panels; ++pi) {
    float* panel = out + pi * depth * width;
    const int64_t r0 = pi * width;
    const int valid = static_cast<int>(std::min<int64_t>(width, rows - r0));
    if (valid < width) std::memset(panel, 0, sizeof(float) * depth * width);
    if (cs == 1) {
      int64_t done = 0;
#if defined(__x86_64__)
      if (!round && width <= 32 && active_isa() >= Isa::Avx512)
        done = pack_rows_avx512(panel, src + r0 * rs, rs, valid, depth, width, false);
#endif
      for (int r = 0; r < valid; ++r) {
        const Src* row = src + (r0 + r) * rs;
        for (int64_t p = done; p < depth; ++p) panel[p * width + r] = load_as_f32(row + p, round);
      }
    } else {
      for (int64_t p = 0; p < depth; ++p) {
        const Src* col = src + p * cs + r0 * rs;
        float* o = panel + p * width;
        for (int r = 0; r < valid; ++r) o[r] = load_as_f32(col + r * rs, round);
      }
    }
  }
}

// One operand as the packers see it: element (r, p) of op(X) restricted to a block.
struct Operand {
  const void* base;
  ElemType type;
  int64_t rs, cs;  // strides of (row, depth) in op(X)'s view
  const void* at(int64_t r, int64_t p) const {
    int64_t off = r * rs + p * cs;
    return type == ElemType::F32 ? static_cast<const void*>(static_cast<const float*>(base) + off)
                                 : static_cast<const void*>(static_cast<const uint16_t*>(base) + off);
  }
};

void pack(void* dst, const Operand& op, int64_t r0, int64_t p0, int64_t rows, int64_t depth, int width, PackMode mode) {
  if (op.type == ElemType::F32)
    pack_block(dst, static_cast<const float*>(op.at(r0, p0)), op.rs, op.cs, rows, depth, width, mode);
  else
    pack_block(dst, static_cast<const uint16_t*>(op.at(r0, p0)), op.rs, op.cs, rows, depth, width, mode);
}

}  // namespace
}  // namespace sftkit
