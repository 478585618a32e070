// Nearest centroids on the GPU. topk == 1: the GEMM tile's epilogue turns dot products into
// distances and reduces each row's best over the tile's 128 centroids (warp shuffles), leaving
// one candidate per (row, column block); a second kernel picks each row's best. topk > 1: rows
// are processed in chunks whose dot products fit a bounded workspace, then selected per row
// (warp-wide merge of per-lane sorted lists for topk <= 32, a CUB segmented sort beyond).
// Ties go to the lower index, distances are clamped at 0, as on the CPU.
#include <cub/device/device_segmented_sort.cuh>

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "cuda_check.cuh"
#include "semid/cuda.h"
#include "sgemm_tile.cuh"
#include "sgemm_tile_nt.cuh"

namespace semid {
namespace cuda {

void launch_gemm(const TileOperands& o, long long batch, long long stride_a, long long stride_b,
                 float* c, long long ldc, long long stride_c, float alpha, float beta,
                 cudaStream_t stream);

__device__ __forceinline__ bool better(float d1, int i1, float d2, int i2) {
  return d1 < d2 || (d1 == d2 && i1 < i2);
}

__global__ void row_norms_kernel(const float* x, long long rows, long long d, float* out) {
  long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const float* v = x + r * d;
  double s = 0;
  for (long long p = 0; p < d; ++p) s += double(v[p]) * double(v[p]);
  out[r] = float(s);
}

// Fused GEMM + distance + per-block argmin. partial[row * gridDim.x + blockIdx.x].
__global__ void __launch_bounds__(kThreads) argmin_tile_kernel(TileOperands o, const float* xnorm,
                                                               const float* cnorm, float* part_d,
                                                               int* part_i) {
  const long long row0 = (long long)blockIdx.y * kBM, col0 = (long long)blockIdx.x * kBN;
  float acc[kTM][kTN];
  sgemm_tile(o, row0, col0, acc);
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const long long r = row0 + ty * 8 + i;
    const float xn = r < o.m ? xnorm[r] : 0.0f;
    float best = FLT_MAX;
    int best_i = INT_MAX;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const long long col = col0 + tx * 8 + j;
      if (col < o.n) {
        float dist = fmaxf(xn + cnorm[col] - 2.0f * acc[i][j], 0.0f);
        if (dist < best) { best = dist; best_i = int(col); }
      }
    }
#pragma unroll
    for (int off = 8; off > 0; off >>= 1) {
      float od = __shfl_xor_sync(0xffffffffu, best, off);
      int oi = __shfl_xor_sync(0xffffffffu, best_i, off);
      if (better(od, oi, best, best_i)) { best = od; best_i = oi; }
    }
    if (tx == 0 && r < o.m) {
      part_d[r * gridDim.x + blockIdx.x] = best;
      part_i[r * gridDim.x + blockIdx.x] = best_i;
    }
  }
}

// The same for aligned rows (d % 4 == 0) on the vectorised tile: each warp covers 64 of the
// block's 128 columns, so a block leaves two candidates per row, at partial blockIdx.x * 2 + wc.
__global__ void __launch_bounds__(kNtThreads, 2) argmin_tile_nt_kernel(const float* __restrict__ x,
                                                                       const float* __restrict__ c,
                                                                       long long m, long long n, long long d,
                                                                       const float* xnorm, const float* cnorm,
                                                                       float* part_d, int* part_i) {
  const long long row0 = (long long)blockIdx.y * kNtBM, col0 = (long long)blockIdx.x * kNtBN;
  float acc[8][8];
  sgemm_tile_nt(x, c, m, n, d, row0, col0, acc);
  const int lane = threadIdx.x % 32, wc = (threadIdx.x / 32) % 2;
  const long long parts = 2ll * gridDim.x, part = 2ll * blockIdx.x + wc;
  float cn[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const long long col = col0 + nt_col(j);
    cn[j] = col < n ? cnorm[col] : 0.0f;
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const long long r = row0 + nt_row(i);
    const float xn = r < m ? xnorm[r] : 0.0f;
    float best = FLT_MAX;
    int best_i = INT_MAX;
#pragma unroll
    for (int j = 0; j < 8; ++j) {  // columns ascending within the lane: c..c+3, then c+32..c+35
      const long long col = col0 + nt_col(j);
      if (col < n) {
        const float dist = fmaxf(xn + cn[j] - 2.0f * acc[i][j], 0.0f);
        if (dist < best) { best = dist; best_i = int(col); }
      }
    }
#pragma unroll
    for (int off = 4; off > 0; off >>= 1) {  // the 8 lanes that share this row (lane / 8 equal)
      const float od = __shfl_xor_sync(0xffffffffu, best, off);
      const int oi = __shfl_xor_sync(0xffffffffu, best_i, off);
      if (better(od, oi, best, best_i)) { best = od; best_i = oi; }
    }
    if (lane % 8 == 0 && r < m) {
      part_d[r * parts + part] = best;
      part_i[r * parts + part] = best_i;
    }
  }
}

