// Batched float32 GEMM on the GPU: C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b].
#include <algorithm>

#include "cuda_check.cuh"
#include "semid/cuda.h"
#include "sgemm_tile.cuh"

namespace semid {
namespace cuda {

__global__ void __launch_bounds__(kThreads) gemm_kernel(TileOperands o, long long stride_a,
                                                        long long stride_b, float* c,
                                                        long long ldc, long long stride_c,
                                                        float alpha, float beta) {
  const long long batch = blockIdx.z;
  o.a += batch * stride_a;
  o.b += batch * stride_b;
  c += batch * stride_c;
  const long long row0 = (long long)blockIdx.y * kBM, col0 = (long long)blockIdx.x * kBN;
  if (o.upper_only && col0 + kBN <= row0) return;  // the whole block: no thread reaches a barrier
  float acc[kTM][kTN];
  sgemm_tile(o, row0, col0, acc);
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    long long r = row0 + ty * 8 + i;
    if (r >= o.m) continue;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      long long col = col0 + tx * 8 + j;
      if (col >= o.n) continue;
      float v = alpha * acc[i][j];
      if (beta != 0.0f) v += beta * c[r * ldc + col];
      c[r * ldc + col] = v;
    }
  }
}

void launch_gemm(const TileOperands& o, long long batch, long long stride_a, long long stride_b,
                 float* c, long long ldc, long long stride_c, float alpha, float beta,
                 cudaStream_t stream) {
  if (o.m == 0 || o.n == 0) return;
  for (long long b0 = 0; b0 < batch; b0 += 65535) {
    long long nb = std::min<long long>(65535, batch - b0);
    TileOperands ob = o;
    ob.a += b0 * stride_a;
    ob.b += b0 * stride_b;
    dim3 grid((unsigned)((o.n + kBN - 1) / kBN), (unsigned)((o.m + kBM - 1) / kBM), (unsigned)nb);
    gemm_kernel<<<grid, kThreads, 0, stream>>>(ob, stride_a, stride_b, c + b0 * stride_c, ldc,
                                               stride_c, alpha, beta);
    SEMID_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace cuda

void gemm_cuda(const GemmArgs& g, const CancelFlag& cancel) {
  validate_gemm(g);
  if (g.m == 0 || g.n == 0) return;
  if ((g.m + cuda::kBM - 1) / cuda::kBM > 65535) throw Error("ERR_SEMID_INVALID_ARG", "gemm_cuda: m too large");
  cuda::use_device();
  cancel.check();
  // Elements a stored rows x cols matrix spans over the batch: up to its last row's last column,
  // which is where the caller's array may end (the addon checks exactly this length), not the
  // last row's full leading dimension. The kernel reads only inside rows x cols.
  auto extent = [&](i64 rows, i64 cols, i64 ld, i64 stride) {
    return rows == 0 || cols == 0 ? 0 : (g.batch - 1) * stride + (rows - 1) * ld + cols;
  };
  const i64 a_len = g.trans_a ? extent(g.k, g.m, g.lda, g.stride_a) : extent(g.m, g.k, g.lda, g.stride_a);
  const i64 b_len = g.trans_b ? extent(g.n, g.k, g.ldb, g.stride_b) : extent(g.k, g.n, g.ldb, g.stride_b);
  const i64 c_len = extent(g.m, g.n, g.ldc, g.stride_c);
  cuda::DeviceBuffer<float> da(std::max<i64>(a_len, 1)), db(std::max<i64>(b_len, 1)), dc(c_len);
  da.upload(g.a, a_len);
  db.upload(g.b, b_len);
  if (g.beta != 0.0f) dc.upload(g.c, c_len);
  cuda::TileOperands o{da.get(), g.lda, g.trans_a, db.get(), g.ldb, g.trans_b, g.m, g.n, g.k};
  cuda::launch_gemm(o, g.batch, g.stride_a, g.stride_b, dc.get(), g.ldc, g.stride_c, g.alpha,
                    g.beta, nullptr);
  SEMID_CUDA_CHECK(cudaDeviceSynchronize());
  // Copy back only the m x n window of each batch item (C may be strided).
  if (g.ldc == g.n && g.stride_c == g.m * g.n) {
    dc.download(g.c, c_len);
  } else {
    for (i64 b = 0; b < g.batch; ++b)
      SEMID_CUDA_CHECK(cudaMemcpy2D(g.c + b * g.stride_c, g.ldc * sizeof(float),
                                    dc.get() + b * g.stride_c, g.ldc * sizeof(float),
                                    g.n * sizeof(float), g.m, cudaMemcpyDeviceToHost));
  }
}

}  // namespace semid
