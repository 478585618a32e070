// A 128 x 128 x 8 float32 tile of A B^T for row-major A [m x k] and B [n x k] whose rows are
// 16-byte aligned (k % 4 == 0): the nearest-centroid case (x against centroids). Compared with
// the any-transpose tile in sgemm_tile.cuh it
//   - loads A and B with one 16-byte load per thread per operand and step (rows of 32 bytes per
//     pair of lanes: whole sectors);
//   - stores them transposed into shared rows padded to 132 floats, so the transposing stores
//     hit 32 different banks;
//   - gives each warp a 32 x 64 sub-tile and each lane rows {r, r+16} x columns {c, c+32} in
//     blocks of 4, so a warp's shared reads are 64 or 128 contiguous bytes (one wavefront each);
//   - caps registers at 128 (__launch_bounds__(256, 2) at the kernel) for two blocks per SM.
// The dot products are summed in the same order as sgemm_tile (fmaf over k ascending), so both
// tiles give bit-identical results.
#pragma once
#include <cuda_runtime.h>

namespace semid::cuda {

constexpr int kNtBM = 128, kNtBN = 128, kNtBK = 8, kNtThreads = 256, kNtLd = 128 + 4;

/** Row (0..127) of the tile held in acc[i][.] by this thread. */
__device__ __forceinline__ int nt_row(int i) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  return (warp / 2) * 32 + (lane / 8) * 4 + (i < 4 ? i : 12 + i);  // i >= 4: 16 + (i - 4)
}
/** Column (0..127) of the tile held in acc[.][j] by this thread. */
__device__ __forceinline__ int nt_col(int j) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  return (warp % 2) * 64 + (lane % 8) * 4 + (j < 4 ? j : 28 + j);  // j >= 4: 32 + (j - 4)
}

/** acc[i][j] = sum_p A(row0 + nt_row(i), p) * B(col0 + nt_col(j), p); rows past m or n read 0. */
__device__ __forceinline__ void sgemm_tile_nt(const float* __restrict__ a, const float* __restrict__ b,
                                              long long m, long long n, long long k, long long row0,
                                              long long col0, float (&acc)[8][8]) {
  __shared__ __align__(16) float As[2][kNtBK][kNtLd];
  __shared__ __align__(16) float Bs[2][kNtBK][kNtLd];
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int a_off = (warp / 2) * 32 + (lane / 8) * 4;  // this lane's first row in As
  const int b_off = (warp % 2) * 64 + (lane % 8) * 4;  // this lane's first column in Bs
  const int load_row = tid / 2, load_p = (tid % 2) * 4;  // the float4 this thread loads per step
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  const bool a_in = row0 + load_row < m, b_in = col0 + load_row < n;
  const float* a_row = a + (a_in ? (row0 + load_row) * k : 0);
  const float* b_row = b + (b_in ? (col0 + load_row) * k : 0);
  float4 ra, rb;
  auto load = [&](long long p0) {
    const long long p = p0 + load_p;
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    ra = (a_in && p < k) ? __ldg(reinterpret_cast<const float4*>(a_row + p)) : zero;
    rb = (b_in && p < k) ? __ldg(reinterpret_cast<const float4*>(b_row + p)) : zero;
  };
  auto store = [&](int buf) {
    As[buf][load_p + 0][load_row] = ra.x;
    As[buf][load_p + 1][load_row] = ra.y;
    As[buf][load_p + 2][load_row] = ra.z;
    As[buf][load_p + 3][load_row] = ra.w;
    Bs[buf][load_p + 0][load_row] = rb.x;
    Bs[buf][load_p + 1][load_row] = rb.y;
    Bs[buf][load_p + 2][load_row] = rb.z;
    Bs[buf][load_p + 3][load_row] = rb.w;
  };

  const long long tiles = (k + kNtBK - 1) / kNtBK;
  load(0);
  store(0);
  __syncthreads();
  for (long long t = 0; t < tiles; ++t) {
    const int buf = int(t & 1);
    if (t + 1 < tiles) load((t + 1) * kNtBK);
#pragma unroll
    for (int p = 0; p < kNtBK; ++p) {
      const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][p][a_off]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][p][a_off + 16]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][p][b_off]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][p][b_off + 32]);
      const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    if (t + 1 < tiles) store(buf ^ 1);
    __syncthreads();
  }
}

}  // namespace semid::cuda
