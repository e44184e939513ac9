// Fused 4-bit (NF4/FP4, bitsandbytes layout) dequantize + GEMM, for QLoRA's frozen base weights.
//
// W [rows, cols] is stored as 4-bit codes (two per byte, first element in the high nibble) with one scale per
// block of `blocksize` consecutive elements of the flattened W; with double quantization the scales are uint8
// codes themselves (scale = nested_code[q]·nested_absmax[b / nested_blocksize] + offset, in f32).
//
// Each call dequantizes its W into one bf16 (or f32) buffer, the threads splitting the rows, and multiplies it with
// the threaded packed-panel GEMM (gemm_api.h) as a dense weight: forward C [m, rows] = A [m, cols]·Wᵀ, input
// gradient C [m, cols] = A [m, rows]·W. Decoding (m <= 4, AVX-512) reads the codes directly instead.
// Values are exactly bitsandbytes': f32 code[q]·scale, rounded to bf16 (RNE) for bf16 compute.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>

#include "cpu.h"
#include "gemm_api.h"
#include "napi_args.h"
#include "registry.h"
#include "scratch.h"
#include "threadpool.h"

namespace sftkit {
namespace {

struct Quant4 {
  int64_t rows = 0, cols = 0, blocksize = 64;
  const uint8_t* packed = nullptr;
  float code[16] = {};
  const float* absmax_f32 = nullptr;   // single quantization
  const uint8_t* absmax_u8 = nullptr;  // double quantization
  const float* nested_absmax = nullptr;
  const float* nested_code = nullptr;  // 256 entries
  int64_t nested_blocksize = 256;
  float offset = 0.0f;
};

// Walks the blocks of a run of elements in increasing order without an integer division per block.
struct BlockCursor {
  const Quant4& q;
  int64_t block, block_end;    // current 4-bit block and the element where it ends
  int64_t nested, nested_end;  // current nested block and the 4-bit block where it ends
  BlockCursor(const Quant4& quant, int64_t first_element) : q(quant) {
    block = first_element / q.blocksize;
    block_end = (block + 1) * q.blocksize;
    nested = block / q.nested_blocksize;
    nested_end = (nested + 1) * q.nested_blocksize;
  }
  void next() {
    ++block;
    block_end += q.blocksize;
    if (block >= nested_end) ++nested, nested_end += q.nested_blocksize;
  }
  float scale() const {
    if (q.absmax_f32) return q.absmax_f32[block];
    // Two roundings, as bitsandbytes: dequantize_blockwise (code·absmax2), then + offset.
    const float s = q.nested_code[q.absmax_u8[block]] * q.nested_absmax[nested];
    return s + q.offset;
  }
};

// The 16 values of the cursor's block, code[i]·scale in f32.
inline void block_lut(const BlockCursor& cur, float* lut) {
  const float s = cur.scale();
  for (int i = 0; i < 16; ++i) lut[i] = cur.q.code[i] * s;
}

inline void store(float* out, float v) { *out = v; }
inline void store(uint16_t* out, float v) { *out = f32_to_bf16_rne(v); }

// Dequantizes flattened elements [f0, f0 + len) of W into out[0, len) (scalar path).
template <typename Out>
void dequant_run_scalar(const Quant4& q, int64_t f0, int64_t len, Out* out) {
  const int64_t end = f0 + len;
  float lut[16];
  for (BlockCursor cur(q, f0); cur.block_end - q.blocksize < end; cur.next()) {
    const int64_t stop = std::min(end, cur.block_end);
    block_lut(cur, lut);
    for (int64_t f = std::max(f0, cur.block_end - q.blocksize); f < stop; ++f) {
      const uint8_t byte = q.packed[f >> 1];
      store(out + (f - f0), lut[(f & 1) ? (byte & 15) : (byte >> 4)]);
    }
  }
}

// Products with at most this many rows (decoding) take the ISA's few-rows kernel when it has one.
constexpr int64_t kFewRowsMax = 4;

#if defined(__x86_64__)
// AVX-512: per block, the 16 values are rounded to bf16 once and looked up 32 at a time with vpermw; the codes
// of 16 bytes become 32 word indices in element order (high nibble first).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void dequant_run_bf16_avx512(const Quant4& q, int64_t f0,
                                                                                           int64_t len, uint16_t* out) {
  const int64_t end = f0 + len;
  alignas(64) uint16_t table[32] = {};
  float lut[16];
  int64_t f = f0;
  for (BlockCursor cur(q, f0); f < end; cur.next()) {
    const int64_t stop = std::min(end, cur.block_end);
    block_lut(cur, lut);
    for (int i = 0; i < 16; ++i) table[i] = f32_to_bf16_rne(lut[i]);
    const __m512i tv = _mm512_load_si512(table);
    if ((f & 1) && f < stop) {  // odd start: the low nibble of a byte
      out[f - f0] = table[q.packed[f >> 1] & 15];
      ++f;
    }
    for (; f + 32 <= stop; f += 32) {
      const __m512i bytes =
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q.packed + (f >> 1))));
      // dword j = (high nibble) | (low nibble << 16): words 2j, 2j+1 = elements 2j, 2j+1.
      const __m512i idx = _mm512_or_si512(_mm512_srli_epi32(bytes, 4),
                                          _mm512_slli_epi32(_mm512_and_si512(bytes, _mm512_set1_epi32(15)), 16));
      _mm512_storeu_si512(out + (f - f0), _mm512_permutexvar_epi16(idx, tv));
    }
    for (; f < stop; ++f) {
      const uint8_t byte = q.packed[f >> 1];
      out[f - f0] = table[(f & 1) ? (byte & 15) : (byte >> 4)];
    }
  }
}

