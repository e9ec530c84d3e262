//===- openblas_attn.c - unfused attention on OpenBLAS --------------------===//
//
// The textbook baseline attention kernels are compared against: for each
// (batch, head), materialise the full score matrix with one GEMM, mask it,
// take a row softmax, and multiply by V with a second GEMM:
//
//   S = scale * Q K^T              cblas_sgemm, Sq x Skv, f32
//   S[i][j] = -inf  where the mask forbids (i, j)
//   P = softmax_rows(S)            max-subtracted, in place
//   O = P V                        cblas_sgemm, Sq x Dv
//
// Layout BHSD, f32. Masked work is computed and thrown away (that is what an
// unfused implementation does); only one head's S is alive at a time, so a
// 16384 x 16384 case holds 1 GiB of scores. The GEMMs run on OpenBLAS's
// threads (OPENBLAS_NUM_THREADS); the mask and softmax passes
// split rows over the same number of OpenMP threads.
//
// Usage: openblas_attn B H Sq Skv D MASK REPEAT
//   MASK: full | causal | window:L | sinks_window:N:L | document:NDOCS
// Positions are bottom-right aligned, p(i) = i + Skv - Sq; documents split
// positions into NDOCS equal runs, doc(x) = x * NDOCS / Skv.
// Prints the core OpenBLAS selected, the median time of REPEAT runs after
// one warm-up, and the error on a few rows of head (0, 0) against a float64
// recomputation:
//
//   openblas_attn: corename=... config="..." threads=2 ms=... max_abs_err=...
//
//===----------------------------------------------------------------------===//

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { FULL, CAUSAL, WINDOW, SINKS_WINDOW, DOCUMENT } MaskKind;

typedef struct {
  MaskKind kind;
  long window, sinks, docs, sq, skv;
} Mask;

static int allowed(const Mask *m, long i, long j) {
  long p = i + m->skv - m->sq;
  switch (m->kind) {
  case FULL:
    return 1;
  case CAUSAL:
    return j <= p;
  case WINDOW:
    return j <= p && j >= p - m->window;
  case SINKS_WINDOW:
    return j <= p && (j < m->sinks || j >= p - m->window);
  case DOCUMENT:
    return j <= p && j * m->docs / m->skv == p * m->docs / m->skv;
  }
  return 0;
}

static Mask parseMask(const char *text, long sq, long skv) {
  Mask m = {FULL, 0, 0, 1, sq, skv};
  if (!strcmp(text, "full"))
    m.kind = FULL;
  else if (!strcmp(text, "causal"))
    m.kind = CAUSAL;
  else if (sscanf(text, "window:%ld", &m.window) == 1)
    m.kind = WINDOW;
  else if (sscanf(text, "sinks_window:%ld:%ld", &m.sinks, &m.window) == 2)
    m.kind = SINKS_WINDOW;
  else if (sscanf(text, "document:%ld", &m.docs) == 1 && m.docs > 0)
    m.kind = DOCUMENT;
  else {
    fprintf(stderr, "openblas_attn: unknown mask '%s'\n", text);
    exit(1);
  }
  return m;
}

/* The allowed keys of row i as [0, sinkEnd) u [lo, hi]; every mask here
 * has that shape, which keeps the masking pass a few fills per row. */
static void allowedRange(const Mask *m, long i, long *sinkEnd, long *lo,
                         long *hi) {
  long p = i + m->skv - m->sq;
  *sinkEnd = 0, *lo = 0, *hi = m->skv - 1;
  switch (m->kind) {
  case FULL:
    return;
  case CAUSAL:
    *hi = p;
    break;
  case WINDOW:
    *lo = p - m->window, *hi = p;
    break;
  case SINKS_WINDOW:
    *lo = p - m->window, *hi = p;
    *sinkEnd = m->sinks < p + 1 ? m->sinks : p + 1;
    break;
  case DOCUMENT: {
    long doc = p * m->docs / m->skv;
    *lo = (doc * m->skv + m->docs - 1) / m->docs; /* first x of doc */
    *hi = p;
    break;
  }
  }
  *lo = *lo < 0 ? 0 : *lo;
  *hi = *hi >= m->skv ? m->skv - 1 : *hi;
  *sinkEnd = *sinkEnd < 0 ? 0 : *sinkEnd;
}

static void fillNegInf(float *row, long begin, long end) {
  for (long j = begin; j < end; ++j)
    row[j] = -INFINITY;
}

/* Writes -inf over the forbidden scores of rows [0, sq). */
static void applyMask(const Mask *m, float *s) {
  if (m->kind == FULL)
    return;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < m->sq; ++i) {
    float *row = s + i * m->skv;
    long sinkEnd, lo, hi;
    allowedRange(m, i, &sinkEnd, &lo, &hi);
    if (hi < lo) {
      fillNegInf(row, sinkEnd, m->skv);
      continue;
    }
    fillNegInf(row, sinkEnd, lo);
    fillNegInf(row, hi + 1, m->skv);
  }
}

/* Row softmax in place. Arguments below -80 (masked entries among them)
 * give exactly 0 without calling exp: the vector expf takes a slow scalar
 * path for -inf, and -ffast-math gives no guarantee for it. A row with no
 * allowed key (max = -inf) becomes all zeros. */
