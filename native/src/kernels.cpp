// N-API bindings of the fused kernels: each function has the name and arguments of the Backend
// method (src/engine/backend.ts), checks every type and length (TypeError / RangeError) so that
// no kernel can read or write outside its arrays, then runs the table of the active ISA.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "kernels.h"
#include "napi_args.h"
#include "registry.h"

namespace {

using sftkit::kern::active_table;
using sftkit::kern::AdamWParams;
using sftkit::kern::AttnParams;
using sftkit::kern::KernelTable;

using sftkit::napi::Args;
using sftkit::napi::F32;
using sftkit::napi::I32;
using sftkit::napi::MatView;

Napi::Value Add(const Napi::CallbackInfo& info) {
  Args a(info, "add");
  F32 x = a.f32(a.at(0), "a"), y = a.f32(a.at(1), "b"), out = a.f32(a.at(2), "out");
  a.length(y, x.len, "b", "same as a");
  a.length(out, x.len, "out", "same as a");
  if (!a.failed()) active_table().add(x.data, y.data, out.data, x.len);
  return a.env().Undefined();
}

Napi::Value Axpy(const Napi::CallbackInfo& info) {
  Args a(info, "axpy");
  float alpha = static_cast<float>(a.number(a.at(0), "alpha"));
  F32 x = a.f32(a.at(1), "x"), y = a.f32(a.at(2), "y");
  a.length(y, x.len, "y", "same as x");
  if (!a.failed()) active_table().axpy(alpha, x.data, y.data, x.len);
  return a.env().Undefined();
}

Napi::Value Scale(const Napi::CallbackInfo& info) {
  Args a(info, "scale");
  F32 x = a.f32(a.at(0), "x");
  float alpha = static_cast<float>(a.number(a.at(1), "alpha"));
  if (!a.failed()) active_table().scale(x.data, alpha, x.len);
  return a.env().Undefined();
}

Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args a(info, "sumSquares");
  F32 x = a.f32(a.at(0), "x");
  if (a.failed()) return a.env().Undefined();
  return Napi::Number::New(a.env(), active_table().sum_squares(x.data, x.len));
}

Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  Args a(info, "embeddingForward");
  MatView table = a.mat(a.at(0), "table");
  I32 ids = a.i32(a.at(1), "ids");
  int64_t dim = a.count(a.at(2), "dim");
  F32 out = a.f32(a.at(3), "out");
  if (a.failed()) return a.env().Undefined();
  a.require(dim > 0 && table.len % dim == 0,
            "table length " + std::to_string(table.len) + " is not a multiple of dim " + std::to_string(dim));
  a.length(out, a.product({ids.len, dim}, "out"), "out", "ids.length·dim");
  a.indices(ids, dim > 0 ? table.len / dim : 0, "ids");
  if (a.failed()) return a.env().Undefined();
  if (table.bf16)
    active_table().embedding_forward_bf16(static_cast<const uint16_t*>(table.data), ids.data, ids.len, dim, out.data);
  else
    active_table().embedding_forward_f32(static_cast<const float*>(table.data), ids.data, ids.len, dim, out.data);
  return a.env().Undefined();
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args a(info, "embeddingBackward");
  F32 dout = a.f32(a.at(0), "dOut");
  I32 ids = a.i32(a.at(1), "ids");
  int64_t dim = a.count(a.at(2), "dim");
  F32 dtable = a.f32(a.at(3), "dTable");
  if (a.failed()) return a.env().Undefined();
  a.require(dim > 0 && dtable.len % dim == 0,
            "dTable length " + std::to_string(dtable.len) + " is not a multiple of dim " + std::to_string(dim));
  a.length(dout, a.product({ids.len, dim}, "dOut"), "dOut", "ids.length·dim");
  a.indices(ids, dim > 0 ? dtable.len / dim : 0, "ids");
  if (!a.failed()) active_table().embedding_backward(dout.data, ids.data, ids.len, dim, dtable.data);
  return a.env().Undefined();
}

