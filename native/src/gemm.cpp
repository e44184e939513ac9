// Cache-blocked, packed-panel GEMM (GotoBLAS/BLIS loop structure) with register-tiled micro-kernels
// for AMX (TDPBF16PS on 2 x 2 tiles, gemm_amx.h), AVX-512 BF16 (vdpbf16ps on k-pairs), AVX-512 and AVX2 FMA (f32),
// and portable scalar code.
//
// Loops: jc over NC columns -> pc over KC depth (pack a KC x NC panel of op(B), shared by all threads)
// -> each thread takes one rectangle of C (a rows x cols grid of the thread count), packs MC x KC blocks
// of op(A) for its rows and runs the micro-kernel over its MR x NR tiles. Packed panels are zero-padded
// to whole tiles, so the kernels never branch on edges except when writing C.
// Products with at most 4 rows and a transposed B (x·Wᵀ while decoding) skip packing: gemm_few_rows.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include "cpu.h"
#include "gemm_amx.h"
#include "gemm_api.h"
#include "gemm_blas.h"
#include "gemm_few_rows.h"
#include "gemm_kernels.h"
#include "gemm_kernels_neon.h"
#include "gemm_pack.h"
#include "threadpool.h"

namespace sftkit {
namespace {

// ---- plans -------------------------------------------------------------------------------------

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

struct Plan {
  MicroKernel kernel;
  PackMode mode;  // op(B)'s panels, and op(A)'s unless a_mode says otherwise
  int mr, nr;
  int64_t kc;  // depth block (even for Pairs)
  int64_t mc;  // rows of op(A) per packed block (multiple of mr)
  int64_t nc;  // least columns of op(B) per packed panel (multiple of nr)
  int64_t elem_bytes;
  PackMode a_mode = mode;
  // Called by every thread around its share of the product (the AMX tile configuration is per thread).
  void (*thread_begin)() = nullptr;
  void (*thread_end)() = nullptr;
};

// The AMX path's plan: 32 x 32 micro-tiles, op(A) row-major and op(B) in k-pairs, both padded to 32-step tiles.
Plan amx_plan(MicroKernel kernel, void (*begin)(), void (*end)()) {
  return {kernel, PackMode::AmxB, kAmxMR, kAmxNR, 2048, kAmxMR * 10, 2048, 2, PackMode::AmxA, begin, end};
}

// SFTKIT_GEMM_EMULATE_AMX=1 (a testing knob) runs bf16 products through the AMX path with the tile instructions
// emulated in scalar code (gemm_amx.h), on any CPU.
bool emulate_amx() {
  const char* e = std::getenv("SFTKIT_GEMM_EMULATE_AMX");
  return e && std::strcmp(e, "1") == 0;
}

// SFTKIT_GEMM_BLOCKS="kc,mc,nc" caps the depth, row and column blocks (in elements; 0 = default).
// A testing knob: small blocks make small products cross every block boundary.
struct BlockCaps {
  int64_t kc = 0, mc = 0, nc = 0;
};
BlockCaps block_caps() {
  BlockCaps caps;
  if (const char* e = std::getenv("SFTKIT_GEMM_BLOCKS")) {
    long long kc = 0, mc = 0, nc = 0;
    if (std::sscanf(e, "%lld,%lld,%lld", &kc, &mc, &nc) == 3)
      caps = {std::max(0LL, kc), std::max(0LL, mc), std::max(0LL, nc)};
  }
  return caps;
}

Plan default_plan(bool bf16_compute);
Plan make_plan(bool bf16_compute) {
  Plan p = default_plan(bf16_compute);
  const BlockCaps caps = block_caps();
  if (caps.kc > 0) p.kc = std::max<int64_t>(pack_group(p.mode), caps.kc);
  if (caps.mc > 0) p.mc = round_up(caps.mc, p.mr);
  if (caps.nc > 0) p.nc = -round_up(caps.nc, p.nr);  // negative: a hard cap, not a minimum
  return p;
}
Plan default_plan(bool bf16_compute) {
  Isa isa = active_isa();
  if (bf16_compute && emulate_amx()) return amx_plan(kernel_amx_emulated, amx_emulated_begin, amx_emulated_end);
#if defined(SFTKIT_AMX)
  if (bf16_compute && isa == Isa::Amx) return amx_plan(kernel_amx, amx_begin, amx_end);
#endif
#if defined(__x86_64__)
  if (bf16_compute && isa >= Isa::Avx512Bf16)
    return {kernel_avx512bf16, PackMode::Pairs, kAvx512MR, kAvx512NR, 2048, 14 * 24, 2048, 2};
  PackMode fmode = bf16_compute ? PackMode::F32Round : PackMode::F32;
  if (isa >= Isa::Avx512) return {kernel_avx512, fmode, kAvx512MR, kAvx512NR, 1024, 14 * 24, 2048, 4};
  if (isa >= Isa::Avx2) return {kernel_avx2, fmode, kAvx2MR, kAvx2NR, 1024, 6 * 48, 2048, 4};
#endif
#if defined(__aarch64__)
#if defined(SFTKIT_NEON_BF16)
  if (bf16_compute && isa >= Isa::NeonBf16)
    return {kernel_neon_bfmmla, PackMode::Quads, kNeonMR, kNeonBfNR, 1024, kNeonMR * 24, 2048, 2};
#endif
  if (isa >= Isa::Neon)
    return {
        kernel_neon, bf16_compute ? PackMode::F32Round : PackMode::F32, kNeonMR, kNeonNR, 512, kNeonMR * 24, 2048, 4};
#endif
  return {kernel_scalar, bf16_compute ? PackMode::F32Round : PackMode::F32, kScalarMR, kScalarNR, 256, 4 * 64, 2048, 4};
}

thread_local Scratch tls_a_buffer;
thread_local Scratch tls_b_buffer;

void zero_or_keep(const GemmDesc& d, float* c) {
  if (d.accumulate) return;
  for (int64_t i = 0; i < d.m; ++i) std::fill(c + i * d.ldc, c + i * d.ldc + d.n, 0.0f);
}

// How the threads tile C: rows x cols rectangles, one per thread.
struct Grid {
  int64_t rows, cols;
};

// Picks the factorisation of the thread count that minimises the largest rectangle (in micro-tiles),
// preferring row splits (the shared B panel is packed once; A blocks are then never packed twice).
Grid split_threads(int nthreads, int64_t mpanels, int64_t npanels) {
  Grid best{1, 1};
  int64_t best_cost = -1;
  for (int64_t t = std::max(1, nthreads); t >= 1; --t) {  // fewer threads when there are fewer tiles
    for (int64_t r = t; r >= 1; --r) {
      if (t % r) continue;
      const int64_t c = t / r;
      if (r > mpanels || c > npanels) continue;
      const int64_t cost = ((mpanels + r - 1) / r) * ((npanels + c - 1) / c);
      if (best_cost < 0 || cost < best_cost) best = {r, c}, best_cost = cost;
    }
  }
  return best;
}

// One GEMM (one batch item).
void gemm_one(const GemmDesc& d, const void* a, const void* b, float* c, const Plan& plan, bool threaded) {
  if (d.m <= 0 || d.n <= 0) return;
  if (d.k <= 0) return zero_or_keep(d, c);

  // op(A) element (i, p); op(B)ᵀ element (j, p): both packers read "row, depth".
  Operand opa{a, d.a_type, d.trans_a ? 1 : d.lda, d.trans_a ? d.lda : 1};
  Operand opb{b, d.b_type, d.trans_b ? d.ldb : 1, d.trans_b ? 1 : d.ldb};

  const int64_t group = pack_group(plan.mode);  // depth steps per packed group (2 for Pairs, 4 for Quads)
  // Even depth blocks (k = 576 -> 3 x 192 rather than 256 + 256 + 64).
  const int64_t kblocks = (d.k + plan.kc - 1) / plan.kc;
  const int64_t kc_block = round_up((d.k + kblocks - 1) / kblocks, group);
  const int64_t mr = plan.mr, nr = plan.nr;
  const int nthreads = threaded ? num_threads() : 1;

  // Rows per packed A block: as many as keep it within ~384 KB of L2 (the B panel streams beside it).
  const int64_t mc =
      std::max<int64_t>(std::min<int64_t>(plan.mc, 2 * mr),
                        std::min<int64_t>(plan.mc, (384 << 10) / (kc_block * plan.elem_bytes)) / mr * mr);

  const int64_t mpanels = (d.m + mr - 1) / mr;
  // Columns per packed B panel: up to ~8 MB of it (it lives in L3), so wide products such as the LM head
  // (n = vocab) repack A as rarely as possible.
  const int64_t nc_block =
      plan.nc < 0 ? -plan.nc : std::max<int64_t>(plan.nc, (8 << 20) / (kc_block * plan.elem_bytes) / nr * nr);
  for (int64_t jc = 0; jc < d.n; jc += nc_block) {
    const int64_t nc = std::min(nc_block, d.n - jc);
    const int64_t npanels = (nc + nr - 1) / nr;
    const Grid grid = split_threads(nthreads, mpanels, npanels);
    for (int64_t pc = 0; pc < d.k; pc += kc_block) {
      const int64_t kc = std::min(kc_block, d.k - pc);
      const int64_t kpad = round_up(kc, group);
      const int64_t panel_elems = kpad * nr;
      const bool add = d.accumulate || pc > 0;

      void* bpack = tls_b_buffer.get(static_cast<size_t>(npanels * panel_elems * plan.elem_bytes));
      // Pack op(B) panels in parallel (each panel is independent).
      auto pack_b = [&](int64_t p0, int64_t p1, int) {
        for (int64_t p = p0; p < p1; ++p) {
          int64_t j0 = p * nr;
          pack(static_cast<char*>(bpack) + p * panel_elems * plan.elem_bytes, opb, jc + j0, pc, std::min(nr, nc - j0),
               kc, static_cast<int>(nr), plan.mode);
        }
      };
      if (threaded)
        parallel_for(npanels, std::max<int64_t>(1, 64 / std::max<int64_t>(1, kc / 64)), pack_b);
      else
        pack_b(0, npanels, 0);

      // Each thread owns one rectangle of C (whole micro-tiles): rows split into grid.rows groups,
      // column panels into grid.cols groups. It packs the A blocks of its own rows.
      auto compute = [&](int64_t r0, int64_t r1, int) {
        void* apack = tls_a_buffer.get(static_cast<size_t>(round_up(mc, mr) * kpad * plan.elem_bytes));
        if (plan.thread_begin) plan.thread_begin();
        for (int64_t region = r0; region < r1; ++region) {
          const int64_t gr = region / grid.cols, gc = region % grid.cols;
          const int64_t row_begin = std::min(d.m, mpanels * gr / grid.rows * mr);
          const int64_t row_end = std::min(d.m, mpanels * (gr + 1) / grid.rows * mr);
          const int64_t panel_begin = npanels * gc / grid.cols, panel_end = npanels * (gc + 1) / grid.cols;
          for (int64_t i0 = row_begin; i0 < row_end; i0 += mc) {
            const int64_t mrows = std::min(mc, row_end - i0);
            pack(apack, opa, i0, pc, mrows, kc, static_cast<int>(mr), plan.a_mode);
            for (int64_t p = panel_begin; p < panel_end; ++p) {
              const int64_t j0 = p * nr;
              const int ncols = static_cast<int>(std::min(nr, nc - j0));
              const char* bpanel = static_cast<const char*>(bpack) + p * panel_elems * plan.elem_bytes;
              for (int64_t ir = 0; ir < mrows; ir += mr) {
                const char* apanel = static_cast<const char*>(apack) + ir * kpad * plan.elem_bytes;
                plan.kernel(kc, apanel, bpanel, c + (i0 + ir) * d.ldc + jc + j0, d.ldc, d.alpha, add,
                            static_cast<int>(std::min(mr, mrows - ir)), ncols);
              }
            }
          }
        }
        if (plan.thread_end) plan.thread_end();
      };
      if (grid.rows * grid.cols > 1)
        parallel_for(grid.rows * grid.cols, 1, compute);
      else
        compute(0, 1, 0);
    }
  }
}

#if defined(SFTKIT_AMX)
// A 32 x 40 x 32 product of small integers (exact in bf16 and f32) on one AMX micro-tile, against plain
// arithmetic: catches a CPU or OS whose tile unit does not do what gemm_amx.h assumes. The operands are laid out
// here straight from the documented tile formats rather than by the packers, which consult the active ISA (this
// runs while it is being detected) and are checked against the same formats by the emulation tests.
bool amx_tiles_agree(std::string* why) {
  constexpr int m = kAmxMR, n = kAmxNR, k = 40;
  constexpr int64_t kpad = (k + kAmxDepth - 1) / kAmxDepth * kAmxDepth;
  float a[m * k], b[k * n], c[m * n];
  for (int i = 0; i < m * k; ++i) a[i] = static_cast<float>((i * 7) % 11 - 5);
  for (int i = 0; i < k * n; ++i) b[i] = static_cast<float>((i * 5) % 13 - 6);
  alignas(64) uint16_t apack[m * kpad] = {}, bpack[n * kpad] = {};
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < k; ++p) apack[i * kpad + p] = f32_to_bf16_rne(a[i * k + p]);  // A rows, depth contiguous
  for (int p = 0; p < k; ++p)
    for (int j = 0; j < n; ++j) bpack[(p / 2) * 2 * n + 2 * j + p % 2] = f32_to_bf16_rne(b[p * n + j]);  // k-pairs
  amx_begin();
  kernel_amx(k, apack, bpack, c, n, 1.0f, false, m, n);
  amx_end();
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float want = 0;
      for (int p = 0; p < k; ++p) want += a[i * k + p] * b[p * n + j];
      if (c[i * n + j] != want) {
        *why = "C[" + std::to_string(i) + "," + std::to_string(j) + "] = " + std::to_string(c[i * n + j]) +
               ", expected " + std::to_string(want);
        return false;
      }
    }
  return true;
}
#endif

