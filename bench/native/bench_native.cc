// Native timings of the kernel families, for machines without Node (the GPU device):
//   gemm and nearest-centroid on 62,138 x {384, 768} against 256 centroids, CPU and CUDA,
//   median of repeated runs, ms and GFLOP/s. CUDA is timed twice: end to end (host arrays,
//   copies included) and device-resident (the kernel work alone).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <vector>

#include "semid/beam.h"
#include "semid/cpu_features.h"
#include "semid/cuda.h"
#include "semid/gemm.h"
#include "semid/nearest.h"
#include "semid/parallel.h"
#include "semid/rq.h"
#include "semid/svd.h"
#include "../../test/native/random_trie.h"
#include "beam_case.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#ifdef SEMID_WITH_CUDA
#include <cuda_runtime.h>
#endif

using namespace semid;

static double median_ms(int reps, const std::function<void()>& fn) {
  fn();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Two timings taken rep by rep in alternation (a, b, b, a, ...), so that this machine's drifts in
// speed fall on both alike: each one's median and the median of the per-rep ratios a / b.
struct Interleaved {
  double a_ms, b_ms, ratio;
};
static Interleaved interleaved_ms(int reps, const std::function<void()>& a, const std::function<void()>& b) {
  a();  // warm-up
  b();
  auto time = [](const std::function<void()>& fn) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> ta, tb, ratio;
  for (int r = 0; r < reps; ++r) {
    double x, y;
    if (r % 2 == 0) { x = time(a); y = time(b); } else { y = time(b); x = time(a); }
    ta.push_back(x); tb.push_back(y); ratio.push_back(x / y);
  }
  auto median = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
  return {median(ta), median(tb), median(ratio)};
}

// Embedding-like rows: 2,000 latent topics, noisy members, L2-normalised.
static std::vector<float> embedding_like(i64 n, i64 d, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_int_distribution<int> topic(0, 1999);
  std::vector<float> centres(2000 * d), x(n * d);
  for (auto& v : centres) v = g(rng);
  for (i64 i = 0; i < n; ++i) {
    const int c = topic(rng);
    double norm = 0;
    for (i64 j = 0; j < d; ++j) { x[i * d + j] = centres[c * d + j] + 0.8f * g(rng); norm += double(x[i * d + j]) * x[i * d + j]; }
    for (i64 j = 0; j < d; ++j) x[i * d + j] = float(x[i * d + j] / std::sqrt(norm));
  }
  return x;
}

static void write_npy(const std::string& path, const std::vector<float>& x, i64 n, i64 d) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " + std::to_string(d) + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  const unsigned char pre[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  f.write(reinterpret_cast<const char*>(pre), 8);
  const unsigned short len = static_cast<unsigned short>(header.size());
  f.write(reinterpret_cast<const char*>(&len), 2);
  f << header;
  f.write(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float));
}