Napi::Value RmsnormForward(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormForward");
  F32 x = a.f32(a.at(0), "x");
  MatView w = a.mat(a.at(1), "w");
  int64_t rows = a.count(a.at(2), "rows"), dim = a.count(a.at(3), "dim");
  float eps = static_cast<float>(a.number(a.at(4), "eps"));
  F32 y = a.f32(a.at(5), "y"), rstd = a.f32(a.at(6), "rstd");
  const int64_t n = a.product({rows, dim}, "rows·dim");
  a.length(x, n, "x", "rows·dim");
  a.length(w, dim, "w", "dim");
  a.length(y, n, "y", "rows·dim");
  a.length(rstd, rows, "rstd", "rows");
  if (a.failed()) return a.env().Undefined();
  if (w.bf16)
    active_table().rmsnorm_forward_bf16(x.data, static_cast<const uint16_t*>(w.data), rows, dim, eps, y.data,
                                        rstd.data);
  else
    active_table().rmsnorm_forward_f32(x.data, static_cast<const float*>(w.data), rows, dim, eps, y.data, rstd.data);
  return a.env().Undefined();
}

Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormBackward");
  F32 dy = a.f32(a.at(0), "dy"), x = a.f32(a.at(1), "x");
  MatView w = a.mat(a.at(2), "w");
  F32 rstd = a.f32(a.at(3), "rstd");
  int64_t rows = a.count(a.at(4), "rows"), dim = a.count(a.at(5), "dim");
  F32 dx = a.f32(a.at(6), "dx"), dw = a.f32_or_null(a.at(7), "dw");
  const int64_t n = a.product({rows, dim}, "rows·dim");
  a.length(dy, n, "dy", "rows·dim");
  a.length(x, n, "x", "rows·dim");
  a.length(w, dim, "w", "dim");
  a.length(rstd, rows, "rstd", "rows");
  a.length(dx, n, "dx", "rows·dim");
  if (dw.present) a.length(dw, dim, "dw", "dim");
  if (a.failed()) return a.env().Undefined();
  float* dwp = dw.present ? dw.data : nullptr;
  if (w.bf16)
    active_table().rmsnorm_backward_bf16(dy.data, x.data, static_cast<const uint16_t*>(w.data), rstd.data, rows, dim,
                                         dx.data, dwp);
  else
    active_table().rmsnorm_backward_f32(dy.data, x.data, static_cast<const float*>(w.data), rstd.data, rows, dim,
                                        dx.data, dwp);
  return a.env().Undefined();
}

Napi::Value Rope(const Napi::CallbackInfo& info) {
  Args a(info, "rope");
  F32 x = a.f32(a.at(0), "x");
  I32 pos = a.i32(a.at(1), "positions");
  int64_t tokens = a.count(a.at(2), "tokens"), heads = a.count(a.at(3), "heads");
  int64_t head_dim = a.count(a.at(4), "headDim"), rot = a.count(a.at(5), "rotaryDim");
  F32 cos = a.f32(a.at(6), "cos"), sin = a.f32(a.at(7), "sin");
  bool inverse = a.boolean(a.at(8), "inverse");
  a.length(x, a.product({tokens, heads, head_dim}, "x"), "x", "tokens·heads·headDim");
  a.length(pos, tokens, "positions", "tokens");
  a.require(rot % 2 == 0 && rot <= head_dim,
            "rotaryDim " + std::to_string(rot) + " must be even and <= headDim " + std::to_string(head_dim));
  a.length(sin, cos.len, "sin", "same as cos");
  if (a.failed() || rot == 0) return a.env().Undefined();
  const int64_t half = rot / 2;
  a.require(cos.len % half == 0,
            "cos length " + std::to_string(cos.len) + " is not a multiple of rotaryDim/2 = " + std::to_string(half));
  a.indices(pos, cos.len / half, "positions");  // rows of the cos/sin table
  if (!a.failed()) active_table().rope(x.data, pos.data, tokens, heads, head_dim, rot, cos.data, sin.data, inverse);
  return a.env().Undefined();
}

// Reads and checks the AttentionShape fields and q/k/v; the q-shaped and kv-shaped sizes are returned.
struct AttnArgs {
  AttnParams p{};
  int64_t q_size = 0, kv_needed = 0, lse_size = 0;
  bool default_stride = true;
};

