// The CUDA k-means backend: the rows stay on the device for the whole run. Assignment is the
// fused GEMM + argmin kernel; the update sums each cluster's rows in double, in index order (rows
// ordered by cluster on the host: a stable counting sort), one block per cluster, and moves the
// centroids on the device, so results are deterministic. Per iteration only the assignment (n
// int32), the order and a few scalars cross the bus.
#include <algorithm>
#include <vector>

#include "cuda_check.cuh"
#include "semid/cuda.h"
#include "semid/kmeans.h"
#include "semid/nearest.h"

namespace semid {
namespace cuda {
namespace {

__global__ void row_norms_double_kernel(const float* x, long long rows, long long d, double* out64,
                                        float* out32) {
  long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const float* v = x + r * d;
  double s = 0;
  for (long long p = 0; p < d; ++p) s += double(v[p]) * double(v[p]);
  out64[r] = s;
  out32[r] = float(s);
}

__global__ void count_changes_kernel(const int* now, int* before, long long n, unsigned long long* changed) {
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (now[i] != before[i]) atomicAdd(changed, 1ull);
  before[i] = now[i];
}

// One block per (cluster, chunk of 128 dimensions), one thread per dimension: sums the cluster's
// rows in double, in the given order (four rows in flight, combined in a fixed order), moves the
// centroid to the mean, and writes the block's share of the inertia, -2 c.S + n |c|^2.
constexpr int kUpdateThreads = 128;
__global__ void __launch_bounds__(kUpdateThreads) update_kernel(const float* x, long long d,
                                                                const int* order, const long long* offsets,
                                                                float* centroids, double* inertia_part) {
  const long long c = blockIdx.x;
  const long long j = (long long)blockIdx.y * kUpdateThreads + threadIdx.x;
  const long long begin = offsets[c], end = offsets[c + 1], count = end - begin;
  double part = 0;
  if (j < d) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long long m = begin;
    for (; m + 4 <= end; m += 4) {
      s0 += double(x[(long long)order[m] * d + j]);
      s1 += double(x[(long long)order[m + 1] * d + j]);
      s2 += double(x[(long long)order[m + 2] * d + j]);
      s3 += double(x[(long long)order[m + 3] * d + j]);
    }
    for (; m < end; ++m) s0 += double(x[(long long)order[m] * d + j]);
    const double s = (s0 + s1) + (s2 + s3);
    const double old = centroids[c * d + j];
    part = -2.0 * old * s + double(count) * old * old;
    if (count > 0) centroids[c * d + j] = float(s / double(count));
  }
  __shared__ double red[kUpdateThreads];
  red[threadIdx.x] = part;
  __syncthreads();
  for (int off = kUpdateThreads / 2; off > 0; off >>= 1) {
    if (threadIdx.x < off) red[threadIdx.x] += red[threadIdx.x + off];
    __syncthreads();
  }
  if (threadIdx.x == 0) inertia_part[c * gridDim.y + blockIdx.y] = red[0];
}

class CudaKMeansBackend final : public KMeansBackend {
 public:
  explicit CudaKMeansBackend(const CancelFlag& cancel) : cancel_(cancel) { use_device(); }

  void set_data(const float* x, i64 n, i64 d) override {
    n_ = n; d_ = d;
    x_.resize(n * d);
    x_.upload(x, n * d);
    xnorm_.resize(n);
    DeviceBuffer<double> norms64(n);
    row_norms_double_kernel<<<unsigned((n + 255) / 256), 256>>>(x_.get(), n, d, norms64.get(), xnorm_.get());
    SEMID_CUDA_LAUNCH_CHECK();
    std::vector<double> host(n);
    norms64.download(host.data(), n);
    xx_ = 0;
    for (double v : host) xx_ += v;
    assign_.resize(n);
    prev_assign_.resize(n);
    SEMID_CUDA_CHECK(cudaMemset(prev_assign_.get(), 0xff, n * sizeof(int)));
    dist_.resize(n);
    order_.resize(n);
    changed_.resize(1);
    host_assign_.assign(n, -1);
    host_valid_ = false;
  }
  void set_centroids(const float* c, i64 k) override {
    k_ = k;
    c_.resize(k * d_);
    c_.upload(c, k * d_);
    offsets_.resize(k + 1);
    inertia_part_.resize(k * dim_chunks());
  }
  void move_centroids(const float* c) override { c_.upload(c, k_ * d_); }
  void get_centroids(float* c) const override { c_.download(c, k_ * d_); }
  const std::vector<i64>& counts() const override { return counts_; }
  const std::int32_t* assignment() override {
    if (!host_valid_) {
      assign_.download(host_assign_.data(), n_);
      host_valid_ = true;
    }
    return host_assign_.data();
  }

  i64 assign() override {
    cancel_.check();
    NearestArgs a{n_, d_, k_, 1, x_.get(), c_.get(), assign_.get(), dist_.get(), xnorm_.get()};
    nearest_cuda_device(a, cancel_);
    SEMID_CUDA_CHECK(cudaMemset(changed_.get(), 0, sizeof(unsigned long long)));
    count_changes_kernel<<<unsigned((n_ + 255) / 256), 256>>>(assign_.get(), prev_assign_.get(), n_, changed_.get());
    SEMID_CUDA_LAUNCH_CHECK();
    unsigned long long changed = 0;
    changed_.download(&changed, 1);
    host_valid_ = false;
    return static_cast<i64>(changed);
  }

  double update() override {
    cancel_.check();
    const std::int32_t* a = assignment();
    counts_.assign(k_, 0);
    for (i64 i = 0; i < n_; ++i) counts_[a[i]]++;
    std::vector<long long> offsets(k_ + 1, 0);
    for (i64 j = 0; j < k_; ++j) offsets[j + 1] = offsets[j] + counts_[j];
    std::vector<long long> fill(offsets.begin(), offsets.end() - 1);
    std::vector<int> order(n_);
    for (i64 i = 0; i < n_; ++i) order[fill[a[i]]++] = int(i);
    order_.upload(order.data(), n_);
    offsets_.upload(offsets.data(), k_ + 1);
    update_kernel<<<dim3(unsigned(k_), unsigned(dim_chunks())), kUpdateThreads>>>(
        x_.get(), d_, order_.get(), offsets_.get(), c_.get(), inertia_part_.get());
    SEMID_CUDA_LAUNCH_CHECK();
    std::vector<double> part(k_ * dim_chunks());
    inertia_part_.download(part.data(), part.size());
    double inertia = xx_;
    for (double p : part) inertia += p;
    return std::max(0.0, inertia);
  }

 private:
  i64 dim_chunks() const { return (d_ + kUpdateThreads - 1) / kUpdateThreads; }
  CancelFlag cancel_;
  i64 n_ = 0, d_ = 0, k_ = 0;
  double xx_ = 0;
  DeviceBuffer<float> x_, xnorm_, c_, dist_;
  DeviceBuffer<int> assign_, prev_assign_, order_;
  DeviceBuffer<long long> offsets_;
  DeviceBuffer<double> inertia_part_;
  DeviceBuffer<unsigned long long> changed_;
  std::vector<i64> counts_;
  std::vector<std::int32_t> host_assign_;
  bool host_valid_ = false;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<KMeansBackend> make_cuda_kmeans_backend(const CancelFlag& cancel) {
  return std::make_unique<cuda::CudaKMeansBackend>(cancel);
}

}  // namespace semid
