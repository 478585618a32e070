// The randomized SVD's CUDA backend (see semid/svd_range.h): X and the long buffers Y [n x q]
// and Z [d x q] live in device memory and every product runs on our CUDA GEMM; only q x q (and
// d x q for the components) matrices cross to the host. A product whose output has few tiles
// and whose inner dimension is long (Xᵀ Y, Bᵀ B) splits that dimension into fixed chunks; the
// chunks' float32 partials are summed in chunk order (in float64 for Gram matrices), so results
// depend on the shapes only, not on the card.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <vector>

#include "cuda_check.cuh"
#include "semid/svd_range.h"
#include "sgemm_tile.cuh"

namespace semid {
namespace cuda {

void launch_gemm(const TileOperands& o, long long batch, long long stride_a, long long stride_b,
                 float* c, long long ldc, long long stride_c, float alpha, float beta, cudaStream_t stream);

namespace {

constexpr int kThreadsPerBlock = 256;
constexpr long long kChunkRows = 256;  // rows per block in the column reductions

unsigned grid_for(long long work) {
  return unsigned(std::max<long long>(1, std::min<long long>((work + kThreadsPerBlock - 1) / kThreadsPerBlock, 65535)));
}

/** out[e] = sum over c = 0 .. chunks-1 (in order, float64) of part[c * len + e]. */
template <typename In, typename Out>
__global__ void sum_chunks(const In* part, int chunks, long long len, Out* out) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < len; e += (long long)gridDim.x * blockDim.x) {
    double s = 0;
    for (int c = 0; c < chunks; ++c) s += double(part[c * len + e]);
    out[e] = Out(s);
  }
}

/** G[r][c] (float64, q x q) = sum over chunks (in order) of the upper triangle's partials, mirrored. */
__global__ void sum_chunks_symmetric(const float* part, int chunks, long long q, double* out) {
  const long long len = q * q;
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < len; e += (long long)gridDim.x * blockDim.x) {
    const long long r = e / q, c = e % q, src = r <= c ? e : c * q + r;
    double s = 0;
    for (int k = 0; k < chunks; ++k) s += double(part[k * len + src]);
    out[e] = s;
  }
}

/** part[chunk][c] = sum over the chunk's rows i of (w ? w[i] : 1) * B[i][c], float64; B is m x q. */
__global__ void column_sums_part(const float* B, long long m, long long q, const double* w, double* part) {
  const long long r0 = blockIdx.y * kChunkRows, r1 = min(m, r0 + kChunkRows);
  for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < q; c += (long long)gridDim.x * blockDim.x) {
    double s = 0;
    for (long long i = r0; i < r1; ++i) s += (w ? w[i] : 1.0) * double(B[i * q + c]);
    part[blockIdx.y * q + c] = s;
  }
}

/** Per chunk of rows: the column sums and sums of squares of x [n x d], float64. */
__global__ void column_moments_part(const float* x, long long n, long long d, double* psum, double* psq) {
  const long long r0 = blockIdx.y * kChunkRows, r1 = min(n, r0 + kChunkRows);
  for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < d; j += (long long)gridDim.x * blockDim.x) {
    double s = 0, s2 = 0;
    for (long long i = r0; i < r1; ++i) {
      const double v = x[i * d + j];
      s += v;
      s2 += v * v;
    }
    psum[blockIdx.y * d + j] = s;
    psq[blockIdx.y * d + j] = s2;
  }
}

/** out[i][c] = float(out[i][c] - (a ? a[i] : 1) * b[c]) for out [rows x q]. */
__global__ void subtract_outer(float* out, long long rows, long long q, const double* a, const double* b) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < rows * q; e += (long long)gridDim.x * blockDim.x) {
    const long long i = e / q, c = e % q;
    out[e] = float(double(out[e]) - (a ? a[i] : 1.0) * b[c]);
  }
}

/** Column sums (weighted by w [m], or plain) of B [m x q] into out [q] (device, float64). */
void column_sums(const float* B, long long m, long long q, const double* w, DeviceBuffer<double>& part, double* out) {
  const long long chunks = (m + kChunkRows - 1) / kChunkRows;
  if ((long long)part.size() < chunks * q) part.resize(chunks * q);
  if (chunks > 65535) throw Error("ERR_SEMID_INVALID_ARG", "svd (cuda): too many rows for the column reduction");
  dim3 grid(unsigned((q + kThreadsPerBlock - 1) / kThreadsPerBlock), unsigned(chunks));
  column_sums_part<<<grid, kThreadsPerBlock>>>(B, m, q, w, part.get());
  SEMID_CUDA_LAUNCH_CHECK();
  sum_chunks<double, double><<<grid_for(q), kThreadsPerBlock>>>(part.get(), int(chunks), q, out);
  SEMID_CUDA_LAUNCH_CHECK();
}

/**
 * How many chunks the inner dimension k of an m x n product is split into: 1 when the output
 * has enough tiles to fill the card or k is short; otherwise enough chunks for ~528 blocks,
 * each at least 1,024 long. `always` splits long k even for large outputs (Gram matrices, whose
 * chunks bound the float32 summation length).
 */
