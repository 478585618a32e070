// Native parity tests, runnable without Node (the device machine has none):
//   every CPU SIMD path and the CUDA backend against the simplest CPU oracle, on shapes that are
//   not multiples of any tile, with sentinels around outputs to catch out-of-bounds writes.
// Prints one line per case and ends with "N passed, N failed"; exit code 1 on any failure.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <map>
#include <thread>
#include <vector>

#if defined(__unix__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "semid/beam.h"
#include "semid/cpu_features.h"
#include "semid/cuda.h"
#include "semid/gemm.h"
#include "semid/nearest.h"
#include "semid/parallel.h"
#include "semid/rq.h"
#include "semid/svd.h"
#include "random_trie.h"
#include "distance.h"  // internal CPU kernels (native/cpu)
#include "logsumexp.h"

using namespace semid;

static int passed = 0, failed = 0;
static void report(bool ok, const std::string& name, const std::string& detail) {
  (ok ? passed : failed)++;
  std::printf("%s %s %s\n", ok ? "OK  " : "FAIL", name.c_str(), detail.c_str());
}

static std::vector<float> random_floats(std::size_t count, std::mt19937& rng, bool integer) {
  std::vector<float> v(count);
  std::uniform_real_distribution<float> uf(-1.0f, 1.0f);
  std::uniform_int_distribution<int> ui(-4, 4);
  for (auto& x : v) x = integer ? float(ui(rng)) : uf(rng);
  return v;
}

constexpr float kSentinel = -12345.0f;

static void gemm_case(const char* backend, i64 batch, i64 m, i64 n, i64 k, bool ta, bool tb,
                      float alpha, float beta, bool broadcast_b, std::mt19937& rng) {
  GemmArgs g;
  g.batch = batch; g.m = m; g.n = n; g.k = k; g.trans_a = ta; g.trans_b = tb;
  g.lda = (ta ? m : k) + 1; g.ldb = (tb ? k : n) + 2; g.ldc = n + 3;
  g.stride_a = (ta ? k : m) * g.lda; g.stride_b = broadcast_b ? 0 : (tb ? n : k) * g.ldb;
  g.stride_c = m * g.ldc + 5;
  auto a = random_floats(batch * g.stride_a, rng, true);
  auto b = random_floats(broadcast_b ? (tb ? n : k) * g.ldb : batch * g.stride_b, rng, true);
  auto c0 = random_floats(batch * g.stride_c, rng, true);
  // Sentinels in every gap of C (row padding and batch padding) must survive.
  for (i64 bi = 0; bi < batch; ++bi)
    for (i64 e = 0; e < g.stride_c; ++e)
      if (e >= m * g.ldc || e % g.ldc >= n) c0[bi * g.stride_c + e] = kSentinel;
  auto want = c0, got = c0;
  g.a = a.data(); g.b = b.data(); g.alpha = alpha; g.beta = beta;
  g.c = want.data();
  gemm_reference(g);
  g.c = got.data();
  std::string name = std::string("gemm/") + backend + " b=" + std::to_string(batch) + " m=" +
                     std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                     (ta ? " tA" : "") + (tb ? " tB" : "") + (broadcast_b ? " bcastB" : "");
  try {
    if (std::strcmp(backend, "cuda") == 0) gemm_cuda(g, CancelFlag{});
    else gemm_cpu(g, std::strcmp(backend, "cpu-1thread") == 0 ? 1 : 0, CancelFlag{}, false);
  } catch (const std::exception& e) {
    report(false, name, e.what());
    return;
  }
  double max_err = 0;
  bool sentinel_ok = true;
  for (std::size_t e = 0; e < got.size(); ++e) {
    if (want[e] == kSentinel) { sentinel_ok &= got[e] == kSentinel; continue; }
    max_err = std::max(max_err, std::fabs(double(got[e]) - double(want[e])));
  }
  // Integer inputs: every product and partial sum is exact in float32.
  report(max_err == 0 && sentinel_ok, name,
         "max_abs_err=" + std::to_string(max_err) + (sentinel_ok ? "" : " SENTINEL OVERWRITTEN"));
}

#if defined(__unix__)
/**
 * `count` floats that end flush against an unreadable page: a read or write one element past
 * the end faults. For operands whose caller may hand over exactly the elements a strided view
 * spans ((batch - 1) * stride + (rows - 1) * ld + cols, the length the addon checks).
 */
class GuardedFloats {
 public:
  explicit GuardedFloats(std::size_t count) : count_(count) {
    const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    data_pages_ = (count * sizeof(float) + page - 1) / page;
    bytes_ = (data_pages_ + 1) * page;
    base_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) { base_ = nullptr; return; }
    mprotect(static_cast<char*>(base_) + data_pages_ * page, page, PROT_NONE);
  }
  ~GuardedFloats() { if (base_) munmap(base_, bytes_); }
  GuardedFloats(const GuardedFloats&) = delete;
  GuardedFloats& operator=(const GuardedFloats&) = delete;
  float* data() const {
    const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    return base_ ? reinterpret_cast<float*>(static_cast<char*>(base_) + data_pages_ * page) - count_ : nullptr;
  }

 private:
  std::size_t count_, data_pages_ = 0, bytes_ = 0;
  void* base_ = nullptr;
};

/**
 * gemm on strided operands (leading dimensions wider than the rows, batch strides with gaps)
 * whose arrays end at the last element they span, right before an unreadable page: a backend
 * that reads (or copies to the card) the last row's whole leading dimension faults here.
 */
static void gemm_exact_extent_case(const char* backend, i64 batch, i64 m, i64 n, i64 k, bool ta, bool tb, float beta,
                                   std::mt19937& rng) {
  GemmArgs g;
  g.batch = batch; g.m = m; g.n = n; g.k = k; g.trans_a = ta; g.trans_b = tb;
  g.lda = (ta ? m : k) + 5; g.ldb = (tb ? k : n) + 7; g.ldc = n + 3;
  g.stride_a = (ta ? k : m) * g.lda + 2; g.stride_b = (tb ? n : k) * g.ldb + 1; g.stride_c = m * g.ldc + 4;
  auto extent = [&](i64 rows, i64 cols, i64 ld, i64 stride) { return std::size_t((batch - 1) * stride + (rows - 1) * ld + cols); };
  const std::size_t a_len = ta ? extent(k, m, g.lda, g.stride_a) : extent(m, k, g.lda, g.stride_a);
  const std::size_t b_len = tb ? extent(n, k, g.ldb, g.stride_b) : extent(k, n, g.ldb, g.stride_b);
  const std::size_t c_len = extent(m, n, g.ldc, g.stride_c);
  GuardedFloats a(a_len), b(b_len), c(c_len);
  const std::string name = std::string("gemm/") + backend + " exact extent b=" + std::to_string(batch) + " m=" + std::to_string(m) +
                           " n=" + std::to_string(n) + " k=" + std::to_string(k) + (ta ? " tA" : "") + (tb ? " tB" : "") +
                           (beta != 0.0f ? " beta" : "");
  if (!a.data() || !b.data() || !c.data()) { report(false, name, "mmap failed"); return; }
  const auto av = random_floats(a_len, rng, true), bv = random_floats(b_len, rng, true), cv = random_floats(c_len, rng, true);
  std::copy(av.begin(), av.end(), a.data());
  std::copy(bv.begin(), bv.end(), b.data());
  std::copy(cv.begin(), cv.end(), c.data());
  std::vector<float> want(cv);
  g.a = a.data(); g.b = b.data(); g.alpha = 1.0f; g.beta = beta;
  g.c = want.data();
  gemm_reference(g);
  g.c = c.data();
  try {
    if (std::strcmp(backend, "cuda") == 0) gemm_cuda(g, CancelFlag{});
    else gemm_cpu(g, std::strcmp(backend, "cpu-1thread") == 0 ? 1 : 0, CancelFlag{}, std::strcmp(backend, "cpu-blas") == 0);
  } catch (const std::exception& e) {
    report(false, name, e.what());
    return;
  }
  double max_err = 0;
  for (std::size_t e = 0; e < c_len; ++e) max_err = std::max(max_err, std::fabs(double(c.data()[e]) - double(want[e])));
  report(max_err == 0, name, "max_abs_err=" + std::to_string(max_err));
}
#endif

