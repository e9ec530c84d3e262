// The issue rate of AVX512-BF16 dot products (vdpbf16ps) against f32 FMAs
// (vfmadd231ps) on one core, in TSC cycles an instruction: 12 independent
// accumulator chains of each alone, then both interleaved (whether they
// overlap). A benchmark, not a test (README "Decoding on the CPU").
//
//     cc -O2 -march=native bench/dot_rate.c -o /tmp/dot_rate && /tmp/dot_rate
#include <immintrin.h>
#include <stdio.h>
#include <x86intrin.h>

enum { kChains = 12 };
enum Kind { kDot = 1, kFma = 2, kBoth = 3 };

static __m512 a[kChains], f[kChains];

/// TSC cycles per loop step of `n` steps of `kind` over every chain
/// (inlined with `kind` constant, so each loop holds only its
/// instructions).
static inline __attribute__((always_inline)) double rate(enum Kind kind,
                                                         long n) {
  __m512bh ones = (__m512bh)_mm512_set1_epi32(0x3f803f80);
  __m512 half = _mm512_set1_ps(0.5f);
  // The chains in registers: local copies, written back at the end.
  __m512 x[kChains], y[kChains];
#pragma GCC unroll 12
  for (int j = 0; j < kChains; ++j) {
    x[j] = a[j];
    y[j] = f[j];
  }
  unsigned long long t = __rdtsc();
  for (long i = 0; i < n; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) {
      if (kind & kDot)
        x[j] = _mm512_dpbf16_ps(x[j], ones, ones);
      if (kind & kFma)
        y[j] = _mm512_fmadd_ps(y[j], half, half);
    }
    __asm__ volatile("" : "+v"(x[0]), "+v"(y[0]));
  }
  double cycles = (double)(__rdtsc() - t) / ((double)n * kChains);
#pragma GCC unroll 12
  for (int j = 0; j < kChains; ++j) {
    a[j] = x[j];
    f[j] = y[j];
  }
  return cycles;
}

int main(void) {
  for (int i = 0; i < kChains; ++i)
    a[i] = f[i] = _mm512_set1_ps(i * 1e-3f);
  const long n = 50000000;
  for (int round = 0; round < 3; ++round) {
    double dot = rate(kDot, n), fma = rate(kFma, n), both = rate(kBoth, n);
    float sum = 0;
    for (int i = 0; i < kChains; ++i)
      sum += _mm512_reduce_add_ps(a[i]) + _mm512_reduce_add_ps(f[i]);
    printf("TSC cycles an instruction: vdpbf16ps %.2f, vfmadd231ps %.2f, "
           "one of each %.2f (checksum %g)\n",
           dot, fma, both, sum);
  }
  return 0;
}
