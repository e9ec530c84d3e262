/*===- timed.h - The peak probes' timed parallel runs ---------------------===*
 *
 * best_gflops: the best GFLOP/s of `trials` runs of `work(arg)` by
 * `threads` OpenMP threads at once (started together after a barrier,
 * timed until the last one ends), counting `flops_per_thread` each. A sum
 * of the results that is not finite (or absurdly large) is reported on
 * stderr under `name`; using the results keeps the compiler from dropping
 * the work.
 *
 *===----------------------------------------------------------------------===*/

#ifndef ATTN_BENCH_PEAK_TIMED_H
#define ATTN_BENCH_PEAK_TIMED_H

#include <omp.h>
#include <stdio.h>

static double best_gflops(const char *name, int threads, int trials,
                          double flops_per_thread, float (*work)(void *),
                          void *arg) {
  double best = 0;
  for (int t = 0; t < trials; ++t) {
    float sink = 0;
    double t0 = 0, t1 = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
#pragma omp barrier
#pragma omp master
      t0 = omp_get_wtime();
      sink += work(arg);
#pragma omp barrier
#pragma omp master
      t1 = omp_get_wtime();
    }
    if (!(sink == sink) || sink > 1e30f)
      fprintf(stderr, "%s: unexpected sum %g\n", name, (double)sink);
    double g = flops_per_thread * threads / (t1 - t0) / 1e9;
    if (g > best)
      best = g;
  }
  return best;
}

#endif
