//===- fma_peak.c - fp32 FMA throughput of this CPU -----------------------===//
//
// Measures the fp32 FMA peak that attention kernels are compared against:
// each thread runs many independent FMA chains (more than latency x ports,
// so the FMA units never wait on a result) for a fixed number of
// iterations. Prints one line per ISA and thread count:
//
//   fma_peak: isa=avx512 threads=2 gflops=...
//
// An FMA counts as 2 flops per lane; 16 lanes for AVX-512, 8 for AVX2.
// The best of several trials is reported, since a peak is an upper bound.
//
//===----------------------------------------------------------------------===//

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timed.h"

/* 4-cycle FMA latency x 2 FMA ports needs 8 chains; 16 leaves slack. */
#define CHAINS 16
#define ITERS 100000000L
#define TRIALS 5

__attribute__((target("avx512f"))) static float chains512(long iters,
                                                          float seed) {
  __m512 acc[CHAINS];
  for (int c = 0; c < CHAINS; ++c)
    acc[c] = _mm512_set1_ps(seed + c);
  /* x = x * a + b with a slightly below 1 keeps values finite. */
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < CHAINS; ++c)
      acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  __m512 s = acc[0];
  for (int c = 1; c < CHAINS; ++c)
    s = _mm512_add_ps(s, acc[c]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float chains256(long iters,
                                                          float seed) {
  __m256 acc[CHAINS];
  for (int c = 0; c < CHAINS; ++c)
    acc[c] = _mm256_set1_ps(seed + c);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < CHAINS; ++c)
      acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 s = acc[0];
  for (int c = 1; c < CHAINS; ++c)
    s = _mm256_add_ps(s, acc[c]);
  float out[8];
  _mm256_storeu_ps(out, s);
  float t = 0;
  for (int i = 0; i < 8; ++i)
    t += out[i];
  return t;
}

static float fma_work(void *arg) {
  volatile float seed = 1.0f;
  return *(const int *)arg ? chains512(ITERS, seed) : chains256(ITERS, seed);
}

/* Runs `threads` copies of the chains at once; returns GFLOP/s (best of
 * TRIALS). */
static double measure(int avx512, int threads) {
  int lanes = avx512 ? 16 : 8;
  return best_gflops("fma_peak", threads, TRIALS,
                     2.0 * lanes * CHAINS * (double)ITERS, fma_work, &avx512);
}

int main(void) {
  int maxThreads = omp_get_num_procs();
  const int counts[] = {1, 2};
  for (int isa = 1; isa >= 0; --isa) {
    if (isa && !__builtin_cpu_supports("avx512f")) {
      printf("fma_peak: isa=avx512 unsupported\n");
      continue;
    }
    if (!isa && !(__builtin_cpu_supports("avx2") &&
                  __builtin_cpu_supports("fma"))) {
      printf("fma_peak: isa=avx2 unsupported\n");
      continue;
    }
    for (int k = 0; k < 2; ++k) {
      if (counts[k] > maxThreads)
        continue;
      printf("fma_peak: isa=%s threads=%d gflops=%.1f\n",
             isa ? "avx512" : "avx2", counts[k], measure(isa, counts[k]));
      fflush(stdout);
    }
  }
  return 0;
}
