// The CUDA k-means backend: the rows stay on the device for the whole run (and, for residual
// quantization, between levels: residualize). Assignment is the fused GEMM + argmin kernel; the
// update orders the rows by cluster with a stable radix sort on the card, sums each cluster's
// rows in double in index order (in fixed segments, then the segments in order), and moves the
// centroids on the device,
// so results are deterministic. Per iteration only the k counts, the k + 1 offsets and a few
// scalars cross the bus.
#include <algorithm>
#include <vector>

#include <cub/cub.cuh>

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

// The update in two steps, so that a large cluster does not hold up the grid: first one block
// per (segment of at most kSegmentRows of a cluster's rows, chunk of 128 dimensions) sums its
// rows in double, in the given order (four rows in flight, combined in a fixed order); then one
// block per (cluster, chunk) adds its segments in order, moves the centroid to the mean and
// writes the block's share of the inertia, -2 c.S + n |c|^2. The segments depend on the counts
// only, so the sums do not depend on the card.
constexpr int kUpdateThreads = 128;
constexpr long long kSegmentRows = 256;
__global__ void __launch_bounds__(kUpdateThreads) segment_sums_kernel(const float* x, long long d, const int* order,
                                                                      const long long* seg_begin, double* seg_sum) {
  const long long seg = blockIdx.x;
  const long long j = (long long)blockIdx.y * kUpdateThreads + threadIdx.x;
  if (j >= d) return;
  const long long begin = seg_begin[seg], end = seg_begin[seg + 1];
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  long long m = begin;
  for (; m + 4 <= end; m += 4) {
    s0 += double(x[(long long)order[m] * d + j]);
    s1 += double(x[(long long)order[m + 1] * d + j]);
    s2 += double(x[(long long)order[m + 2] * d + j]);
    s3 += double(x[(long long)order[m + 3] * d + j]);
  }
  for (; m < end; ++m) s0 += double(x[(long long)order[m] * d + j]);
  seg_sum[seg * d + j] = (s0 + s1) + (s2 + s3);
}

__global__ void __launch_bounds__(kUpdateThreads) update_kernel(long long d, const long long* offsets,
                                                                const long long* cluster_seg, const double* seg_sum,
                                                                float* centroids, double* inertia_part) {
  const long long c = blockIdx.x;
  const long long j = (long long)blockIdx.y * kUpdateThreads + threadIdx.x;
  const long long count = offsets[c + 1] - offsets[c];
  double part = 0;
  if (j < d) {
    double s = 0;
    for (long long seg = cluster_seg[c]; seg < cluster_seg[c + 1]; ++seg) s += seg_sum[seg * d + j];
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

/** counts[assign[i]] += 1 over the rows. */
__global__ void count_rows_kernel(const int* assign, long long n, int* counts) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) atomicAdd(counts + assign[i], 1);
}

/** ids[i] = i. */
__global__ void iota_kernel(int* ids, long long n) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) ids[i] = int(i);
}

/** x[i] -= c[assign[i]] for every row (a warp per row); row_sq[i] = its squared norm (float64). */
__global__ void residualize_kernel(float* x, long long n, long long d, const float* c, const int* assign,
                                   double* row_sq) {
  const long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= n) return;
  float* r = x + row * d;
  const float* cr = c + (long long)assign[row] * d;
  double s = 0;
  for (long long t = lane; t < d; t += 32) {
    const float v = __fsub_rn(r[t], cr[t]);  // as the host loop: r[t] -= c[t] in float32
    r[t] = v;
    s += double(v) * double(v);
  }
  for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) row_sq[row] = s;
}

/** out[t] = x[rows[t]] (a block per row). */
__global__ void gather_rows_kernel(const float* x, long long d, const long long* rows, long long count, float* out) {
  for (long long t = blockIdx.x; t < count; t += gridDim.x)
    for (long long j = threadIdx.x; j < d; j += blockDim.x) out[t * d + j] = x[rows[t] * d + j];
}

class CudaKMeansBackend final : public KMeansBackend {
 public:
  explicit CudaKMeansBackend(const CancelFlag& cancel) : cancel_(cancel) { use_device(); }