static void nearest_case(const char* backend, i64 n, i64 d, i64 k, i64 topk, bool integer,
                         std::mt19937& rng) {
  auto x = random_floats(n * d, rng, integer), c = random_floats(k * d, rng, integer);
  std::vector<std::int32_t> want_i(n * topk), got_i(n * topk + 4, -7);
  std::vector<float> want_d(n * topk), got_d(n * topk + 4, kSentinel);
  NearestArgs a{n, d, k, topk, x.data(), c.data(), want_i.data(), want_d.data()};
  nearest_reference(a);
  a.indices = got_i.data();
  a.distances = got_d.data();
  std::string name = std::string("nearest/") + backend + " n=" + std::to_string(n) + " d=" +
                     std::to_string(d) + " k=" + std::to_string(k) + " topk=" +
                     std::to_string(topk) + (integer ? " int" : " float");
  try {
    if (std::strcmp(backend, "cuda") == 0) nearest_cuda(a, CancelFlag{});
    else nearest_cpu(a, std::strcmp(backend, "cpu-1thread") == 0 ? 1 : 0, CancelFlag{});
  } catch (const std::exception& e) {
    report(false, name, e.what());
    return;
  }
  i64 index_mismatch = 0;
  double max_rel = 0;
  for (i64 e = 0; e < n * topk; ++e) {
    double rel = std::fabs(got_d[e] - want_d[e]) / std::max(1e-6, double(want_d[e]) + 1e-3 * d);
    max_rel = std::max(max_rel, rel);
    if (got_i[e] != want_i[e]) {
      // Float data: a different index is a tie within rounding, never a worse candidate.
      if (integer || std::fabs(got_d[e] - want_d[e]) > 1e-4 * (want_d[e] + d)) ++index_mismatch;
    }
  }
  bool sentinel_ok = got_i[n * topk] == -7 && got_d[n * topk] == kSentinel;
  bool ok = index_mismatch == 0 && sentinel_ok && (integer ? max_rel == 0 : max_rel < 1e-3);
  report(ok, name, "index_mismatch=" + std::to_string(index_mismatch) +
                       " max_rel_dist_err=" + std::to_string(max_rel) +
                       (sentinel_ok ? "" : " SENTINEL OVERWRITTEN"));
}

// Exact nearest (nearest_exact over the backend's expanded search) against the double oracle on
// data far from the origin, where |x|^2 - 2x.c + |c|^2 in float misorders near neighbours: the
// indices must be the oracle's exactly (ties: duplicated centroids, lower index), distances within
// the rounding bound. `plain_wrong` shows how many rows the expanded search alone got wrong.
static void nearest_exact_case(const char* backend, i64 n, i64 d, i64 k, i64 topk, float offset, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n * d), c(k * d);
  for (auto& v : x) v = offset + u(rng);
  for (auto& v : c) v = offset + u(rng);
  if (k > 4) std::copy(c.begin() + 1 * d, c.begin() + 2 * d, c.begin() + 3 * d);  // centroid 3 duplicates 1
  std::vector<std::int32_t> want_i(n * topk), got_i(n * topk + 4, -7), plain_i(n * topk);
  std::vector<float> want_d(n * topk), got_d(n * topk + 4, kSentinel), plain_d(n * topk);
  NearestArgs a{n, d, k, topk, x.data(), c.data(), want_i.data(), want_d.data()};
  nearest_reference(a);
  const bool cuda = std::strcmp(backend, "cuda") == 0;
  const int threads = std::strcmp(backend, "cpu-1thread") == 0 ? 1 : 0;
  auto search = [&](const NearestArgs& w) {
    if (cuda) nearest_cuda(w, CancelFlag{});
    else nearest_cpu(w, threads, CancelFlag{});
  };
  std::string name = std::string("nearest_exact/") + backend + " n=" + std::to_string(n) + " d=" + std::to_string(d) +
                     " k=" + std::to_string(k) + " topk=" + std::to_string(topk) + " offset=" + std::to_string(int(offset));
  try {
    NearestArgs p = a;
    p.indices = plain_i.data();
    p.distances = plain_d.data();
    search(p);
    a.indices = got_i.data();
    a.distances = got_d.data();
    nearest_exact(a, search, threads, CancelFlag{});
  } catch (const std::exception& e) {
    report(false, name, e.what());
    return;
  }
  i64 wrong = 0, plain_wrong = 0;
  double max_excess = 0;
  for (i64 i = 0; i < n; ++i) {
    double xn = 0;
    for (i64 t = 0; t < d; ++t) xn += double(x[i * d + t]) * x[i * d + t];
    for (i64 q = 0; q < topk; ++q) {
      const i64 e = i * topk + q;
      wrong += got_i[e] != want_i[e];
      plain_wrong += plain_i[e] != want_i[e];
      const double cn = 4.0 * d * (std::fabs(offset) + 1) * (std::fabs(offset) + 1);
      max_excess = std::max(max_excess, std::fabs(double(got_d[e]) - want_d[e]) / nearest_rounding_bound(d, xn, cn));
    }
  }
  const bool sentinel_ok = got_i[n * topk] == -7 && got_d[n * topk] == kSentinel;
  report(wrong == 0 && max_excess <= 1 && sentinel_ok, name,
         "wrong=" + std::to_string(wrong) + " (expanded alone: " + std::to_string(plain_wrong) +
             ") dist_err/bound=" + std::to_string(max_excess) + (sentinel_ok ? "" : " SENTINEL OVERWRITTEN"));
}

// The double-precision distance kernel: AVX2 equals the scalar lanes bit for bit.
static void sq_dist_f64_cases(std::mt19937& rng) {
  if (static_cast<int>(detected_simd()) < static_cast<int>(SimdLevel::Avx2Fma)) return;
  int bad = 0;
  for (i64 d = 1; d <= 70; ++d) {
    auto a = random_floats(d, rng, false), b = random_floats(d, rng, false);
    for (auto& v : a) v *= 1e3f;
    bad += cpu::sq_dist_f64_scalar(a.data(), b.data(), d) != cpu::sq_dist_f64_avx2(a.data(), b.data(), d);
    bad += cpu::sq_dist_f64_scalar(a.data(), nullptr, d) != cpu::sq_dist_f64_avx2(a.data(), nullptr, d);
  }
  report(bad == 0, "sq_dist_f64 avx2 vs scalar (d = 1..70, distances and norms)", std::to_string(bad) + " differ");
}

// upper_only (CPU): the upper triangle equals the full product; every entry below it is either
// left as it was or equal to the product (whole register tiles are computed or skipped).
static void gemm_upper_case(i64 n, i64 k, bool ta, std::mt19937& rng) {
  GemmArgs g;
  g.m = n; g.n = n; g.k = k; g.trans_a = ta; g.lda = ta ? n : k; g.ldb = n; g.ldc = n;
  auto a = random_floats(n * k, rng, true), b = random_floats(k * n, rng, true), c0 = random_floats(n * n, rng, true);
  auto want = c0, got = c0;
  g.a = a.data(); g.b = b.data(); g.c = want.data();
  gemm_reference(g);
  g.c = got.data();
  g.upper_only = true;
  gemm_cpu(g, 0, CancelFlag{}, false);
  bool ok = true;
  i64 skipped = 0;
  for (i64 i = 0; i < n; ++i)
    for (i64 j = 0; j < n; ++j) {
      const float w = want[i * n + j], v = got[i * n + j];
      if (j >= i) ok &= v == w;
      else if (v != w) { ok &= v == c0[i * n + j]; ++skipped; }
    }
  report(ok, "gemm/cpu upper_only n=" + std::to_string(n) + " k=" + std::to_string(k) + (ta ? " tA" : ""),
         "lower entries left as they were: " + std::to_string(skipped) + (n >= 64 && skipped == 0 ? " (expected some)" : ""));
  if (n >= 64 && skipped == 0) report(false, "gemm/cpu upper_only skips work", "no tile was skipped");
}

// syrk_upper_cpu: the upper triangle of Bᵀ B (with a column mean removed) equals the float64
// product exactly on integer data; entries below it are either left as they were or equal to it;
// the padding of C past column p is never written.
static void syrk_case(i64 k, i64 p, bool trans, bool centred, std::mt19937& rng) {
  const i64 ldb = (trans ? k : p) + 3, ldc = p + 2;
  auto b = random_floats((trans ? p : k) * ldb, rng, true);
  std::vector<double> mean(p);
  for (i64 j = 0; j < p; ++j) mean[j] = 0.5 * double(int(rng() % 7) - 3);
  auto elem = [&](i64 q, i64 j) { return double(trans ? b[j * ldb + q] : b[q * ldb + j]) - (centred ? mean[j] : 0.0); };
  auto c0 = random_floats(p * ldc, rng, true);
  for (i64 i = 0; i < p; ++i) c0[i * ldc + p] = c0[i * ldc + p + 1] = kSentinel;
  auto got = c0;
  syrk_upper_cpu(k, p, b.data(), ldb, trans, centred ? mean.data() : nullptr, got.data(), ldc);
  bool ok = true;
  i64 skipped = 0, wrong = 0;
  for (i64 i = 0; i < p; ++i) {
    ok &= got[i * ldc + p] == kSentinel && got[i * ldc + p + 1] == kSentinel;
    for (i64 j = 0; j < p; ++j) {
      double want = 0;
      for (i64 q = 0; q < k; ++q) want += elem(q, i) * elem(q, j);
      const float v = got[i * ldc + j];
      if (j >= i) wrong += double(v) != want;
      else if (double(v) != want) { wrong += v != c0[i * ldc + j]; ++skipped; }
    }
  }
  ok &= wrong == 0;
  report(ok, "syrk/cpu k=" + std::to_string(k) + " p=" + std::to_string(p) + (trans ? " trans" : "") + (centred ? " centred" : ""),
         "wrong=" + std::to_string(wrong) + " lower entries left as they were: " + std::to_string(skipped));
}

