// GEMM micro-kernel on the AMX tile unit (TDPBF16PS), and a scalar emulation of the same tile instructions.
#pragma once
// Included only by gemm.cpp (internal linkage: everything sits in an anonymous namespace).
//
// One micro-tile is 32 x 32 of C held in four f32 accumulator tiles (2 x 2 register blocking):
//   tmm0 = C[0:16, 0:16]   tmm1 = C[0:16, 16:32]   tmm2 = C[16:32, 0:16]   tmm3 = C[16:32, 16:32]
//   tmm4 = A rows 0-15, tmm5 = A rows 16-31 (16 rows x 32 bf16 of an AmxA panel, stride = its padded depth)
//   tmm6 = B columns 0-15, tmm7 = B columns 16-31 (16 k-pairs x 16 columns x 2 bf16 of an AmxB panel, stride 128 B)
// and each 32-step slice of depth is 4 loads + 4 TDPBF16PS. TDPBF16PS(C, A, B) computes, for every m < 16, n < 16:
//   C[m][n] += Σ_{p<16} A[m][2p]·B[p][2n] + A[m][2p+1]·B[p][2n+1]      (A, B as bf16 elements of their tile rows)
// The kernel is written once over a "tiles" policy: AmxTiles issues the instructions, EmulatedTiles performs the
// documented semantics in scalar code on byte arrays. The emulation (selected by SFTKIT_GEMM_EMULATE_AMX=1, a
// testing knob) runs on any CPU the same packing, loop nest, tile addresses and strides as the AMX path, so the
// float64-reference tests check all of it except the instructions themselves where the machine has no AMX.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cpu.h"
#include "gemm_kernels.h"  // store_tile
#include "gemm_pack.h"     // kAmxDepth

namespace sftkit {
namespace {

constexpr int kAmxMR = 32, kAmxNR = 32;  // rows / columns of C per micro-tile (2 x 2 tiles of 16 x 16)
constexpr int64_t kAmxBStride = kAmxNR * 2 * sizeof(uint16_t);  // bytes per k-pair row of an AmxB panel (128)

// Palette 1 configuration: all 8 tiles 16 rows x 64 bytes. Layout (64 bytes): palette id, start row, 14 reserved,
// then 16 x uint16 bytes-per-row, then 16 x uint8 rows.
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
  TileConfig() {
    for (int t = 0; t < 8; ++t) colsb[t] = 64, rows[t] = 16;
  }
};
static_assert(sizeof(TileConfig) == 64, "the tile configuration is 64 bytes");

// The 32 x 32 micro-tile (see the top of the file) over a tiles policy T. kc depth steps; the A panel holds 32
// rows of the padded depth, the B panel the padded depth / 2 k-pairs of 32 columns. With alpha 1 and a whole
// tile, C is loaded into (add) and stored from the accumulators directly; otherwise they go through a buffer.
template <class T>
__attribute__((always_inline)) inline void amx_microtile(T& t, int64_t kc, const uint16_t* a, const uint16_t* b,
                                                         float* c, int64_t ldc, float alpha, bool add, int mr, int nr) {
  const int64_t kpad = (kc + kAmxDepth - 1) / kAmxDepth * kAmxDepth;
  const int64_t a_stride = kpad * static_cast<int64_t>(sizeof(uint16_t));
  const int64_t c_stride = ldc * static_cast<int64_t>(sizeof(float));
  const bool direct = mr == kAmxMR && nr == kAmxNR && alpha == 1.0f;
  if (direct && add) {
    t.load_c0(c, c_stride), t.load_c1(c + 16, c_stride);
    t.load_c2(c + 16 * ldc, c_stride), t.load_c3(c + 16 * ldc + 16, c_stride);
  } else {
    t.zero_c();
  }
  for (int64_t k0 = 0; k0 < kpad; k0 += kAmxDepth) {
    t.load_a0(a + k0, a_stride);
    t.load_a1(a + 16 * kpad + k0, a_stride);
    // k-pair k0 / 2 starts at element (k0 / 2) * 64 of the B panel; columns 16-31 are 64 bytes into each row.
    t.load_b0(b + k0 * kAmxNR, kAmxBStride);
    t.load_b1(b + k0 * kAmxNR + 32, kAmxBStride);
    t.multiply();
  }
  if (direct) {
    t.store_c0(c, c_stride), t.store_c1(c + 16, c_stride);
    t.store_c2(c + 16 * ldc, c_stride), t.store_c3(c + 16 * ldc + 16, c_stride);
    return;
  }
  alignas(64) float buf[kAmxMR * kAmxNR];
  constexpr int64_t buf_stride = kAmxNR * sizeof(float);
  t.store_c0(buf, buf_stride), t.store_c1(buf + 16, buf_stride);
  t.store_c2(buf + 16 * kAmxNR, buf_stride), t.store_c3(buf + 16 * kAmxNR + 16, buf_stride);
  store_tile<kAmxMR, kAmxNR>(buf, c, ldc, alpha, add, mr, nr);
}

// ---- the emulation --------------------------------------------------------------------------------------------

// Eight tile registers of 16 rows x 64 bytes; the configuration state is per thread, as on the hardware: a tile
// instruction on a thread that has not loaded a configuration is a fault there, and aborts here.
struct EmulatedTiles {
  uint8_t reg[8][16][64];

