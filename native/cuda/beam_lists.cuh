// C1 of the CUDA beam step (beam_step.cu): one warp builds one group's top-kListLen list.
#pragma once
#include "beam_kernel_common.cuh"
#include "beam_dense_lists.cuh"
#include "beam_dense_pair.cuh"

namespace semid {
namespace cuda {

// The end of C1: each lane ranks the survivors base + lane + 32 h (h < H) by counting
// those ahead of them, in one pass over the buffer, and the top kListLen are written to the
// group's list (the loads of all a lane's entries first, then the stores). Ranks are unique even
// where a malformed trie repeats a token under one node (equal (s0, flat)): ties go by buffer
// position, so every list slot below the count is written. kDense: the group's candidates are
// not in the scratch; an entry's token comes from its flat index and its log-probability from
// its row (dense_lp), as the build computed them.
template <int H, bool kDense>
__device__ __forceinline__ void rank_into_list(const BeamKernelArgs& k, int g, int first, int base, int count,
                                               const float* sv_s0,
                                               const int* sv_slot, const int* sv_flat, const int* offs, const int* c0s,
                                               const int* ncs, const float* cand_lp, const int* cand_token,
                                               const float* rows, const float* lse,
                                               const GroupLists& lists, int lane) {
  float s[H];
  int f[H], rank[H];
#pragma unroll
  for (int h = 0; h < H; ++h) {
    const int p = base + lane + 32 * h;
    s[h] = p < count ? sv_s0[p] : -INFINITY;
    f[h] = p < count ? sv_flat[p] : INT_MAX;
    rank[h] = 0;
  }
#pragma unroll 4
  for (int q = 0; q < count; ++q) {
    const float qs = sv_s0[q];
    const int qf = sv_flat[q];
#pragma unroll
    for (int h = 0; h < H; ++h)
      rank[h] += int(better32(qs, qf, s[h], f[h]) || (qs == s[h] && qf == f[h] && q < base + lane + 32 * h));
  }
  bool write[H];
  float lp[H];
  int tok[H], jb[H], child[H];
#pragma unroll
  for (int h = 0; h < H; ++h) {
    const int p = base + lane + 32 * h;
    write[h] = p < count && rank[h] < kListLen;
    if (!write[h]) continue;
    const int slot = sv_slot[p];
    int jl = 0;
    while (offs[first + jl + 1] <= slot) ++jl;
    const int j = first + jl, c = slot - offs[j];
    jb[h] = jl;
    if (kDense) {
      const long long V = k.a.vocab;
      tok[h] = f[h] - jl * int(V);
      lp[h] = dense_lp(k, lse, j, rows[(long long)(k.a.input_beams == 1 ? 0 : j) * V + tok[h]]);
    } else {
      lp[h] = cand_lp[slot];
      tok[h] = cand_token[slot];
    }
    child[h] = c < ncs[j] ? k.trie.child_node[c0s[j] + c] : -1;
  }
#pragma unroll
  for (int h = 0; h < H; ++h) {
    if (!write[h]) continue;
    const int e = g * kListLen + rank[h];
    lists.lp[e] = lp[h];
    lists.s0[e] = s[h];
    lists.token[e] = tok[h];
    lists.jl[e] = jb[h];
    lists.child[e] = child[h];
  }
}

// C1 for group g, by one warp: the group's top kListLen candidates by (s0 desc, flat asc) into
// `lists`. A threshold first (the kListLen-th best of the lanes' best two candidates: that many
// distinct candidates are at least as good, so every member of the top is too), then the
// candidates not worse than it (survivors, at most kSurvivorCap, in the warp's buffer) ranked
// by counting.
__device__ void build_group_list(const BeamKernelArgs& k, long long b, int g, int gs, long long V, const float* rows,
                                 const float* lse, const int* offs, const int* c0s, const int* ncs, const float* bs,
                                 float* cand_lp, int* cand_token, float* sv_s0, int* sv_slot, int* sv_flat,
                                 const GroupLists& lists, DenseBeams dense_beams, bool use_dense, int lane, int* bad_query,
                                 long long* stamps) {
  constexpr unsigned kAll = 0xffffffffu;
  constexpr int kDensePair = 2;  // dense beams whose rows are loaded together
  const BeamStepArgs& a = k.a;
  const int G = int(a.groups);
  const int first = g * gs, lo_slot = offs[first], hi_slot = offs[first + gs];
  const bool done = a.group_done && a.group_done[b * G + g];
  const int range = done ? 0 : hi_slot - lo_slot;
  // Dense: every active beam's row read at its node's bits (beam_dense_lists.cuh), no scratch.
  const bool dense = use_dense && range > 0 && group_is_dense(dense_beams, offs, g, gs, lane);
  if (dense && k.use_dense_pair && dense_pair_fits(offs, ncs, g, gs)) {  // the same on every lane
    build_dense_pair_list(k, b, g, gs, rows, lse, offs, c0s, bs, dense_beams, sv_s0, sv_flat, lists, lane, bad_query,
                          stamps);
    return;
  }
  if (stamps && lane == 0) stamps[0] = clock64();  // SEMID_DEBUG_BEAM: one build's phases
  // Pass 1: each lane's best two candidates (none: -inf, INT_MAX) and the finite count. flat =
  // jl * V + token fits 32 bits wherever lists are used (beam_lists_fit).
  float m1s = -INFINITY, m2s = -INFINITY;
  int m1f = INT_MAX, m2f = INT_MAX;
  int finite = 0, jl = 0;
  float xr[kDensePair][9];  // dense: two beams' scores
  auto load_pair = [&](int jl0) {
#pragma unroll
    for (int h = 0; h < kDensePair; ++h) {
      const int j = first + jl0 + h;
      if (jl0 + h < gs && offs[j + 1] > offs[j]) dense_load(k, dense_beams, rows, j, offs[j + 1] - offs[j] > ncs[j], lane, xr[h]);
    }
  };
  if (dense) {
    for (int jl0 = 0; jl0 < gs; jl0 += kDensePair) {
      load_pair(jl0);
#pragma unroll
      for (int h = 0; h < kDensePair; ++h) {
        const int jlh = jl0 + h, j = first + jlh;
        if (jlh >= gs || offs[j + 1] == offs[j]) continue;  // the same on every lane
        dense_each(k, dense_beams, j, ncs[j], offs[j + 1] - offs[j] > ncs[j], lane, xr[h],
                   [&](bool present, int tok, int e, float x) {
                     if (!present) return;
                     if (e < ncs[j] && unsigned(tok) >= unsigned(V)) {  // reported; no candidate
                       raise(k, kErrToken, b, tok);
                       *bad_query = 1;
                       return;
                     }
                     const float lp = dense_lp(k, lse, j, x);
                     if (isnan(lp)) { raise(k, kErrNotFinite, b, a.input_beams == 1 ? 0 : j); *bad_query = 1; }
                     const float s0 = __fadd_rn(lp, bs[j]);
                     if (!(s0 > -INFINITY)) return;
                     const int flat = jlh * int(V) + tok;
                     ++finite;
                     if (better32(s0, flat, m1s, m1f)) { m2s = m1s; m2f = m1f; m1s = s0; m1f = flat; }
                     else if (better32(s0, flat, m2s, m2f)) { m2s = s0; m2f = flat; }
                   });
      }
    }
  }
  for (int base = lane; !dense && base < range; base += 32 * kUnrollC1) {
    int ts[kUnrollC1], jls[kUnrollC1];
    float lps[kUnrollC1];
#pragma unroll
    for (int u = 0; u < kUnrollC1; ++u) {  // tokens: the loads in flight together
      const int i = base + 32 * u;
      jls[u] = -1;
      ts[u] = a.end_token;
      if (i >= range) continue;
      while (offs[first + jl + 1] <= lo_slot + i) ++jl;
      const int j = first + jl, e = lo_slot + i - offs[j];
      jls[u] = jl;
      if (e < ncs[j]) {
        ts[u] = k.trie.child_token[c0s[j] + e];
        if (unsigned(ts[u]) >= unsigned(V)) {  // reported; read token 0 and offer no candidate
          raise(k, kErrToken, b, ts[u]);
          *bad_query = 1;
          ts[u] = 0;
          jls[u] = -2 - jl;  // still written (as -inf) below
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kUnrollC1; ++u)  // then the scores
      if (jls[u] >= 0) lps[u] = rows[(long long)(a.input_beams == 1 ? 0 : first + jls[u]) * V + ts[u]];
#pragma unroll
    for (int u = 0; u < kUnrollC1; ++u) {
      if (jls[u] == -1) continue;
      const bool bad_token = jls[u] < -1;
      if (bad_token) jls[u] = -2 - jls[u];
      const int slot = lo_slot + base + 32 * u, r = a.input_beams == 1 ? 0 : first + jls[u];
      float lp = bad_token ? -INFINITY : lps[u];
      if (a.logits && !bad_token) lp = __fsub_rn(lp, lse[r]);
      if (isnan(lp)) { raise(k, kErrNotFinite, b, r); *bad_query = 1; }
      cand_lp[slot] = lp;  // for the scan C2 falls back to, and for the list below
      cand_token[slot] = ts[u];
      const float s0 = __fadd_rn(lp, bs[first + jls[u]]);
      if (!(s0 > -INFINITY)) continue;
      const int flat = jls[u] * int(V) + ts[u];
      ++finite;
      if (better32(s0, flat, m1s, m1f)) { m2s = m1s; m2f = m1f; m1s = s0; m1f = flat; }
      else if (better32(s0, flat, m2s, m2f)) { m2s = s0; m2f = flat; }
    }
  }
  for (int o = 16; o; o >>= 1) finite += __shfl_xor_sync(kAll, finite, o);
  if (stamps && lane == 0) stamps[1] = clock64();
  float ts = -INFINITY;  // the threshold; none (every finite candidate) unless found below
  int tf = INT_MAX;
  if (finite > kListLen) {
    int r1 = 0, r2 = 0;  // ranks of this lane's two among the 64
#pragma unroll
    for (int src = 0; src < 32; ++src) {
      const float a1 = __shfl_sync(kAll, m1s, src), a2 = __shfl_sync(kAll, m2s, src);
      const int f1 = __shfl_sync(kAll, m1f, src), f2 = __shfl_sync(kAll, m2f, src);
      r1 += int(better32(a1, f1, m1s, m1f)) + int(better32(a2, f2, m1s, m1f));
      r2 += int(better32(a1, f1, m2s, m2f)) + int(better32(a2, f2, m2s, m2f));
    }
    const bool h1 = m1s > -INFINITY && r1 == kListLen - 1, h2 = m2s > -INFINITY && r2 == kListLen - 1;
    const unsigned who = __ballot_sync(kAll, h1 || h2);
    const float mine_s = h1 ? m1s : m2s;
    const int mine_f = h1 ? m1f : m2f;
    if (who) {
      const int src = __ffs(int(who)) - 1;
      ts = __shfl_sync(kAll, mine_s, src);
      tf = __shfl_sync(kAll, mine_f, src);
    }
  }
  if (stamps && lane == 0) stamps[2] = clock64();
  // Pass 2: the survivors, compacted in candidate order.
  int count = 0;
  jl = 0;
  if (dense) {
    for (int jl0 = 0; jl0 < gs; jl0 += kDensePair) {
      load_pair(jl0);  // again (L1): held from pass 1, they would spill in the 64-register builds
#pragma unroll
      for (int h = 0; h < kDensePair; ++h) {
        const int jlh = jl0 + h, j = first + jlh;
        if (jlh >= gs || offs[j + 1] == offs[j]) continue;  // the same on every lane
        dense_each(k, dense_beams, j, ncs[j], offs[j + 1] - offs[j] > ncs[j], lane, xr[h],
                   [&](bool present, int tok, int e, float x) {
                     bool keep = false;
                     float s0 = 0;
                     int flat = 0;
                     if (present && !(e < ncs[j] && unsigned(tok) >= unsigned(V))) {
                       s0 = __fadd_rn(dense_lp(k, lse, j, x), bs[j]);
                       flat = jlh * int(V) + tok;
                       keep = s0 > -INFINITY && !better32(ts, tf, s0, flat);
                     }
                     const unsigned mask = __ballot_sync(kAll, keep);
                     const int pos = count + __popc(mask & ((1u << lane) - 1u));
                     if (keep && pos < kSurvivorCap) { sv_s0[pos] = s0; sv_slot[pos] = offs[j] + e; sv_flat[pos] = flat; }
                     count += __popc(mask);
                   });
      }
    }
  }
  for (int base = 0; !dense && base < range; base += 32 * kUnrollC1) {  // the same trip count on every lane
    int toks[kUnrollC1];
    float lps[kUnrollC1];
#pragma unroll
    for (int u = 0; u < kUnrollC1; ++u) {
      const int i = base + 32 * u + lane;
      if (i < range) { toks[u] = cand_token[lo_slot + i]; lps[u] = cand_lp[lo_slot + i]; }
    }
#pragma unroll
    for (int u = 0; u < kUnrollC1; ++u) {
      const int i = base + 32 * u + lane;
      bool keep = false;
      float s0 = 0;
      int flat = 0;
      if (i < range) {
        while (offs[first + jl + 1] <= lo_slot + i) ++jl;
        s0 = __fadd_rn(lps[u], bs[first + jl]);
        flat = jl * int(V) + toks[u];
        keep = s0 > -INFINITY && !better32(ts, tf, s0, flat);
      }
      const unsigned mask = __ballot_sync(kAll, keep);
      const int pos = count + __popc(mask & ((1u << lane) - 1u));
      if (keep && pos < kSurvivorCap) { sv_s0[pos] = s0; sv_slot[pos] = lo_slot + i; sv_flat[pos] = flat; }
      count += __popc(mask);
    }
  }
  if (lane == 0) {
    lists.n[g] = count > kSurvivorCap ? -1 : min(count, kListLen);
    lists.full[g] = finite <= kListLen;
    lists.dense[g] = dense;
  }
  if (stamps && lane == 0) { stamps[3] = clock64(); stamps[5] = count; }
  if (count > kSurvivorCap) return;  // C2 ranks this group from all its candidates
  __syncwarp();
  for (int base = 0; base < count; base += 64) {  // 64 survivors a pass (two a lane)
    if (dense)
      rank_into_list<2, true>(k, g, first, base, count, sv_s0, sv_slot, sv_flat, offs, c0s, ncs, cand_lp, cand_token,
                              rows, lse, lists, lane);
    else
      rank_into_list<2, false>(k, g, first, base, count, sv_s0, sv_slot, sv_flat, offs, c0s, ncs, cand_lp, cand_token,
                               rows, lse, lists, lane);
  }
  __syncwarp();
  if (stamps && lane == 0) stamps[4] = clock64();
}

}  // namespace cuda
}  // namespace semid