const void* offset(const void* base, ElemType t, int64_t elems) {
  return t == ElemType::F32 ? static_cast<const void*>(static_cast<const float*>(base) + elems)
                            : static_cast<const void*>(static_cast<const uint16_t*>(base) + elems);
}
}  // namespace

bool amx_self_test(std::string* why) {
#if defined(SFTKIT_AMX)
  return amx_tiles_agree(why);
#else
  *why = "this build has no AMX kernels (compiler without AMX intrinsics)";
  return false;
#endif
}

void gemm(const GemmDesc& d, bool threaded) {
  // Waking the pool costs microseconds: not worth it for products of a few hundred thousand flops.
  if (2.0 * static_cast<double>(d.m) * d.n * d.k * d.batch < 2e5) threaded = false;
  if (d.m >= 1 && d.m <= kDotRowsMax && d.n > 0 && d.k > 0 && d.trans_b &&
      !(d.bf16_compute && d.b_type == ElemType::F32)) {
    for (int64_t bi = 0; bi < d.batch; ++bi)
      gemm_few_rows(d, offset(d.a, d.a_type, bi * d.stride_a), offset(d.b, d.b_type, bi * d.stride_b),
                    d.c + bi * d.stride_c, threaded);
    return;
  }
#if defined(SFTKIT_HAVE_CBLAS)
  if (gemm_blas(d)) return;
#endif
  const Plan plan = make_plan(d.bf16_compute);
  const int nthreads = threaded ? num_threads() : 1;
  const double item_flops = 2.0 * static_cast<double>(d.m) * d.n * d.k;
  // Many small items whose C blocks do not overlap: one item per thread beats splitting each item.
  const bool c_disjoint = d.stride_c >= (d.m - 1) * d.ldc + d.n;
  if (nthreads > 1 && d.batch >= nthreads && item_flops < 16e6 && c_disjoint) {
    parallel_for(d.batch, 1, [&](int64_t b0, int64_t b1, int) {
      for (int64_t bi = b0; bi < b1; ++bi)
        gemm_one(d, offset(d.a, d.a_type, bi * d.stride_a), offset(d.b, d.b_type, bi * d.stride_b),
                 d.c + bi * d.stride_c, plan, false);
    });
    return;
  }
  for (int64_t bi = 0; bi < d.batch; ++bi)
    gemm_one(d, offset(d.a, d.a_type, bi * d.stride_a), offset(d.b, d.b_type, bi * d.stride_b), d.c + bi * d.stride_c,
             plan, threaded);
}

}  // namespace sftkit