  static bool& configured() {
    static thread_local bool on = false;
    return on;
  }
  static void check() {
    if (!configured()) {
      std::fprintf(stderr, "sftkit: emulated AMX tile instruction on a thread without a tile configuration\n");
      std::abort();
    }
  }
  void load(int t, const void* base, int64_t stride) {
    check();
    for (int r = 0; r < 16; ++r) std::memcpy(reg[t][r], static_cast<const char*>(base) + r * stride, 64);
  }
  void store(int t, void* base, int64_t stride) {
    check();
    for (int r = 0; r < 16; ++r) std::memcpy(static_cast<char*>(base) + r * stride, reg[t][r], 64);
  }
  uint16_t bf16_at(int t, int r, int e) const {
    uint16_t h;
    std::memcpy(&h, reg[t][r] + 2 * e, sizeof h);
    return h;
  }
  // TDPBF16PS: f32 accumulation in the order of the instruction's definition (element 2p, then 2p + 1).
  void dp(int ct, int at, int bt) {
    check();
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 16; ++n) {
        float acc;
        std::memcpy(&acc, reg[ct][m] + 4 * n, sizeof acc);
        for (int p = 0; p < 16; ++p) {
          acc += bf16_to_f32(bf16_at(at, m, 2 * p)) * bf16_to_f32(bf16_at(bt, p, 2 * n));
          acc += bf16_to_f32(bf16_at(at, m, 2 * p + 1)) * bf16_to_f32(bf16_at(bt, p, 2 * n + 1));
        }
        std::memcpy(reg[ct][m] + 4 * n, &acc, sizeof acc);
      }
  }
  void zero_c() {
    check();
    std::memset(reg, 0, 4 * sizeof reg[0]);
  }
  void load_c0(const float* p, int64_t s) { load(0, p, s); }
  void load_c1(const float* p, int64_t s) { load(1, p, s); }
  void load_c2(const float* p, int64_t s) { load(2, p, s); }
  void load_c3(const float* p, int64_t s) { load(3, p, s); }
  void load_a0(const uint16_t* p, int64_t s) { load(4, p, s); }
  void load_a1(const uint16_t* p, int64_t s) { load(5, p, s); }
  void load_b0(const uint16_t* p, int64_t s) { load(6, p, s); }
  void load_b1(const uint16_t* p, int64_t s) { load(7, p, s); }
  void multiply() { dp(0, 4, 6), dp(1, 4, 7), dp(2, 5, 6), dp(3, 5, 7); }
  void store_c0(float* p, int64_t s) { store(0, p, s); }
  void store_c1(float* p, int64_t s) { store(1, p, s); }
  void store_c2(float* p, int64_t s) { store(2, p, s); }
  void store_c3(float* p, int64_t s) { store(3, p, s); }
};