  void set_data(const float* x, i64 n, i64 d) override {
    n_ = n; d_ = d;
    x_.resize(n * d);
    x_.upload(x, n * d);
    reuse_data();
  }
  bool keeps_data() const override { return true; }
  void reuse_data() override {
    const i64 n = n_, d = d_;
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
    sorted_keys_.resize(n);
    row_ids_.resize(n);
    iota_kernel<<<unsigned((n + 255) / 256), 256>>>(row_ids_.get(), n);
    SEMID_CUDA_LAUNCH_CHECK();
    changed_.resize(1);
    host_assign_.assign(n, -1);
    host_valid_ = false;
  }
  void set_centroids(const float* c, i64 k) override {
    k_ = k;
    c_.resize(k * d_);
    c_.upload(c, k * d_);
    offsets_.resize(k + 1);
    cluster_rows_.resize(k);
    inertia_part_.resize(k * dim_chunks());
  }
  void move_centroids(const float* c) override { c_.upload(c, k_ * d_); }
  double residualize() override {
    cancel_.check();
    DeviceBuffer<double> row_sq(n_);
    residualize_kernel<<<unsigned((n_ + 7) / 8), 256>>>(x_.get(), n_, d_, c_.get(), assign_.get(), row_sq.get());
    SEMID_CUDA_LAUNCH_CHECK();
    std::vector<double> host(n_);
    row_sq.download(host.data(), n_);
    double total = 0;
    for (double v : host) total += v;  // row order: the same sum on any card
    return total;
  }
  void fetch_rows(const i64* rows, i64 count, float* out) const override {
    if (count <= 0) return;
    DeviceBuffer<long long> idx(count);
    std::vector<long long> host(rows, rows + count);
    idx.upload(host.data(), count);
    DeviceBuffer<float> buf(count * d_);
    gather_rows_kernel<<<unsigned(std::min<i64>(count, 65535)), 128>>>(x_.get(), d_, idx.get(), count, buf.get());
    SEMID_CUDA_LAUNCH_CHECK();
    buf.download(out, count * d_);
  }
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
    // Rows ordered by cluster, in index order within each (a stable radix sort of the
    // assignment on the card: the order of the host's counting sort, without the round trip);
    // only the k counts come to the host.
    SEMID_CUDA_CHECK(cudaMemset(cluster_rows_.get(), 0, k_ * sizeof(int)));
    count_rows_kernel<<<unsigned((n_ + 255) / 256), 256>>>(assign_.get(), n_, cluster_rows_.get());
    SEMID_CUDA_LAUNCH_CHECK();
    int end_bit = 1;
    while ((i64(1) << end_bit) < k_) ++end_bit;
    const auto* keys = reinterpret_cast<const unsigned*>(assign_.get());  // clusters: >= 0
    auto* keys_out = reinterpret_cast<unsigned*>(sorted_keys_.get());
    std::size_t temp_bytes = 0;
    SEMID_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys, keys_out, row_ids_.get(), order_.get(),
                                                     int(n_), 0, end_bit));
    if (sort_temp_.size() < temp_bytes) sort_temp_.resize(temp_bytes);
    SEMID_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(sort_temp_.get(), temp_bytes, keys, keys_out, row_ids_.get(),
                                                     order_.get(), int(n_), 0, end_bit));
    std::vector<int> counts(k_);
    cluster_rows_.download(counts.data(), k_);
    counts_.assign(counts.begin(), counts.end());
    std::vector<long long> offsets(k_ + 1, 0);
    for (i64 j = 0; j < k_; ++j) offsets[j + 1] = offsets[j] + counts_[j];
    // Segments: each cluster's rows cut into runs of at most kSegmentRows (none for an empty one).
    std::vector<long long> seg_begin, cluster_seg(k_ + 1, 0);
    for (i64 j = 0; j < k_; ++j) {
      cluster_seg[j] = i64(seg_begin.size());
      for (long long r = offsets[j]; r < offsets[j + 1]; r += kSegmentRows) seg_begin.push_back(r);
    }
    cluster_seg[k_] = i64(seg_begin.size());
    const i64 segments = i64(seg_begin.size());
    seg_begin.push_back(n_);
    offsets_.upload(offsets.data(), k_ + 1);
    if ((i64)seg_meta_.size() < segments + 1 + k_ + 1) seg_meta_.resize(segments + 1 + k_ + 1);
    seg_meta_.upload(seg_begin.data(), segments + 1);
    SEMID_CUDA_CHECK(cudaMemcpy(seg_meta_.get() + segments + 1, cluster_seg.data(), (k_ + 1) * sizeof(long long),
                                cudaMemcpyHostToDevice));
    if ((i64)seg_sum_.size() < std::max<i64>(segments, 1) * d_) seg_sum_.resize(std::max<i64>(segments, 1) * d_);
    if (segments > 0) {
      segment_sums_kernel<<<dim3(unsigned(segments), unsigned(dim_chunks())), kUpdateThreads>>>(
          x_.get(), d_, order_.get(), seg_meta_.get(), seg_sum_.get());
      SEMID_CUDA_LAUNCH_CHECK();
    }
    update_kernel<<<dim3(unsigned(k_), unsigned(dim_chunks())), kUpdateThreads>>>(
        d_, offsets_.get(), seg_meta_.get() + segments + 1, seg_sum_.get(), c_.get(), inertia_part_.get());
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
  DeviceBuffer<int> assign_, prev_assign_, order_, sorted_keys_, row_ids_, cluster_rows_;
  DeviceBuffer<unsigned char> sort_temp_;
  DeviceBuffer<long long> offsets_;
  DeviceBuffer<double> inertia_part_, seg_sum_;
  DeviceBuffer<long long> seg_meta_;  // segment starts [segments + 1], then each cluster's first segment [k + 1]
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
