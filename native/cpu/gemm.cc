// CPU GEMM driver: validation, blocking (BLIS order: NC, KC, MC, NR, MR), threads over blocks of
// rows (and of columns when rows are few). The K order of every output is fixed by the blocking,
// so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "gemm_kernel.h"
#include "semid/gemm.h"
#include "semid/parallel.h"

#ifdef SEMID_WITH_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif

namespace semid {

namespace {
std::string str(i64 v) { return std::to_string(v); }
}  // namespace

void validate_gemm_shape(const GemmArgs& g) {
  auto fail = [](const std::string& msg) { throw Error("ERR_SEMID_INVALID_ARG", msg); };
  if (g.batch < 1) fail("gemm: batch must be >= 1, got " + str(g.batch));
  if (g.m < 0 || g.n < 0 || g.k < 0)
    fail("gemm: m, n, k must be >= 0, got " + str(g.m) + ", " + str(g.n) + ", " + str(g.k));
  i64 a_cols = g.trans_a ? g.m : g.k, b_cols = g.trans_b ? g.k : g.n;
  if (g.lda < std::max<i64>(1, a_cols)) fail("gemm: lda must be >= " + str(std::max<i64>(1, a_cols)) + ", got " + str(g.lda));
  if (g.ldb < std::max<i64>(1, b_cols)) fail("gemm: ldb must be >= " + str(std::max<i64>(1, b_cols)) + ", got " + str(g.ldb));
  if (g.ldc < std::max<i64>(1, g.n)) fail("gemm: ldc must be >= " + str(std::max<i64>(1, g.n)) + ", got " + str(g.ldc));
  if (g.stride_a < 0 || g.stride_b < 0 || g.stride_c < 0) fail("gemm: strides must be >= 0");
  if (g.batch > 1 && g.stride_c == 0 && g.m > 0 && g.n > 0)
    fail("gemm: stride_c must be > 0 when batch > 1");
}

void validate_gemm(const GemmArgs& g) {
  validate_gemm_shape(g);
  if (g.m > 0 && g.n > 0 && g.c == nullptr) throw Error("ERR_SEMID_INVALID_ARG", "gemm: c is null");
  if (g.m > 0 && g.n > 0 && g.k > 0 && (g.a == nullptr || g.b == nullptr))
    throw Error("ERR_SEMID_INVALID_ARG", "gemm: a or b is null");
}

void gemm_reference(const GemmArgs& g) {
  validate_gemm(g);
  cpu::MatView av{nullptr, g.lda, g.trans_a}, bv{nullptr, g.ldb, g.trans_b};
  for (i64 b = 0; b < g.batch; ++b) {
    av.data = g.a + b * g.stride_a;
    bv.data = g.b + b * g.stride_b;
    float* c = g.c + b * g.stride_c;
    for (i64 i = 0; i < g.m; ++i)
      for (i64 j = 0; j < g.n; ++j) {
        double s = 0;
        for (i64 p = 0; p < g.k; ++p) s += double(av.at(i, p)) * double(bv.at(p, j));
        float prev = g.beta == 0.0f ? 0.0f : g.beta * c[i * g.ldc + j];
        c[i * g.ldc + j] = static_cast<float>(g.alpha * s + prev);
      }
  }
}

namespace {

// Scale (or zero) one rectangle of C by beta before accumulating into it.
void apply_beta(float* c, i64 ldc, i64 rows, i64 cols, float beta) {
  for (i64 i = 0; i < rows; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f)
      std::fill(row, row + cols, 0.0f);
    else
      for (i64 j = 0; j < cols; ++j) row[j] *= beta;
  }
}

}  // namespace

void gemm_cpu(const GemmArgs& g, int threads, const CancelFlag& cancel, bool allow_blas) {
  validate_gemm(g);
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0 || g.alpha == 0.0f) {
    for (i64 b = 0; b < g.batch; ++b) apply_beta(g.c + b * g.stride_c, g.ldc, g.m, g.n, g.beta);
    return;
  }
#ifdef SEMID_WITH_OPENBLAS
  if (allow_blas && !g.upper_only) {
    openblas_set_num_threads(resolve_threads(threads, 1 << 20));
    for (i64 b = 0; b < g.batch; ++b) {
      cancel.check();
      cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                  g.trans_b ? CblasTrans : CblasNoTrans, int(g.m), int(g.n), int(g.k), g.alpha,
                  g.a + b * g.stride_a, int(g.lda), g.b + b * g.stride_b, int(g.ldb), g.beta,
                  g.c + b * g.stride_c, int(g.ldc));
    }
    return;
  }
#else
  (void)allow_blas;