__global__ void argmin_reduce_kernel(const float* part_d, const int* part_i, long long rows,
                                     int parts, float* out_d, int* out_i) {
  long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float best = part_d[r * parts];
  int best_i = part_i[r * parts];
  for (int p = 1; p < parts; ++p) {
    float d = part_d[r * parts + p];
    int i = part_i[r * parts + p];
    if (better(d, i, best, best_i)) { best = d; best_i = i; }
  }
  out_d[r] = best;
  out_i[r] = best_i;
}

// One warp per row: each lane keeps a sorted list of its best `topk` (<= 32) candidates, then the
// warp merges the 32 lists by repeated argmin of their heads.
__global__ void select_small_kernel(const float* dots, long long rows, long long k, int topk,
                                    const float* xnorm, const float* cnorm, long long row_offset,
                                    float* out_d, int* out_i) {
  constexpr int kMax = 32;
  const long long r = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  float ld[kMax];
  int li[kMax];
  for (int t = 0; t < topk; ++t) { ld[t] = FLT_MAX; li[t] = INT_MAX; }
  const float xn = xnorm[row_offset + r];
  const float* row = dots + r * k;
  for (long long j = lane; j < k; j += 32) {
    float dist = fmaxf(xn + cnorm[j] - 2.0f * row[j], 0.0f);
    if (!better(dist, int(j), ld[topk - 1], li[topk - 1])) continue;
    int pos = topk - 1;
    while (pos > 0 && better(dist, int(j), ld[pos - 1], li[pos - 1])) {
      ld[pos] = ld[pos - 1];
      li[pos] = li[pos - 1];
      --pos;
    }
    ld[pos] = dist;
    li[pos] = int(j);
  }
  int head = 0;
  for (int t = 0; t < topk; ++t) {
    float hd = head < topk ? ld[head] : FLT_MAX;
    int hi = head < topk ? li[head] : INT_MAX;
    float bd = hd;
    int bi = hi;
    for (int off = 16; off > 0; off >>= 1) {
      float od = __shfl_xor_sync(0xffffffffu, bd, off);
      int oi = __shfl_xor_sync(0xffffffffu, bi, off);
      if (better(od, oi, bd, bi)) { bd = od; bi = oi; }
    }
    if (hi == bi && hd == bd) ++head;  // indices are unique, so exactly one lane advances
    if (lane == 0) {
      out_d[(row_offset + r) * topk + t] = bd;
      out_i[(row_offset + r) * topk + t] = bi;
    }
  }
}

__global__ void distances_kernel(float* dots, long long rows, long long k, const float* xnorm,
                                 const float* cnorm, long long row_offset, int* idx) {
  long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= rows * k) return;
  long long r = e / k, j = e % k;
  dots[e] = fmaxf(xnorm[row_offset + r] + cnorm[j] - 2.0f * dots[e], 0.0f);
  idx[e] = int(j);
}