// PrefaultedAllocator: a large buffer (mapped, faulted in parallel) and a small one (calloc) both
// come back as zeros from resize, and hold what is written to them.
// Log-sum-exp, AVX2 against the scalar double oracle: random rows of every length up to 300,
// a leading chunk of -inf, a maximum far above the first chunk (the second pass), all -inf,
// NaN and +inf anywhere (NaN out), huge negative logits (clamped terms).
static void logsumexp_cases(std::mt19937& rng) {
  if (static_cast<int>(detected_simd()) < static_cast<int>(SimdLevel::Avx2Fma)) return;
  std::uniform_real_distribution<float> u(-6.0f, 6.0f);
  const float inf = std::numeric_limits<float>::infinity();
  int bad = 0, cases = 0;
  std::string first_bad;
  auto check = [&](const std::vector<float>& row, const char* what) {
    float want_max = std::numeric_limits<float>::quiet_NaN(), got_max = want_max;
    const double want = cpu::logsumexp_scalar(row.data(), i64(row.size()), &want_max);
    const double got = cpu::logsumexp_avx2(row.data(), i64(row.size()), &got_max);
    const float true_max = *std::max_element(row.begin(), row.end());
    // The row maximum is reported exactly wherever the result is not NaN.
    const bool max_ok = std::isnan(want) || (want_max == true_max && got_max == true_max);
    const bool ok = max_ok && (std::isnan(want) ? std::isnan(got) : (std::isinf(want) ? got == want : std::fabs(got - want) <= 2e-6 * (1 + std::fabs(want))));
    ++cases;
    if (!ok && bad++ == 0) first_bad = std::string(what) + " n=" + std::to_string(row.size()) + " want " + std::to_string(want) + " got " + std::to_string(got);
  };
  for (int n = 1; n <= 300; ++n) {
    std::vector<float> row(static_cast<std::size_t>(n));
    for (auto& v : row) v = u(rng);
    check(row, "random");
    std::vector<float> r2 = row;
    for (int i = 0; i < std::min(n, 8); ++i) r2[std::size_t(i)] = -inf;
    check(r2, "leading -inf");
    r2 = row;
    r2[std::size_t(n - 1)] = 150.0f;
    check(r2, "max far above the first chunk");
    r2 = row;
    r2[std::size_t(n / 2)] = -1e30f;
    check(r2, "huge negative");
    r2.assign(std::size_t(n), -inf);
    check(r2, "all -inf");
    for (float special : {std::nanf(""), inf}) {
      r2 = row;
      r2[std::size_t(rng() % unsigned(n))] = special;
      check(r2, std::isnan(special) ? "NaN" : "+inf");
    }
  }
  report(bad == 0, "logsumexp avx2 vs scalar (" + std::to_string(cases) + " rows)", bad == 0 ? "all within 2e-6" : first_bad);
}

static void prefaulted_case() {
  for (const std::size_t count : {std::size_t(1000), std::size_t(5) << 20}) {
    std::vector<float, PrefaultedAllocator<float>> v;
    v.resize(count);
    bool zero = true;
    for (float e : v) zero &= e == 0.0f;
    for (std::size_t i = 0; i < count; i += 4093) v[i] = float(i);
    bool kept = true;
    for (std::size_t i = 0; i < count; i += 4093) kept &= v[i] == float(i);
    report(zero && kept, "prefaulted allocator n=" + std::to_string(count), zero ? (kept ? "" : "lost writes") : "not zeroed");
  }
}

// The Elkan row scan: the AVX2 path equals the scalar oracle bit for bit (candidates, in order, and
// the bound over the others), with lengths that are not multiples of 8 and a keep factor below 1.
static void elkan_scan_case(i64 k, std::mt19937& rng) {
  if (static_cast<int>(detected_simd()) < static_cast<int>(SimdLevel::Avx2Fma)) return;
  std::uniform_real_distribution<float> u01(0.0f, 1.0f);
  std::vector<float> S(k), drift(k), hc(k);
  for (i64 j = 0; j < k; ++j) {
    drift[j] = 30 * u01(rng);
    S[j] = drift[j] + u01(rng);  // pair values sit on large drifts: the keep factor matters
    hc[j] = 0.5f * u01(rng);
  }
  bool same = true;
  for (const float keep : {1.0f, 1.0f - 24 * 0x1p-24f, 0.0f})
    for (const float u : {0.0f, 0.3f, 0.7f, 2.0f}) {
      std::vector<std::int32_t> i1(k), i2(k);
      float o1 = 0, o2 = 0;
      const i64 c1 = cpu::elkan_scan_scalar(S.data(), drift.data(), hc.data(), keep, u, k, &o1, i1.data());
      const i64 c2 = cpu::elkan_scan_avx2(S.data(), drift.data(), hc.data(), keep, u, k, &o2, i2.data());
      i1.resize(std::size_t(c1));
      i2.resize(std::size_t(c2));
      same &= c1 == c2 && i1 == i2 && std::memcmp(&o1, &o2, sizeof o1) == 0;
    }
  report(same, "elkan scan avx2 k=" + std::to_string(k), same ? "" : "differs from the scalar oracle");
}

// The thread pool, with idle workers blocking and polling: every task runs once on a worker id
// below the thread count, the first task exception reaches the caller, nested loops and loops
// from several callers at once complete, and cancellation stops a loop.
static void pool_cases() {
  const i64 spin_before = spin_us();
  for (const i64 spin : {i64(0), i64(2000)}) {
    set_spin_us(spin);
    const std::string tag = "pool spin=" + std::to_string(spin) + "us ";
    bool once = true, ids = true;
    for (const i64 count : {1, 2, 3, 17, 1000})
      for (const int threads : {1, 2, 3, 8}) {
        std::vector<std::atomic<int>> runs(count);
        std::atomic<bool> bad_id{false};
        parallel_for(count, threads, CancelFlag{}, [&](i64 t, int w) {
          runs[t].fetch_add(1);
          if (w < 0 || w >= resolve_threads(threads, count)) bad_id = true;
        });
        for (auto& r : runs) once &= r.load() == 1;
        ids &= !bad_id;
      }
    report(once && ids, tag + "tasks", once ? (ids ? "" : "worker id out of range") : "a task ran other than once");
    bool rethrown = false;
    try {
      parallel_for(64, 4, CancelFlag{}, [&](i64 t, int) {
        if (t == 37) throw Error("ERR_SEMID_TEST", "task 37");
      });
    } catch (const Error& e) {
      rethrown = e.code() == "ERR_SEMID_TEST";
    }
    std::atomic<i64> after{0};  // the pool still works after a failed loop
    parallel_for(100, 4, CancelFlag{}, [&](i64 t, int) { after.fetch_add(t); });
    report(rethrown && after.load() == 4950, tag + "exception", rethrown ? "" : "not rethrown");
    std::atomic<i64> nested{0};
    parallel_for(8, 4, CancelFlag{}, [&](i64, int) {
      parallel_for(50, 3, CancelFlag{}, [&](i64 t, int) { nested.fetch_add(t + 1); });
    });
    std::atomic<i64> concurrent{0};
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c)
      callers.emplace_back([&] {
        for (int r = 0; r < 50; ++r) parallel_for(20, 2, CancelFlag{}, [&](i64, int) { concurrent.fetch_add(1); });
      });
    for (auto& t : callers) t.join();
    report(nested.load() == 8 * 1275 && concurrent.load() == 4 * 50 * 20, tag + "nested and concurrent",
           "nested " + std::to_string(nested.load()) + ", concurrent " + std::to_string(concurrent.load()));
    volatile std::int32_t raised = 0;
    CancelFlag cancel{&raised};
    std::atomic<i64> ran{0};
    bool cancelled = false;
    try {
      parallel_for(10000, 2, cancel, [&](i64 t, int) {
        ran.fetch_add(1);
        if (t == 10) raised = 1;
      });
    } catch (const Error& e) {
      cancelled = e.code() == "ERR_SEMID_ABORTED";
    }
    report(cancelled && ran.load() < 10000, tag + "cancel", "ran " + std::to_string(ran.load()) + " of 10000");
  }
  set_spin_us(spin_before);
}