// RQ-KMeans 2 x 256, 20 iterations per level (tol 0), greedy: training (which returns the
// training rows' codes) timed per backend, with the relative reconstruction error.
static void bench_rq(const char* npy_dir, bool cuda) {
  for (i64 d : {384, 768}) {
    const i64 n = 62138;
    auto x = embedding_like(n, d, 42 + unsigned(d));
    if (npy_dir) write_npy(std::string(npy_dir) + "/rq-" + std::to_string(d) + ".npy", x, n, d);
    double xx = 0;
    for (float v : x) xx += double(v) * v;
    for (Backend b : {Backend::Cpu, Backend::Cuda}) {
      if (b == Backend::Cuda && !cuda) continue;
      if (b == Backend::Cpu && (std::getenv("SEMID_BENCH_RQ_ONLY") || std::getenv("SEMID_BENCH_CUDA_ONLY"))) continue;
      RqParams p;
      p.levels = 2;
      p.kmeans.k = 256;
      p.kmeans.max_iter = 20;
      p.kmeans.tol = 0;
      p.kmeans.seed = 1;
      p.backend = b;
      RqTrainResult r;
      for (KMeansInit init : {KMeansInit::KMeansPlusPlus, KMeansInit::Random}) {
        if (init == KMeansInit::Random && b == Backend::Cpu) continue;
        p.kmeans.init = init;
        double t = median_ms(b == Backend::Cuda ? 3 : 1, [&] { r = rq_train(x.data(), n, d, p, CancelFlag{}); });
        std::printf("%s rq-kmeans 62138x%lld 2x256 train+codes %9.1f ms  rel_err %.5f  (init %s)\n",
                    b == Backend::Cuda ? "cuda" : "cpu ", (long long)d, t, r.level_sq_error.back() / xx,
                    init == KMeansInit::Random ? "random" : "k-means++");
      }
      if (b == Backend::Cuda && std::getenv("SEMID_BENCH_RQ_VARIANTS")) {
        // A/B rows in the same run: the any-transpose tile instead of the vectorised one, and the
        // driver's pageable copy instead of the staged upload (random init).
        p.kmeans.init = KMeansInit::Random;
        for (const char* env : {"SEMID_CUDA_GENERIC_TILE", "SEMID_CUDA_PAGEABLE_COPY"}) {
          setenv(env, "1", 1);
          double t = median_ms(3, [&] { r = rq_train(x.data(), n, d, p, CancelFlag{}); });
          unsetenv(env);
          std::printf("cuda rq-kmeans 62138x%lld 2x256 train+codes %9.1f ms  rel_err %.5f  (init random, %s)\n",
                      (long long)d, t, r.level_sq_error.back() / xx, env);
        }
      }
      if (b == Backend::Cuda && std::getenv("SEMID_BENCH_RQ_PHASES")) {  // one more run, timings on stderr
        setenv("SEMID_DEBUG_KMEANS", "1", 1);
        auto t0 = std::chrono::steady_clock::now();
        rq_train(x.data(), n, d, p, CancelFlag{});
        std::fprintf(stderr, "rq d=%lld total %.1f ms\n", (long long)d,
                     std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        unsetenv("SEMID_DEBUG_KMEANS");
      }
    }
  }
}

// ---- beam step: 62,138 items, 2- or 3-level IDs over 256 codes, beam 60 / 30 groups / 0.25 ----
#ifdef SEMID_WITH_CUDA
__global__ void read_floor_kernel(const float4* x, long long n4, float* out) {
  float s = 0;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += (long long)gridDim.x * blockDim.x) {
    const float4 v = x[i];
    s += v.x + v.y + v.z + v.w;
  }
  if (s == 12345.678f) out[0] = s;  // keeps the loads alive
}
#endif

