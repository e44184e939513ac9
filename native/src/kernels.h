// Fused kernels: one table of entry points per instruction set (kernels_isa.cpp builds the
// scalar, AVX2 and AVX-512 tables from the same source); kernels.cpp validates the N-API
// arguments and calls the table that active_isa() selects.
#pragma once
#include <cstdint>

namespace sftkit {
namespace kern {

// Attention geometry; q/out/dout are [B, Tq, H, hd], k/v/dk/dv are [B, Tk, Hkv, hd] with
// batch items kv_stride elements apart, lse is [B, H, Tq], segment ids [B, Tq] / [B, Tk].
struct AttnParams {
  int64_t batch, q_len, kv_len, heads, kv_heads, head_dim, kv_stride;
  float scale;
  const int32_t* q_seg;  // null: no segments
  const int32_t* k_seg;
  int64_t window;  // sliding window: query at key position qa sees keys j > qa - window; 0: none
};

// Hyper-parameters stay double (as PyTorch's Python floats) until the f32 coefficients are formed.
struct AdamWParams {
  double lr, beta1, beta2, eps, weight_decay, step;
};

struct KernelTable {
  void (*add)(const float* a, const float* b, float* out, int64_t n);
  void (*axpy)(float alpha, const float* x, float* y, int64_t n);
  void (*scale)(float* x, float alpha, int64_t n);
  double (*sum_squares)(const float* x, int64_t n);
  void (*embedding_forward_f32)(const float* table, const int32_t* ids, int64_t tokens, int64_t dim, float* out);
  void (*embedding_forward_bf16)(const uint16_t* table, const int32_t* ids, int64_t tokens, int64_t dim, float* out);
  void (*embedding_backward)(const float* dout, const int32_t* ids, int64_t tokens, int64_t dim, float* dtable);
  void (*rmsnorm_forward_f32)(const float* x, const float* w, int64_t rows, int64_t dim, float eps, float* y,
                              float* rstd);
  void (*rmsnorm_forward_bf16)(const float* x, const uint16_t* w, int64_t rows, int64_t dim, float eps, float* y,
                               float* rstd);
  void (*rmsnorm_backward_f32)(const float* dy, const float* x, const float* w, const float* rstd, int64_t rows,
                               int64_t dim, float* dx, float* dw);
  void (*rmsnorm_backward_bf16)(const float* dy, const float* x, const uint16_t* w, const float* rstd, int64_t rows,
                                int64_t dim, float* dx, float* dw);
  void (*rope)(float* x, const int32_t* positions, int64_t tokens, int64_t heads, int64_t head_dim, int64_t rotary_dim,
               const float* cos, const float* sin, bool inverse);
  void (*attention_forward)(const AttnParams& p, const float* q, const float* k, const float* v, float* out,
                            float* lse);
  void (*attention_backward)(const AttnParams& p, const float* q, const float* k, const float* v, const float* out,
                             const float* lse, const float* dout, float* dq, float* dk, float* dv);
  void (*swiglu_forward)(const float* g, const float* u, float* out, int64_t n);
  void (*swiglu_backward)(const float* dout, const float* g, const float* u, float* dg, float* du, int64_t n);
  // targets already validated (each -100 or in [0, vocab)).
  void (*cross_entropy)(float* logits, const int32_t* targets, int64_t rows, int64_t vocab, float* losses, bool grad,
                        float grad_scale);
  void (*adamw)(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWParams& a);
  void (*dropout)(const float* x, float* out, int64_t n, double p, uint64_t seed, uint64_t offset);
  // C[m, n] (+)= alpha·op(A)·B, op(A) = Aᵀ of A [k, m] (trans_a) or A [m, k], B [k, n], row-major f32
  // (kernels_narrow.inc); C overlaps neither.
  void (*gemm_narrow)(bool trans_a, const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k,
                      float alpha, bool accumulate);
  // out = gelu_tanh(g)·u (Gemma's GeGLU) and its backward (dg, du overwritten).
  void (*geglu_forward)(const float* g, const float* u, float* out, int64_t n);
  void (*geglu_backward)(const float* dout, const float* g, const float* u, float* dg, float* du, int64_t n);
};

// Every slot of KernelTable by name. kernels_isa.cpp fills a table slot by slot from this list (t.add = &add; ...),
// so two kernels of the same signature cannot trade places, and the static_assert below fails when a slot is added
// to the struct but not to the list.
// clang-format off
#define SFTKIT_KERNEL_SLOTS(X) \
  X(add) \
  X(axpy) \
  X(scale) \
  X(sum_squares) \
  X(embedding_forward_f32) \
  X(embedding_forward_bf16) \
  X(embedding_backward) \
  X(rmsnorm_forward_f32) \
  X(rmsnorm_forward_bf16) \
  X(rmsnorm_backward_f32) \
  X(rmsnorm_backward_bf16) \
  X(rope) \
  X(attention_forward) \
  X(attention_backward) \
  X(swiglu_forward) \
  X(swiglu_backward) \
  X(cross_entropy) \
  X(adamw) \
  X(dropout) \
  X(gemm_narrow) \
  X(geglu_forward) \
  X(geglu_backward)
// clang-format on

#define SFTKIT_COUNT_SLOT(name) +1
static_assert(sizeof(KernelTable) == (0 SFTKIT_KERNEL_SLOTS(SFTKIT_COUNT_SLOT)) * sizeof(void (*)()),
              "SFTKIT_KERNEL_SLOTS must list every KernelTable slot");
#undef SFTKIT_COUNT_SLOT

namespace scalar {
const KernelTable& table();
}
namespace avx2 {
const KernelTable& table();
}
namespace avx512 {
const KernelTable& table();
}
namespace neon {
const KernelTable& table();
}

// The table for the ISA in use (active_isa(): SFTKIT_ISA / setIsa() can force a lower one).
const KernelTable& active_table();

// Counter-based RNG for dropout (twin: src/engine/counter-rng.ts; both must stay bit-identical).
//   mix32(h):  h ^= h >> 16; h *= 0x7feb352d; h ^= h >> 15; h *= 0x846ca68b; h ^= h >> 16   (uint32 arithmetic)
//   key(seed, hi) = mix32(mix32(mix32(seed_hi ^ 0x9e3779b9) ^ seed_lo) ^ hi ^ 0x85ebca6b)
//   bits(seed, c) = mix32(mix32(c_lo ^ key) + 0x6a09e667)        with c = offset + i split in 32-bit halves
//   keep(i) iff (bits >> 8) >= ceil(p · 2^24)      (exact: p·2^24 in double, then ceil)
//   out[i] = keep ? x[i] · f : 0 with f = (float)(1 / (1 - p)) (double division, rounded to f32, f32 product); p == 1
//   gives 0.
inline uint32_t rng_mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}
inline uint32_t rng_key(uint64_t seed, uint32_t counter_hi) {
  uint32_t k = rng_mix32(static_cast<uint32_t>(seed >> 32) ^ 0x9e3779b9u);
  k = rng_mix32(k ^ static_cast<uint32_t>(seed));
  return rng_mix32(k ^ counter_hi ^ 0x85ebca6bu);
}
inline uint32_t rng_bits(uint32_t key, uint32_t counter_lo) {
  return rng_mix32(rng_mix32(counter_lo ^ key) + 0x6a09e667u);
}

}  // namespace kern
}  // namespace sftkit