// ---- N-API binding: gemm(args: GemmArgs) ------------------------------------------------------

#include <string>

#include "napi_args.h"
#include "registry.h"

namespace {

using sftkit::ElemType;
using sftkit::napi::Args;
using sftkit::napi::MatView;

// Every element a batch of [rows, cols] matrices with leading dimension ld and stride touches lies below length.
void check_extent(Args& a, const char* name, int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t stride,
                  int64_t length) {
  if (a.failed()) return;
  if (ld < std::max<int64_t>(1, cols)) {
    a.range_error(std::string("ld") + name + " = " + std::to_string(ld) + " is smaller than the row length " +
                  std::to_string(cols));
    return;
  }
  if (rows == 0 || cols == 0 || batch == 0) return;
  // One past the last element read or written, saturated at INT64_MAX (all terms are non-negative); portable
  // 64-bit arithmetic rather than __int128, which MSVC lacks.
  auto mul = [](int64_t x, int64_t y) { return x != 0 && y > INT64_MAX / x ? INT64_MAX : x * y; };
  auto add = [](int64_t x, int64_t y) { return x > INT64_MAX - y ? INT64_MAX : x + y; };
  const int64_t last = add(add(mul(batch - 1, stride), mul(rows - 1, ld)), cols);
  if (last > length)
    a.range_error(std::string(name) + " needs " + std::to_string(last) + " elements (" + std::to_string(batch) +
                  " x [" + std::to_string(rows) + "," + std::to_string(cols) + "], ld " + std::to_string(ld) +
                  ", stride " + std::to_string(stride) + ") but has " + std::to_string(length));
}

// Reads a GemmArgs object into d; false (with a pending JS exception) when an argument is invalid.
bool read_gemm_args(Args& a, sftkit::GemmDesc* d) {
  using sftkit::napi::kMaxExtent;
  Napi::Object o = a.object(0, "args (GemmArgs)");
  d->trans_a = a.boolean_or(a.field(o, "transA"), "transA", false);
  d->trans_b = a.boolean_or(a.field(o, "transB"), "transB", false);
  d->accumulate = a.boolean_or(a.field(o, "accumulate"), "accumulate", false);
  d->m = a.count(a.field(o, "m"), "m", kMaxExtent);
  d->n = a.count(a.field(o, "n"), "n", kMaxExtent);
  d->k = a.count(a.field(o, "k"), "k", kMaxExtent);
  const MatView ma = a.mat(a.field(o, "a"), "a"), mb = a.mat(a.field(o, "b"), "b");
  const sftkit::napi::F32 c = a.f32(a.field(o, "c"), "c");
  if (a.failed()) return false;
  // Stored shapes: A [m,k] or [k,m]; B [k,n] or [n,k]; C [m,n].
  const int64_t a_rows = d->trans_a ? d->k : d->m, a_cols = d->trans_a ? d->m : d->k;
  const int64_t b_rows = d->trans_b ? d->n : d->k, b_cols = d->trans_b ? d->k : d->n;
  d->lda = a.count_or(a.field(o, "lda"), "lda", std::max<int64_t>(1, a_cols), kMaxExtent);
  d->ldb = a.count_or(a.field(o, "ldb"), "ldb", std::max<int64_t>(1, b_cols), kMaxExtent);
  d->ldc = a.count_or(a.field(o, "ldc"), "ldc", std::max<int64_t>(1, d->n), kMaxExtent);
  d->batch = a.count_or(a.field(o, "batch"), "batch", 1, kMaxExtent);
  if (a.failed()) return false;
  d->stride_a = a.count_or(a.field(o, "strideA"), "strideA", a_rows * d->lda, kMaxExtent);
  d->stride_b = a.count_or(a.field(o, "strideB"), "strideB", b_rows * d->ldb, kMaxExtent);
  d->stride_c = a.count_or(a.field(o, "strideC"), "strideC", d->m * d->ldc, kMaxExtent);
  d->alpha = static_cast<float>(a.number_or(a.field(o, "alpha"), "alpha", 1.0));
  d->bf16_compute = a.bf16_compute_or(a.field(o, "compute"), "compute", ma.bf16 || mb.bf16);
  check_extent(a, "A", a_rows, a_cols, d->lda, d->batch, d->stride_a, ma.len);
  check_extent(a, "B", b_rows, b_cols, d->ldb, d->batch, d->stride_b, mb.len);
  check_extent(a, "C", d->m, d->n, d->ldc, d->batch, d->stride_c, c.len);
  // C is written while A and B are read, in packed blocks: overlapping buffers would give garbage.
  using sftkit::napi::overlap;
  a.require(!overlap(ma.data, ma.bytes(), c.data, c.len * 4) && !overlap(mb.data, mb.bytes(), c.data, c.len * 4),
            "'c' must not share memory with 'a' or 'b'");
  if (a.failed()) return false;
  d->a = ma.data;
  d->a_type = ma.bf16 ? ElemType::Bf16 : ElemType::F32;
  d->b = mb.data;
  d->b_type = mb.bf16 ? ElemType::Bf16 : ElemType::F32;
  d->c = c.data;
  return true;
}

Napi::Value GemmFn(const Napi::CallbackInfo& info) {
  Args a(info, "gemm");
  sftkit::GemmDesc d;
  if (read_gemm_args(a, &d)) sftkit::gemm(d);
  return a.env().Undefined();
}

}  // namespace

void RegisterGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, GemmFn, "gemm"));
}