// The Elkan dense-pass row kernel: the AVX2 path equals the scalar oracle bit for bit (distances,
// pair bounds, nearest two), with planted ties and lengths that are not multiples of 8.
static void dense_row_case(i64 k, bool ties, std::mt19937& rng) {
  if (static_cast<int>(detected_simd()) < static_cast<int>(SimdLevel::Avx2Fma)) return;
  auto dots = random_floats(k, rng, ties), cnorm = random_floats(k, rng, ties), drift = random_floats(k, rng, false);
  for (auto& v : cnorm) v = std::fabs(v) * 4.0f;
  for (auto& v : drift) v = std::fabs(v) * 0.1f;
  if (ties && k > 3)  // the nearest three times over (indices 1, 2 and k - 1): first index, second == best
    for (const i64 j : {i64(1), i64(2), k - 1}) { dots[j] = 8.0f; cnorm[j] = 4.0f; }
  std::vector<float> s_ref(k), s_got(k);
  const cpu::NearestTwo want = cpu::dense_row_scalar(dots.data(), cnorm.data(), drift.data(), 3.0f, 1e-4f, k, s_ref.data());
  const cpu::NearestTwo got = cpu::dense_row_avx2(dots.data(), cnorm.data(), drift.data(), 3.0f, 1e-4f, k, s_got.data());
  bool ok = std::memcmp(s_ref.data(), s_got.data(), sizeof(float) * k) == 0 && want.best_j == got.best_j &&
             want.best == got.best && want.second == got.second;
  if (ties && k > 3) ok &= got.best_j == 1 && got.second == got.best;
  report(ok, "dense_row/avx2 k=" + std::to_string(k) + (ties ? " ties" : ""),
         "best " + std::to_string(got.best_j) + " (oracle " + std::to_string(want.best_j) + ")");
}

static void run_backend(const char* backend, std::mt19937& rng) {
  const i64 shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {13, 17, 1}, {6, 16, 256}, {67, 129, 300},
                           {130, 33, 517}, {257, 300, 64}};
  for (auto& s : shapes)
    for (int t = 0; t < 4; ++t) gemm_case(backend, 1, s[0], s[1], s[2], t & 1, t & 2, 1.0f, 0.0f, false, rng);
  // Tall and narrow (the path that packs all of B once): enough row blocks for several threads,
  // with alpha and beta.
  for (int t = 0; t < 4; ++t) gemm_case(backend, 1, 1000, 37, 300, t & 1, t & 2, 1.5f, 0.5f, false, rng);
  gemm_case(backend, 3, 33, 47, 29, false, true, 2.0f, 0.5f, false, rng);
  gemm_case(backend, 4, 19, 40, 70, true, false, 1.0f, 1.0f, true, rng);
#if defined(__unix__)
  for (int t = 0; t < 4; ++t) {
    gemm_exact_extent_case(backend, 1, 37, 29, 45, t & 1, t & 2, 0.0f, rng);
    gemm_exact_extent_case(backend, 3, 70, 130, 33, t & 1, t & 2, 0.5f, rng);
  }
  if (std::strcmp(backend, "cpu") == 0)  // OpenBLAS where the build links it (else the native kernels again)
    for (int t = 0; t < 4; ++t) gemm_exact_extent_case("cpu-blas", 2, 300, 64, 257, t & 1, t & 2, 0.5f, rng);
#endif
  if (std::strcmp(backend, "cpu") == 0) {
    for (const i64 n : {1, 7, 64, 300}) gemm_upper_case(n, 300, n % 2 == 0, rng);
    const i64 syrk_shapes[][2] = {{1, 1}, {7, 5}, {256, 24}, {300, 25}, {513, 50}, {40, 97}};
    for (auto& sh : syrk_shapes)
      for (int t = 0; t < 4; ++t) syrk_case(sh[0], sh[1], t & 1, t & 2, rng);
  }
  const i64 cases[][4] = {{1, 1, 1, 1},   {100, 1, 7, 1},  {333, 7, 300, 1}, {500, 130, 257, 1},
                          {129, 64, 256, 5}, {200, 33, 1000, 32}, {77, 20, 300, 50}, {1000, 768, 256, 1},
                          {50, 16, 2000, 100}};
  for (auto& c : cases) {
    nearest_case(backend, c[0], c[1], c[2], c[3], true, rng);
    nearest_case(backend, c[0], c[1], c[2], c[3], false, rng);
  }
  const i64 exact_cases[][4] = {{2000, 64, 256, 1}, {500, 7, 300, 4}, {300, 33, 40, 8}, {100, 16, 5, 5}, {64, 1, 1000, 2}};
  for (auto& c : exact_cases)
    for (const float offset : {0.0f, 100.0f}) nearest_exact_case(backend, c[0], c[1], c[2], c[3], offset, rng);
  // Every centroid a candidate (k <= topk + 3), far from the origin: which are nearest is still
  // settled in double (the settling took the whole candidate set as certain).
  const i64 all_candidates[][4] = {{300, 130, 2, 1}, {300, 64, 3, 2}, {200, 17, 5, 4}};
  for (auto& c : all_candidates) nearest_exact_case(backend, c[0], c[1], c[2], c[3], 1e4f, rng);
  // Two row chunks of candidates (4 Mi entries / 103 a row = 40,721 rows a chunk).
  if (std::strcmp(backend, "cpu-1thread") != 0) nearest_exact_case(backend, 41000, 2, 110, 100, 100.0f, rng);
}

// The CUDA nearest-centroid tiles: rows whose length is a multiple of 4 take the vectorised tile
// (sgemm_tile_nt.cuh), the others the any-transpose tile. Both sum in the same order, so on the
// same input they must agree bit for bit; shapes with partial row and column blocks, a k-tail of
// 4, k below one warp's 64 columns, and inputs over the 4 MiB staged-upload threshold.
static void cuda_tile_cases(std::mt19937& rng) {
  const i64 shapes[][3] = {{131, 12, 129}, {300, 4, 1}, {257, 36, 40}, {1000, 20, 65}, {4099, 768, 256},
                           {20001, 260, 64}};
  for (auto& s : shapes) {
    nearest_case("cuda", s[0], s[1], s[2], 1, true, rng);
    nearest_case("cuda", s[0], s[1], s[2], 1, false, rng);
  }
  for (auto& s : shapes) {
    const i64 n = s[0], d = s[1], k = s[2];
    auto x = random_floats(n * d, rng, false), c = random_floats(k * d, rng, false);
    std::vector<std::int32_t> vi(n), gi(n);
    std::vector<float> vd(n), gd(n);
    const std::string name = "nearest/cuda vectorised tile = generic tile n=" + std::to_string(n) +
                             " d=" + std::to_string(d) + " k=" + std::to_string(k);
    try {
      nearest_cuda(NearestArgs{n, d, k, 1, x.data(), c.data(), vi.data(), vd.data()}, CancelFlag{});
      setenv("SEMID_CUDA_GENERIC_TILE", "1", 1);
      nearest_cuda(NearestArgs{n, d, k, 1, x.data(), c.data(), gi.data(), gd.data()}, CancelFlag{});
      unsetenv("SEMID_CUDA_GENERIC_TILE");
    } catch (const std::exception& e) {
      unsetenv("SEMID_CUDA_GENERIC_TILE");
      report(false, name, e.what());
      continue;
    }
    i64 differ = 0;
    for (i64 i = 0; i < n; ++i) differ += vi[i] != gi[i] || std::memcmp(&vd[i], &gd[i], sizeof(float)) != 0;
    report(differ == 0, name, "rows_differing=" + std::to_string(differ));
  }
}

// Planted (tie-free) data: CUDA and CPU k-means must make the same decisions.
static std::vector<float> planted(i64 n, i64 d, i64 clusters, float scale, float noise, std::mt19937& rng) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> centres(clusters * d), x(n * d);
  for (auto& v : centres) v = scale * g(rng);
  for (i64 i = 0; i < n; ++i)
    for (i64 j = 0; j < d; ++j) x[i * d + j] = centres[(i % clusters) * d + j] + noise * g(rng);
  return x;
}

static double rel_error(const std::vector<float>& x, const RqTrainResult& r) {
  double xx = 0;
  for (float v : x) xx += double(v) * v;
  return r.level_sq_error.back() / xx;
}