#endif
  const cpu::MicroKernel& mk = cpu::select_kernel();
  const i64 MR = mk.mr, NR = mk.nr;
  const i64 MC = cpu::round_up(cpu::kMC, MR), KC = cpu::kKC, NC = cpu::round_up(cpu::kNC, NR);

  const int t = resolve_threads(threads, 1 << 20);
  // Narrow products (n <= NC, packed B and a task's packed A within 4 MiB each, enough row blocks:
  // projections, nearest-centroid passes, Gram blocks): B is packed once for every k-panel and
  // shared by the tasks, and each register tile runs its k-panels back to back, so a C tile
  // stays in L1 instead of being read again from memory once per k-panel. The micro-kernel calls
  // and their k order are those of the general path below: the same bits.
  const i64 n_pad = cpu::round_up(g.n, NR);
  const bool rows_feed_threads = t == 1 || (g.m + MC - 1) / MC >= 2 * i64(t);  // else split columns below
  const bool packs_fit = n_pad * g.k <= (i64(1) << 20) && MC * g.k <= (i64(1) << 20);  // B, and each task's A
  if (g.batch == 1 && g.n <= NC && packs_fit && rows_feed_threads) {
    const cpu::MatView a{g.a, g.lda, g.trans_a}, bm{g.b, g.ldb, g.trans_b};
    const i64 kpanels = (g.k + KC - 1) / KC;
    std::vector<float> b_all(n_pad * g.k);  // k-panel pc at offset pc * n_pad
    parallel_for(kpanels, t, cancel, [&](i64 kb, int) {
      const i64 pc = kb * KC, kc = std::min(KC, g.k - pc);
      cpu::pack_b(bm, pc, kc, 0, g.n, mk.nr, b_all.data() + pc * n_pad);
    });
    const i64 row_tasks = (g.m + MC - 1) / MC;
    parallel_for(row_tasks, t, cancel, [&](i64 task, int) {
      const i64 i0 = task * MC, mb = std::min(MC, g.m - i0);
      if (g.upper_only && g.n <= i0) return;  // the whole block lies below the diagonal
      float* c = g.c;
      if (g.beta != 1.0f && g.beta != 0.0f) apply_beta(c + i0 * g.ldc, g.ldc, mb, g.n, g.beta);
      thread_local std::vector<float> a_all;
      a_all.resize(MC * g.k);  // k-panel pc at offset pc * MC
      for (i64 pc = 0; pc < g.k; pc += KC)
        cpu::pack_a(a, i0, mb, pc, std::min(KC, g.k - pc), mk.mr, g.alpha, a_all.data() + pc * MC);
      for (i64 jr = 0; jr < g.n; jr += NR) {
        const int nr = static_cast<int>(std::min(NR, g.n - jr));
        for (i64 ir = 0; ir < mb; ir += MR) {
          const int mr = static_cast<int>(std::min(MR, mb - ir));
          if (g.upper_only && jr + nr <= i0 + ir) continue;  // tile wholly below the diagonal
          float* ct = c + (i0 + ir) * g.ldc + jr;
          for (i64 pc = 0; pc < g.k; pc += KC) {
            const i64 kc = std::min(KC, g.k - pc);
            mk.fn(kc, a_all.data() + pc * MC + ir * kc, b_all.data() + pc * n_pad + jr * kc, ct, g.ldc, mr, nr,
                  pc > 0 || g.beta != 0.0f);
          }
        }
      }
    });
    return;
  }

  // Task grid: each task owns a rectangle of C (rows tm, columns tn) of one batch item.
  const i64 row_blocks = (g.m + MC - 1) / MC;
  i64 blocks_per_task = std::max<i64>(1, std::min<i64>(8, row_blocks * g.batch / (4 * t)));
  i64 tm = MC * blocks_per_task;
  i64 row_tasks = (g.m + tm - 1) / tm;
  i64 tn = g.n;
  if (row_tasks * g.batch < 2 * t) {
    i64 want = std::max<i64>(1, (2 * t) / (row_tasks * g.batch));
    tn = std::max<i64>(NR * 4, cpu::round_up((g.n + want - 1) / want, NR));
  }
  const i64 col_tasks = (g.n + tn - 1) / tn;
  const i64 tasks = g.batch * row_tasks * col_tasks;

  parallel_for(tasks, t, cancel, [&](i64 task, int) {
    const i64 b = task / (row_tasks * col_tasks);
    const i64 rt = (task / col_tasks) % row_tasks, ct = task % col_tasks;
    const i64 i0 = rt * tm, i1 = std::min(g.m, i0 + tm);
    const i64 j0 = ct * tn, j1 = std::min(g.n, j0 + tn);
    const cpu::MatView a{g.a + b * g.stride_a, g.lda, g.trans_a};
    const cpu::MatView bm{g.b + b * g.stride_b, g.ldb, g.trans_b};
    float* c = g.c + b * g.stride_c;
    if (g.beta != 1.0f && g.beta != 0.0f) apply_beta(c + i0 * g.ldc + j0, g.ldc, i1 - i0, j1 - j0, g.beta);
    thread_local std::vector<float> a_pack, b_pack;
    a_pack.resize(MC * KC);
    b_pack.resize(NC * KC);
    for (i64 jc = j0; jc < j1; jc += NC) {
      const i64 nc = std::min(NC, j1 - jc);
      for (i64 pc = 0; pc < g.k; pc += KC) {
        const i64 kc = std::min(KC, g.k - pc);
        const bool accumulate = pc > 0 || g.beta != 0.0f;
        cpu::pack_b(bm, pc, kc, jc, nc, mk.nr, b_pack.data());
        for (i64 ic = i0; ic < i1; ic += MC) {
          const i64 mc = std::min(MC, i1 - ic);
          if (g.upper_only && jc + nc <= ic) continue;  // the whole block lies below the diagonal
          cpu::pack_a(a, ic, mc, pc, kc, mk.mr, g.alpha, a_pack.data());
          for (i64 jr = 0; jr < nc; jr += NR) {
            const int nr = static_cast<int>(std::min(NR, nc - jr));
            for (i64 ir = 0; ir < mc; ir += MR) {
              const int mr = static_cast<int>(std::min(MR, mc - ir));
              if (g.upper_only && jc + jr + nr <= ic + ir) continue;  // tile wholly below the diagonal
              mk.fn(kc, a_pack.data() + ir * kc, b_pack.data() + jr * kc,
                    c + (ic + ir) * g.ldc + jc + jr, g.ldc, mr, nr, accumulate);
            }
          }
        }
      }
    }
  });
}

}  // namespace semid
