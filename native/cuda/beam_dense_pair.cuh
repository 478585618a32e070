// C1 of the CUDA beam step (beam_step.cu) for the commonest group: at most two beams (the
// paper's beam 60 in 30 groups), every active one at a dense node that ends no ID. One warp; the
// group's scores stay in registers (s[beam][q]: token first + 32 q + lane of the beam's dense
// row), so each phase is a few instructions a candidate:
//   scores    s0 = lp + beam score at the row's set bits (-inf elsewhere), each lane's best two;
//   threshold T: the largest of those 64 values that at least 31 others exceed (so at least 32
//             candidates score >= T, and every member of the top 32 does: floats only);
//   survivors the candidates >= T, compacted into the warp's buffer (a ballot per register);
//   ranking   by counting (s0 desc, flat asc: flat indices are distinct here), the top 32 written
//             with their log-probabilities re-read from the row and their child from the bits.
// The same lists as build_group_list (beam_lists.cuh) builds, which takes every other group.
#pragma once
#include "beam_dense_lists.cuh"
#include "beam_kernel_common.cuh"

namespace semid {
namespace cuda {

/** Whether group g can take build_dense_pair_list: gs <= 2, and no active beam ends an ID (its candidates are its children). */
__device__ __forceinline__ bool dense_pair_fits(const int* offs, const int* ncs, int g, int gs) {
  if (gs > 2) return false;
  for (int jl = 0; jl < gs; ++jl) {
    const int j = g * gs + jl;
    if (offs[j + 1] - offs[j] > ncs[j]) return false;
  }
  return true;
}

/** The index of the child edge with token `tok` among a dense node's children: the set bits below it. */
__device__ __forceinline__ int dense_edge_rank(const unsigned* bits, int p) {
  int e = 0;
  for (int q = 0; q < (p >> 5); ++q) e += __popc(bits[q]);
  return e + __popc(bits[p >> 5] & ((1u << (p & 31)) - 1u));
}

/** C1 for group g of a dense pair (dense_pair_fits, group_is_dense), by one warp: its top kListLen list and n, full, dense. */
__device__ void build_dense_pair_list(const BeamKernelArgs& k, long long b, int g, int gs, const float* rows,
                                      const float* lse, const int* offs, const int* c0s, const float* bs,
                                      const DenseBeams& d, float* sv_s0, int* sv_flat, const GroupLists& lists,
                                      int lane, int* bad_query, long long* stamps) {
  constexpr unsigned kAll = 0xffffffffu;
  const BeamStepArgs& a = k.a;
  const int V = int(a.vocab), first = g * gs;
  const unsigned below = (1u << lane) - 1u;
  if (stamps && lane == 0) stamps[0] = clock64();
  // Scores: the rows' values at the set bits (the loads of both beams in flight together).
  float s[2][8];
  int tok0[2];  // this lane's token at q = 0: first + lane
  unsigned present[2] = {0u, 0u};  // bit q: token tok0 + 32 q is a child
  unsigned bad_tok[2] = {0u, 0u};  // bit q: a child token beyond the vocabulary (reported below)
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int j = first + h;
    const bool on = h < gs && offs[j + 1] > offs[j];
    tok0[h] = on ? d.first[j] + lane : lane;
    const float* row = rows + (long long)(a.input_beams == 1 ? 0 : j) * V;
#pragma unroll
    for (int q = 0; q < 8; ++q) {
      const int tok = tok0[h] + 32 * q;
      const bool bit = on && ((d.bits[8 * j + q] >> lane) & 1u);
      const bool ok = bit && unsigned(tok) < unsigned(V);
      bad_tok[h] |= bit && !ok ? 1u << q : 0u;
      present[h] |= ok ? 1u << q : 0u;
      s[h][q] = ok ? row[tok] : 0.0f;
    }
  }
  int finite = 0;
  unsigned nan_rows = 0u;  // bit h: a log-probability of beam h is NaN (reported below)
  float m1 = -INFINITY, m2 = -INFINITY;  // this lane's best two
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int j = first + h;
    const float lj = present[h] && a.logits ? lse[a.input_beams == 1 ? 0 : j] : 0.0f;
    const float bj = present[h] ? bs[j] : 0.0f;
#pragma unroll
    for (int q = 0; q < 8; ++q) {
      const float lp = a.logits ? __fsub_rn(s[h][q], lj) : s[h][q];
      const bool is = (present[h] >> q) & 1u;
      nan_rows |= is && isnan(lp) ? 1u << h : 0u;
      const float s0 = __fadd_rn(lp, bj);
      const float v = is && s0 > -INFINITY ? s0 : -INFINITY;  // NaN: no candidate
      s[h][q] = v;
      finite += v > -INFINITY;
      m2 = fmaxf(m2, fminf(m1, v));
      m1 = fmaxf(m1, v);
    }
  }
  if (bad_tok[0] | bad_tok[1] | nan_rows) {  // rare: the errors, as the gather path reports them
    for (int h = 0; h < 2; ++h) {
      if (bad_tok[h]) raise(k, kErrToken, b, tok0[h] + 32 * (__ffs(int(bad_tok[h])) - 1));
      if ((nan_rows >> h) & 1u) raise(k, kErrNotFinite, b, a.input_beams == 1 ? 0 : first + h);
    }
    *bad_query = 1;
  }
  finite = __reduce_add_sync(kAll, finite);
  if (stamps && lane == 0) stamps[1] = clock64();
  // Threshold (none while every finite candidate fits the list).
  float T = -INFINITY;
  if (finite > kListLen) {
    int r1 = 0, r2 = 0;  // how many of the 64 exceed m1, m2
#pragma unroll
    for (int src = 0; src < 32; ++src) {
      const float a1 = __shfl_sync(kAll, m1, src), a2 = __shfl_sync(kAll, m2, src);
      r1 += int(a1 > m1) + int(a2 > m1);
      r2 += int(a1 > m2) + int(a2 > m2);
    }
    float c = r1 >= kListLen - 1 ? m1 : -INFINITY;
    if (r2 >= kListLen - 1) c = fmaxf(c, m2);
    for (int o = 16; o; o >>= 1) c = fmaxf(c, __shfl_xor_sync(kAll, c, o));
    T = c;
  }
  if (stamps && lane == 0) stamps[2] = clock64();
  // Survivors, in (beam, q, lane) order.
  int count = 0;
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int q = 0; q < 8; ++q) {
      const bool keep = s[h][q] > -INFINITY && s[h][q] >= T;
      const unsigned mask = __ballot_sync(kAll, keep);
      if (mask == 0u) continue;  // the same on every lane
      const int pos = count + __popc(mask & below);
      if (keep && pos < kSurvivorCap) { sv_s0[pos] = s[h][q]; sv_flat[pos] = h * V + tok0[h] + 32 * q; }
      count += __popc(mask);
    }
  if (lane == 0) {
    lists.n[g] = count > kSurvivorCap ? -1 : min(count, kListLen);
    lists.full[g] = finite <= kListLen;
    lists.dense[g] = 1;
  }
  if (stamps && lane == 0) { stamps[3] = clock64(); stamps[5] = count; }
  if (count > kSurvivorCap) return;  // C2 ranks this group from all its candidates
  __syncwarp();
  // Ranking: entries lane + 32 h, by counting those ahead (flat indices are distinct: no ties).
  for (int base = 0; base < count; base += 64) {
    float sv[2];
    int fv[2], rank[2] = {0, 0};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int p = base + lane + 32 * h;
      sv[h] = p < count ? sv_s0[p] : -INFINITY;
      fv[h] = p < count ? sv_flat[p] : INT_MAX;
    }
#pragma unroll 4
    for (int q = 0; q < count; ++q) {
      const float qs = sv_s0[q];
      const int qf = sv_flat[q];
#pragma unroll
      for (int h = 0; h < 2; ++h) rank[h] += int(better32(qs, qf, sv[h], fv[h]));
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int p = base + lane + 32 * h;
      if (p >= count || rank[h] >= kListLen) continue;
      const int jl = fv[h] >= V ? 1 : 0, j = first + jl, tok = fv[h] - jl * V;
      const float x = rows[(long long)(a.input_beams == 1 ? 0 : j) * V + tok];
      const int child = k.trie.child_node[c0s[j] + dense_edge_rank(d.bits + 8 * j, tok - d.first[j])];
      const int e = g * kListLen + rank[h];
      lists.lp[e] = dense_lp(k, lse, j, x);
      lists.s0[e] = sv[h];
      lists.token[e] = tok;
      lists.jl[e] = jl;
      lists.child[e] = child;
    }
  }
  __syncwarp();
  if (stamps && lane == 0) stamps[4] = clock64();
}

}  // namespace cuda
}  // namespace semid
