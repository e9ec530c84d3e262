//===- bandwidth.c - memory bandwidth of this machine ---------------------===//
//
// Measures the DRAM bandwidth that memory-bound attention (decoding, which
// reads K and V once) is compared against. Buffers are far larger than the
// last-level cache (this machine reports 480 MiB of L3), and are first
// touched by the threads that later read them.
//
//   read  : s += a[i]              bytes = 4 N           (a: BW_READ_GIB)
//   read-huge: the same over a buffer in 2 MiB pages (madvise
//           MADV_HUGEPAGE), as attn.empty allocates KV caches: with 4 KiB
//           pages the TLB misses of a streaming read cost bandwidth
//   copy  : c[i] = a[i]            bytes = 8 N           (STREAM counting)
//   triad : a[i] = b[i] + s c[i]   bytes = 12 N
//
// STREAM counting ignores the write-allocate read of the destination, so
// copy and triad understate the traffic a cache without streaming stores
// moves. Each kernel runs TRIALS times; the median is printed:
//
//   bandwidth: kernel=read threads=2 gbps=...
//
//===----------------------------------------------------------------------===//

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define TRIALS 5

static int cmpDouble(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, n, sizeof(double), cmpDouble);
  return v[n / 2];
}

/* Four independent accumulators hide the add latency, so the loop is
 * limited by loads, not by the dependency chain. */
__attribute__((target("avx512f"))) static float sum512(const float *a,
                                                      long n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  long i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_add_ps(s0, _mm512_load_ps(a + i));
    s1 = _mm512_add_ps(s1, _mm512_load_ps(a + i + 16));
    s2 = _mm512_add_ps(s2, _mm512_load_ps(a + i + 32));
    s3 = _mm512_add_ps(s3, _mm512_load_ps(a + i + 48));
  }
  float t = _mm512_reduce_add_ps(
      _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  for (; i < n; ++i)
    t += a[i];
  return t;
}

static float *allocBuffer(long n) {
  float *p = aligned_alloc(64, (size_t)n * sizeof(float));
  if (!p) {
    fprintf(stderr, "bandwidth: cannot allocate %.1f GiB\n",
            n * 4.0 / (1 << 30));
    exit(1);
  }
  return p;
}

/* n floats, 2 MiB aligned, advised into transparent huge pages (a no-op
 * where the kernel's mode is "never"). */
static float *allocHuge(long n) {
  size_t huge = 2UL << 20, size = (size_t)n * sizeof(float) + huge;
  char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    fprintf(stderr, "bandwidth: cannot map %.1f GiB\n", size / 1073741824.0);
    exit(1);
  }
  char *q = p + (huge - (size_t)p % huge) % huge;
  madvise(q, (size_t)n * sizeof(float), MADV_HUGEPAGE);
  return (float *)q;
}

/* The median seconds of TRIALS parallel sums over x[0, n). */
static double timeRead(const float *x, long n) {
  double t[TRIALS];
  volatile float keep = 0;
  for (int r = 0; r < TRIALS; ++r) {
    float total = 0;
    double t0 = omp_get_wtime();
#pragma omp parallel reduction(+ : total)
    {
      int id = omp_get_thread_num(), nt = omp_get_num_threads();
      long chunk = n / nt / 64 * 64;
      long begin = id * chunk, end = id == nt - 1 ? n : begin + chunk;
      total += sum512(x + begin, end - begin);
    }
    t[r] = omp_get_wtime() - t0;
    keep += total;
  }
  if (keep != keep)
    fprintf(stderr, "bandwidth: unexpected sum\n");
  return median(t, TRIALS);
}

int main(void) {
  double readGiB = getenv("BW_READ_GIB") ? atof(getenv("BW_READ_GIB")) : 2.0;
  /* Each thread's share is a multiple of 64 floats for the vector loop. */
  long n = (long)(readGiB * (1L << 30) / sizeof(float)) / 1024 * 1024;
  long half = n / 2 / 1024 * 1024;
  int maxThreads = omp_get_num_procs();
  float *a = allocBuffer(n);
  /* copy and triad use three buffers of n/2 floats: 1.5x the read buffer. */
  float *b = allocBuffer(half), *c = allocBuffer(half);
  float *h = allocHuge(n);

  const int counts[] = {1, 2};
  for (int k = 0; k < 2; ++k) {
    int threads = counts[k];
    if (threads > maxThreads)
      continue;
    omp_set_num_threads(threads);
    /* First touch by the same static partition as the kernels below. */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i)
      a[i] = (float)(i & 1023) * 1e-3f;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < half; ++i)
      b[i] = 1.0f, c[i] = 2.0f;

#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i)
      h[i] = (float)(i & 1023) * 1e-3f;

    printf("bandwidth: kernel=read threads=%d moved_gib=%.2f gbps=%.1f\n", threads,
           n * 4.0 / (1 << 30), n * 4.0 / timeRead(a, n) / 1e9);
    printf("bandwidth: kernel=read-huge threads=%d moved_gib=%.2f gbps=%.1f\n",
           threads, n * 4.0 / (1 << 30), n * 4.0 / timeRead(h, n) / 1e9);

    double t[TRIALS];

    for (int r = 0; r < TRIALS; ++r) {
      double t0 = omp_get_wtime();
#pragma omp parallel for schedule(static)
      for (long i = 0; i < half; ++i)
        c[i] = a[i];
      t[r] = omp_get_wtime() - t0;
    }
    printf("bandwidth: kernel=copy threads=%d moved_gib=%.2f gbps=%.1f\n", threads,
           half * 8.0 / (1 << 30), half * 8.0 / median(t, TRIALS) / 1e9);

    for (int r = 0; r < TRIALS; ++r) {
      const float s = 3.0f;
      double t0 = omp_get_wtime();
#pragma omp parallel for schedule(static)
      for (long i = 0; i < half; ++i)
        a[i] = b[i] + s * c[i];
      t[r] = omp_get_wtime() - t0;
    }
    printf("bandwidth: kernel=triad threads=%d moved_gib=%.2f gbps=%.1f\n", threads,
           half * 12.0 / (1 << 30), half * 12.0 / median(t, TRIALS) / 1e9);
    fflush(stdout);
  }
  free(a);
  free(b);
  free(c);
  return 0;
}