long long split_chunks(long long m, long long n, long long k, bool always) {
  const long long tiles = ((m + kBM - 1) / kBM) * ((n + kBN - 1) / kBN);
  const long long by_length = std::max<long long>(1, k / 1024);
  if (always) return by_length;
  if (tiles >= 264 || k < 2048) return 1;
  return std::max<long long>(1, std::min(by_length, (528 + tiles - 1) / tiles));
}

/**
 * Partial products of op(A) op(B) over `chunks` consecutive ranges of k into part
 * [chunks x m x n]; returns the number of chunks used (the ranges are multiples of 8 long).
 */
int partial_products(const TileOperands& o, long long chunks, DeviceBuffer<float>& part) {
  long long kc = (o.k + chunks - 1) / chunks;
  kc = (kc + 7) / 8 * 8;
  chunks = (o.k + kc - 1) / kc;
  const long long mn = o.m * o.n;
  if ((long long)part.size() < chunks * mn) part.resize(chunks * mn);
  const long long a_step = o.trans_a ? kc * o.lda : kc, b_step = o.trans_b ? kc : kc * o.ldb;
  if (chunks > 1) {
    TileOperands full = o;
    full.k = kc;
    launch_gemm(full, chunks - 1, a_step, b_step, part.get(), o.n, mn, 1.0f, 0.0f, nullptr);
  }
  TileOperands last = o;
  last.a += (chunks - 1) * a_step;
  last.b += (chunks - 1) * b_step;
  last.k = o.k - (chunks - 1) * kc;
  launch_gemm(last, 1, 0, 0, part.get() + (chunks - 1) * mn, o.n, mn, 1.0f, 0.0f, nullptr);
  return int(chunks);
}

/** C [m x n] (contiguous) = op(A) op(B), k split when the output alone cannot fill the card. */
void product(const TileOperands& o, float* c, DeviceBuffer<float>& part) {
  if ((o.m + kBM - 1) / kBM > 65535) throw Error("ERR_SEMID_INVALID_ARG", "svd (cuda): too many rows for the GEMM grid");
  const long long chunks = split_chunks(o.m, o.n, o.k, false);
  if (chunks == 1) {
    launch_gemm(o, 1, 0, 0, c, o.n, 0, 1.0f, 0.0f, nullptr);
    return;
  }
  const int used = partial_products(o, chunks, part);
  sum_chunks<float, float><<<grid_for(o.m * o.n), kThreadsPerBlock>>>(part.get(), used, o.m * o.n, c);
  SEMID_CUDA_LAUNCH_CHECK();
}

/**
 * SEMID_DEBUG_SVD=1: each backend call waits for the card and prints its time on stderr (so
 * the phase clock of the loop sees the GPU work where it happens, not at the next download).
 */
class OpTimer {
 public:
  explicit OpTimer(const char* what) : what_(what), on_(std::getenv("SEMID_DEBUG_SVD") != nullptr) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (!on_) return;
    cudaDeviceSynchronize();
    std::fprintf(stderr, "semid svd (cuda): %-8s %7.3f ms\n", what_,
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count());
  }

 private:
  const char* what_;
  bool on_;
  std::chrono::steady_clock::time_point t0_;
};