static void rq_cuda_parity(std::mt19937& rng) {
  {
    const i64 n = 20000, d = 32;
    auto x = planted(n, d, 64, 10.0f, 0.01f, rng);
    RqParams p;
    p.levels = 1;  // a second level would cluster pure noise: not tie-free
    p.kmeans.k = 64;
    p.kmeans.seed = 1;
    RqTrainResult cpu = rq_train(x.data(), n, d, p, CancelFlag{});
    p.backend = Backend::Cuda;
    RqTrainResult gpu = rq_train(x.data(), n, d, p, CancelFlag{});
    i64 diff_codes = 0;
    for (std::size_t e = 0; e < cpu.codes.size(); ++e) diff_codes += cpu.codes[e] != gpu.codes[e];
    double diff = 0;
    for (std::size_t e = 0; e < cpu.codebooks.data.size(); ++e)
      diff = std::max(diff, double(std::fabs(cpu.codebooks.data[e] - gpu.codebooks.data[e])));
    report(diff_codes == 0 && diff < 1e-4, "rq/cuda planted n=20000 d=32 1x64",
           "codes_differing=" + std::to_string(diff_codes) + " max_codebook_diff=" + std::to_string(diff));
  }
  {
    const i64 n = 30000, d = 64;
    auto x = planted(n, d, 500, 1.0f, 0.6f, rng);
    RqParams p;
    p.levels = 2;
    p.kmeans.k = 256;
    p.kmeans.seed = 1;
    RqTrainResult cpu = rq_train(x.data(), n, d, p, CancelFlag{});
    p.backend = Backend::Cuda;
    RqTrainResult gpu = rq_train(x.data(), n, d, p, CancelFlag{});
    const double ec = rel_error(x, cpu), eg = rel_error(x, gpu);
    report(std::fabs(eg - ec) / ec < 0.01, "rq/cuda realistic n=30000 d=64 2x256",
           "rel_err_cpu=" + std::to_string(ec) + " rel_err_cuda=" + std::to_string(eg));
    for (int beam : {1, 4}) {
      std::vector<std::int32_t> c1(n * 2), c2(n * 2);
      std::vector<double> e1(2), e2(2);
      RqEncodeArgs a;
      a.x = x.data(); a.n = n; a.beam = beam; a.codes = c1.data(); a.level_sq_error = e1.data();
      rq_encode(cpu.codebooks, a, CancelFlag{});
      a.backend = Backend::Cuda; a.codes = c2.data(); a.level_sq_error = e2.data();
      rq_encode(cpu.codebooks, a, CancelFlag{});
      i64 same = 0;
      for (std::size_t e = 0; e < c1.size(); ++e) same += c1[e] == c2[e];
      report(double(same) / c1.size() > 0.999 && std::fabs(e1[1] - e2[1]) / e1[1] < 1e-4,
             "rq/cuda encode beam=" + std::to_string(beam),
             "same_codes=" + std::to_string(double(same) / c1.size()));
    }
  }
}

using semid::testing::OwnedTrie;
using semid::testing::random_trie;

// ---- beam step -------------------------------------------------------------------------------
struct BeamOut {
  std::vector<std::int32_t> nodes, parents, tokens, fcount, fparent, fnode;
  std::vector<float> scores, fscore;
  BeamOut(i64 batch, i64 beams, i64 groups)
      : nodes(batch * beams), parents(batch * beams), tokens(batch * beams), fcount(batch * groups),
        fparent(batch * beams), fnode(batch * beams), scores(batch * beams), fscore(batch * beams) {}
  void bind(BeamStepArgs& a) {
    a.next_nodes = nodes.data(); a.next_parents = parents.data(); a.next_tokens = tokens.data(); a.next_scores = scores.data();
    a.finished_count = fcount.data(); a.finished_parent = fparent.data(); a.finished_node = fnode.data(); a.finished_score = fscore.data();
  }
};

static void beam_case(const char* backend, i64 batch, i64 beams, i64 groups, int L, i64 vocab, bool logits,
                      bool end, std::mt19937& rng, i64 items = 3000, bool dense = false, bool special = false,
                      int offset = 0, bool shared_row = false, bool first_step = false, float lp_shift = 0.0f) {
  const int k = int(end ? vocab - 1 - offset : vocab - offset);
  OwnedTrie trie = random_trie(items, L, k, rng);
  for (auto& t : trie.token) t += offset;  // IDs' tokens after `offset` other tokens (a model's own vocabulary)
  if (dense) trie.build_dense_rows();  // the AVX2 step reads dense nodes contiguously; the oracle gathers
  TrieView tv = trie.view();
  std::uniform_real_distribution<float> u01(0.0f, 1.0f);
  std::uniform_int_distribution<int> pick(0, int(tv.nodes) - 1);
  // shared_row: one row of scores per query for every beam (input_beams = 1, a search's first
  // step): the groups compete for the same tokens, so the diversity penalty reorders a lot.
  const i64 input_beams = shared_row ? 1 : beams;
  std::vector<float> scores(batch * input_beams * vocab), bscore(batch * beams);
  std::vector<std::int32_t> nodes(batch * beams);
  // lp_shift > 0: log-probability rows with positive values (unnormalised scores a caller may pass)
  for (auto& v : scores) v = logits ? (u01(rng) * 2 - 1) * 5 : std::log(u01(rng) + 1e-9f) + lp_shift;
  for (auto& v : bscore) v = -10 * u01(rng);
  if (first_step)  // a search's first step: each group's first beam at 0, the others at -1e9
    for (std::size_t i = 0; i < bscore.size(); ++i) bscore[i] = (i64(i) % beams) % (beams / groups) == 0 ? 0.0f : -1e9f;
  if (special)  // beam scores of -inf, +inf and NaN among the finite ones
    for (std::size_t i = 0; i < bscore.size(); i += 7) bscore[i] = std::array<float, 3>{-INFINITY, INFINITY, NAN}[(i / 7) % 3];
  for (auto& v : nodes) {
    int u;
    do u = pick(rng);
    while (!end && tv.child_start[u + 1] == tv.child_start[u]);
    v = u01(rng) < 0.1f ? -1 : u;
  }
  BeamStepArgs a;
  a.batch = batch; a.beams = beams; a.groups = groups; a.vocab = vocab; a.input_beams = input_beams;
  a.scores = scores.data(); a.logits = logits; a.nodes = nodes.data(); a.beam_scores = bscore.data();
  a.penalty = 0.25f; a.end_token = end ? std::int32_t(vocab - 1) : -1;
  BeamOut want(batch, beams, groups), got(batch, beams, groups);
  char name[256];
  std::snprintf(name, sizeof name, "beam/%s batch=%lld beams=%lld groups=%lld L=%d vocab=%lld items=%lld%s%s%s%s", backend,
                (long long)batch, (long long)beams, (long long)groups, L, (long long)vocab, (long long)items,
                logits ? " logits" : "", end ? " end" : "", dense ? " dense-rows" : "", special ? " inf/NaN beam scores" : "");
  if (offset) std::snprintf(name + std::strlen(name), sizeof name - std::strlen(name), " token-offset=%d", offset);
  if (shared_row) std::snprintf(name + std::strlen(name), sizeof name - std::strlen(name), " shared-row");
  if (first_step) std::snprintf(name + std::strlen(name), sizeof name - std::strlen(name), " first-step scores");
  if (lp_shift != 0.0f) std::snprintf(name + std::strlen(name), sizeof name - std::strlen(name), " log-probs+%g", double(lp_shift));
  if (const char* lists = std::getenv("SEMID_CUDA_BEAM_LISTS"))
    std::snprintf(name + std::strlen(name), sizeof name - std::strlen(name), " lists=%s", lists);
  if (const char* jacobi = std::getenv("SEMID_CUDA_BEAM_JACOBI"))
    std::snprintf(name + std::strlen(name), sizeof name - std::strlen(name), " jacobi=%s", jacobi);
  if (const char* dense_env = std::getenv("SEMID_CUDA_BEAM_DENSE"))
    std::snprintf(name + std::strlen(name), sizeof name - std::strlen(name), " cuda-dense=%s", dense_env);
  if (const char* cl = std::getenv("SEMID_CUDA_BEAM_CLUSTER"))
    std::snprintf(name + std::strlen(name), sizeof name - std::strlen(name), " cluster<=%s", cl);
  if (const char* mb = std::getenv("SEMID_CUDA_BEAM_MIN_BLOCKS"))
    std::snprintf(name + std::strlen(name), sizeof name - std::strlen(name), " launch=%sx%s",
                  std::getenv("SEMID_CUDA_BEAM_BLOCK") ? std::getenv("SEMID_CUDA_BEAM_BLOCK") : "auto", mb);
  try {
    setenv("SEMID_SIMD", "scalar", 1);  // the oracle: one thread, double exp
    want.bind(a);
    beam_step_cpu(tv, a, 1, CancelFlag{});
    unsetenv("SEMID_SIMD");
    got.bind(a);
    if (std::strcmp(backend, "cuda") == 0) beam_step_cuda(tv, a, CancelFlag{});
    else beam_step_cpu(tv, a, 0, CancelFlag{});
  } catch (const std::exception& e) {
    unsetenv("SEMID_SIMD");
    report(false, name, e.what());
    return;
  }
  bool same = want.nodes == got.nodes && want.parents == got.parents && want.tokens == got.tokens && want.fcount == got.fcount;
  double max_err = 0;
  for (std::size_t i = 0; i < want.scores.size(); ++i)
    if (want.scores[i] != got.scores[i]) max_err = std::max(max_err, std::fabs(double(want.scores[i]) - got.scores[i]));
  const i64 gs = beams / groups;
  for (i64 g = 0; g < batch * groups; ++g)
    for (i64 f = 0; f < want.fcount[g]; ++f) {
      const i64 o = g * gs + f;
      same &= want.fparent[o] == got.fparent[o] && want.fnode[o] == got.fnode[o];
      if (want.fscore[o] != got.fscore[o]) max_err = std::max(max_err, std::fabs(double(want.fscore[o]) - got.fscore[o]));
    }
  report(same && max_err <= (logits ? 1e-5 : 0.0), name,
         std::string(same ? "selections equal" : "SELECTIONS DIFFER") + " max_score_err=" + std::to_string(max_err));
}

