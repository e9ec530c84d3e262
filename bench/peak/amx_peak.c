//===- amx_peak.c - AMX tile-product throughput of this CPU ---------------===//
//
// Measures the AMX peaks that the CPU's AMX attention paths are compared
// against (beside fma_peak.c's f32 FMA peak): each thread configures eight
// tiles of 16 rows x 64 bytes and runs TDPBF16PS (bf16) or TDPBSSD (int8)
// on six independent accumulators (C[16 x 16] += A[16 x 64 bytes] B, all
// six sharing one A and one B, so that no product waits on another) for a
// fixed number of iterations. Prints one line per instruction and thread
// count:
//
//   amx_peak: isa=amx-bf16 threads=2 gflops=...
//   amx_peak: isa=amx-int8 threads=2 gops=...
//
// A TDPBF16PS counts 16 x 16 x 32 multiply-adds, 2 flops each (16384
// flops); a TDPBSSD 16 x 16 x 64 multiply-adds of int8, 2 ops each (32768
// ops). The best of several trials is reported, since a peak is an upper
// bound. Linux grants tile data per process on request
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); without it, or
// without AMX-BF16 (AMX-INT8), the probe says so and exits 0.
//
//===----------------------------------------------------------------------===//

#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "timed.h"

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define ITERS 20000000L
#define TRIALS 5
#define ACCUMULATORS 6

/* The 64-byte tile configuration of palette 1. */
struct TileConfig {
  uint8_t palette;
  uint8_t startRow;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

/* The six independent products of one iteration, by `dp` (a tile
 * product intrinsic): accumulators 0 to 5, operands 6 and 7. */
#define SIX_PRODUCTS(dp)                                                       \
  do {                                                                         \
    dp(0, 6, 7);                                                               \
    dp(1, 6, 7);                                                               \
    dp(2, 6, 7);                                                               \
    dp(3, 6, 7);                                                               \
    dp(4, 6, 7);                                                               \
    dp(5, 6, 7);                                                               \
  } while (0)

/* Configures the eight tiles as 16 rows of 64 bytes, loads both operand
 * tiles from `a` and zeroes the accumulators (a macro: the tile state must
 * be set up in the function that runs the products, not in a callee). */
#define START_TILES(a)                                                         \
  do {                                                                         \
    struct TileConfig cfg;                                                     \
    memset(&cfg, 0, sizeof(cfg));                                              \
    cfg.palette = 1;                                                           \
    for (int t = 0; t < 8; ++t) {                                              \
      cfg.rows[t] = 16;                                                        \
      cfg.colsb[t] = 64;                                                       \
    }                                                                          \
    _tile_loadconfig(&cfg);                                                    \
    _tile_loadd(6, (a), 64);                                                   \
    _tile_loadd(7, (a), 64);                                                   \
    _tile_zero(0);                                                             \
    _tile_zero(1);                                                             \
    _tile_zero(2);                                                             \
    _tile_zero(3);                                                             \
    _tile_zero(4);                                                             \
    _tile_zero(5);                                                             \
  } while (0)

__attribute__((target("amx-tile,amx-bf16"))) static float run(long iters) {
  /* bf16 1/64 in every element: sums stay small and finite. */
  static __thread uint16_t a[16 * 32] __attribute__((aligned(64)));
  static __thread float c[16 * 16] __attribute__((aligned(64)));
  for (int i = 0; i < 16 * 32; ++i)
    a[i] = 0x3c80;
  START_TILES(a);
  for (long i = 0; i < iters; ++i)
    SIX_PRODUCTS(_tile_dpbf16ps);
  _tile_stored(0, c, 64);
  float s = c[0];
  _tile_stored(5, c, 64);
  s += c[255];
  _tile_release();
  return s;
}

__attribute__((target("amx-tile,amx-int8"))) static float
run_int8(long iters) {
  /* 1 in every byte: ITERS products add 64 ITERS < 2^31 to each sum. */
  static __thread int8_t a[16 * 64] __attribute__((aligned(64)));
  static __thread int32_t c[16 * 16] __attribute__((aligned(64)));
  memset(a, 1, sizeof(a));
  START_TILES(a);
  for (long i = 0; i < iters; ++i)
    SIX_PRODUCTS(_tile_dpbssd);
  _tile_stored(0, c, 64);
  float s = (float)c[0];
  _tile_stored(5, c, 64);
  s += (float)c[255];
  _tile_release();
  return s;
}

static float amx_work(void *arg) {
  (void)arg;
  return run(ITERS);
}

static float amx_int8_work(void *arg) {
  (void)arg;
  return run_int8(ITERS);
}

/* Runs `threads` copies at once; returns G(FL)OP/s (best of TRIALS). */
static double measure(int threads, int int8) {
  double k = int8 ? 64 : 32;
  return best_gflops("amx_peak", threads, TRIALS,
                     16.0 * 16 * k * 2 * ACCUMULATORS * (double)ITERS,
                     int8 ? amx_int8_work : amx_work, NULL);
}

int main(void) {
  if (!__builtin_cpu_supports("amx-bf16")) {
    printf("amx_peak: isa=amx-bf16 unsupported\n");
    return 0;
  }
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
    printf("amx_peak: isa=amx-bf16 tile-data permission refused\n");
    return 0;
  }
  int maxThreads = omp_get_num_procs();
  const int counts[] = {1, 2};
  for (int k = 0; k < 2; ++k) {
    if (counts[k] > maxThreads)
      continue;
    printf("amx_peak: isa=amx-bf16 threads=%d gflops=%.1f\n", counts[k],
           measure(counts[k], 0));
    fflush(stdout);
  }
  if (!__builtin_cpu_supports("amx-int8")) {
    printf("amx_peak: isa=amx-int8 unsupported\n");
    return 0;
  }
  for (int k = 0; k < 2; ++k) {
    if (counts[k] > maxThreads)
      continue;
    printf("amx_peak: isa=amx-int8 threads=%d gops=%.1f\n", counts[k],
           measure(counts[k], 1));
    fflush(stdout);
  }
  return 0;
}