// Few rows of x·Wᵀ (decoding, m <= 4): dot products straight from the codes, no panel buffer. Per block the 16
// values code·scale (rounded to bf16 for bf16 compute, as the panel path rounds them) sit in one zmm and 16 codes
// at a time are looked up with vpermps; x rows were rounded to bf16 beforehand, so every product is the panel
// path's product and only the summation order differs.

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline float hsum_avx512(__m512 v) {
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void few_rows_avx512(const Quant4& q, const float* x,
                                                                                   int64_t m, float* c, bool accumulate,
                                                                                   bool round, int64_t j0, int64_t j1) {
  const __m512 codev = _mm512_loadu_ps(q.code);
  alignas(64) float lut[16];
  for (int64_t j = j0; j < j1; ++j) {
    __m512 acc[kFewRowsMax] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    float tail[kFewRowsMax] = {0, 0, 0, 0};
    const int64_t row0 = j * q.cols;
    int64_t f = row0;
    const int64_t end = row0 + q.cols;
    for (BlockCursor cur(q, row0); f < end; cur.next()) {
      const int64_t stop = std::min(end, cur.block_end);
      __m512 lv = _mm512_mul_ps(codev, _mm512_set1_ps(cur.scale()));
      if (round) {  // RNE to bf16 (the values are finite)
        const __m512i bits = _mm512_castps_si512(lv);
        const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
        lv = _mm512_castsi512_ps(
            _mm512_and_si512(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))),
                             _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
      }
      _mm512_store_ps(lut, lv);
      if ((f & 1) && f < stop) {
        const float w = lut[q.packed[f >> 1] & 15];
        for (int64_t i = 0; i < m; ++i) tail[i] += x[i * q.cols + (f - row0)] * w;
        ++f;
      }
      for (; f + 16 <= stop; f += 16) {
        const __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q.packed + (f >> 1))));
        // word i = (high nibble) | (low nibble << 8): as bytes, elements 2i, 2i+1 in order
        const __m128i nib = _mm_or_si128(_mm_srli_epi16(b, 4), _mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(15)), 8));
        const __m512 wv = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(nib), lv);
        for (int64_t i = 0; i < m; ++i)
          acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(x + i * q.cols + (f - row0)), wv, acc[i]);
      }
      for (; f < stop; ++f) {
        const uint8_t byte = q.packed[f >> 1];
        const float w = lut[(f & 1) ? (byte & 15) : (byte >> 4)];
        for (int64_t i = 0; i < m; ++i) tail[i] += x[i * q.cols + (f - row0)] * w;
      }
    }
    for (int64_t i = 0; i < m; ++i) {
      const float v = hsum_avx512(acc[i]) + tail[i];
      float& out = c[i * q.rows + j];
      out = accumulate ? out + v : v;
    }
  }
}
#endif

#if defined(__aarch64__)
#include "nf4_neon.inc"
#endif

void dequant_run(const Quant4& q, int64_t f0, int64_t len, uint16_t* out) {
#if defined(__x86_64__)
  if (active_isa() >= Isa::Avx512) return dequant_run_bf16_avx512(q, f0, len, out);
#elif defined(__aarch64__)
  if (active_isa() >= Isa::Neon) return dequant_run_bf16_neon(q, f0, len, out);
#endif
  dequant_run_scalar(q, f0, len, out);
}
void dequant_run(const Quant4& q, int64_t f0, int64_t len, float* out) { dequant_run_scalar(q, f0, len, out); }