// One query of 60 beams in 30 groups, every beam at `node`, `vocab` scores of 0.5 per row: the
// buffers and the step's arguments over them (the error cases below).
struct OneQuery {
  std::vector<float> scores, beam_scores, finished_score, next_scores;
  std::vector<std::int32_t> nodes, next_nodes, next_parents, next_tokens, finished_count, finished_parent, finished_node;
  BeamStepArgs args;
  OneQuery(std::int32_t node, i64 vocab)
      : scores(std::size_t(60 * vocab), 0.5f), beam_scores(60, 0.0f), finished_score(60), next_scores(60),
        nodes(60, node), next_nodes(60), next_parents(60), next_tokens(60), finished_count(30), finished_parent(60),
        finished_node(60) {
    args.batch = 1; args.beams = 60; args.groups = 30; args.vocab = vocab; args.input_beams = 60;
    args.scores = scores.data(); args.nodes = nodes.data(); args.beam_scores = beam_scores.data();
    args.next_nodes = next_nodes.data(); args.next_scores = next_scores.data(); args.next_parents = next_parents.data();
    args.next_tokens = next_tokens.data(); args.finished_count = finished_count.data();
    args.finished_parent = finished_parent.data(); args.finished_score = finished_score.data();
    args.finished_node = finished_node.data();
  }
  OneQuery(const OneQuery&) = delete;
  OneQuery& operator=(const OneQuery&) = delete;
};