static void softmaxRows(float *s, long rows, long cols) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < rows; ++i) {
    float *row = s + i * cols;
    float mx = -INFINITY;
    for (long j = 0; j < cols; ++j)
      mx = row[j] > mx ? row[j] : mx;
    if (mx < -1e30f) {
      memset(row, 0, cols * sizeof(float));
      continue;
    }
    float sum = 0;
    for (long j = 0; j < cols; ++j) {
      float x = row[j] - mx;
      float e = expf(fmaxf(x, -80.0f));
      e = x < -80.0f ? 0.0f : e;
      row[j] = e;
      sum += e;
    }
    float inv = 1.0f / sum;
    for (long j = 0; j < cols; ++j)
      row[j] *= inv;
  }
}

static void attention(const float *q, const float *k, const float *v,
                      float *o, float *s, long b, long h, long d,
                      const Mask *m, float scale) {
  long sq = m->sq, skv = m->skv;
  for (long bh = 0; bh < b * h; ++bh) {
    const float *qh = q + bh * sq * d, *kh = k + bh * skv * d,
                *vh = v + bh * skv * d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, sq, skv, d, scale,
                qh, d, kh, d, 0.0f, s, skv);
    applyMask(m, s);
    softmaxRows(s, sq, skv);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sq, d, skv, 1.0f,
                s, skv, vh, d, 0.0f, o + bh * sq * d, d);
  }
}

/* float64 attention of row i of head (0, 0). */
static double rowError(const float *q, const float *k, const float *v,
                       const float *o, long d, const Mask *m, float scale,
                       long i) {
  long skv = m->skv;
  double *p = malloc(skv * sizeof(double)), mx = -INFINITY, sum = 0, err = 0;
  for (long j = 0; j < skv; ++j) {
    double dot = 0;
    for (long c = 0; c < d; ++c)
      dot += (double)q[i * d + c] * k[j * d + c];
    p[j] = allowed(m, i, j) ? dot * scale : -INFINITY;
    if (p[j] > mx)
      mx = p[j];
  }
  for (long j = 0; j < skv; ++j)
    sum += p[j] = isinf(p[j]) ? 0 : exp(p[j] - mx);
  for (long c = 0; c < d; ++c) {
    double acc = 0;
    for (long j = 0; j < skv; ++j)
      acc += p[j] * v[j * d + c];
    acc = sum > 0 ? acc / sum : 0;
    double e = fabs(acc - o[i * d + c]);
    err = e > err ? e : err;
  }
  free(p);
  return err;
}

static int cmpDouble(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: openblas_attn B H Sq Skv D MASK REPEAT\n");
    return 1;
  }
  long b = atol(argv[1]), h = atol(argv[2]), sq = atol(argv[3]),
       skv = atol(argv[4]), d = atol(argv[5]);
  int repeat = atoi(argv[7]);
  if (b <= 0 || h <= 0 || sq <= 0 || skv <= 0 || d <= 0 || repeat <= 0) {
    fprintf(stderr, "openblas_attn: sizes and REPEAT must be positive\n");
    return 1;
  }
  Mask m = parseMask(argv[6], sq, skv);
  int threads = openblas_get_num_threads();
  omp_set_num_threads(threads);

  size_t nq = b * h * sq * d, nkv = b * h * skv * d;
  float *q = malloc(nq * sizeof(float)), *k = malloc(nkv * sizeof(float)),
        *v = malloc(nkv * sizeof(float)), *o = malloc(nq * sizeof(float)),
        *s = malloc((size_t)sq * skv * sizeof(float));
  if (!q || !k || !v || !o || !s) {
    fprintf(stderr, "openblas_attn: out of memory\n");
    return 1;
  }
  srand(1);
  for (size_t i = 0; i < nq; ++i)
    q[i] = 2.0f * rand() / RAND_MAX - 1.0f;
  for (size_t i = 0; i < nkv; ++i) {
    k[i] = 2.0f * rand() / RAND_MAX - 1.0f;
    v[i] = 2.0f * rand() / RAND_MAX - 1.0f;
  }
  float scale = 1.0f / sqrtf((float)d);

  double *times = malloc(repeat * sizeof(double));
  for (int r = -1; r < repeat; ++r) {
    double t0 = omp_get_wtime();
    attention(q, k, v, o, s, b, h, d, &m, scale);
    double t1 = omp_get_wtime();
    if (r >= 0)
      times[r] = (t1 - t0) * 1e3;
  }
  qsort(times, repeat, sizeof(double), cmpDouble);

  double err = 0;
  const long rows[] = {0, sq / 3, sq / 2, sq - 1};
  for (int r = 0; r < 4; ++r) {
    double e = rowError(q, k, v, o, d, &m, scale, rows[r]);
    err = e > err ? e : err;
  }
  printf("openblas_attn: corename=%s config=\"%s\" threads=%d ms=%.3f "
         "max_abs_err=%.3e\n",
         openblas_get_corename(), openblas_get_config(), threads,
         times[repeat / 2], err);
  return 0;
}