void amx_emulated_begin() { EmulatedTiles::configured() = true; }
void amx_emulated_end() { EmulatedTiles::configured() = false; }

void kernel_amx_emulated(int64_t kc, const void* ap, const void* bp, float* c, int64_t ldc, float alpha, bool add,
                         int mr, int nr) {
  thread_local EmulatedTiles tiles;
  amx_microtile(tiles, kc, static_cast<const uint16_t*>(ap), static_cast<const uint16_t*>(bp), c, ldc, alpha, add, mr,
                nr);
}

// ---- the hardware ------------------------------------------------------------------------------------------------

// GCC 11+ and clang 12+ ship the AMX intrinsics; they are compiled under a target attribute, so the rest of the
// addon stays baseline x86-64 and this code runs only where cpu.cpp granted the AMX path.
#if defined(__x86_64__) && defined(__linux__) && \
    (defined(__clang__) ? __clang_major__ >= 12 : defined(__GNUC__) && __GNUC__ >= 11)
#define SFTKIT_AMX 1
#define SFTKIT_TARGET_AMX __attribute__((target("amx-tile,amx-bf16")))

// The intrinsics take tile numbers as literals (they are pasted into the instruction), hence one member per tile.
struct AmxTiles {
  SFTKIT_TARGET_AMX void zero_c() {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  SFTKIT_TARGET_AMX void load_c0(const float* p, int64_t s) { _tile_loadd(0, p, s); }
  SFTKIT_TARGET_AMX void load_c1(const float* p, int64_t s) { _tile_loadd(1, p, s); }
  SFTKIT_TARGET_AMX void load_c2(const float* p, int64_t s) { _tile_loadd(2, p, s); }
  SFTKIT_TARGET_AMX void load_c3(const float* p, int64_t s) { _tile_loadd(3, p, s); }
  SFTKIT_TARGET_AMX void load_a0(const uint16_t* p, int64_t s) { _tile_loadd(4, p, s); }
  SFTKIT_TARGET_AMX void load_a1(const uint16_t* p, int64_t s) { _tile_loadd(5, p, s); }
  SFTKIT_TARGET_AMX void load_b0(const uint16_t* p, int64_t s) { _tile_loadd(6, p, s); }
  SFTKIT_TARGET_AMX void load_b1(const uint16_t* p, int64_t s) { _tile_loadd(7, p, s); }
  SFTKIT_TARGET_AMX void multiply() {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  SFTKIT_TARGET_AMX void store_c0(float* p, int64_t s) { _tile_stored(0, p, s); }
  SFTKIT_TARGET_AMX void store_c1(float* p, int64_t s) { _tile_stored(1, p, s); }
  SFTKIT_TARGET_AMX void store_c2(float* p, int64_t s) { _tile_stored(2, p, s); }
  SFTKIT_TARGET_AMX void store_c3(float* p, int64_t s) { _tile_stored(3, p, s); }
};

// Every thread that multiplies loads the configuration itself (it is per-thread state) and releases the tiles
// when its share of the product is done, so an idle thread carries no tile state through context switches.
SFTKIT_TARGET_AMX void amx_begin() {
  static const TileConfig config;
  _tile_loadconfig(&config);
}
SFTKIT_TARGET_AMX void amx_end() { _tile_release(); }

SFTKIT_TARGET_AMX void kernel_amx(int64_t kc, const void* ap, const void* bp, float* c, int64_t ldc, float alpha,
                                  bool add, int mr, int nr) {
  AmxTiles tiles;
  amx_microtile(tiles, kc, static_cast<const uint16_t*>(ap), static_cast<const uint16_t*>(bp), c, ldc, alpha, add, mr,
                nr);
}
#endif

}  // namespace
}  // namespace sftkit
