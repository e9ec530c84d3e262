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

int main(void) {
  __m512 a[kChains], f[kChains];
  for (int i = 0; i < kChains; ++i)
    a[i] = f[i] = _mm512_set1_ps(i * 1e-3f);
  __m512bh ones = (__m512bh)_mm512_set1_epi32(0x3f803f80);
  __m512 half = _mm512_set1_ps(0.5f);
  const long n = 50000000;
  for (int round = 0; round < 3; ++round) {
    unsigned long long t = __rdtsc();
    for (long i = 0; i < n; ++i) {
#pragma GCC unroll 12
      for (int j = 0; j < kChains; ++j)
        a[j] = _mm512_dpbf16_ps(a[j], ones, ones);
      __asm__ volatile("" : "+v"(a[0]));
    }
    double dot = (double)(__rdtsc() - t) / (n * kChains);
    t = __rdtsc();
    for (long i = 0; i < n; ++i) {
#pragma GCC unroll 12
      for (int j = 0; j < kChains; ++j)
        f[j] = _mm512_fmadd_ps(f[j], half, half);
      __asm__ volatile("" : "+v"(f[0]));
    }
    double fma = (double)(__rdtsc() - t) / (n * kChains);
    t = __rdtsc();
    for (long i = 0; i < n; ++i) {
#pragma GCC unroll 12
      for (int j = 0; j < kChains; ++j) {
        a[j] = _mm512_dpbf16_ps(a[j], ones, ones);
        f[j] = _mm512_fmadd_ps(f[j], half, half);
      }
      __asm__ volatile("" : "+v"(a[0]), "+v"(f[0]));
    }
    double both = (double)(__rdtsc() - t) / (n * kChains);
    float sum = 0;
    for (int i = 0; i < kChains; ++i)
      sum += _mm512_reduce_add_ps(a[i]) + _mm512_reduce_add_ps(f[i]);
    printf("TSC cycles an instruction: vdpbf16ps %.2f, vfmadd231ps %.2f, "
           "one of each %.2f (checksum %g)\n",
           dot, fma, both, sum);
  }
  return 0;
}