__global__ void offsets_kernel(int* offsets, long long rows, long long k) {
  long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (r <= rows) offsets[r] = int(r * k);
}

__global__ void gather_topk_kernel(const float* sd, const int* si, long long rows, long long k,
                                   int topk, long long row_offset, float* out_d, int* out_i) {
  long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= rows * topk) return;
  long long r = e / topk, t = e % topk;
  out_d[(row_offset + r) * topk + t] = sd[r * k + t];
  out_i[(row_offset + r) * topk + t] = si[r * k + t];
}

/** A per-thread scratch allocation that only grows (no cudaMalloc/cudaFree per call). */
template <typename T>
T* scratch(DeviceBuffer<T>& buf, std::size_t count) {
  if (buf.size() < count) buf.resize(count);
  return buf.get();
}

/** SEMID_CUDA_GENERIC_TILE=1: the any-transpose tile for every nearest (an A/B and parity switch). */
bool generic_tile_forced() {
  const char* v = std::getenv("SEMID_CUDA_GENERIC_TILE");
  return v && *v && *v != '0';
}

unsigned blocks_for(long long count, int per_block) {
  return (unsigned)((count + per_block - 1) / per_block);
}

}  // namespace cuda

void nearest_cuda_device(const NearestArgs& a, const CancelFlag& cancel) {
  using namespace cuda;
  validate_nearest(a);
  if (a.n == 0) return;
  cancel.check();
  const i64 n = a.n, d = a.d, k = a.k, topk = a.topk;
  const float* dx = a.x;
  const float* dc = a.centroids;
  float* out_d = a.distances;
  int* out_i = a.indices;
  thread_local DeviceBuffer<float> own_xnorm_buf, cnorm_buf, part_d_buf;
  thread_local DeviceBuffer<int> part_i_buf;
  const float* xnorm_ptr = a.x_norms;
  if (!xnorm_ptr) {
    float* own = scratch(own_xnorm_buf, n);
    row_norms_kernel<<<blocks_for(n, 256), 256>>>(dx, n, d, own);
    xnorm_ptr = own;
  }
  float* cnorm_ptr = scratch(cnorm_buf, k);
  row_norms_kernel<<<blocks_for(k, 256), 256>>>(dc, k, d, cnorm_ptr);
  SEMID_CUDA_LAUNCH_CHECK();

  // The vectorised tile needs 16-byte aligned rows (cudaMalloc'd buffers are 256-byte aligned).
  const bool aligned = d % 4 == 0 && reinterpret_cast<std::uintptr_t>(dx) % 16 == 0 &&
                       reinterpret_cast<std::uintptr_t>(dc) % 16 == 0 && !generic_tile_forced();
  if (topk == 1) {
    const i64 parts = aligned ? 2 * ((k + kNtBN - 1) / kNtBN) : (k + kBN - 1) / kBN;
    // Rows per launch: grid.y <= 65535 blocks and the partials within 256 MiB.
    const i64 max_rows = std::min<i64>(i64(65535) * kBM, std::max<i64>(kBM, (i64(32) << 20) / parts));
    float* part_d = scratch(part_d_buf, std::min(n, max_rows) * parts);
    int* part_i = scratch(part_i_buf, std::min(n, max_rows) * parts);
    for (i64 r0 = 0; r0 < n; r0 += max_rows) {
      cancel.check();
      const i64 rows = std::min(max_rows, n - r0);
      if (aligned) {
        dim3 grid((unsigned)(parts / 2), (unsigned)((rows + kNtBM - 1) / kNtBM));
        argmin_tile_nt_kernel<<<grid, kNtThreads>>>(dx + r0 * d, dc, rows, k, d, xnorm_ptr + r0, cnorm_ptr,
                                                    part_d, part_i);
      } else {
        TileOperands o{dx + r0 * d, d, false, dc, d, true, rows, k, d};
        dim3 grid((unsigned)parts, (unsigned)((rows + kBM - 1) / kBM));
        argmin_tile_kernel<<<grid, kThreads>>>(o, xnorm_ptr + r0, cnorm_ptr, part_d, part_i);
      }
      SEMID_CUDA_LAUNCH_CHECK();
      argmin_reduce_kernel<<<blocks_for(rows, 256), 256>>>(part_d, part_i, rows,
                                                           (int)parts, out_d + r0,
                                                           out_i + r0);
      SEMID_CUDA_LAUNCH_CHECK();
    }
  } else {
    // Chunk rows so a chunk's dot products stay within 32M floats (128 MiB).
    const i64 chunk = std::max<i64>(1, std::min<i64>(n, (i64(32) << 20) / k));
    DeviceBuffer<float> dots(chunk * k);
    const bool small = topk <= 32;
    DeviceBuffer<float> sorted_d(small ? 0 : chunk * k);
    DeviceBuffer<int> idx(small ? 0 : chunk * k), sorted_i(small ? 0 : chunk * k),
        offsets(small ? 0 : chunk + 1);
    DeviceBuffer<unsigned char> temp;
    for (i64 r0 = 0; r0 < n; r0 += chunk) {
      cancel.check();
      const i64 rows = std::min(chunk, n - r0);
      TileOperands o{dx + r0 * d, d, false, dc, d, true, rows, k, d};
      launch_gemm(o, 1, 0, 0, dots.get(), k, 0, 1.0f, 0.0f, nullptr);
      if (small) {
        select_small_kernel<<<blocks_for(rows, 4), 128>>>(dots.get(), rows, k, (int)topk,
                                                          xnorm_ptr, cnorm_ptr, r0,
                                                          out_d, out_i);
        SEMID_CUDA_LAUNCH_CHECK();
        continue;
      }
      if (rows * k > INT_MAX) throw Error("ERR_SEMID_INVALID_ARG", "nearest_cuda: chunk too large");
      distances_kernel<<<blocks_for(rows * k, 256), 256>>>(dots.get(), rows, k, xnorm_ptr,
                                                            cnorm_ptr, r0, idx.get());
      offsets_kernel<<<blocks_for(rows + 1, 256), 256>>>(offsets.get(), rows, k);
      SEMID_CUDA_LAUNCH_CHECK();
      std::size_t temp_bytes = 0;
      SEMID_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairs(
          nullptr, temp_bytes, dots.get(), sorted_d.get(), idx.get(), sorted_i.get(),
          (int)(rows * k), (int)rows, offsets.get(), offsets.get() + 1));
      if (temp.size() < temp_bytes) temp.resize(temp_bytes);
      SEMID_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairs(
          temp.get(), temp_bytes, dots.get(), sorted_d.get(), idx.get(), sorted_i.get(),
          (int)(rows * k), (int)rows, offsets.get(), offsets.get() + 1));
      gather_topk_kernel<<<blocks_for(rows * topk, 256), 256>>>(
          sorted_d.get(), sorted_i.get(), rows, k, (int)topk, r0, out_d, out_i);
      SEMID_CUDA_LAUNCH_CHECK();
    }
  }
  SEMID_CUDA_CHECK(cudaDeviceSynchronize());
}

void nearest_cuda(const NearestArgs& a, const CancelFlag& cancel) {
  using namespace cuda;
  validate_nearest(a);
  if (a.n == 0) return;
  use_device();
  const i64 n = a.n, d = a.d, k = a.k, topk = a.topk;
  DeviceBuffer<float> dx(n * d), dc(k * d), out_d(n * topk);
  DeviceBuffer<int> out_i(n * topk);
  dx.upload(a.x, n * d);
  dc.upload(a.centroids, k * d);
  NearestArgs dev = a;
  dev.x = dx.get();
  dev.centroids = dc.get();
  dev.indices = out_i.get();
  dev.distances = out_d.get();
  dev.x_norms = nullptr;
  nearest_cuda_device(dev, cancel);
  out_d.download(a.distances, n * topk);
  out_i.download(a.indices, n * topk);
}

}  // namespace semid
