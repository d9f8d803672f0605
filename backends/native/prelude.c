/*
 * The C every generated program starts with: scalar helpers the expressions
 * call, the random generator, the packed GEMM micro-kernel, and scratch
 * memory. Everything is `static inline` plain C (GCC's vector extension for
 * the micro-kernel's registers), so the compiler vectorizes loops that call
 * it; nothing comes from libm inside hot loops but sqrtf, which is an
 * instruction.
 *
 * Accuracy of the polynomial functions against float64, the worst relative
 * error over sweeps of 40,001 points (test/backends/native-math.test.ts
 * holds them to it):
 *   tcc_expf   e^x = 2^n · e^r, n = ⌊x·log2 e⌋, r = x − n·ln 2 in two parts
 *              (Cody–Waite), e^r ∈ [1, 2) by its Taylor polynomial of degree
 *              9: 8.5e-8 on [−87, 88.7] (under one ulp); 0 below −87.3
 *              (where e^x is subnormal), ∞ above 88.72
 *   tcc_tanhf  odd Taylor series to x¹¹ for |x| < 0.3, else
 *              1 − 2/(e^{2|x|} + 1): 2.2e-7 on [−12, 12]
 *   tcc_erff   Maclaurin series for |x| < 0.5, else 1 − erfc by Numerical
 *              Recipes' Chebyshev fit (fractional error 1.2e-7) times
 *              e^{−x²}: 2.2e-7 on [−6, 6]
 *   tcc_gelu   x·Φ(x) with Φ through erfc, so that 1 + erf(x) for negative
 *              x keeps its relative accuracy: 1.7e-6 on [−5, 9] (the f32
 *              rounding of −x²/2 inside e^{−x²/2} dominates)
 *   tcc_uniform01  Threefry-2x32-20, bit-identical to the JavaScript and
 *              WGSL backends
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline void omp_set_num_threads(int n) { (void)n; }
#endif

// A run's seed and step (random draws) and the sizes it gives (a packed program's tokens and sequences).
#define TCC_SIZES 8
typedef struct { uint32_t seed, step; int32_t sizes[TCC_SIZES]; } tcc_rt;

static inline float tcc_maxf(float a, float b) { return a > b ? a : b; }
static inline float tcc_minf(float a, float b) { return a < b ? a : b; }
static inline int32_t tcc_maxi(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t tcc_mini(int32_t a, int32_t b) { return a < b ? a : b; }
// Selects whose arms are both evaluated (their arguments), so that loops with them vectorize without masked loads.
static inline float tcc_selectf(int c, float a, float b) { return c ? a : b; }
static inline int32_t tcc_selecti(int c, int32_t a, int32_t b) { return c ? a : b; }
static inline float tcc_relu(float x) { return x > 0.0f ? x : 0.0f; }
static inline int32_t tcc_floor_div(int32_t a, int32_t b) {
  int32_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static inline int32_t tcc_floor_mod(int32_t a, int32_t b) {
  int32_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

static inline float tcc_bits_to_float(uint32_t u) { union { uint32_t u; float f; } v = { u }; return v.f; }

static inline float tcc_expf(float x) {
  float xc = x < -87.3f ? -87.3f : (x > 88.72f ? 88.72f : x);
  float n = floorf(xc * 1.44269504f);
  float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 2.75573192e-6f;
  p = p * r + 2.48015873e-5f;
  p = p * r + 1.98412698e-4f;
  p = p * r + 1.38888889e-3f;
  p = p * r + 8.33333333e-3f;
  p = p * r + 4.16666667e-2f;
  p = p * r + 1.66666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  float e = p * tcc_bits_to_float((uint32_t)((int32_t)n + 127) << 23);
  return x < -87.3f ? 0.0f : (x > 88.72f ? INFINITY : e);
}

static inline float tcc_logf(float x) { return logf(x); }

static inline float tcc_tanhf(float x) {
  float a = fabsf(x), x2 = x * x;
  float series = x * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * (-0.0539682540f + x2 * (0.0218694885f + x2 * -0.00886323553f)))));
  float big = 1.0f - 2.0f / (tcc_expf(2.0f * a) + 1.0f);
  return a < 0.3f ? series : (x < 0.0f ? -big : big);
}

/** erfc(a) for a ≥ 0. */
static inline float tcc_erfc_pos(float a) {
  float t = 1.0f / (1.0f + 0.5f * a);
  float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
  return t * tcc_expf(poly - a * a);
}