AttnArgs read_attention_shape(Args& a, Napi::Object o) {
  AttnArgs r;
  AttnParams& p = r.p;
  p.batch = a.count(a.field(o, "batch"), "batch");
  p.q_len = a.count(a.field(o, "qLen"), "qLen");
  p.kv_len = a.count(a.field(o, "kvLen"), "kvLen");
  p.heads = a.count(a.field(o, "heads"), "heads");
  p.kv_heads = a.count(a.field(o, "kvHeads"), "kvHeads");
  p.head_dim = a.count(a.field(o, "headDim"), "headDim");
  p.scale = static_cast<float>(a.number(a.field(o, "scale"), "scale"));
  if (a.failed()) return r;
  a.require(p.heads > 0 && p.kv_heads > 0 && p.heads % p.kv_heads == 0,
            "heads (" + std::to_string(p.heads) + ") must be a positive multiple of kvHeads (" +
                std::to_string(p.kv_heads) + ")");
  a.require(p.head_dim > 0, "headDim must be positive");
  a.require(p.q_len <= p.kv_len,
            "qLen (" + std::to_string(p.q_len) + ") must be <= kvLen (" + std::to_string(p.kv_len) + ")");
  const int64_t kv_item = a.product({p.kv_len, p.kv_heads, p.head_dim}, "kvLen·kvHeads·headDim");
  p.kv_stride = kv_item;
  Napi::Value stride = a.field(o, "kvBatchStride");
  if (!stride.IsUndefined() && !stride.IsNull()) {
    p.kv_stride = a.count(stride, "kvBatchStride");
    a.require(p.kv_stride >= kv_item, "kvBatchStride (" + std::to_string(p.kv_stride) +
                                          ") must be >= kvLen·kvHeads·headDim (" + std::to_string(kv_item) + ")");
    r.default_stride = false;
  }
  r.q_size = a.product({p.batch, p.q_len, p.heads, p.head_dim}, "q");
  r.kv_needed = p.batch == 0 ? 0 : a.product({p.batch - 1, p.kv_stride}, "k") + kv_item;
  r.lse_size = a.product({p.batch, p.heads, p.q_len}, "lse");
  p.window = a.count_or(a.field(o, "window"), "window", 0);
  I32 qs = a.i32_or_null(a.field(o, "qSeg"), "qSeg"), ks = a.i32_or_null(a.field(o, "kSeg"), "kSeg");
  if (a.failed()) return r;
  a.require(qs.present == ks.present, "qSeg and kSeg must be given together");
  if (qs.present) {
    a.length(qs, a.product({p.batch, p.q_len}, "qSeg"), "qSeg", "batch·qLen");
    a.length(ks, a.product({p.batch, p.kv_len}, "kSeg"), "kSeg", "batch·kvLen");
    p.q_seg = qs.data;
    p.k_seg = ks.data;
  }
  return r;
}

void check_kv(Args& a, const AttnArgs& r, const F32& t, const char* name) {
  if (r.default_stride)
    a.length(t, r.kv_needed, name, "batch·kvLen·kvHeads·headDim");
  else
    a.require(t.len >= r.kv_needed, std::string(name) + " has " + std::to_string(t.len) + " elements, needs at least " +
                                        std::to_string(r.kv_needed) +
                                        " ((batch-1)·kvBatchStride + kvLen·kvHeads·headDim)");
}

Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionForward");
  Napi::Object o = a.object(0, "args (AttentionForwardArgs)");
  if (a.failed()) return a.env().Undefined();
  AttnArgs r = read_attention_shape(a, o);
  F32 q = a.f32(a.field(o, "q"), "q"), k = a.f32(a.field(o, "k"), "k"), v = a.f32(a.field(o, "v"), "v");
  F32 out = a.f32(a.field(o, "out"), "out"), lse = a.f32_or_null(a.field(o, "lse"), "lse");
  a.length(q, r.q_size, "q", "batch·qLen·heads·headDim");
  a.length(out, r.q_size, "out", "batch·qLen·heads·headDim");
  check_kv(a, r, k, "k");
  check_kv(a, r, v, "v");
  if (lse.present) a.length(lse, r.lse_size, "lse", "batch·heads·qLen");
  if (!a.failed())
    active_table().attention_forward(r.p, q.data, k.data, v.data, out.data, lse.present ? lse.data : nullptr);
  return a.env().Undefined();
}

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionBackward");
  Napi::Object o = a.object(0, "args (AttentionBackwardArgs)");
  if (a.failed()) return a.env().Undefined();
  AttnArgs r = read_attention_shape(a, o);
  F32 q = a.f32(a.field(o, "q"), "q"), k = a.f32(a.field(o, "k"), "k"), v = a.f32(a.field(o, "v"), "v");
  F32 out = a.f32(a.field(o, "out"), "out"), lse = a.f32(a.field(o, "lse"), "lse"),
      dout = a.f32(a.field(o, "dout"), "dout");
  F32 dq = a.f32(a.field(o, "dq"), "dq"), dk = a.f32(a.field(o, "dk"), "dk"), dv = a.f32(a.field(o, "dv"), "dv");
  a.length(q, r.q_size, "q", "batch·qLen·heads·headDim");
  a.length(out, r.q_size, "out", "batch·qLen·heads·headDim");
  a.length(dout, r.q_size, "dout", "batch·qLen·heads·headDim");
  a.length(dq, r.q_size, "dq", "batch·qLen·heads·headDim");
  a.length(lse, r.lse_size, "lse", "batch·heads·qLen");
  check_kv(a, r, k, "k");
  check_kv(a, r, v, "v");
  check_kv(a, r, dk, "dk");
  check_kv(a, r, dv, "dv");
  if (a.failed()) return a.env().Undefined();
  active_table().attention_backward(r.p, q.data, k.data, v.data, out.data, lse.data, dout.data, dq.data, dk.data,
                                    dv.data);
  // dk/dv are overwritten as whole arrays: the gaps between batch items (kvBatchStride) become zeros.
  const int64_t item = r.p.kv_len * r.p.kv_heads * r.p.head_dim;
  for (F32* g : {&dk, &dv}) {
    if (r.p.batch == 0) std::fill(g->data, g->data + g->len, 0.0f);
    for (int64_t b = 0; b < r.p.batch; ++b) {
      const int64_t from = b * r.p.kv_stride + item;
      const int64_t to = b + 1 < r.p.batch ? (b + 1) * r.p.kv_stride : g->len;
      if (to > from) std::fill(g->data + from, g->data + to, 0.0f);
    }
  }
  return a.env().Undefined();
}