// The dequantized W of the current call (filled by every thread, owned by the calling one), and the rounded x rows
// of the few-rows path.
thread_local Scratch tls_dequantized;

struct Nf4GemmDesc {
  Quant4 w;
  bool transposed = false;
  int64_t m = 0;
  const float* a = nullptr;
  float* c = nullptr;
  bool accumulate = false;
  bool bf16_compute = true;
};

// W is dequantized whole (bf16, or f32 for f32 compute), the threads splitting its rows, and multiplied by the
// threaded packed-panel GEMM exactly as a dense bf16 weight is, so a 4-bit base costs what a bf16 one does plus
// one pass over its codes. As bitsandbytes' QLoRA matmul, only this one matrix exists dequantized at a time.
template <typename Elem>
void nf4_gemm_typed(const Nf4GemmDesc& d) {
  const Quant4& q = d.w;
  Elem* w = static_cast<Elem*>(tls_dequantized.get(static_cast<size_t>(q.rows * q.cols) * sizeof(Elem)));
  parallel_for(q.rows, std::max<int64_t>(1, 16384 / q.cols), [&](int64_t r0, int64_t r1, int) {
    dequant_run(q, r0 * q.cols, (r1 - r0) * q.cols, w + r0 * q.cols);  // rows r0.. are contiguous in W
  });
  GemmDesc g;
  g.trans_b = !d.transposed;  // forward C = A·Wᵀ [m, rows]; input gradient C = A·W [m, cols]
  g.m = d.m;
  g.n = d.transposed ? q.cols : q.rows;
  g.k = d.transposed ? q.rows : q.cols;
  g.a = d.a, g.a_type = ElemType::F32, g.lda = g.k;
  g.b = w, g.b_type = std::is_same<Elem, uint16_t>::value ? ElemType::Bf16 : ElemType::F32, g.ldb = q.cols;
  g.c = d.c, g.ldc = g.n;
  g.accumulate = d.accumulate, g.bf16_compute = d.bf16_compute;
  gemm(g);
}

void nf4_gemm(const Nf4GemmDesc& d) {
  const int64_t in = d.transposed ? d.w.rows : d.w.cols, out = d.transposed ? d.w.cols : d.w.rows;
  if (d.m <= 0 || out <= 0) return;
  if (in <= 0) {  // an empty product
    if (!d.accumulate) std::fill(d.c, d.c + d.m * out, 0.0f);
    return;
  }
  // Few rows of x·Wᵀ (decoding): dot products straight from the codes where the ISA has a kernel for it.
  using FewRows = void (*)(const Quant4&, const float*, int64_t, float*, bool, bool, int64_t, int64_t);
  FewRows few_rows = nullptr;
#if defined(__x86_64__)
  if (active_isa() >= Isa::Avx512) few_rows = few_rows_avx512;
#elif defined(__aarch64__)
  if (active_isa() >= Isa::Neon) few_rows = few_rows_neon;
#endif
  if (few_rows && !d.transposed && d.m <= kFewRowsMax) {
    const Quant4& q = d.w;
    float* x = static_cast<float*>(tls_dequantized.get(static_cast<size_t>(d.m * q.cols) * sizeof(float)));
    for (int64_t i = 0; i < d.m * q.cols; ++i) x[i] = d.bf16_compute ? round_to_bf16(d.a[i]) : d.a[i];
    const int64_t min_rows = std::max<int64_t>(8, 65536 / q.cols);
    parallel_for(q.rows, min_rows,
                 [&](int64_t j0, int64_t j1, int) { few_rows(q, x, d.m, d.c, d.accumulate, d.bf16_compute, j0, j1); });
    return;
  }
  if (d.bf16_compute)
    nf4_gemm_typed<uint16_t>(d);
  else
    nf4_gemm_typed<float>(d);
}

}  // namespace
}  // namespace sftkit

// ---- N-API binding: nf4Gemm(args: Nf4GemmArgs) --------------------------------------------------