static inline float tcc_erff(float x) {
  float a = fabsf(x), x2 = x * x;
  // Maclaurin series on |x| < 0.5 (relative error below 1e-8), erfc beyond.
  float series = 1.1283791671f * x * (1.0f + x2 * (-0.333333333f + x2 * (0.1f + x2 * (-0.0238095238f + x2 * (0.00462962963f + x2 * -0.000757575758f)))));
  float tail = 1.0f - tcc_erfc_pos(a);
  return a < 0.5f ? series : (x < 0.0f ? -tail : tail);
}

/** Φ(x) = (1 + erf(x/√2)) / 2, through erfc so that it keeps its relative accuracy for negative x. */
static inline float tcc_phi(float x) {
  float e = 0.5f * tcc_erfc_pos(fabsf(x) * 0.707106781f);
  return x < 0.0f ? e : 1.0f - e;
}

static inline float tcc_gelu(float x) { return x * tcc_phi(x); }
static inline float tcc_gelu_grad(float x) { return tcc_phi(x) + x * tcc_expf(-0.5f * x * x) * 0.398942280f; }
static inline float tcc_gelu_tanh(float x) { return 0.5f * x * (1.0f + tcc_tanhf(0.797884561f * (x + 0.044715f * x * x * x))); }
static inline float tcc_gelu_tanh_grad(float x) {
  float t = tcc_tanhf(0.797884561f * (x + 0.044715f * x * x * x));
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * 0.797884561f * (1.0f + 0.134145f * x * x);
}

// Threefry-2x32-20 (as in JAX): 32-bit add, rotate and xor, the same bits on every backend.
// Always inlined: at -O2 gcc keeps it a call, and a loop with a call does not vectorize
// (dropout's loops 8 lanes at a time with it inlined). x0 >> 8 < 2^24 converts exactly as int32.
#define TCC_ROUND(r) x0 += x1; x1 = ((x1 << (r)) | (x1 >> (32 - (r)))) ^ x0;
static inline __attribute__((always_inline)) float tcc_uniform01(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1) {
  uint32_t k2 = 0x1bd11bdau ^ k0 ^ k1;
  uint32_t x0 = c0 + k0, x1 = c1 + k1;
  TCC_ROUND(13) TCC_ROUND(15) TCC_ROUND(26) TCC_ROUND(6)  x0 += k1; x1 += k2 + 1u;
  TCC_ROUND(17) TCC_ROUND(29) TCC_ROUND(16) TCC_ROUND(24) x0 += k2; x1 += k0 + 2u;
  TCC_ROUND(13) TCC_ROUND(15) TCC_ROUND(26) TCC_ROUND(6)  x0 += k0; x1 += k1 + 3u;
  TCC_ROUND(17) TCC_ROUND(29) TCC_ROUND(16) TCC_ROUND(24) x0 += k1; x1 += k2 + 4u;
  TCC_ROUND(13) TCC_ROUND(15) TCC_ROUND(26) TCC_ROUND(6)  x0 += k2; x1 += k0 + 5u;
  return (float)(int32_t)(x0 >> 8) * 5.9604644775390625e-8f;
}
#undef TCC_ROUND

// Scratch memory by slot, grown on demand, 64-byte aligned; kernels run one
// at a time, and threads take disjoint parts of a slot.
static void *tcc_slots[8];
static size_t tcc_slot_bytes[8];
static void *tcc_scratch(int slot, size_t bytes) {
  if (tcc_slot_bytes[slot] < bytes) {
    free(tcc_slots[slot]);
    size_t rounded = (bytes + 63) & ~(size_t)63;
    tcc_slots[slot] = aligned_alloc(64, rounded);
    if (!tcc_slots[slot]) abort();
    tcc_slot_bytes[slot] = rounded;
  }
  return tcc_slots[slot];
}

// ---- GEMM ----
// C = A·B by register tiles: A packed in panels of TCC_MR rows (each k step
// TCC_MR consecutive floats), B in panels of TCC_NR columns (each k step
// TCC_NR consecutive floats). The micro-kernel keeps a TCC_MR × TCC_NR tile
// of C in vector registers over a block of TCC_KC steps of k: per step it
// loads TCC_NR/TCC_VL vectors of B and broadcasts TCC_MR values of A. A
// column panel of B is swept over every row panel of A one k block at a
// time, so the block of B (TCC_KC × TCC_NR floats) stays in L1.
#if defined(__AVX512F__)
#define TCC_VL 16
#define TCC_MR 12
#elif defined(__AVX__)
#define TCC_VL 8
#define TCC_MR 6
#else
#define TCC_VL 4
#define TCC_MR 6
#endif
#define TCC_NR (2 * TCC_VL)
#define TCC_KC 256
typedef float tcc_vf __attribute__((vector_size(TCC_VL * 4), aligned(4)));
typedef int32_t tcc_vi __attribute__((vector_size(TCC_VL * 4), aligned(4)));