static void bench_beam(bool cuda) {
  const i64 beams = semid::bench::kBeamCaseBeams, groups = semid::bench::kBeamCaseGroups;
  // SEMID_BENCH_BEAM_LEVELS / SEMID_BENCH_BEAM_BATCH: one case only (a profiler's run).
  const char* only_levels = std::getenv("SEMID_BENCH_BEAM_LEVELS");
  const char* only_batch = std::getenv("SEMID_BENCH_BEAM_BATCH");
  for (int levels : {2, 3}) {
    if (only_levels && std::atoi(only_levels) != levels) continue;
    std::mt19937 trie_rng(11 + levels);
    semid::testing::OwnedTrie trie = semid::testing::random_trie(62138, levels, 256, trie_rng);
    semid::testing::OwnedTrie trie_gather = trie;  // no bit rows: every node takes the gather path
    trie.build_dense_rows();
    const std::vector<int> depth1 = semid::bench::depth1_nodes(trie);
    TrieView tv = trie.view();
    std::printf("beam trie: 62138 items, %d levels, %lld nodes\n", levels, (long long)tv.nodes);
    for (i64 batch : {1, 16, 128, 1024}) {
      if (only_batch && std::atoll(only_batch) != batch) continue;
      semid::bench::BeamCase bc(depth1, batch);
      BeamStepArgs& a = bc.args;
      const std::vector<float>& logits = bc.scores;
      std::vector<std::int32_t>& nt = bc.next_tokens;
      const int reps = batch >= 128 ? 9 : 31;
      std::vector<double> sink;
      // The step and the floor alternate rep by rep: the ratio is the median of per-rep ratios.
      const Interleaved timed = interleaved_ms(reps, [&] { beam_step_cpu(tv, a, 0, CancelFlag{}); },
                                               [&] { semid::bench::read_floor(logits, 0, sink); });
      const double step = timed.a_ms, floor = timed.b_ms;
      a.logits = false;  // the same step on log-probabilities: no log-softmax pass
      const double step_lp = median_ms(reps, [&] { beam_step_cpu(tv, a, 0, CancelFlag{}); });
      a.logits = true;
      const TrieView tv_gather = trie_gather.view();  // the same step, children gathered
      const double step_gather = median_ms(reps, [&] { beam_step_cpu(tv_gather, a, 0, CancelFlag{}); });
      std::vector<std::int32_t> nt_gather = nt;
      beam_step_cpu(tv, a, 0, CancelFlag{});
      const bool same_cpu = nt_gather == nt;
      std::printf("cpu  beam-step L=%d batch=%5lld  step %9.3f ms  read-floor %8.3f ms  ratio %5.2f  %10.0f queries-steps/s  (log-prob input %8.3f ms; gather path %8.3f ms, %s)\n",
                  levels, (long long)batch, step, floor, timed.ratio, batch / step * 1e3, step_lp, step_gather,
                  same_cpu ? "same beams" : "BEAMS DIFFER");
#ifdef SEMID_WITH_CUDA
      if (!cuda) continue;
      float *d_logits, *d_bs, *d_ns, *d_fs, *d_out;
      std::int32_t *d_nodes, *d_nn, *d_np, *d_nt, *d_fc, *d_fp, *d_fn, *d_cs, *d_ct, *d_cn, *d_term;
      const std::size_t B = batch * beams;
      cudaMalloc(&d_logits, logits.size() * 4); cudaMalloc(&d_bs, B * 4); cudaMalloc(&d_ns, B * 4); cudaMalloc(&d_fs, B * 4);
      cudaMalloc(&d_out, 4); cudaMalloc(&d_nodes, B * 4); cudaMalloc(&d_nn, B * 4); cudaMalloc(&d_np, B * 4); cudaMalloc(&d_nt, B * 4);
      cudaMalloc(&d_fc, batch * groups * 4); cudaMalloc(&d_fp, B * 4); cudaMalloc(&d_fn, B * 4);
      cudaMalloc(&d_cs, trie.start.size() * 4); cudaMalloc(&d_ct, trie.token.size() * 4); cudaMalloc(&d_cn, trie.node.size() * 4);
      cudaMalloc(&d_term, trie.terminal.size() * 4);
      std::uint32_t* d_dense = nullptr;  // the dense rows' device copy: list builds read dense nodes contiguously
      cudaMalloc(&d_dense, trie.dense.size() * 4);
      cudaMemcpy(d_dense, trie.dense.data(), trie.dense.size() * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(d_logits, logits.data(), logits.size() * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(d_bs, bc.beam_scores.data(), B * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(d_nodes, bc.nodes.data(), B * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(d_cs, trie.start.data(), trie.start.size() * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(d_ct, trie.token.data(), trie.token.size() * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(d_cn, trie.node.data(), trie.node.size() * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(d_term, trie.terminal.data(), trie.terminal.size() * 4, cudaMemcpyHostToDevice);
      i64 maxc = 0;
      for (std::size_t u = 0; u + 1 < trie.start.size(); ++u) maxc = std::max<i64>(maxc, trie.start[u + 1] - trie.start[u]);
      TrieView dt{tv.nodes, tv.edges, d_cs, d_ct, d_cn, d_term, maxc};
      dt.dense_rows = d_dense;
      BeamStepArgs d = a;
      d.scores = d_logits; d.nodes = d_nodes; d.beam_scores = d_bs;
      d.next_nodes = d_nn; d.next_scores = d_ns; d.next_parents = d_np; d.next_tokens = d_nt;
      d.finished_count = d_fc; d.finished_parent = d_fp; d.finished_score = d_fs; d.finished_node = d_fn;
      const double gstep = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
      std::vector<std::int32_t> gt_lists(B), gt_scan(B);
      cudaMemcpy(gt_lists.data(), d_nt, B * 4, cudaMemcpyDeviceToHost);
      const char* launches[] = {"256:1", "256:3", "256:4", "512:1", "512:2", "1024:1"};
      double gstep_blocks[6];
      for (int v = 0; v < 6; ++v) {  // A/B: each build of the kernel (block threads : min blocks per SM)
        const std::string spec(launches[v]);
        setenv("SEMID_CUDA_BEAM_BLOCK", spec.substr(0, spec.find(':')).c_str(), 1);
        setenv("SEMID_CUDA_BEAM_MIN_BLOCKS", spec.substr(spec.find(':') + 1).c_str(), 1);
        gstep_blocks[v] = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
        unsetenv("SEMID_CUDA_BEAM_BLOCK");
        unsetenv("SEMID_CUDA_BEAM_MIN_BLOCKS");
        std::vector<std::int32_t> gv(B);
        cudaMemcpy(gv.data(), d_nt, B * 4, cudaMemcpyDeviceToHost);
        if (gv != gt_lists) gstep_blocks[v] = -1;  // marks a parity failure
      }
      setenv("SEMID_CUDA_BEAM_COPY_ERRORS", "1", 1);  // A/B: the error words copied back after each step
      const double gstep_copy = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
      unsetenv("SEMID_CUDA_BEAM_COPY_ERRORS");
      setenv("SEMID_CUDA_BEAM_JACOBI", "0", 1);  // A/B: lists, the groups settled one by one
      const double gstep_seq = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
      unsetenv("SEMID_CUDA_BEAM_JACOBI");
      std::vector<std::int32_t> gt_seq(B);
      cudaMemcpy(gt_seq.data(), d_nt, B * 4, cudaMemcpyDeviceToHost);
      setenv("SEMID_CUDA_BEAM_CLUSTER", "2", 1);  // A/B: clusters of at most 2 and 4 blocks a query
      const double gstep_cluster2 = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
      setenv("SEMID_CUDA_BEAM_CLUSTER", "4", 1);
      const double gstep_cluster4 = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
      setenv("SEMID_CUDA_BEAM_CLUSTER", "0", 1);  // A/B: one block a query (no cluster at small batches)
      const double gstep_one_block = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
      unsetenv("SEMID_CUDA_BEAM_CLUSTER");
      std::vector<std::int32_t> gt_one_block(B);
      cudaMemcpy(gt_one_block.data(), d_nt, B * 4, cudaMemcpyDeviceToHost);
      setenv("SEMID_CUDA_BEAM_DENSE", "2", 1);  // A/B: dense rows read, without the register build of pairs
      const double gstep_dense_general = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
      std::vector<std::int32_t> gt_dense_general(B);
      cudaMemcpy(gt_dense_general.data(), d_nt, B * 4, cudaMemcpyDeviceToHost);
      setenv("SEMID_CUDA_BEAM_DENSE", "0", 1);  // A/B: lists with every node's children gathered
      const double gstep_gather = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
      unsetenv("SEMID_CUDA_BEAM_DENSE");
      std::vector<std::int32_t> gt_gather(B);
      cudaMemcpy(gt_gather.data(), d_nt, B * 4, cudaMemcpyDeviceToHost);
      setenv("SEMID_CUDA_BEAM_LISTS", "0", 1);  // A/B: every group ranked by the sequential scan
      const double gstep_scan = median_ms(51, [&] { beam_step_cuda_device(dt, d, CancelFlag{}); });
      unsetenv("SEMID_CUDA_BEAM_LISTS");
      cudaMemcpy(gt_scan.data(), d_nt, B * 4, cudaMemcpyDeviceToHost);
      const double gfloor = median_ms(51, [&] {
        read_floor_kernel<<<1024, 256>>>(reinterpret_cast<const float4*>(d_logits), (long long)logits.size() / 4, d_out);
        cudaDeviceSynchronize();
      });
      // From host arrays (the Node path): the trie kept on the device under a key, and copied
      // every step (no key), the A/B of the device trie cache.
      TrieView tv_key = tv;
      tv_key.cache_key = 1000 + std::uint64_t(levels);
      const double e2e = median_ms(11, [&] { beam_step_cuda(tv_key, a, CancelFlag{}); });
      const std::vector<std::int32_t> e2e_tokens = nt;
      const double e2e_copy = median_ms(11, [&] { beam_step_cuda(tv, a, CancelFlag{}); });
      const std::vector<std::int32_t> e2e_copy_tokens = nt;
      // Parity of this very input: the GPU's selections equal the CPU's.
      std::vector<std::int32_t> gt(B);
      cudaMemcpy(gt.data(), d_nt, B * 4, cudaMemcpyDeviceToHost);
      beam_step_cpu(tv, a, 0, CancelFlag{});
      const bool same = gt == nt && gt_lists == nt && gt_scan == nt && gt_seq == nt && gt_gather == nt && gt_dense_general == nt && gt_one_block == nt && e2e_tokens == nt && e2e_copy_tokens == nt;
      std::printf("cuda beam-step L=%d batch=%5lld  step %9.3f ms  read-floor %8.3f ms  ratio %5.2f  end-to-end %8.3f ms (trie copied each step %8.3f ms)  (errors copied back %8.3f ms; one block a query %8.3f ms, clusters <= 2 %8.3f, <= 4 %8.3f; dense rows, general build %8.3f ms; children gathered %8.3f ms; lists without jacobi %8.3f ms; group scan alone %8.3f ms; launches 256:1 %.3f 256:3 %.3f 256:4 %.3f 512:1 %.3f 512:2 %.3f 1024:1 %.3f)  %s\n",
                  levels, (long long)batch, gstep, gfloor, gstep / gfloor, e2e, e2e_copy, gstep_copy, gstep_one_block, gstep_cluster2, gstep_cluster4, gstep_dense_general, gstep_gather, gstep_seq, gstep_scan, gstep_blocks[0], gstep_blocks[1],
                  gstep_blocks[2], gstep_blocks[3], gstep_blocks[4], gstep_blocks[5],
                  same ? "parity ok" : "PARITY FAILED");
      for (void* ptr : std::initializer_list<void*>{d_logits, d_bs, d_ns, d_fs, d_out, d_nodes, d_nn, d_np, d_nt, d_fc, d_fp, d_fn, d_cs, d_ct, d_cn, d_term, d_dense})
        cudaFree(ptr);
#endif
    }
  }
}

// Truncated SVD of 62,138 x 640 (embedding-like) to rank 256 with q = 266 and 2 power
// iterations (torch.svd_lowrank's setting in the issue): the CUDA range finder device-resident
// (X already on the card, projection left there) and from host arrays, the CPU randomized and
// Gram routes for reference. Error: 1 - ||X Vᵀ||² / ||X||² for the returned components V.
static double svd_rel_error(const std::vector<float>& x, i64 n, i64 d, const SvdResult& r, i64 rank) {
  std::vector<float> proj(n * rank);
  GemmArgs g;
  g.m = n; g.n = rank; g.k = d; g.trans_b = true; g.lda = d; g.ldb = d; g.ldc = rank;
  g.a = x.data(); g.b = r.components.data(); g.c = proj.data();
  gemm_cpu(g, 0, CancelFlag{}, false);
  double xx = 0, pp = 0;
  for (float v : x) xx += double(v) * v;
  for (float v : proj) pp += double(v) * v;
  return 1.0 - pp / xx;
}

static void bench_svd(const char* npy_dir, bool cuda) {
  const i64 n = 62138, d = 640, rank = 256;
  auto x = embedding_like(n, d, 640);
  if (npy_dir) write_npy(std::string(npy_dir) + "/svd-640.npy", x, n, d);
  SvdParams p;
  p.rank = rank; p.method = "randomized"; p.oversample = 10; p.power_iters = 2; p.seed = 1;
  SvdResult r;
  double t = median_ms(1, [&] { r = truncated_svd(x.data(), n, d, p, 0, CancelFlag{}); });
  std::printf("cpu  svd randomized 62138x640 r256 q266 it2  %9.2f ms  rel_err %.6f\n", t, svd_rel_error(x, n, d, r, rank));
  SvdParams pg = p;
  pg.method = "gram";
  t = median_ms(1, [&] { r = truncated_svd(x.data(), n, d, pg, 0, CancelFlag{}); });
  std::printf("cpu  svd gram (exact)   62138x640 r256         %9.2f ms  rel_err %.6f\n", t, svd_rel_error(x, n, d, r, rank));
  if (!cuda) return;
  p.cuda = true;
  SvdResult host_api;
  t = median_ms(3, [&] { host_api = truncated_svd(x.data(), n, d, p, 0, CancelFlag{}); });
  std::printf("cuda svd randomized end-to-end (host arrays)   %9.2f ms  rel_err %.6f\n", t, svd_rel_error(x, n, d, host_api, rank));
#ifdef SEMID_WITH_CUDA
  float *dx = nullptr, *dp = nullptr;
  cudaMalloc(&dx, n * d * 4);
  cudaMalloc(&dp, n * rank * 4);
  cudaMemcpy(dx, x.data(), n * d * 4, cudaMemcpyHostToDevice);
  t = median_ms(5, [&] { r = truncated_svd_cuda_device(dx, n, d, p, 0, CancelFlag{}, dp); });
  double same = 0;
  for (i64 i = 0; i < rank; ++i) same = std::max(same, std::fabs(r.singular_values[i] - host_api.singular_values[i]));
  std::vector<float> proj(n * rank);
  cudaMemcpy(proj.data(), dp, n * rank * 4, cudaMemcpyDeviceToHost);
  double pd = 0;
  for (i64 e = 0; e < n * rank; ++e) pd = std::max(pd, double(std::fabs(proj[e] - host_api.projected[e])));
  std::printf("cuda svd randomized device-resident it2        %9.2f ms  rel_err %.6f  (vs host-array run: sv diff %.2e, projection diff %.2e)\n",
              t, svd_rel_error(x, n, d, r, rank), same, pd);
  SvdParams p3 = p;
  p3.power_iters = 3;
  t = median_ms(5, [&] { r = truncated_svd_cuda_device(dx, n, d, p3, 0, CancelFlag{}, dp); });
  std::printf("cuda svd randomized device-resident it3        %9.2f ms  rel_err %.6f\n", t, svd_rel_error(x, n, d, r, rank));
  if (std::getenv("SEMID_BENCH_SVD_PHASES")) {  // one more run with phase timings on stderr
    setenv("SEMID_DEBUG_SVD", "1", 1);
    truncated_svd_cuda_device(dx, n, d, p, 0, CancelFlag{}, dp);
    unsetenv("SEMID_DEBUG_SVD");
  }
  cudaFree(dx);
  cudaFree(dp);
#endif
}

int main(int argc, char** argv) {
  const i64 n = 62138, k = 256;
  const int cpu_reps = argc > 1 ? std::atoi(argv[1]) : 3;
  std::printf("cpu: %s, %d threads\n", simd_name(active_simd()), default_threads());
  CudaStatus cs = cuda_status();
  const bool rq_only = std::getenv("SEMID_BENCH_RQ_ONLY") != nullptr;
  if (std::getenv("SEMID_BENCH_SVD_ONLY")) {
    bench_svd(std::getenv("SEMID_BENCH_NPY_DIR"), cs.device_count > 0);
    return 0;
  }
  if (std::getenv("SEMID_BENCH_BEAM_ONLY")) {
    bench_beam(cs.device_count > 0);
    return 0;
  }
  for (i64 d : {384, 768}) {
    if (rq_only) break;
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1, 1);
    std::vector<float> x(n * d), c(k * d), out(n * k), dist(n);
    std::vector<std::int32_t> idx(n);
    for (auto& v : x) v = u(rng);
    for (auto& v : c) v = u(rng);
    const double gflop = 2.0 * n * k * d / 1e9;
    GemmArgs g;
    g.m = n; g.n = k; g.k = d; g.trans_b = true; g.lda = d; g.ldb = d; g.ldc = k;
    g.a = x.data(); g.b = c.data(); g.c = out.data();
    NearestArgs a{n, d, k, 1, x.data(), c.data(), idx.data(), dist.data()};
    double t = 0;
    if (!std::getenv("SEMID_BENCH_CUDA_ONLY")) {
      t = median_ms(cpu_reps, [&] { gemm_cpu(g, 0, CancelFlag{}, false); });
      std::printf("cpu  gemm    %lldx%lldx%lld  %8.2f ms  %7.1f GFLOP/s\n", (long long)n, (long long)k, (long long)d, t, gflop / t * 1e3);
      t = median_ms(cpu_reps, [&] { nearest_cpu(a, 0, CancelFlag{}); });
      std::printf("cpu  nearest %lldx%lldx%lld  %8.2f ms  %7.1f GFLOP/s\n", (long long)n, (long long)k, (long long)d, t, gflop / t * 1e3);
    }
    if (cs.device_count == 0) continue;
    t = median_ms(10, [&] { gemm_cuda(g, CancelFlag{}); });
    std::printf("cuda gemm    end-to-end   %8.2f ms\n", t);
    t = median_ms(10, [&] { nearest_cuda(a, CancelFlag{}); });
    std::printf("cuda nearest end-to-end   %8.2f ms\n", t);
#ifdef SEMID_WITH_CUDA
    float *dx, *dc, *dd;
    int* di;
    cudaMalloc(&dx, n * d * 4); cudaMalloc(&dc, k * d * 4); cudaMalloc(&dd, n * 4); cudaMalloc(&di, n * 4);
    cudaMemcpy(dx, x.data(), n * d * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dc, c.data(), k * d * 4, cudaMemcpyHostToDevice);
    NearestArgs dev{n, d, k, 1, dx, dc, di, dd};
    t = median_ms(20, [&] { nearest_cuda_device(dev, CancelFlag{}); });
    std::printf("cuda nearest device-resident %8.3f ms  %7.1f GFLOP/s  (d=%lld, vectorised tile)\n", t, gflop / t * 1e3, (long long)d);
    setenv("SEMID_CUDA_GENERIC_TILE", "1", 1);
    t = median_ms(20, [&] { nearest_cuda_device(dev, CancelFlag{}); });
    unsetenv("SEMID_CUDA_GENERIC_TILE");
    std::printf("cuda nearest device-resident %8.3f ms  %7.1f GFLOP/s  (d=%lld, any-transpose tile)\n", t, gflop / t * 1e3, (long long)d);
    {
      setenv("SEMID_CUDA_PAGEABLE_COPY", "1", 1);
      t = median_ms(5, [&] { nearest_cuda(a, CancelFlag{}); });
      unsetenv("SEMID_CUDA_PAGEABLE_COPY");
      std::printf("cuda nearest end-to-end   %8.2f ms  (driver's pageable copy)\n", t);
    }
    cudaFree(dx); cudaFree(dc); cudaFree(dd); cudaFree(di);
#endif
  }
  const char* npy_dir = std::getenv("SEMID_BENCH_NPY_DIR");
  bench_rq(npy_dir, cs.device_count > 0);
  return 0;
}