static void run_beam(const char* backend, std::mt19937& rng) {
  beam_case(backend, 64, 60, 30, 3, 256, false, false, rng);
  beam_case(backend, 64, 60, 30, 2, 256, true, false, rng);
  beam_case(backend, 33, 64, 1, 2, 300, true, true, rng);
  beam_case(backend, 100, 8, 4, 4, 17, false, true, rng);
  beam_case(backend, 5, 1, 1, 1, 2, true, false, rng);
  beam_case(backend, 7, 12, 12, 3, 1024, false, false, rng);
  if (std::strcmp(backend, "cuda") == 0) {
    // The CUDA step with each group's top-32 list built in parallel (C1) and without (the
    // per-group scan it falls back to): shared rows (heavy penalties, so lists often fall back),
    // inf/NaN beam scores, token offsets, group sizes 16 (the largest a list serves) and 17,
    // vocabularies past the count table (4,096), 1,024 groups (lists do not fit), random shapes.
    // With lists, the groups settled by the Jacobi pass first (its default: rows per beam; forced:
    // shared rows too, where it hands over to the sequential pass early) and without it.
    // Dense nodes' rows read contiguously by the list builds (the default) and gathered.
    // Small batches on a GPU with clusters: a cluster of blocks per query (the default) and one.
    const char* modes[][4] = {{"1", "1", "1", "8"}, {"1", "2", "1", "8"}, {"1", "0", "1", "8"}, {"1", "1", "0", "8"},
                              {"1", "1", "2", "8"}, {"1", "1", "1", "0"}, {"0", "0", "1", "8"}};  // lists, jacobi, dense, cluster
    for (const auto& mode : modes) {
      setenv("SEMID_CUDA_BEAM_LISTS", mode[0], 1);
      setenv("SEMID_CUDA_BEAM_JACOBI", mode[1], 1);
      setenv("SEMID_CUDA_BEAM_DENSE", mode[2], 1);
      setenv("SEMID_CUDA_BEAM_CLUSTER", mode[3], 1);
      if (mode[0][0] == '1' && mode[1][0] != '0') {
        // The Jacobi pass's limits: 64 groups (its mask) and 65 (past it), 256 beams, 16 beams a group.
        beam_case(backend, 16, 128, 64, 2, 300, true, false, rng, 20000);
        beam_case(backend, 9, 130, 65, 2, 300, true, true, rng, 20000);
        beam_case(backend, 8, 256, 32, 3, 256, true, false, rng, 20000);
        beam_case(backend, 8, 256, 16, 2, 512, false, true, rng, 30000);
        beam_case(backend, 4, 60, 30, 2, 256, true, false, rng, 20000, false, false, 0, true);
      }
      beam_case(backend, 64, 60, 30, 2, 256, true, false, rng, 20000, false, false, 0, true);
      beam_case(backend, 64, 60, 30, 3, 256, false, true, rng, 20000, false, false, 0, true);
      beam_case(backend, 32, 60, 30, 2, 256, true, false, rng, 20000, false, true);
      beam_case(backend, 24, 60, 30, 2, 1000, true, true, rng, 20000, false, false, 601);
      beam_case(backend, 16, 32, 2, 2, 300, true, true, rng, 30000, false, false, 0, true);
      beam_case(backend, 16, 34, 2, 2, 300, false, false, rng, 30000);
      beam_case(backend, 6, 60, 30, 2, 5000, true, false, rng, 3000);
      beam_case(backend, 3, 1024, 1024, 2, 64, false, false, rng, 3000);
      for (int trial = 0; trial < 16; ++trial) {
        const int groups_of[] = {1, 2, 3, 4, 6, 12, 30};
        const i64 groups = groups_of[rng() % 7], beams = groups * (1 + rng() % 8);
        const int L = 2 + int(rng() % 2);
        const i64 vocab = 40 + i64(rng() % 500), offset = i64(rng() % 3 == 0 ? rng() % (vocab / 2) : 0);
        beam_case(backend, 1 + i64(rng() % 40), beams, groups, L, vocab, rng() % 2 == 0, rng() % 2 == 0, rng,
                  2000 + i64(rng() % 20000), false, rng() % 4 == 0, int(offset), rng() % 2 == 0);
      }
    }
    unsetenv("SEMID_CUDA_BEAM_LISTS");
    unsetenv("SEMID_CUDA_BEAM_JACOBI");
    unsetenv("SEMID_CUDA_BEAM_DENSE");
    unsetenv("SEMID_CUDA_BEAM_CLUSTER");
    // Every build of the kernel (block size x register budget), whatever the batch would pick.
    for (const char* launch : {"256:1", "256:3", "256:4", "512:1", "512:2", "1024:1"}) {
      const std::string spec(launch);
      setenv("SEMID_CUDA_BEAM_BLOCK", spec.substr(0, spec.find(':')).c_str(), 1);
      setenv("SEMID_CUDA_BEAM_MIN_BLOCKS", spec.substr(spec.find(':') + 1).c_str(), 1);
      setenv("SEMID_CUDA_BEAM_JACOBI", "2", 1);  // the Jacobi pass in every build too
      beam_case(backend, 64, 60, 30, 2, 256, true, false, rng, 20000);
      beam_case(backend, 64, 60, 30, 2, 256, true, false, rng, 20000, false, false, 0, true);
      unsetenv("SEMID_CUDA_BEAM_JACOBI");
      beam_case(backend, 64, 60, 30, 2, 256, true, false, rng, 20000, false, false, 0, true);
      beam_case(backend, 32, 60, 30, 3, 256, true, true, rng, 20000, false, true);
      beam_case(backend, 16, 32, 2, 2, 300, false, true, rng, 30000);
      beam_case(backend, 8, 64, 1, 2, 300, true, true, rng, 30000);
      beam_case(backend, 300, 60, 30, 2, 256, true, false, rng, 20000);
    }
    unsetenv("SEMID_CUDA_BEAM_BLOCK");
    unsetenv("SEMID_CUDA_BEAM_MIN_BLOCKS");
    {  // the host-array step's device trie cache: a keyed trie is copied once and reused; two
       // tries under two keys alternate; a key whose arrays moved is copied again
      OwnedTrie t1 = random_trie(20000, 2, 256, rng), t2 = random_trie(5000, 3, 64, rng);
      for (int round = 0; round < 3; ++round)
        for (int which = 0; which < 2; ++which) {
          OwnedTrie& t = which ? t2 : t1;
          TrieView v = t.view();
          v.cache_key = 77 + which;
          const i64 vocab = which ? 64 : 256, batch = 1 + 7 * round;
          std::vector<float> scores(std::size_t(batch * 60 * vocab));
          std::uniform_real_distribution<float> u01(0.0f, 1.0f);
          for (auto& x : scores) x = (u01(rng) * 2 - 1) * 5;
          std::vector<std::int32_t> nodes(std::size_t(batch * 60));
          for (auto& n : nodes) {
            int u;
            do u = int(rng() % std::size_t(v.nodes));
            while (v.child_start[u + 1] == v.child_start[u]);
            n = u;
          }
          std::vector<float> bscore(nodes.size(), 0.0f);
          BeamOut want(batch, 60, 30), got(batch, 60, 30);
          BeamStepArgs a;
          a.batch = batch; a.beams = 60; a.groups = 30; a.vocab = vocab; a.input_beams = 60;
          a.scores = scores.data(); a.logits = true; a.nodes = nodes.data(); a.beam_scores = bscore.data();
          a.penalty = 0.25f;
          std::string what;
          try {
            setenv("SEMID_SIMD", "scalar", 1);
            want.bind(a);
            beam_step_cpu(t.view(), a, 1, CancelFlag{});
            unsetenv("SEMID_SIMD");
            got.bind(a);
            beam_step_cuda(v, a, CancelFlag{});
          } catch (const std::exception& e) {
            unsetenv("SEMID_SIMD");
            what = e.what();
          }
          report(what.empty() && want.nodes == got.nodes && want.tokens == got.tokens && want.parents == got.parents,
                 "beam/cuda device trie cache, round " + std::to_string(round) + " trie " + std::to_string(which), what);
        }
    }
    {  // tokens the step reads beyond the vocabulary are an error (the kernel checks what it reads)
      OwnedTrie t = random_trie(20000, 2, 256, rng);
      OneQuery q(t.node[0], 200);  // the node's children hold tokens up to 255
      BeamStepArgs& v = q.args;
      for (int round = 0; round < 2; ++round) {  // twice: the error words are cleared after an error
        std::string what = "no error";
        try {
          beam_step_cuda(t.view(), v, CancelFlag{});
        } catch (const Error& e) {
          what = e.what();
        }
        report(what.find("outside the vocabulary of 200") != std::string::npos,
               "beam/cuda trie tokens beyond the vocabulary, round " + std::to_string(round), what);
      }
      v.vocab = 256;  // then a valid step on the same thread starts clean
      std::vector<float> sc2(60 * 256, 0.5f);
      for (std::size_t i = 0; i < sc2.size(); ++i) sc2[i] = float(i % 97) * 0.01f;
      v.scores = sc2.data();
      std::string what = "ok";
      try {
        beam_step_cuda(t.view(), v, CancelFlag{});
      } catch (const Error& e) {
        what = e.what();
      }
      report(what == "ok", "beam/cuda a valid step after an error", what);
    }
    beam_case(backend, 300, 60, 30, 2, 256, true, true, rng, 20000);  // past 2 queries per SM: the wide launch
  }
  if (std::strcmp(backend, "cpu") != 0) return;
  // Dense rows (>= 32 children within 256 tokens): every floor width (group sizes 2, 4, 8, 16)
  // and none (32), rows that end inside a chunk (vocab 37, 300), end tokens, three levels.
  beam_case(backend, 64, 60, 30, 2, 256, true, false, rng, 20000, true);
  beam_case(backend, 64, 60, 30, 2, 256, false, false, rng, 20000, true);
  beam_case(backend, 32, 16, 4, 2, 256, true, true, rng, 30000, true);
  beam_case(backend, 32, 32, 4, 3, 128, false, false, rng, 40000, true);
  beam_case(backend, 16, 64, 4, 2, 300, true, true, rng, 30000, true);
  beam_case(backend, 16, 64, 2, 2, 64, false, true, rng, 3000, true);
  beam_case(backend, 40, 10, 5, 3, 37, true, true, rng, 20000, true);
  beam_case(backend, 32, 60, 30, 2, 256, true, false, rng, 20000, true, true);
  beam_case(backend, 32, 60, 30, 2, 256, false, false, rng, 20000, true, true);
  beam_case(backend, 24, 60, 30, 2, 1000, true, true, rng, 20000, true, false, 601);  // tokens 601..998
  beam_case(backend, 24, 16, 8, 3, 700, false, false, rng, 30000, true, false, 333);
  // Beams ruled out by their bound (none of their children can rank): a search's first step
  // (every -1e9 beam), shared rows, groups of 2 to 8 beams with logits and log-probabilities.
  for (const bool logits : {true, false}) {
    beam_case(backend, 32, 60, 30, 2, 256, logits, false, rng, 20000, true, false, 0, true, true);
    beam_case(backend, 32, 60, 30, 3, 256, logits, true, rng, 20000, true, false, 0, true);
    beam_case(backend, 16, 64, 8, 2, 256, logits, false, rng, 20000, true, false, 0, false, true);
    beam_case(backend, 16, 40, 10, 2, 300, logits, true, rng, 20000, true);
  }
  // Log-probabilities above 0 (a beam's score alone below the floor does not rule it out: its
  // row's maximum decides), groups of 2 and 4, beam scores 10 apart.
  beam_case(backend, 48, 60, 30, 2, 256, false, false, rng, 20000, true, false, 0, false, false, 12.0f);
  beam_case(backend, 32, 16, 4, 3, 256, false, true, rng, 20000, true, false, 0, false, false, 12.0f);
  for (int trial = 0; trial < 12; ++trial) {  // random shapes on the dense path
    const int groups_of[] = {1, 2, 3, 4, 6, 12};
    const i64 groups = groups_of[rng() % 6], beams = groups * (1 + rng() % 8);
    const int L = 2 + int(rng() % 2);
    const i64 vocab = 40 + i64(rng() % 500), offset = i64(rng() % 3 == 0 ? rng() % (vocab / 2) : 0);
    beam_case(backend, 1 + i64(rng() % 40), beams, groups, L, vocab, rng() % 2 == 0, rng() % 2 == 0, rng,
              2000 + i64(rng() % 20000), true, rng() % 4 == 0, int(offset));
  }
  // A dense row that is not the trie's (a bit count or a token that does not match) is an error,
  // never a read outside the buffers.
  OwnedTrie trie = random_trie(20000, 2, 256, rng);
  trie.build_dense_rows();
  OneQuery q(trie.node[0], 256);
  const BeamStepArgs& a = q.args;
  const std::vector<float>& scores = q.scores;
  const i64 c0 = trie.start[std::size_t(trie.node[0])];
  // NaN at a child's log-probability is reported, both paths, also where beam 7 is far below
  // its group's other beam (its children could not rank: the dense path must not rule it out).
  for (int variant = 0; variant < 4; ++variant) {
    const bool with_rows = variant % 2 == 1, low = variant >= 2;
    OwnedTrie t2 = trie;
    if (!with_rows) t2.dense.clear();
    std::vector<float> nan_scores = scores;
    nan_scores[7 * 256 + std::size_t(trie.token[std::size_t(c0) + 5])] = std::nanf("");  // beam 7, its node's 6th child
    std::vector<float> low_scores(60, 0.0f);
    low_scores[7] = -1e6f;
    BeamStepArgs v = a;
    v.scores = nan_scores.data();
    if (low) v.beam_scores = low_scores.data();
    std::string what = "no error";
    try {
      beam_step_cpu(t2.view(), v, 1, CancelFlag{});
    } catch (const Error& e) {
      what = e.what();
    }
    report(what.find("NaN") != std::string::npos && what.find("beam 7") != std::string::npos,
           std::string("beam/cpu NaN log-probability") + (with_rows ? " (dense rows)" : " (gathers)") +
               (low ? ", beam far below its group" : ""), what);
  }
  for (bool with_rows : {false, true}) {  // a vocabulary smaller than the trie's tokens
    OwnedTrie small = trie;
    if (!with_rows) small.dense.clear();
    BeamStepArgs v = a;
    v.vocab = 200;  // depth-1 nodes hold tokens up to 255
    std::string what = "no error";
    try {
      beam_step_cpu(small.view(), v, 1, CancelFlag{});
    } catch (const Error& e) {
      what = e.what();
    }
    report(what.find("outside the vocabulary of 200") != std::string::npos,
           std::string("beam/cpu trie tokens beyond the vocabulary") + (with_rows ? " (dense rows)" : " (gathers)"), what);
  }
  for (int corruption = 0; corruption < 2; ++corruption) {
    if (corruption == 1 && active_simd() == SimdLevel::Scalar) continue;  // only the AVX2 step reads the tokens from rows
    OwnedTrie bad = trie;
    std::uint32_t* row = bad.dense.data() + (c0 / kTrieDenseMinChildren) * kTrieDenseRowWords;
    if (corruption == 0) row[0] ^= 1u << 31;    // one bit more or less than the children
    else row[9] += 1;                           // every token shifted by one
    std::string what = "no error";
    try {
      beam_step_cpu(bad.view(), a, 1, CancelFlag{});
    } catch (const Error& e) {
      what = e.what();
    }
    report(what.find("dense_rows") != std::string::npos || (corruption == 1 && what.find("vocabulary") != std::string::npos), corruption == 0 ? "beam/cpu dense row with a wrong bit count" : "beam/cpu dense row with shifted tokens", what);
  }
}

