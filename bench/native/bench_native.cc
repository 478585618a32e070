// Native timings of the kernel families, for machines without Node (the GPU device):
//   gemm and nearest-centroid on 62,138 x {384, 768} against 256 centroids, CPU and CUDA,
//   median of repeated runs, ms and GFLOP/s. CUDA is timed twice: end to end (host arrays,
//   copies included) and device-resident (the kernel work alone).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "semid/cpu_features.h"
#include "semid/cuda.h"
#include "semid/gemm.h"
#include "semid/nearest.h"
#include "semid/parallel.h"
#include "semid/rq.h"

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
      if (b == Backend::Cpu && std::getenv("SEMID_BENCH_RQ_ONLY")) continue;
      RqParams p;
      p.levels = 2;
      p.kmeans.k = 256;
      p.kmeans.max_iter = 20;
      p.kmeans.tol = 0;
      p.kmeans.seed = 1;
      p.backend = b;
      RqTrainResult r;
      double t = median_ms(b == Backend::Cuda ? 3 : 1, [&] { r = rq_train(x.data(), n, d, p, CancelFlag{}); });
      std::printf("%s rq-kmeans 62138x%lld 2x256 train+codes %9.1f ms  rel_err %.5f\n",
                  b == Backend::Cuda ? "cuda" : "cpu ", (long long)d, t, r.level_sq_error.back() / xx);
    }
  }
}

int main(int argc, char** argv) {
  const i64 n = 62138, k = 256;
  const int cpu_reps = argc > 1 ? std::atoi(argv[1]) : 3;
  std::printf("cpu: %s, %d threads\n", simd_name(active_simd()), default_threads());
  CudaStatus cs = cuda_status();
  const bool rq_only = std::getenv("SEMID_BENCH_RQ_ONLY") != nullptr;
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
    double t = median_ms(cpu_reps, [&] { gemm_cpu(g, 0, CancelFlag{}, false); });
    std::printf("cpu  gemm    %lldx%lldx%lld  %8.2f ms  %7.1f GFLOP/s\n", (long long)n, (long long)k, (long long)d, t, gflop / t * 1e3);
    t = median_ms(cpu_reps, [&] { nearest_cpu(a, 0, CancelFlag{}); });
    std::printf("cpu  nearest %lldx%lldx%lld  %8.2f ms  %7.1f GFLOP/s\n", (long long)n, (long long)k, (long long)d, t, gflop / t * 1e3);
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
    std::printf("cuda nearest device-resident %8.3f ms  %7.1f GFLOP/s\n", t, gflop / t * 1e3);
    cudaFree(dx); cudaFree(dc); cudaFree(dd); cudaFree(di);
#endif
  }
  const char* npy_dir = std::getenv("SEMID_BENCH_NPY_DIR");
  bench_rq(npy_dir, cs.device_count > 0);
  return 0;
}
