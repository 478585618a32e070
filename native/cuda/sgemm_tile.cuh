// A 128 x 128 x 8 register-blocked float32 GEMM tile for any transposes (our own: no cuBLAS).
// 256 threads; thread (ty, tx) = (tid / 16, tid % 16) accumulates rows ty*8..ty*8+7 and columns
// tx*8..tx*8+7 of the block's tile. Out-of-range elements load as 0.
#pragma once
#include <cuda_runtime.h>

namespace semid::cuda {

constexpr int kBM = 128, kBN = 128, kBK = 8, kThreads = 256, kTM = 8, kTN = 8;

struct TileOperands {
  const float* a;
  long long lda;
  bool trans_a;
  const float* b;
  long long ldb;
  bool trans_b;
  long long m, n, k;
  bool upper_only = false;  // gemm_kernel: skip the tiles wholly below the diagonal (a SYRK; m == n)
};

/** acc[i][j] = sum_p op(A)(row0 + ty*8 + i, p) * op(B)(p, col0 + tx*8 + j). */
__device__ __forceinline__ void sgemm_tile(const TileOperands& o, long long row0, long long col0,
                                           float (&acc)[kTM][kTN]) {
  __shared__ __align__(16) float As[2][kBK][kBM];
  __shared__ __align__(16) float Bs[2][kBK][kBN];
  const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0.0f;

  float ra[4], rb[4];
  auto load = [&](long long p0) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      int e = tid + r * kThreads;
      int ii, pp;
      if (o.trans_a) { pp = e / kBM; ii = e % kBM; } else { ii = e / kBK; pp = e % kBK; }
      long long gi = row0 + ii, gp = p0 + pp;
      ra[r] = (gi < o.m && gp < o.k) ? (o.trans_a ? o.a[gp * o.lda + gi] : o.a[gi * o.lda + gp]) : 0.0f;
      int jj, qq;
      if (o.trans_b) { jj = e / kBK; qq = e % kBK; } else { qq = e / kBN; jj = e % kBN; }
      long long gj = col0 + jj, gq = p0 + qq;
      rb[r] = (gj < o.n && gq < o.k) ? (o.trans_b ? o.b[gj * o.ldb + gq] : o.b[gq * o.ldb + gj]) : 0.0f;
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      int e = tid + r * kThreads;
      if (o.trans_a) As[buf][e / kBM][e % kBM] = ra[r]; else As[buf][e % kBK][e / kBK] = ra[r];
      if (o.trans_b) Bs[buf][e % kBK][e / kBK] = rb[r]; else Bs[buf][e / kBN][e % kBN] = rb[r];
    }
  };

  const long long tiles = (o.k + kBK - 1) / kBK;
  load(0);
  store(0);
  __syncthreads();
  for (long long t = 0; t < tiles; ++t) {
    const int buf = t & 1;
    if (t + 1 < tiles) load((t + 1) * kBK);
#pragma unroll
    for (int p = 0; p < kBK; ++p) {
      float av[kTM], bv[kTN];
      float4 a0 = *reinterpret_cast<const float4*>(&As[buf][p][ty * 8]);
      float4 a1 = *reinterpret_cast<const float4*>(&As[buf][p][ty * 8 + 4]);
      float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][p][tx * 8]);
      float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][p][tx * 8 + 4]);
      av[0] = a0.x; av[1] = a0.y; av[2] = a0.z; av[3] = a0.w;
      av[4] = a1.x; av[5] = a1.y; av[6] = a1.z; av[7] = a1.w;
      bv[0] = b0.x; bv[1] = b0.y; bv[2] = b0.z; bv[3] = b0.w;
      bv[4] = b1.x; bv[5] = b1.y; bv[6] = b1.z; bv[7] = b1.w;
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    if (t + 1 < tiles) store(buf ^ 1);
    __syncthreads();
  }
}

}  // namespace semid::cuda