// Randomized SVD: the CUDA range finder against the CPU one (same seed, so the same test matrix):
// singular values, the leading components (up to sign), the projection and the variances.
static void svd_cuda_case(i64 n, i64 d, i64 r0, i64 rank, bool center, std::mt19937& rng) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> a(n * r0), b(r0 * d), x(n * d);
  for (auto& v : a) v = g(rng);
  for (i64 j = 0; j < r0; ++j)
    for (i64 c = 0; c < d; ++c) b[j * d + c] = g(rng) * std::pow(0.93f, float(j));  // decaying spectrum
  for (i64 i = 0; i < n; ++i)
    for (i64 c = 0; c < d; ++c) {
      double s = 0.5 + 0.01 * g(rng);
      for (i64 j = 0; j < r0; ++j) s += double(a[i * r0 + j]) * b[j * d + c];
      x[i * d + c] = float(s);
    }
  SvdParams p;
  p.rank = rank; p.method = "randomized"; p.oversample = 10; p.power_iters = 2; p.center = center; p.seed = 5;
  const std::string name = "cuda/svd-randomized " + std::to_string(n) + "x" + std::to_string(d) + " r" + std::to_string(rank) + (center ? " centred" : "");
  try {
    SvdResult cpu = truncated_svd(x.data(), n, d, p, 0, CancelFlag{});
    p.cuda = true;
    SvdResult gpu = truncated_svd(x.data(), n, d, p, 0, CancelFlag{});
    double sv = 0, comp = 0, proj = 0, pscale = 0, ev = 0;
    for (i64 i = 0; i < rank; ++i) {
      sv = std::max(sv, std::fabs(gpu.singular_values[i] - cpu.singular_values[i]) / cpu.singular_values[0]);
      ev = std::max(ev, std::fabs(gpu.explained_variance[i] - cpu.explained_variance[i]) / cpu.explained_variance[0]);
    }
    for (i64 i = 0; i < std::min<i64>(rank, 8); ++i) {  // leading components: well separated
      double dot = 0;
      for (i64 c = 0; c < d; ++c) dot += double(gpu.components[i * d + c]) * cpu.components[i * d + c];
      comp = std::max(comp, 1.0 - dot);  // signs are fixed, so +1 expected
      for (i64 row = 0; row < n; ++row) {
        proj = std::max(proj, double(std::fabs(gpu.projected[row * rank + i] - cpu.projected[row * rank + i])));
        pscale = std::max(pscale, double(std::fabs(cpu.projected[row * rank + i])));
      }
    }
    const bool ok = gpu.method == "randomized" && sv < 1e-4 && ev < 2e-4 && comp < 1e-4 && proj <= 1e-3 * pscale &&
                    std::fabs(gpu.total_variance - cpu.total_variance) <= 1e-9 * cpu.total_variance &&
                    gpu.projected.size() == cpu.projected.size();
    char buf[200];
    std::snprintf(buf, sizeof buf, "sv %.2e ev %.2e 1-dot %.2e proj %.2e (scale %.3g)", sv, ev, comp, proj, pscale);
    report(ok, name, buf);
  } catch (const Error& e) {
    report(false, name, e.what());
  }
}

// The randomized method on a matrix that is zero to float precision (identical rows, centred;
// all zeros): singular values 0, components e_0, e_1, ..., a zero projection, no error (CholeskyQR
// of the rounding noise it sampled failed, or blew it up to ~1e23).
static void svd_zero_case(bool cuda, std::mt19937& rng) {
  std::normal_distribution<float> g(0.0f, 3.0f);
  const i64 n = 500, d = 40, rank = 5;
  std::vector<float> row(d), x(n * d), zeros(n * d, 0.0f);
  for (auto& v : row) v = g(rng) + 10.0f;
  for (i64 i = 0; i < n; ++i) std::copy(row.begin(), row.end(), x.begin() + i * d);
  for (const bool centred_rows : {true, false}) {
    SvdParams p;
    p.rank = rank; p.method = "randomized"; p.center = centred_rows; p.seed = 3; p.cuda = cuda;
    const std::string name = std::string(cuda ? "cuda" : "cpu") + "/svd-randomized zero " + (centred_rows ? "(identical rows, centred)" : "(all zeros)");
    try {
      const SvdResult r = truncated_svd(centred_rows ? x.data() : zeros.data(), n, d, p, 0, CancelFlag{});
      bool ok = r.singular_values.size() == std::size_t(rank) && r.projected.size() == std::size_t(n * rank);
      for (i64 i = 0; i < rank && ok; ++i) {
        ok = r.singular_values[i] == 0.0;
        for (i64 j = 0; j < d; ++j) ok = ok && r.components[i * d + j] == (i == j ? 1.0f : 0.0f);
      }
      for (float v : r.projected) ok = ok && v == 0.0f;
      report(ok, name, ok ? "zeros, unit components" : "not the zero result");
    } catch (const Error& e) {
      report(false, name, e.what());
    }
  }
}

static void svd_cuda_parity(std::mt19937& rng) {
  svd_zero_case(true, rng);
  svd_cuda_case(6000, 300, 60, 40, false, rng);
  svd_cuda_case(6000, 300, 60, 40, true, rng);
  svd_cuda_case(5000, 1200, 80, 64, false, rng);  // split-k products, more rows than columns
  svd_cuda_case(257, 3000, 50, 30, true, rng);    // wide: Y is the short side
  svd_cuda_case(20000, 64, 64, 64, false, rng);   // q capped at d
}

int main() {
  std::mt19937 rng(1234);
  std::printf("detected SIMD: %s\n", simd_name(detected_simd()));
  prefaulted_case();
  pool_cases();
  logsumexp_cases(rng);
  sq_dist_f64_cases(rng);
  for (const i64 k : {1, 7, 8, 37, 256})
    for (const bool ties : {false, true}) dense_row_case(k, ties, rng);
  for (const i64 k : {1, 7, 8, 37, 256}) elkan_scan_case(k, rng);
  svd_zero_case(false, rng);
  const bool cuda_only = std::getenv("SEMID_PARITY_CUDA_ONLY") != nullptr;  // a short device run
  for (SimdLevel level : {SimdLevel::Scalar, SimdLevel::Avx2Fma, SimdLevel::Avx512}) {
    if (static_cast<int>(level) > static_cast<int>(detected_simd()) || cuda_only) continue;
    setenv("SEMID_SIMD", level == SimdLevel::Scalar ? "scalar" : level == SimdLevel::Avx2Fma ? "avx2" : "avx512", 1);
    std::printf("-- CPU path %s\n", simd_name(active_simd()));
    run_backend("cpu", rng);
    run_backend("cpu-1thread", rng);
    run_beam("cpu", rng);
  }
  unsetenv("SEMID_SIMD");
  CudaStatus cs = cuda_status();
  if (cs.device_count > 0) {
    std::printf("-- CUDA %s (sm_%d%d, %d SMs)\n", cs.device.name.c_str(), cs.device.sm_major,
                cs.device.sm_minor, cs.device.multiprocessors);
    run_backend("cuda", rng);
    cuda_tile_cases(rng);
    rq_cuda_parity(rng);
    run_beam("cuda", rng);
    svd_cuda_parity(rng);
    // Errors surface as exceptions, not aborts.
    try {
      GemmArgs bad;
      bad.m = -1;
      gemm_cuda(bad, CancelFlag{});
      report(false, "cuda/bad-args", "no exception");
    } catch (const Error& e) {
      report(e.code() == "ERR_SEMID_INVALID_ARG", "cuda/bad-args", e.what());
    }
  } else {
    std::printf("-- CUDA skipped: %s\n", cs.compiled ? cs.reason.c_str() : "not compiled");
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