class CudaRange final : public RangeBackend {
 public:
  CudaRange(const float* x, bool on_device, i64 rows, i64 cols, const double* mean, float* device_projected,
            const CancelFlag& cancel)
      : device_projected_(device_projected), cancel_(cancel) {
    n = rows;
    d = cols;
    use_device();
    if (on_device) {
      x_ = x;
    } else {
      own_x_.resize(std::size_t(n * d));
      own_x_.upload(x, std::size_t(n * d));
      x_ = own_x_.get();
    }
    if (mean) {
      mean_.resize(std::size_t(d));
      SEMID_CUDA_CHECK(cudaMemcpy(mean_.get(), mean, d * sizeof(double), cudaMemcpyHostToDevice));
    }
  }
  float* alloc(i64 count) override {
    buffers_.emplace_back(std::size_t(std::max<i64>(count, 1)));
    return buffers_.back().get();
  }
  void upload(const float* host, i64 count, float* buf) override {
    SEMID_CUDA_CHECK(cudaMemcpy(buf, host, count * sizeof(float), cudaMemcpyHostToDevice));
  }
  const float* to_host(const float* buf, i64 count) override {
    host_copy_.resize(std::size_t(count));
    SEMID_CUDA_CHECK(cudaMemcpy(host_copy_.data(), buf, count * sizeof(float), cudaMemcpyDeviceToHost));
    return host_copy_.data();
  }
  void mul(const float* Z, i64 q, float* Y) override {
    OpTimer timer("mul");
    cancel_.check();
    product(TileOperands{x_, d, false, Z, q, false, n, q, d}, Y, part_);
    if (!mean_.get()) return;
    ensure_small(q);
    column_sums(Z, d, q, mean_.get(), dpart_, small_.get());  // μᵀ Z
    subtract_outer<<<grid_for(n * q), kThreadsPerBlock>>>(Y, n, q, nullptr, small_.get());
    SEMID_CUDA_LAUNCH_CHECK();
  }
  void tmul(const float* Y, i64 q, float* Z) override {
    OpTimer timer("tmul");
    cancel_.check();
    product(TileOperands{x_, d, true, Y, q, false, d, q, n}, Z, part_);
    if (!mean_.get()) return;
    ensure_small(q);
    column_sums(Y, n, q, nullptr, dpart_, small_.get());  // 1ᵀ Y
    subtract_outer<<<grid_for(d * q), kThreadsPerBlock>>>(Z, d, q, mean_.get(), small_.get());
    SEMID_CUDA_LAUNCH_CHECK();
  }
  void gram(const float* B, i64 m, i64 q, double* G) override {
    OpTimer timer("gram");
    cancel_.check();
    TileOperands o{B, q, true, B, q, false, q, q, m};
    o.upper_only = true;  // the tiles below the diagonal are the mirror of those above
    const int used = partial_products(o, split_chunks(q, q, m, true), part_);
    if ((i64)gram_.size() < q * q) gram_.resize(std::size_t(q * q));
    sum_chunks_symmetric<<<grid_for(q * q), kThreadsPerBlock>>>(part_.get(), used, q, gram_.get());
    SEMID_CUDA_LAUNCH_CHECK();
    SEMID_CUDA_CHECK(cudaMemcpy(G, gram_.get(), q * q * sizeof(double), cudaMemcpyDeviceToHost));
  }
  void times(const float* B, i64 m, i64 q, const float* S, i64 s, float* out) override {
    OpTimer timer("times");
    cancel_.check();
    if ((i64)right_.size() < q * s) right_.resize(std::size_t(q * s));
    right_.upload(S, std::size_t(q * s));
    product(TileOperands{B, q, false, right_.get(), s, false, m, s, q}, out, part_);
  }
  void project(const float* B, i64 m, i64 q, const float* S, i64 s, SvdResult& r) override {
    if (device_projected_) {
      times(B, m, q, S, s, device_projected_);
      SEMID_CUDA_CHECK(cudaDeviceSynchronize());
      return;
    }
    DeviceBuffer<float> out(std::size_t(m * s));
    times(B, m, q, S, s, out.get());
    r.projected.resize(std::size_t(m * s));
    out.download(r.projected.data(), std::size_t(m * s));
  }

 private:
  void ensure_small(i64 q) {
    if ((i64)small_.size() < q) small_.resize(std::size_t(q));
  }
  const float* x_ = nullptr;
  float* device_projected_;
  const CancelFlag& cancel_;
  DeviceBuffer<float> own_x_, part_, right_;
  DeviceBuffer<double> mean_, small_, dpart_, gram_;
  std::deque<DeviceBuffer<float>> buffers_;
  std::vector<float> host_copy_;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<RangeBackend> make_cuda_range_backend(const float* x, bool x_on_device, i64 n, i64 d,
                                                      const double* mean, float* device_projected,
                                                      const CancelFlag& cancel) {
  return std::make_unique<cuda::CudaRange>(x, x_on_device, n, d, mean, device_projected, cancel);
}

void cuda_column_stats(const float* device_x, i64 n, i64 d, std::vector<double>& mean, double& total_var) {
  cuda::use_device();
  const long long chunks = (n + cuda::kChunkRows - 1) / cuda::kChunkRows;
  if (chunks > 65535) throw Error("ERR_SEMID_INVALID_ARG", "svd (cuda): too many rows for the column reduction");
  cuda::DeviceBuffer<double> psum(std::size_t(chunks * d)), psq(std::size_t(chunks * d)), sums(std::size_t(2 * d));
  dim3 grid(unsigned((d + cuda::kThreadsPerBlock - 1) / cuda::kThreadsPerBlock), unsigned(chunks));
  cuda::column_moments_part<<<grid, cuda::kThreadsPerBlock>>>(device_x, n, d, psum.get(), psq.get());
  SEMID_CUDA_LAUNCH_CHECK();
  cuda::sum_chunks<double, double><<<cuda::grid_for(d), cuda::kThreadsPerBlock>>>(psum.get(), int(chunks), d, sums.get());
  cuda::sum_chunks<double, double><<<cuda::grid_for(d), cuda::kThreadsPerBlock>>>(psq.get(), int(chunks), d, sums.get() + d);
  SEMID_CUDA_LAUNCH_CHECK();
  std::vector<double> host(std::size_t(2 * d));
  sums.download(host.data(), std::size_t(2 * d));
  mean.assign(host.begin(), host.begin() + d);
  total_var = 0;
  for (i64 j = 0; j < d; ++j) {
    mean[j] /= double(n);
    total_var += std::max(0.0, host[d + j] / double(n) - mean[j] * mean[j]);
  }
}

}  // namespace semid