namespace {

using sftkit::napi::Args;
using sftkit::napi::kMaxExtent;

// Reads the Quantized4BitMatrix in args.w; every buffer must cover the matrix.
void read_quant4(Args& a, const Napi::Object& w, sftkit::Quant4* q) {
  q->rows = a.count(a.field(w, "rows"), "w.rows", kMaxExtent);
  q->cols = a.count(a.field(w, "cols"), "w.cols", kMaxExtent);
  q->blocksize = a.count(a.field(w, "blocksize"), "w.blocksize", kMaxExtent);
  if (a.failed()) return;
  a.require(q->blocksize >= 2 && q->blocksize % 2 == 0, "'w.blocksize' must be a positive even integer");
  const int64_t n = a.product({q->rows, q->cols}, "w"),
                blocks = q->blocksize ? (n + q->blocksize - 1) / q->blocksize : 0;
  const sftkit::napi::U8 packed = a.u8(a.field(w, "packed"), "w.packed");
  a.at_least(packed, (n + 1) / 2, "w.packed");
  const sftkit::napi::F32 code = a.f32(a.field(w, "code"), "w.code");
  a.at_least(code, 16, "w.code");
  if (a.failed()) return;
  q->packed = packed.data;
  std::copy(code.data, code.data + 16, q->code);
  Napi::Value absmax = a.field(w, "absmax");
  if (absmax.IsTypedArray() && absmax.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    // Double quantization: uint8 scale codes and the nested quantization state.
    const sftkit::napi::U8 codes = a.u8(absmax, "w.absmax");
    a.at_least(codes, blocks, "w.absmax");
    Napi::Value nested = a.field(w, "nested");
    if (!a.failed() && !nested.IsObject())
      a.type_error("'w.absmax' is a Uint8Array (double quantization) but 'w.nested' is missing");
    if (a.failed()) return;
    Napi::Object no = nested.As<Napi::Object>();
    q->absmax_u8 = codes.data;
    q->nested_blocksize = a.count(a.field(no, "blocksize"), "w.nested.blocksize", kMaxExtent);
    a.require(q->nested_blocksize >= 1, "'w.nested.blocksize' must be positive");
    if (a.failed()) return;
    const sftkit::napi::F32 nested_absmax = a.f32(a.field(no, "absmax"), "w.nested.absmax");
    a.at_least(nested_absmax, (blocks + q->nested_blocksize - 1) / q->nested_blocksize, "w.nested.absmax");
    const sftkit::napi::F32 nested_code = a.f32(a.field(no, "code"), "w.nested.code");
    a.at_least(nested_code, 256, "w.nested.code");
    q->offset = static_cast<float>(a.number(a.field(no, "offset"), "w.nested.offset"));
    q->nested_absmax = nested_absmax.data;
    q->nested_code = nested_code.data;
  } else {
    const sftkit::napi::F32 scales =
        a.typed<float, napi_float32_array>(absmax, "w.absmax", "Float32Array or Uint8Array", false);
    a.at_least(scales, blocks, "w.absmax");
    q->absmax_f32 = scales.data;
  }
}

// Reads an Nf4GemmArgs object into d; false (with a pending JS exception) when an argument is invalid.
bool read_nf4_args(Args& a, sftkit::Nf4GemmDesc* d) {
  Napi::Object o = a.object(0, "args (Nf4GemmArgs)");
  Napi::Object w = a.object_of(a.field(o, "w"), "'w' (Quantized4BitMatrix)");
  if (a.failed()) return false;
  sftkit::Quant4& q = d->w;
  read_quant4(a, w, &q);
  d->transposed = a.boolean(a.field(o, "transposed"), "transposed");
  d->m = a.count(a.field(o, "m"), "m", kMaxExtent);
  if (a.failed()) return false;
  const int64_t in = d->transposed ? q.rows : q.cols, out = d->transposed ? q.cols : q.rows;
  const sftkit::napi::F32 x = a.f32(a.field(o, "a"), "a");
  a.at_least(x, a.product({d->m, in}, "a"), "a");
  const sftkit::napi::F32 c = a.f32(a.field(o, "c"), "c");
  a.at_least(c, a.product({d->m, out}, "c"), "c");
  d->accumulate = a.boolean_or(a.field(o, "accumulate"), "accumulate", false);
  d->bf16_compute = a.bf16_compute_or(a.field(o, "compute"), "compute", true);
  if (a.failed()) return false;
  d->a = x.data;
  d->c = c.data;
  return true;
}

Napi::Value Nf4GemmFn(const Napi::CallbackInfo& info) {
  Args a(info, "nf4Gemm");
  sftkit::Nf4GemmDesc d;
  if (read_nf4_args(a, &d)) sftkit::nf4_gemm(d);
  return a.env().Undefined();
}

}  // namespace

void RegisterNf4(Napi::Env env, Napi::Object exports) {
  exports.Set("nf4Gemm", Napi::Function::New(env, Nf4GemmFn, "nf4Gemm"));
}