// The gated MLP activations (SwiGLU, GeGLU): out = act(g)·u and its backward, elementwise over equal lengths.
using GatedForwardFn = void (*)(const float*, const float*, float*, int64_t);
using GatedBackwardFn = void (*)(const float*, const float*, const float*, float*, float*, int64_t);

Napi::Value GatedForward(const Napi::CallbackInfo& info, const char* name, GatedForwardFn KernelTable::*slot) {
  Args a(info, name);
  F32 g = a.f32(a.at(0), "g"), u = a.f32(a.at(1), "u"), out = a.f32(a.at(2), "out");
  a.length(u, g.len, "u", "same as g");
  a.length(out, g.len, "out", "same as g");
  if (!a.failed()) (active_table().*slot)(g.data, u.data, out.data, g.len);
  return a.env().Undefined();
}

Napi::Value GatedBackward(const Napi::CallbackInfo& info, const char* name, GatedBackwardFn KernelTable::*slot) {
  Args a(info, name);
  F32 dout = a.f32(a.at(0), "dout"), g = a.f32(a.at(1), "g"), u = a.f32(a.at(2), "u");
  F32 dg = a.f32(a.at(3), "dg"), du = a.f32(a.at(4), "du");
  a.length(g, dout.len, "g", "same as dout");
  a.length(u, dout.len, "u", "same as dout");
  a.length(dg, dout.len, "dg", "same as dout");
  a.length(du, dout.len, "du", "same as dout");
  if (!a.failed()) (active_table().*slot)(dout.data, g.data, u.data, dg.data, du.data, dout.len);
  return a.env().Undefined();
}

Napi::Value SwigluForward(const Napi::CallbackInfo& info) {
  return GatedForward(info, "swigluForward", &KernelTable::swiglu_forward);
}
Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  return GatedBackward(info, "swigluBackward", &KernelTable::swiglu_backward);
}
Napi::Value GegluForward(const Napi::CallbackInfo& info) {
  return GatedForward(info, "gegluForward", &KernelTable::geglu_forward);
}
Napi::Value GegluBackward(const Napi::CallbackInfo& info) {
  return GatedBackward(info, "gegluBackward", &KernelTable::geglu_backward);
}

Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Args a(info, "crossEntropy");
  F32 logits = a.f32(a.at(0), "logits");
  I32 targets = a.i32(a.at(1), "targets");
  int64_t rows = a.count(a.at(2), "rows"), vocab = a.count(a.at(3), "vocab");
  F32 losses = a.f32(a.at(4), "losses");
  bool grad = a.boolean(a.at(5), "grad");
  float grad_scale = static_cast<float>(a.number(a.at(6), "gradScale"));
  a.length(logits, a.product({rows, vocab}, "logits"), "logits", "rows·vocab");
  a.length(targets, rows, "targets", "rows");
  a.length(losses, rows, "losses", "rows");
  a.require(rows == 0 || vocab > 0, "vocab must be positive");
  for (int64_t r = 0; r < rows && !a.failed(); ++r) {
    const int32_t t = targets.data[r];
    a.require(t == -100 || (t >= 0 && t < vocab), "targets[" + std::to_string(r) + "] = " + std::to_string(t) +
                                                      " is outside [0, " + std::to_string(vocab) + ") and not -100");
  }
  if (!a.failed()) active_table().cross_entropy(logits.data, targets.data, rows, vocab, losses.data, grad, grad_scale);
  return a.env().Undefined();
}