/** The largest of x[0..n) that is not NaN (-INFINITY if none); *nan says whether any is NaN. A vector per step. */
static inline float tcc_max_skip_nan(const float *x, int n, int *nan) {
  tcc_vf top;
  tcc_vi seen = {0};
  for (int l = 0; l < TCC_VL; l++) top[l] = -INFINITY;
  int c = 0;
  for (; c + TCC_VL <= n; c += TCC_VL) {
    const tcc_vf v = *(const tcc_vf *)(x + c);
    const tcc_vi up = v > top;
    top = (tcc_vf)(((tcc_vi)v & up) | ((tcc_vi)top & ~up));
    seen |= v != v;
  }
  float m = -INFINITY;
  int any = 0;
  for (int l = 0; l < TCC_VL; l++) { m = top[l] > m ? top[l] : m; any |= seen[l]; }
  for (; c < n; c++) { m = x[c] > m ? x[c] : m; any |= x[c] != x[c]; }
  *nan = any;
  return m;
}
/** max of x[0..n), NaN if any is NaN (the interpreter's max). */
static inline float tcc_row_max(const float *x, int n) {
  int nan;
  const float m = tcc_max_skip_nan(x, n, &nan);
  return nan ? NAN : m;
}

/**
 * c (a TCC_MR × TCC_NR tile, row-major) = (accumulate ? c : 0) + a·b over k steps.
 * Never inlined: its tile takes 12 of AVX2's 16 vector registers, and inlined
 * into a kernel whose epilogue keeps values of its own in registers (a
 * dropout's keep test, constants) its loop spilled accumulators to the stack
 * (bert-small's second FFN product with dropout and the residual in its
 * epilogue: 29 ms inlined, 21 ms called). A call per tile costs nothing
 * beside its TCC_MR · TCC_NR · k multiply-adds.
 */