Napi::Value Adamw(const Napi::CallbackInfo& info) {
  Args a(info, "adamw");
  F32 param = a.f32(a.at(0), "param"), grad = a.f32(a.at(1), "grad"), m = a.f32(a.at(2), "m"), v = a.f32(a.at(3), "v");
  a.length(grad, param.len, "grad", "same as param");
  a.length(m, param.len, "m", "same as param");
  a.length(v, param.len, "v", "same as param");
  if (a.failed()) return a.env().Undefined();
  Napi::Object o = a.object(4, "args (AdamWArgs)");
  AdamWParams p;
  p.lr = a.number(a.field(o, "lr"), "lr");
  p.beta1 = a.number(a.field(o, "beta1"), "beta1");
  p.beta2 = a.number(a.field(o, "beta2"), "beta2");
  p.eps = a.number(a.field(o, "eps"), "eps");
  p.weight_decay = a.number(a.field(o, "weightDecay"), "weightDecay");
  p.step = a.number(a.field(o, "step"), "step");
  a.require(p.step >= 1, "step must be >= 1 (1-based)");
  a.require(p.beta1 >= 0 && p.beta1 < 1 && p.beta2 >= 0 && p.beta2 < 1, "beta1 and beta2 must be in [0, 1)");
  if (!a.failed()) active_table().adamw(param.data, grad.data, m.data, v.data, param.len, p);
  return a.env().Undefined();
}

Napi::Value Dropout(const Napi::CallbackInfo& info) {
  Args a(info, "dropout");
  F32 x = a.f32(a.at(0), "x"), out = a.f32(a.at(1), "out");
  double p = a.number(a.at(2), "p");
  int64_t seed = a.count(a.at(3), "seed"), offset = a.count(a.at(4), "offset");
  a.length(out, x.len, "out", "same as x");
  a.require(p >= 0.0 && p <= 1.0, "p must be in [0, 1]");
  if (!a.failed())
    active_table().dropout(x.data, out.data, x.len, p, static_cast<uint64_t>(seed), static_cast<uint64_t>(offset));
  return a.env().Undefined();
}

Napi::Value GemmNarrow(const Napi::CallbackInfo& info) {
  Args a(info, "gemmNarrow");
  bool trans_a = a.boolean(a.at(0), "transA");
  F32 x = a.f32(a.at(1), "a"), y = a.f32(a.at(2), "b"), c = a.f32(a.at(3), "c");
  int64_t m = a.count(a.at(4), "m"), n = a.count(a.at(5), "n"), k = a.count(a.at(6), "k");
  float alpha = static_cast<float>(a.number(a.at(7), "alpha"));
  bool accumulate = a.boolean(a.at(8), "accumulate");
  a.length(x, a.product({k, m}, "a"), "a", trans_a ? "k·m" : "m·k");
  a.length(y, a.product({k, n}, "b"), "b", "k·n");
  a.length(c, a.product({m, n}, "c"), "c", "m·n");
  using sftkit::napi::overlap;
  a.require(!overlap(x.data, x.len * 4, c.data, c.len * 4) && !overlap(y.data, y.len * 4, c.data, c.len * 4),
            "'c' must not share memory with 'a' or 'b'");
  if (!a.failed()) active_table().gemm_narrow(trans_a, x.data, y.data, c.data, m, n, k, alpha, accumulate);
  return a.env().Undefined();
}

}  // namespace

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  struct Entry {
    const char* name;
    Napi::Value (*fn)(const Napi::CallbackInfo&);
  };
  static const Entry entries[] = {
      {"add", Add},
      {"axpy", Axpy},
      {"scale", Scale},
      {"sumSquares", SumSquares},
      {"embeddingForward", EmbeddingForward},
      {"embeddingBackward", EmbeddingBackward},
      {"rmsnormForward", RmsnormForward},
      {"rmsnormBackward", RmsnormBackward},
      {"rope", Rope},
      {"attentionForward", AttentionForward},
      {"attentionBackward", AttentionBackward},
      {"swigluForward", SwigluForward},
      {"swigluBackward", SwigluBackward},
      {"gegluForward", GegluForward},
      {"gegluBackward", GegluBackward},
      {"crossEntropy", CrossEntropy},
      {"adamw", Adamw},
      {"dropout", Dropout},
      {"gemmNarrow", GemmNarrow},
  };
  for (const Entry& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
}