static __attribute__((noinline)) void tcc_micro(int k, const float *restrict a, const float *restrict b, float *restrict c, int accumulate) {
  tcc_vf acc[TCC_MR][2];
#pragma GCC unroll 12
  for (int r = 0; r < TCC_MR; r++) {
    if (accumulate) { acc[r][0] = *(const tcc_vf *)(c + r * TCC_NR); acc[r][1] = *(const tcc_vf *)(c + r * TCC_NR + TCC_VL); }
    else { acc[r][0] = (tcc_vf){0}; acc[r][1] = (tcc_vf){0}; }
  }
  for (int p = 0; p < k; p++) {
    tcc_vf b0 = *(const tcc_vf *)(b + p * TCC_NR), b1 = *(const tcc_vf *)(b + p * TCC_NR + TCC_VL);
#pragma GCC unroll 12
    for (int r = 0; r < TCC_MR; r++) {
      float x = a[p * TCC_MR + r];
      acc[r][0] += x * b0;
      acc[r][1] += x * b1;
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < TCC_MR; r++) {
    *(tcc_vf *)(c + r * TCC_NR) = acc[r][0];
    *(tcc_vf *)(c + r * TCC_NR + TCC_VL) = acc[r][1];
  }
}

/**
 * As tcc_micro, with A read where it lies rather than from a packed panel:
 * row r of the tile at a + r·lda, its k steps consecutive (a row-major
 * operand). Packing a row-major A would only copy it (bert-base's
 * inference: 5 of 70 ms). A full tile's rows are reached from a base every
 * five rows and four multiples of the row stride, each load one addressing
 * mode: a pointer per row took 12 registers of the 15 and spilled the
 * loop's own to vector registers, 10% slower than the same loop with the
 * stride known (ModernBERT-base's products in the model against alone).
 * The rows of a tile from the given count on repeat the last one (their
 * sums are not stored), so nothing past A is read.
 */
static __attribute__((noinline)) void tcc_micro_rows(int k, const float *restrict a, int lda, int rows, const float *restrict b, float *restrict c) {
  tcc_vf acc[TCC_MR][2];
#pragma GCC unroll 12
  for (int r = 0; r < TCC_MR; r++) {
    acc[r][0] = (tcc_vf){0};
    acc[r][1] = (tcc_vf){0};
  }
  if (rows == TCC_MR) {
    const ptrdiff_t step = (ptrdiff_t)lda * (ptrdiff_t)sizeof(float), off[5] = {0, step, 2 * step, 3 * step, 4 * step};
    const char *base[(TCC_MR + 4) / 5];
#pragma GCC unroll 3
    for (int g = 0; g < (TCC_MR + 4) / 5; g++) base[g] = (const char *)a + 5 * g * step;
    for (int p = 0; p < k; p++) {
      tcc_vf b0 = *(const tcc_vf *)(b + p * TCC_NR), b1 = *(const tcc_vf *)(b + p * TCC_NR + TCC_VL);
#pragma GCC unroll 12
      for (int r = 0; r < TCC_MR; r++) {
        float x = *(const float *)(base[r / 5] + off[r % 5]);
        acc[r][0] += x * b0;
        acc[r][1] += x * b1;
      }
#pragma GCC unroll 3
      for (int g = 0; g < (TCC_MR + 4) / 5; g++) base[g] += sizeof(float);
    }
  } else {
    const float *ar[TCC_MR];
#pragma GCC unroll 12
    for (int r = 0; r < TCC_MR; r++) ar[r] = a + (size_t)(r < rows ? r : rows - 1) * lda;
    for (int p = 0; p < k; p++) {
      tcc_vf b0 = *(const tcc_vf *)(b + p * TCC_NR), b1 = *(const tcc_vf *)(b + p * TCC_NR + TCC_VL);
#pragma GCC unroll 12
      for (int r = 0; r < TCC_MR; r++) {
        float x = ar[r][p];
        acc[r][0] += x * b0;
        acc[r][1] += x * b1;
      }
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < TCC_MR; r++) {
    *(tcc_vf *)(c + r * TCC_NR) = acc[r][0];
    *(tcc_vf *)(c + r * TCC_NR + TCC_VL) = acc[r][1];
  }
}

#define TCC_MC_TILES 16

/**
 * C tiles = packed A · packed B, in the order of Goto's GEMM: per block of
 * TCC_KC steps of k, per block of TCC_MC_TILES row panels of A (which then
 * stays in L2), each thread takes its column panels of B (a TCC_KC ×
 * TCC_NR block of which stays in L1 across the row panels). Tile (ti, tj)
 * is TCC_MR × TCC_NR floats at c + (tj·mt + ti)·TCC_MR·TCC_NR.
 * It runs inside a parallel region: static schedules give every thread the
 * same panels in every block, so no barrier is needed.
 */
static inline void tcc_gemm_packed(int mt, int nt, int k, const float *restrict pa, const float *restrict pb, float *restrict c) {
  for (int k0 = 0; k0 < k; k0 += TCC_KC) {
    const int kc = k - k0 < TCC_KC ? k - k0 : TCC_KC;
    for (int i0 = 0; i0 < mt; i0 += TCC_MC_TILES) {
      const int i1 = mt - i0 < TCC_MC_TILES ? mt : i0 + TCC_MC_TILES;
      #pragma omp for schedule(static) nowait
      for (int tj = 0; tj < nt; tj++)
        for (int ti = i0; ti < i1; ti++)
          tcc_micro(kc, pa + (size_t)ti * k * TCC_MR + (size_t)k0 * TCC_MR, pb + (size_t)tj * k * TCC_NR + (size_t)k0 * TCC_NR, c + ((size_t)tj * mt + ti) * TCC_MR * TCC_NR, k0 > 0);
    }
  }
}

// Packed constant operands (parameters' panels), one cache per call site:
// valid while no parameter has been written since it was packed
// (tcc_generation counts the writes) and for the same memory (two sessions
// of one program share this code, not their parameters).
typedef struct { float *data; size_t cap; uint64_t gen; const char *owner; } tcc_pack;
static uint64_t tcc_generation = 1;
static const char *tcc_owner;
static float *tcc_pack_data(tcc_pack *pk, size_t floats) {
  if (pk->cap < floats) {
    free(pk->data);
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    pk->data = aligned_alloc(64, bytes);
    if (!pk->data) abort();
    pk->cap = bytes / sizeof(float);
    pk->gen = 0;
  }
  return pk->data;
}
static inline int tcc_pack_fresh(const tcc_pack *pk) { return pk->gen == tcc_generation && pk->owner == tcc_owner; }
static inline void tcc_pack_done(tcc_pack *pk) { pk->gen = tcc_generation; pk->owner = tcc_owner; }

// Per-thread scratch by slot (0-1: tcc_sgemm's packs; 3-7: attention's blocks; 8: a packed operand's row;
// 9: a product's column panel of B, packed as the thread reaches it).
static __thread float *tcc_local_buf[10];
static __thread size_t tcc_local_cap[10];
static float *tcc_local(int slot, size_t floats) {
  if (tcc_local_cap[slot] < floats) {
    free(tcc_local_buf[slot]);
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    tcc_local_buf[slot] = aligned_alloc(64, bytes);
    if (!tcc_local_buf[slot]) abort();
    tcc_local_cap[slot] = bytes / sizeof(float);
  }
  return tcc_local_buf[slot];
}

/**
 * One panel of a strided operand: its first lines (rows of A, columns of
 * B; line l at src + l·ls, its step p at + p·ps) into a panel of tile
 * lines whose k step p is tile consecutive floats at dst + p·tile; lines
 * past the operand's are zero. Along whichever stride is 1.
 */
static inline void tcc_pack_lines(float *restrict dst, int tile, int lines, int k, const float *src, int ls, int ps) {
  if (ls == 1 && lines == tile) {
    // A k step of the panel is tile consecutive floats of the operand.
    for (int p = 0; p < k; p++) {
      #pragma omp simd
      for (int l = 0; l < tile; l++) dst[(size_t)p * tile + l] = src[(size_t)p * ps + l];
    }
    return;
  }
  for (int l = 0; l < tile; l++) {
    if (l >= lines) { for (int p = 0; p < k; p++) dst[(size_t)p * tile + l] = 0.0f; continue; }
    const float *line = src + (size_t)l * ls;
    if (ps == 1) for (int p = 0; p < k; p++) dst[(size_t)p * tile + l] = line[p];
    else for (int p = 0; p < k; p++) dst[(size_t)p * tile + l] = line[(size_t)p * ps];
  }
}

/**
 * C (m × n, row stride ldc) = (accumulate ? C : 0) + A·B on the calling
 * thread, A and B strided views (element (i, p) of A at a[i*ars + p*acs]).
 * B is packed into the thread's scratch first, along whichever of its
 * strides is 1 (attention's operands are rows of Q, K, V or of a block of
 * scores, read straight or transposed), and so is A unless its rows are
 * runs of k, which the micro-kernel reads in place; each tile's sums then
 * complete in one call of the micro-kernel (k is at most a sequence's
 * length here) and go straight into C.
 */
static void tcc_sgemm(int m, int n, int k, const float *a, int ars, int acs, const float *b, int brs, int bcs, float *c, int ldc, int accumulate) {
  const int mt = (m + TCC_MR - 1) / TCC_MR, nt = (n + TCC_NR - 1) / TCC_NR;
  float *pa = acs != 1 ? tcc_local(0, (size_t)mt * TCC_MR * k) : NULL, *pb = tcc_local(1, (size_t)nt * TCC_NR * k);
  if (pa) for (int t = 0; t < mt; t++)
    tcc_pack_lines(pa + (size_t)t * k * TCC_MR, TCC_MR, m - t * TCC_MR < TCC_MR ? m - t * TCC_MR : TCC_MR, k, a + (size_t)t * TCC_MR * ars, ars, acs);
  for (int t = 0; t < nt; t++)
    tcc_pack_lines(pb + (size_t)t * k * TCC_NR, TCC_NR, n - t * TCC_NR < TCC_NR ? n - t * TCC_NR : TCC_NR, k, b + (size_t)t * TCC_NR * bcs, bcs, brs);
  float tile[TCC_MR * TCC_NR] __attribute__((aligned(64)));
  for (int tj = 0; tj < nt; tj++) {
    const int cols = n - tj * TCC_NR < TCC_NR ? n - tj * TCC_NR : TCC_NR;
    for (int ti = 0; ti < mt; ti++) {
      const int rows = m - ti * TCC_MR < TCC_MR ? m - ti * TCC_MR : TCC_MR;
      if (pa) tcc_micro(k, pa + (size_t)ti * k * TCC_MR, pb + (size_t)tj * k * TCC_NR, tile, 0);
      else tcc_micro_rows(k, a + (size_t)ti * TCC_MR * ars, ars, rows, pb + (size_t)tj * k * TCC_NR, tile);
      for (int r = 0; r < rows; r++) {
        float *row = c + (size_t)(ti * TCC_MR + r) * ldc + tj * TCC_NR;
        const float *sum = tile + r * TCC_NR;
        if (accumulate) for (int q = 0; q < cols; q++) row[q] += sum[q];
        else for (int q = 0; q < cols; q++) row[q] = sum[q];
      }
    }
  }
}

static double tcc_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
