// Trie-constrained diverse beam search step on the GPU (semantics in semid/beam.h), one block per
// query (256, 512 or 1,024 threads, see beam_launch) in three phases:
//   A. all warps: the log-normaliser of each row an active beam reads (a warp per two rows, the
//      row in registers up to 256 scores), and each beam's candidate count (children, plus the
//      end token where an ID ends);
//   B. every candidate's log-probability and token, written once to a scratch area (candidates of
//      one group are contiguous, since a group's beams are). With lists (group size <= 16, the
//      shared memory allows: beam_lists_fit), warps 1.. take the groups in order and, per group,
//      also build C1's list (beam_lists.cuh): the group's top 32 candidates by the unpenalised score s0 = lp +
//      beam score, from a threshold (the 32nd best of the lanes' best two) and the candidates
//      not worse than it, ranked by counting. Without, all threads share the candidates. A
//      group whose active beams all sit at dense nodes (trie.dense_rows: >= 32 children within
//      256 tokens) reads its rows contiguously at the nodes' bits and writes no scratch
//      (beam_dense_lists.cuh); C2 writes its candidates only where it must scan them. A dense
//      group of at most two beams ending no ID keeps its scores in registers throughout
//      (beam_dense_pair.cuh: the paper's 60 beams in 30 groups).
//      At small batches a query may have a cluster of blocks (sm_90: beam_cluster_size): each
//      block normalises every row and reads every beam, builds the groups g = rank (mod blocks)
//      and copies their lists into the first block's shared memory; that block alone goes on.
//   C. warp 0, group by group (with lists, right behind the builders: a per-group ready flag, no
//      block barrier): the penalty of the tokens earlier groups chose (a per-query count table in
//      shared memory) only lowers scores, so when the list keeps 2 * group_size entries whose
//      scores the penalty left unchanged, the group's picks are the list's top 2 * group_size
//      with the penalty; otherwise (or without lists) the successive maxima of all the group's
//      candidates in the (score desc, flat index asc) order. Then the picks are walked exactly
//      as the CPU does (beam_list_picks.cuh). With the Jacobi pass (beam_jacobi.cuh: rows per
//      beam, up to 64 groups), every warp builds lists, then every warp settles groups in
//      parallel rounds, and warp 0 runs C2 only from the first group those rounds left.
// Scores use float32 operations without contraction (__fsub_rn, __fmul_rn, __fadd_rn), so CPU
// and GPU agree bit for bit on log-prob inputs.
#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <cooperative_groups.h>

#include "beam_jacobi.cuh"
#include "beam_kernel_common.cuh"
#include "beam_list_picks.cuh"
#include "beam_lists.cuh"
#include "cuda_check.cuh"
#include "semid/beam.h"
#include "semid/cuda.h"

namespace semid {
namespace cuda {

// A row's normaliser, by one warp: the lanes' maxima and not-finite flags combined (every lane
// gets the row's), the lanes' sums of exp(x - max) combined, and the log-sum-exp in double.
__device__ __forceinline__ void warp_max_any(float& m, bool& bad) {
  for (int o = 16; o; o >>= 1) {
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    bad |= __shfl_xor_sync(0xffffffffu, int(bad), o) != 0;
  }
}
__device__ __forceinline__ float warp_sum(float s) {
  for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  return s;
}
__device__ __forceinline__ float row_lse(float m, float s) {
  return m == -INFINITY ? -INFINITY : float(double(m) + log(double(s)));
}

// Dynamic shared memory after the scratch: lse[beams] floats, c0[beams], offs[beams + 1], chosen[beams], nc[beams],
// bs[beams], pick_score/slot/child/token/j[2 gs], with lists their fields [groups * kListLen] and
// n/full[groups], then counts[vocab] (16-bit, when vocab <= kCountTable).
// kMinBlocks: blocks per SM the register budget must allow (1: the compiler's choice, about 120
// registers, 2 blocks per SM; 3 or 4: 80 or 64 registers with a few bytes spilled, more queries
// in flight). beam_min_blocks picks one.
template <int kBeamThreads, int kMinBlocks>
__global__ void __launch_bounds__(kBeamThreads, kMinBlocks) beam_step_kernel(BeamKernelArgs k) {
  constexpr int kWarps = kBeamThreads / 32;
  const TrieView& trie = k.trie;
  const BeamStepArgs& a = k.a;
  // A query's blocks (k.cluster of them, a cluster) are consecutive; rank 0 settles the groups.
  const int n_cl = k.cluster > 1 ? k.cluster : 1;
  const long long b = blockIdx.x / n_cl;
  const int rank = int(blockIdx.x % n_cl);
  const int B = int(a.beams), G = int(a.groups), gs = B / G;
  const long long V = a.vocab;
  const bool table = V <= kCountTable;
  // Dynamic shared memory: C1's per-warp survivor buffers or C2's cache of one group's scores
  // (never at once, scratch_bytes), then the per-query arrays.
  extern __shared__ __align__(16) unsigned char smem_all[];
  unsigned char* scratch_smem = smem_all;
  unsigned char* smem = smem_all + scratch_bytes(kBeamThreads);
  float* lse = reinterpret_cast<float*>(smem);
  int* c0s = reinterpret_cast<int*>(lse + B);
  int* offs = c0s + B;
  int* chosen = offs + B + 1;
  int* ncs = chosen + B;  // children per beam
  float* bs = reinterpret_cast<float*>(ncs + B);  // running scores
  // Dense rows (k.use_dense): per beam its row's first token (-1: none) and its 256 bits.
  int* dfirst = reinterpret_cast<int*>(bs + B);
  unsigned* dbits = reinterpret_cast<unsigned*>(dfirst + (k.use_dense ? B : 0));
  float* pick_score = reinterpret_cast<float*>(dbits + (k.use_dense ? 8 * B : 0));
  int* pick_slot = reinterpret_cast<int*>(pick_score + 2 * gs);
  int* pick_child = pick_slot + 2 * gs;
  int* pick_token = pick_child + 2 * gs;
  int* pick_j = pick_token + 2 * gs;
  GroupLists lists{};
  unsigned short* counts = reinterpret_cast<unsigned short*>(pick_j + 2 * gs);
  if (k.use_lists) {  // lists between the picks and the counts (4-byte fields first)
    lists.lp = reinterpret_cast<float*>(pick_j + 2 * gs);
    lists.s0 = lists.lp + G * kListLen;
    lists.token = reinterpret_cast<int*>(lists.s0 + G * kListLen);
    lists.jl = lists.token + G * kListLen;
    lists.child = lists.jl + G * kListLen;
    lists.n = lists.child + G * kListLen;
    lists.full = lists.n + G;
    lists.state = lists.full + G;
    lists.dense = lists.state + G;
    counts = reinterpret_cast<unsigned short*>(lists.dense + G);
  }
  int* jac_cur = nullptr;  // the Jacobi pass's takes, [beams] each (16-byte aligned for its scans)
  int* jac_nxt = nullptr;
  if (k.use_jacobi) {
    jac_cur = reinterpret_cast<int*>((reinterpret_cast<unsigned long long>(counts) + 15) & ~15ull);
    jac_nxt = jac_cur + ((B + 3) & ~3);  // 16-byte aligned too: rounds read either with int4 loads
    counts = reinterpret_cast<unsigned short*>(jac_nxt + B);
  }
  __shared__ int bad_query;
  __shared__ int next_group;  // C1: the next group a builder warp takes
  __shared__ unsigned long long jac_changed[3];  // the Jacobi pass's changed groups, by round

  const float* rows = a.scores + b * a.input_beams * V;
  const int* nodes = a.nodes + b * B;
  const float* bscore = a.beam_scores + b * B;
  float* cand_lp = k.cand_lp + b * k.per_query;
  int* cand_token = k.cand_token + b * k.per_query;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  // ---- A: normalisers and candidate counts.
  const bool stamp = k.timing != nullptr && b == 0 && rank == 0 && threadIdx.x == 0;
  if (stamp) k.timing[0] = clock64();
  if (threadIdx.x == 0) { bad_query = 0; next_group = 0; }
  if (k.use_lists)
    for (int g = threadIdx.x; g < G; g += kBeamThreads) lists.state[g] = 0;
  if (table)
    for (int t = threadIdx.x; t < V; t += kBeamThreads) counts[t] = 0;
  if (a.logits && V <= 32 * kRowRegs) {
    // Rows of up to 256 scores: two rows per warp at once, each lane's share held in registers
    // (one round of loads for both passes); the same operations in the same order as below.
    for (int r0 = warp; r0 < a.input_beams; r0 += 2 * kWarps) {
      float v[2][kRowRegs];
      bool want[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = r0 + h * kWarps;
        want[h] = r < a.input_beams && (a.input_beams == 1 || nodes[r] >= 0);
        const float* row = rows + (long long)r * V;
#pragma unroll
        for (int q = 0; q < kRowRegs; ++q) {
          const int i = lane + 32 * q;
          v[h][q] = want[h] && i < V ? row[i] : -INFINITY;
        }
      }
      // Scores past the row are -inf: no maximum, no flag, exp 0 (the sums are the same).
      float ms[2], ss[2];
      bool ok[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        ok[h] = false;
        ms[h] = ss[h] = 0.0f;
        if (!want[h]) continue;  // the same on every lane
        const int r = r0 + h * kWarps;
        float m = -INFINITY;
        bool bad = false;
#pragma unroll
        for (int q = 0; q < kRowRegs; ++q) {
          bad |= !(v[h][q] < INFINITY);
          m = fmaxf(m, v[h][q]);
        }
        warp_max_any(m, bad);
        if (bad) {
          if (lane == 0) { raise(k, kErrNotFinite, b, r); bad_query = 1; }
          continue;
        }
        float s = 0;
        if (m != -INFINITY)
#pragma unroll
          for (int q = 0; q < kRowRegs; ++q) s += expf(v[h][q] - m);
        ms[h] = m;
        ss[h] = warp_sum(s);  // every lane
        ok[h] = true;
      }
      // Both rows' logarithms at once: lane h takes row h.
      if (lane < 2 && (lane ? ok[1] : ok[0])) lse[r0 + lane * kWarps] = row_lse(lane ? ms[1] : ms[0], lane ? ss[1] : ss[0]);
    }
  } else if (a.logits) {
    for (int r = warp; r < a.input_beams; r += kWarps) {
      if (a.input_beams != 1 && nodes[r] < 0) continue;
      const float* row = rows + (long long)r * V;
      float m = -INFINITY;
      bool bad = false;
      for (long long i = lane; i < V; i += 32) {
        const float v = row[i];
        bad |= !(v < INFINITY);
        m = fmaxf(m, v);
      }
      warp_max_any(m, bad);
      if (bad) {
        if (lane == 0) { raise(k, kErrNotFinite, b, r); bad_query = 1; }
        continue;
      }
      float s = 0;
      if (m != -INFINITY)
        for (long long i = lane; i < V; i += 32) s += expf(row[i] - m);
      s = warp_sum(s);  // every lane
      if (lane == 0) lse[r] = row_lse(m, s);
    }
  }
  // The last warps take the beams: they have the fewest rows to normalise above.
  for (int j = kBeamThreads - 1 - threadIdx.x; j < B; j += kBeamThreads) {
    const int node = nodes[j];
    int count = 0, c0 = 0;
    if (node >= trie.nodes) {
      raise(k, kErrNode, b, node);
      bad_query = 1;
    } else if (node >= 0 && !(a.group_done && a.group_done[b * G + j / gs])) {
      c0 = trie.child_start[node];
      const int nc = trie.child_start[node + 1] - c0;
      const bool ends = trie.terminal[node] >= 0;
      if (nc == 0 && !ends) { raise(k, kErrTrie, b, node); bad_query = 1; }
      else if (nc == 0 && a.end_token < 0) { raise(k, kErrFinishedNoEnd, b, j); bad_query = 1; }
      else count = nc + ((ends && a.end_token >= 0) ? 1 : 0);
    }
    c0s[j] = c0;
    bs[j] = bscore[j];
    if (k.use_dense) {  // the node's dense row, as trie_dense_row() finds it (a row per 32 edges)
      const int nc = count > 0 ? trie.child_start[node + 1] - c0 : 0;
      const unsigned* drow = trie.dense_rows + (long long)(c0 / kTrieDenseMinChildren) * kTrieDenseRowWords;
      const bool has = nc >= kTrieDenseMinChildren && drow[8] == unsigned(c0 + 1) && drow[11] == unsigned(nc);
      dfirst[j] = has ? int(drow[9]) : -1;
      if (has)
        for (int q = 0; q < 8; ++q) dbits[8 * j + q] = drow[q];
    }
    ncs[j] = node >= 0 && node < trie.nodes ? trie.child_start[node + 1] - trie.child_start[node] : 0;
    offs[j + 1] = count;  // turned into offsets below
  }
  __syncthreads();
  if (bad_query) return;
  if (warp == 0) {  // inclusive scan of the counts, 32 beams at a time
    int carry = 0;
    if (lane == 0) offs[0] = 0;
    for (int base = 0; base < B; base += 32) {
      const int j = base + lane;
      int v = j < B ? offs[j + 1] : 0;
      for (int o = 1; o < 32; o <<= 1) {
        const int n = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += n;
      }
      if (j < B) offs[j + 1] = carry + v;
      carry += __shfl_sync(0xffffffffu, v, 31);
    }
  }
  __syncthreads();
  if (offs[B] > k.per_query) {  // more candidates than trie.max_children allows: never write past the scratch
    if (threadIdx.x == 0) raise(k, kErrMaxChildren, b, offs[B]);
    return;
  }

  // ---- B: every candidate's log-probability and token (scratch), and with lists C1: each
  // group's top kListLen candidates by the unpenalised score s0 = lp + beam score, sorted. With
  // lists a warp does both for a group at a time (the groups in parallel); without, the block's
  // threads share the candidates.
  if (stamp) k.timing[1] = clock64();
  unsigned char* wbuf = scratch_smem + warp * kSurvivorBytes;
  const DenseBeams dense_beams{dfirst, dbits};
  // In a cluster, a block's lists are copied into the first block's (distributed shared memory)
  // once every block of the cluster runs (this barrier), and that block settles the groups.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (n_cl > 1) cooperative_groups::this_cluster().sync();
#endif
  auto build = [&](int g) {
    // SEMID_DEBUG_BEAM: the phases of query 0's group 0 build
    long long* build_stamps = k.timing && b == 0 && g == 0 ? k.timing + 6 : nullptr;
    build_group_list(k, b, g, gs, V, rows, lse, offs, c0s, ncs, bs, cand_lp, cand_token,
                     reinterpret_cast<float*>(wbuf), reinterpret_cast<int*>(wbuf + kSurvivorCap * 4),
                     reinterpret_cast<int*>(wbuf + kSurvivorCap * 8), lists, dense_beams, k.use_dense,
                     lane, &bad_query, build_stamps);
    __syncwarp();
    __threadfence_block();  // every lane's list entries (shared) and candidates (global), then the state
    __syncwarp();
    if (lane == 0) atomicExch(lists.state + g, 2);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (n_cl > 1 && rank != 0) copy_list_to_leader(lists, g, lane);  // the first block settles the groups
#endif
  };
  int g_start = 0;  // the first group C2's sequential pass runs
  int n_chosen = 0;  // tokens taken so far (without the count table: in chosen[])
  if (k.use_lists) {
    // Warps 1.. build the groups' lists, taking the groups in order, while warp 0 runs C2
    // behind them, waiting for each group's list. The builders wait for nothing, so every list
    // gets built. No block barrier follows. With the Jacobi pass, every warp builds, then every
    // warp settles groups, and warp 0 runs C2 from the first group that pass left.
    if (warp != 0 || k.use_jacobi) {
      for (;;) {
        int g = 0;
        if (lane == 0) g = rank + n_cl * atomicAdd(&next_group, 1);  // this block's groups, in order
        g = __shfl_sync(0xffffffffu, g, 0);
        if (g >= G) break;
        build(g);
      }
      if (!k.use_jacobi) return;
    }
    if (k.use_jacobi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      if (n_cl > 1) {
        if (rank != 0 && threadIdx.x == 0 && bad_query) *cooperative_groups::this_cluster().map_shared_rank(&bad_query, 0) = 1;
        cooperative_groups::this_cluster().sync();  // every list written (and a build's error flagged)
        if (rank != 0) return;
      } else {
        __syncthreads();
      }
#else
      __syncthreads();
#endif
      if (bad_query) return;
      if (stamp) k.timing[2] = clock64();
      int rounds = 0;
      g_start = jacobi_group_pass<kWarps>(k, b, gs, V, lists, bs, nodes, jac_cur, jac_nxt, jac_changed, warp, lane, &rounds);
      if (stamp) { k.timing[4] = rounds; k.timing[5] = g_start; }
      if (warp != 0) return;
      // The settled groups' takes into the counts (or chosen[]) the sequential pass reads.
      for (int base = 0; g_start < G && base < g_start * gs; base += 32) {
        const int i = base + lane;
        const int tok = i < g_start * gs ? jac_cur[i] : -1;
        if (table) {
          const unsigned same = __match_any_sync(0xffffffffu, tok);
          if (tok >= 0 && __ffs(int(same)) - 1 == lane) counts[tok] += (unsigned short)__popc(same);
        } else {
          const unsigned m = __ballot_sync(0xffffffffu, tok >= 0);
          if (tok >= 0) chosen[n_chosen + __popc(m & ((1u << lane) - 1u))] = tok;
          n_chosen += __popc(m);
        }
        __syncwarp();
      }
    }
  } else {
    const int total = offs[B];
    constexpr int kUnrollB = 8;  // loads of several candidates in flight per thread
    for (int base = threadIdx.x; base < total; base += kBeamThreads * kUnrollB) {
      int js[kUnrollB], ts[kUnrollB];
      float xs[kUnrollB];
#pragma unroll
      for (int u = 0; u < kUnrollB; ++u) {
        const int slot = base + u * kBeamThreads;
        js[u] = -1;
        ts[u] = a.end_token;
        if (slot >= total) continue;
        int lo = 0, hi = B - 1;  // the beam: last j with offs[j] <= slot
        while (lo < hi) {
          const int mid = (lo + hi + 1) >> 1;
          if (offs[mid] <= slot) lo = mid; else hi = mid - 1;
        }
        js[u] = lo;
        const int e = slot - offs[lo];
        if (e < ncs[lo]) {
          ts[u] = trie.child_token[c0s[lo] + e];
          if (unsigned(ts[u]) >= unsigned(V)) {  // reported; read token 0 and offer no candidate
            raise(k, kErrToken, b, ts[u]);
            bad_query = 1;
            ts[u] = 0;
            js[u] = -2 - lo;
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kUnrollB; ++u)
        if (js[u] >= 0) xs[u] = rows[(long long)(a.input_beams == 1 ? 0 : js[u]) * V + ts[u]];
#pragma unroll
      for (int u = 0; u < kUnrollB; ++u) {
        if (js[u] == -1) continue;
        const bool bad_token = js[u] < -1;
        if (bad_token) js[u] = -2 - js[u];
        const int slot = base + u * kBeamThreads, r = a.input_beams == 1 ? 0 : js[u];
        float lp = bad_token ? -INFINITY : xs[u];
        if (a.logits && !bad_token) lp = __fsub_rn(lp, lse[r]);
        if (isnan(lp)) { raise(k, kErrNotFinite, b, r); bad_query = 1; }
        cand_lp[slot] = lp;
        cand_token[slot] = ts[u];
      }
    }
    __syncthreads();
    if (bad_query || warp != 0) return;
  }
  if (stamp && !k.use_jacobi) k.timing[2] = clock64();

  // ---- C2: groups in order, one warp. With a list whose entries keep at least 2 * gs of their
  // scores under the penalty of the tokens chosen so far, the group's picks are the list's top
  // 2 * gs (penalty included). Otherwise the group's candidates are ranked by successive maxima,
  // scored once (penalty included) into shared memory when they fit and no list builder is
  // using that memory, else rescored from the scratch each round.
  float* cache_score = reinterpret_cast<float*>(scratch_smem);
  long long* cache_flat = reinterpret_cast<long long*>(scratch_smem + kGroupCache * 4);
  for (int g = g_start; g < G; ++g) {
    const int first = g * gs;
    int n_picks = 0;
    ListPicks walk{false, false, -1, 0, 0};  // this lane's share of the group's walk
    if (k.use_lists) {  // wait for group g's list
      if (lane == 0) {
        const volatile int* state = lists.state + g;
        while (*state != 2) __nanosleep(32);
      }
      __syncwarp();
      __threadfence_block();
      auto count_of = [&](int t) {
        int f = 0;
        if (table) f = counts[t];
        else for (int c = 0; c < n_chosen; ++c) f += chosen[c] == t;
        return f;
      };
      walk = list_group_picks(k, b, g, gs, V, lists, bs, nodes, count_of, lane);
    }
    if (!walk.walked) {
      if (k.use_lists && lists.dense[g])  // a dense group's candidates were not written: write them now
        materialise_dense_group(k, dense_beams, g, gs, rows, lse, offs, ncs, cand_lp, cand_token, lane);
      const int lo_slot = offs[first], hi_slot = offs[first + gs];
      const bool done = a.group_done && a.group_done[b * G + g];
      const int range = done ? 0 : hi_slot - lo_slot;
      // (With lists the cache's memory is the builders' survivor buffers, still in use.)
      const bool cached = !k.use_lists && range <= kGroupCache;
      auto score_of = [&](int i, int& jl, float& s, long long& flat) {
        const int slot = lo_slot + i;
        while (offs[first + jl + 1] <= slot) ++jl;
        const int t = cand_token[slot];
        float lp = cand_lp[slot];
        int f = 0;
        if (table) f = counts[t];
        else for (int c = 0; c < n_chosen; ++c) f += chosen[c] == t;
        if (f) lp = __fsub_rn(lp, __fmul_rn(a.penalty, float(f)));
        s = __fadd_rn(lp, bs[first + jl]);
        flat = (long long)jl * V + t;
      };
      if (cached) {
        constexpr int kUnrollC = 8;
        int jl = 0;
        for (int base = lane; base < range; base += 32 * kUnrollC) {
          int ts[kUnrollC];
          float lps[kUnrollC];
#pragma unroll
          for (int u = 0; u < kUnrollC; ++u) {
            const int i = base + 32 * u;
            if (i < range) { ts[u] = cand_token[lo_slot + i]; lps[u] = cand_lp[lo_slot + i]; }
          }
#pragma unroll
          for (int u = 0; u < kUnrollC; ++u) {
            const int i = base + 32 * u;
            if (i >= range) continue;
            while (offs[first + jl + 1] <= lo_slot + i) ++jl;
            const int t = ts[u];
            float lp = lps[u];
            int f = 0;
            if (table) f = counts[t];
            else for (int c = 0; c < n_chosen; ++c) f += chosen[c] == t;
            if (f) lp = __fsub_rn(lp, __fmul_rn(a.penalty, float(f)));
            cache_score[i] = __fadd_rn(lp, bs[first + jl]);
            cache_flat[i] = (long long)jl * V + t;
          }
        }
        __syncwarp();
      }
      float prev_s = INFINITY;
      long long prev_f = -1;
      for (int round = 0; round < 2 * gs && range > 0; ++round) {
        float best_s = -INFINITY;
        long long best_f = LLONG_MAX;
        int best_i = -1;
        int jl = 0;
        for (int i = lane; i < range; i += 32) {
          float sc;
          long long flat;
          if (cached) { sc = cache_score[i]; flat = cache_flat[i]; }
          else score_of(i, jl, sc, flat);
          if (!(sc > -INFINITY) || !better(prev_s, prev_f, sc, flat)) continue;
          if (better(sc, flat, best_s, best_f)) { best_s = sc; best_f = flat; best_i = i; }
        }
        for (int o = 16; o; o >>= 1) {
          const float os = __shfl_xor_sync(0xffffffffu, best_s, o);
          const long long of = __shfl_xor_sync(0xffffffffu, best_f, o);
          const int oi = __shfl_xor_sync(0xffffffffu, best_i, o);
          if (better(os, of, best_s, best_f)) { best_s = os; best_f = of; best_i = oi; }
        }
        if (best_i < 0) break;  // every lane agrees after the butterfly
        if (lane == 0) { pick_score[n_picks] = best_s; pick_slot[n_picks] = lo_slot + best_i; }
        ++n_picks;
        prev_s = best_s;
        prev_f = best_f;
      }
      __syncwarp();
      for (int p = lane; p < n_picks; p += 32) {  // each pick's beam, child node and token, in parallel
        const int slot = pick_slot[p];
        int jl = 0;
        while (offs[first + jl + 1] <= slot) ++jl;
        const int j = first + jl, e = slot - offs[j];
        pick_j[p] = j;
        pick_child[p] = e < ncs[j] ? trie.child_node[c0s[j] + e] : -1;
        pick_token[p] = cand_token[slot];
      }
    }
    __syncwarp();
    if (!walk.walked && 2 * gs <= 32) {  // the scan's picks, one a lane in rank order
      const bool have = lane < n_picks;
      walk = walk_group_picks(k, b, g, gs, nodes, lane, have, lane, have ? pick_child[lane] : 0,
                              have ? pick_token[lane] : 0, have ? pick_j[lane] : 0, have ? pick_score[lane] : 0.0f);
    }
    if (walk.walked) {
      // Counts: lanes holding the same token (non-takers hold -1, never a token): the lowest adds all.
      const unsigned same_tok = __match_any_sync(0xffffffffu, walk.tok);
      if (table) {
        if (walk.take && __ffs(int(same_tok)) - 1 == lane) counts[walk.tok] += (unsigned short)__popc(same_tok);
      } else if (walk.take) {
        chosen[n_chosen + walk.before] = walk.tok;
      }
      n_chosen += walk.filled;
      __syncwarp();
      continue;
    }
    if (lane == 0) {
      int filled = 0, fin = 0;
      for (int rank = 0; rank < n_picks && filled < gs; ++rank) {
        const int j = pick_j[rank];
        if (pick_child[rank] < 0) {  // the end token
          if (rank >= gs) continue;
          const long long o = (b * G + g) * gs + fin;
          a.finished_parent[o] = j;
          a.finished_score[o] = pick_score[rank];
          a.finished_node[o] = nodes[j];
          ++fin;
          continue;
        }
        const long long o = b * B + first + filled;
        const int t = pick_token[rank];
        a.next_nodes[o] = pick_child[rank];
        a.next_scores[o] = pick_score[rank];
        a.next_parents[o] = j;
        a.next_tokens[o] = t;
        if (table) counts[t] += 1;
        else chosen[n_chosen] = t;
        ++n_chosen;
        ++filled;
      }
      a.finished_count[b * G + g] = fin;
      for (int jl = filled; jl < gs; ++jl) {
        const long long o = b * B + first + jl;
        a.next_nodes[o] = -1; a.next_scores[o] = -INFINITY; a.next_parents[o] = -1; a.next_tokens[o] = -1;
      }
    }
    n_chosen = __shfl_sync(0xffffffffu, n_chosen, 0);
    __syncwarp();
  }
  if (stamp) k.timing[3] = clock64();
}

__global__ void check_tokens_kernel(TrieView trie, long long vocab, int* error, int* max_children) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e < trie.edges) {
    const int t = trie.child_token[e];
    if (t < 0 || t >= vocab) raise(error, kErrToken, -1, t);
  }
  if (max_children == nullptr) return;
  // Most children of any node: a warp maximum first, then one atomic per warp.
  int c = e < trie.nodes ? trie.child_start[e + 1] - trie.child_start[e] : 0;
  for (int o = 16; o; o >>= 1) c = max(c, __shfl_xor_sync(0xffffffffu, c, o));
  if ((threadIdx.x & 31) == 0 && c > 0) atomicMax(max_children, c);
}

/**
 * The step's error words as the host sees them without a copy: mapped pinned memory the kernel
 * writes only when it raises an error (so a clean step needs no copy back, only the
 * synchronisation). device() is nullptr where mapped memory cannot be had; the step then copies
 * the device words back (PinnedWords).
 */
class ErrorMirror {
 public:
  ~ErrorMirror() {
    if (host_) cudaFreeHost(const_cast<int*>(host_));
    cudaGetLastError();
  }
  int* device() {
    if (!host_ && !failed_) {
      int* h = nullptr;
      failed_ = cudaHostAlloc(reinterpret_cast<void**>(&h), 4 * sizeof(int), cudaHostAllocMapped) != cudaSuccess;
      host_ = h;
      failed_ = failed_ || cudaHostGetDevicePointer(reinterpret_cast<void**>(&dev_), h, 0) != cudaSuccess;
      if (failed_) {
        if (h) cudaFreeHost(h);
        host_ = nullptr;
        dev_ = nullptr;
        cudaGetLastError();
      } else {
        clear();
      }
    }
    return dev_;
  }
  /** The words (after the step's stream is synchronised); cleared once read, if they held an error. */
  void take(int (&out)[4]) {
    for (int i = 0; i < 4; ++i) out[i] = host_[i];
    if (out[0] != 0) clear();
  }

 private:
  void clear() {
    for (int i = 0; i < 4; ++i) host_[i] = 0;
  }
  volatile int* host_ = nullptr;
  int* dev_ = nullptr;
  bool failed_ = false;
};

/** Four words read back from the device through pinned host memory (pageable if that fails). */
class PinnedWords {
 public:
  ~PinnedWords() {
    if (host_) cudaFreeHost(host_);
    cudaGetLastError();
  }
  void read(const int* device_words, int (&out)[4]) {
    if (!host_ && !failed_) {
      failed_ = cudaHostAlloc(reinterpret_cast<void**>(&host_), 4 * sizeof(int), cudaHostAllocDefault) != cudaSuccess;
      if (failed_) { host_ = nullptr; cudaGetLastError(); }
    }
    if (!host_) {
      SEMID_CUDA_CHECK(cudaMemcpy(out, device_words, 4 * sizeof(int), cudaMemcpyDeviceToHost));
      return;
    }
    SEMID_CUDA_CHECK(cudaMemcpyAsync(host_, device_words, 4 * sizeof(int), cudaMemcpyDeviceToHost, 0));
    SEMID_CUDA_CHECK(cudaStreamSynchronize(0));
    for (int i = 0; i < 4; ++i) out[i] = host_[i];
  }

 private:
  int* host_ = nullptr;
  bool failed_ = false;
};

static void throw_device_error(const int* err, long long vocab) {
  const std::string q = std::to_string(err[1]);
  switch (err[0]) {
    case kOk: return;
    case kErrNotFinite:
      throw Error("ERR_SEMID_NOT_FINITE", "scores hold NaN or +Infinity for query " + q + " (row " + std::to_string(err[2]) + ")");
    case kErrTrie:
      throw Error("ERR_SEMID_TRIE", "Trie node " + std::to_string(err[2]) + " has no children and ends no ID: the trie is malformed");
    case kErrFinishedNoEnd:
      throw Error("ERR_SEMID_TRIE", "Beam " + std::to_string(err[2]) + " of query " + q + " is at a finished ID and there is no end token");
    case kErrMaxChildren:
      throw Error("ERR_SEMID_INVALID_ARG", "query " + q + " has " + std::to_string(err[2]) +
                                               " candidates, more than trie.max_children allows");
    case kErrNode:
      throw Error("ERR_SEMID_INVALID_ARG", "nodes holds " + std::to_string(err[2]) + ", beyond the trie's nodes");
    default:
      throw Error("ERR_SEMID_INVALID_ARG", "the trie holds token " + std::to_string(err[2]) +
                                               ", outside the vocabulary of " + std::to_string(vocab) + " scores per row");
  }
}

static std::size_t beam_smem_bytes(const BeamStepArgs& a, bool lists, bool jacobi, bool dense) {
  const std::size_t B = a.beams, G = a.groups, gs = a.beams / a.groups;
  return 2 * B * sizeof(float) + (4 * B + 1) * sizeof(int) + 2 * gs * (sizeof(float) + 4 * sizeof(int)) +
         (dense ? 9 * B * sizeof(int) : 0) +
         (lists ? G * kListLen * (2 * sizeof(float) + 3 * sizeof(int)) + 4 * G * sizeof(int) : 0) +
         (jacobi ? 16 + (((B + 3) & ~std::size_t(3)) + B) * sizeof(int) : 0) +
         (a.vocab <= kCountTable ? std::size_t(a.vocab) * sizeof(unsigned short) : 0);
}

/**
 * Shared memory a launch of `threads` may use (scratch and per-query arrays): the default 48 KiB
 * up to 512 threads; 1,024 threads (one block an SM) opt in to up to 160 KiB, as far as the
 * device allows a block (`optin_bytes`: 227 KiB on an H100, 64 KiB on a T4).
 */
static std::size_t beam_smem_limit(int threads, int optin_bytes) {
  const std::size_t base = 48 * 1024;
  return threads == 1024 ? std::max(base, std::min<std::size_t>(160 * 1024, std::size_t(std::max(optin_bytes, 0)))) : base;
}

/** A launch of the step kernel: threads per block (a query) and the blocks per SM its register budget allows. */
struct BeamLaunch {
  int threads = 256;
  int min_blocks = 1;
  std::size_t smem_limit = 48 * 1024;  // shared memory the launch may use (beam_smem_limit)
};

/**
 * The launch for `batch` queries. While every query gets an SM to itself, one query's latency
 * sets the time: 1,024 threads (64 registers, a few spilled; 32 warps build the groups' lists in
 * one round where 16 took two), with a cluster of blocks per query where SMs are left over
 * (beam_cluster_size); up to two queries an SM, 512 threads and the compiler's registers.
 * Beyond, more queries in flight pay: 256 threads x 4 blocks an SM (64 registers, a few
 * spilled; no Jacobi pass, the sequential pass runs behind the builders). On an H100 at batch
 * 1,024, 512 x 2 with the Jacobi pass measured 0.328-0.348 ms against 0.341-0.349 for 256 x 4;
 * once the register build of dense pairs made lists cheap, 256 x 4 measured 0.199-0.201 ms
 * against 0.213-0.236 for 512 x 2 on an H200. SEMID_CUDA_BEAM_BLOCK (256, 512, 1024) and
 * SEMID_CUDA_BEAM_MIN_BLOCKS (1, 2, 3 or 4) override (A/B switches; every launch selects the
 * same beams).
 */
static BeamLaunch beam_launch(const BeamStepArgs& a, bool dense) {
  const i64 batch = a.batch;
  BeamLaunch l;
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    cudaGetLastError();
    sms = 1;
  }
  int optin = 0;
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
    cudaGetLastError();
    optin = 0;
  }
  if (batch > 2 * i64(sms)) { l.threads = 256; l.min_blocks = 4; }
  else if (batch > i64(sms)) { l.threads = 512; l.min_blocks = 1; }
  else { l.threads = 1024; l.min_blocks = 1; }
  if (const char* env = std::getenv("SEMID_CUDA_BEAM_BLOCK")) {
    const int t = std::atoi(env);
    l.threads = t == 1024 || t == 512 ? t : 256;
  }
  if (const char* env = std::getenv("SEMID_CUDA_BEAM_MIN_BLOCKS")) l.min_blocks = std::atoi(env);
  // A larger block's larger scratch must leave room for the per-query arrays (for 1,024 threads,
  // with the lists and the Jacobi pass where groups are small enough for lists: else 512 threads
  // with lists serve better).
  const bool listable = 2 * (a.beams / a.groups) <= kListLen;
  if (l.threads == 1024 && beam_smem_bytes(a, listable, listable, dense && listable) + scratch_bytes(1024) + 64 > beam_smem_limit(1024, optin))
    l.threads = 512;
  if (l.threads == 512 && beam_smem_bytes(a, false, false, false) + scratch_bytes(512) + 64 > beam_smem_limit(512, optin)) l.threads = 256;
  l.smem_limit = beam_smem_limit(l.threads, optin);
  if (l.threads == 1024) l.min_blocks = 1;                                             // built: 1024 x 1
  if (l.threads == 512 && l.min_blocks != 2) l.min_blocks = 1;                         // 512 x {1, 2}
  if (l.threads == 256 && l.min_blocks != 3 && l.min_blocks != 4) l.min_blocks = 1;    // 256 x {1, 3, 4}
  return l;
}

/**
 * Whether C1's per-group lists are used: a group's 2 * gs picks fit a list (gs <= 16), the
 * block's shared memory stays within the launch's limit, and SEMID_CUDA_BEAM_LISTS is not 0
 * (an A/B and parity switch; both ways select the same beams).
 */
static bool beam_lists_fit(const BeamStepArgs& a, const BeamLaunch& l, bool dense) {
  const char* env = std::getenv("SEMID_CUDA_BEAM_LISTS");
  if (env && env[0] == '0') return false;
  const i64 gs = a.beams / a.groups;
  return 2 * gs <= kListLen && gs * a.vocab < INT_MAX &&
         beam_smem_bytes(a, true, false, dense) + scratch_bytes(l.threads) + 64 <= l.smem_limit;
}

/**
 * Whether list builds may read dense nodes' rows contiguously (beam_dense_lists.cuh): the trie
 * has a device copy of its dense rows, and SEMID_CUDA_BEAM_DENSE is not 0 (an A/B and parity
 * switch; every setting selects the same beams; 2: without the register build of small groups,
 * beam_dense_pair.cuh). Used only with lists, where the shared memory allows.
 */
static bool beam_dense_wanted(const TrieView& trie) {
  const char* env = std::getenv("SEMID_CUDA_BEAM_DENSE");
  return trie.dense_rows != nullptr && !(env && env[0] == '0');
}
static bool beam_dense_pair_wanted() {
  const char* env = std::getenv("SEMID_CUDA_BEAM_DENSE");
  return !(env && env[0] == '2');
}

/**
 * Whether the groups are settled by the Jacobi pass (beam_jacobi.cuh) before the sequential
 * pass: with lists, 2 to 64 groups, up to 256 beams, rows per beam (a search's first step shares
 * one row: every group competes for the same tokens and the pass would hand over at once), the
 * 512- and 1,024-thread launches (16 or 32 warps share a query's groups; with 256 threads, 4 queries an SM, the
 * pass's extra instructions cost more than its parallelism gained: 0.329 against 0.317 ms at
 * batch 1,024 on an H100), the shared memory allows.
 * SEMID_CUDA_BEAM_JACOBI=0 turns it off, =2 forces it on shared rows and 256-thread launches too
 * (A/B and parity switches; every setting selects the same beams).
 */
static bool beam_jacobi_fits(const BeamStepArgs& a, const BeamLaunch& l, bool lists, bool dense) {
  const char* env = std::getenv("SEMID_CUDA_BEAM_JACOBI");
  const int mode = env ? std::atoi(env) : 1;
  if (!lists || mode == 0) return false;
  if (a.groups < 2 || a.groups > kJacobiMaxGroups || a.beams > kJacobiMaxBeams) return false;
  if (mode != 2 && (a.input_beams == 1 || l.threads < 512)) return false;
  return beam_smem_bytes(a, true, true, dense) + scratch_bytes(l.threads) + 64 <= l.smem_limit;
}

/**
 * Blocks per query: a thread-block cluster of up to 8 (SEMID_CUDA_BEAM_CLUSTER caps it; 0 or 1:
 * none) where the Jacobi pass settles the groups on a 1,024-thread launch, the device holds
 * every query's cluster at once (cudaOccupancyMaxActiveClusters: a cluster's blocks share a
 * GPC), each block has a group to build, and the kernel's code for this device has clusters
 * (sm_90 and up; `kernel_arch` its binary's version). The groups' list builds, most of a
 * query's time while one SM holds it, then run on several SMs.
 */
template <int kThreads, int kMinBlocks>
static int beam_cluster_size(const BeamStepArgs& a, const BeamLaunch& l, bool jacobi, int kernel_arch, std::size_t smem) {
  const char* env = std::getenv("SEMID_CUDA_BEAM_CLUSTER");
  const int most = env ? std::atoi(env) : 8;
  if (!jacobi || l.threads != kThreads || kernel_arch < 90 || most < 2) return 1;
  int r = 1;
  for (int c = 2; c <= std::min(most, 8) && c <= a.groups; c *= 2) {
    // Clusters the device holds at once (a cluster's blocks share a GPC): every query's at once.
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(unsigned(a.batch * c));
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = smem;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = unsigned(c);
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    int clusters = 0;
    if (cudaOccupancyMaxActiveClusters(&clusters, beam_step_kernel<kThreads, kMinBlocks>, &cfg) != cudaSuccess) {
      cudaGetLastError();
      break;
    }
    if (a.batch <= clusters) r = c;
  }
  return r;
}

/** The binary version (e.g. 90) of a build of the kernel as loaded for the current device; 0 if unknown. */
template <int kThreads, int kMinBlocks>
static int beam_kernel_arch() {
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, beam_step_kernel<kThreads, kMinBlocks>) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return attr.binaryVersion;
}

/** Opts a build of the kernel in to `smem` bytes of dynamic shared memory where that is past 48 KiB. */
template <int kThreads, int kMinBlocks>
static void opt_in_smem(std::size_t smem) {
  if (smem > 48 * 1024) {
    thread_local int opted_device = -1;  // per build of the kernel: the attribute holds per device
    thread_local std::size_t opted_bytes = 0;
    int dev = 0;
    SEMID_CUDA_CHECK(cudaGetDevice(&dev));
    if (dev != opted_device || smem > opted_bytes) {
      SEMID_CUDA_CHECK(cudaFuncSetAttribute(beam_step_kernel<kThreads, kMinBlocks>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
      opted_device = dev;
      opted_bytes = smem;
    }
  }
}

/** Launches one build of the kernel, opting it in to more than 48 KiB of shared memory first where it needs it. */
template <int kThreads, int kMinBlocks>
static void launch_beam_kernel(unsigned grid, std::size_t smem, const BeamKernelArgs& args) {
  opt_in_smem<kThreads, kMinBlocks>(smem);
  beam_step_kernel<kThreads, kMinBlocks><<<grid, kThreads, smem>>>(args);
}

/**
 * Launches the kernel with args.cluster blocks per query as thread-block clusters. False (and
 * nothing launched, the error cleared) where the device cannot run such clusters.
 */
template <int kThreads, int kMinBlocks>
static bool launch_beam_cluster(unsigned queries, std::size_t smem, const BeamKernelArgs& args) {
  opt_in_smem<kThreads, kMinBlocks>(smem);
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(queries * unsigned(args.cluster));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = 0;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = unsigned(args.cluster);
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  if (cudaLaunchKernelEx(&cfg, beam_step_kernel<kThreads, kMinBlocks>, args) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return true;
}

}  // namespace cuda

void beam_step_cuda_device(const TrieView& trie, const BeamStepArgs& a, const CancelFlag& cancel) {
  validate_beam_step(trie, a);
  cuda::use_device();
  cancel.check();
  // The error words stay zero between successful steps: cleared only after an error (or a
  // max-children count) left something there. The step's errors reach the host through a mapped
  // mirror (no copy back); the count and the fallback are read back through pinned memory.
  thread_local cuda::DeviceBuffer<int> err;
  thread_local bool err_dirty = true;
  thread_local cuda::PinnedWords err_host;
  thread_local cuda::ErrorMirror err_mirror;
  thread_local cuda::DeviceBuffer<float> lp_buf;
  thread_local cuda::DeviceBuffer<int> token_buf;
  if (err.size() < 4) { err.resize(4); err_dirty = true; }
  if (err_dirty) SEMID_CUDA_CHECK(cudaMemset(err.get(), 0, 4 * sizeof(int)));
  err_dirty = true;  // until a read-back shows them clear
  auto read_err = [&](int (&out)[4]) {
    err_host.read(err.get(), out);
    err_dirty = out[0] != 0 || out[1] != 0 || out[2] != 0 || out[3] != 0;
  };
  i64 max_children = trie.max_children;
  int host_err[4];
  int* mirror = nullptr;  // the step's mapped error words, when it has them
  bool counted = false;   // the max-children count left a word set
  if (max_children <= 0 && trie.nodes > 0) {
    // Unknown: count it (and check every token) first. Otherwise the step checks the tokens
    // it reads, as the CPU step does.
    const i64 n = std::max(trie.edges, trie.nodes);
    cuda::check_tokens_kernel<<<unsigned((n + 255) / 256), 256>>>(trie, a.vocab, err.get(), err.get() + 3);
    SEMID_CUDA_LAUNCH_CHECK();
    read_err(host_err);
    cuda::throw_device_error(host_err, a.vocab);
    max_children = host_err[3];
    counted = err_dirty;
  }
  if (a.batch > 0) {
    // Candidates per beam: its children and the end token. Not capped at the vocabulary: a trie
    // with tokens beyond it has nodes with more children, and the step must reach its error.
    const i64 per_query = a.beams * (max_children + 1);
    const std::size_t need = static_cast<std::size_t>(a.batch * per_query);
    if (lp_buf.size() < need) { lp_buf.resize(need); token_buf.resize(need); }
    bool dense = cuda::beam_dense_wanted(trie);
    const cuda::BeamLaunch launch = cuda::beam_launch(a, dense);
    bool lists = cuda::beam_lists_fit(a, launch, dense);
    if (!lists && dense) {  // the lists without the dense rows' shared arrays, where those did not fit
      dense = false;
      lists = cuda::beam_lists_fit(a, launch, false);
    }
    dense = dense && lists;
    const bool jacobi = cuda::beam_jacobi_fits(a, launch, lists, dense);
    const std::size_t smem = cuda::scratch_bytes(launch.threads) + cuda::beam_smem_bytes(a, lists, jacobi, dense);
    static const bool debug = std::getenv("SEMID_DEBUG_BEAM") != nullptr;
    thread_local cuda::DeviceBuffer<long long> stamps;
    if (debug && stamps.size() < 12) stamps.resize(12);
    if (debug) SEMID_CUDA_CHECK(cudaMemset(stamps.get(), 0, 12 * sizeof(long long)));
    // SEMID_CUDA_BEAM_COPY_ERRORS=1: copy the error words back after every step (A/B switch).
    const bool copy_errors = std::getenv("SEMID_CUDA_BEAM_COPY_ERRORS") != nullptr;
    mirror = copy_errors ? nullptr : err_mirror.device();
    cuda::BeamKernelArgs args{trie, a, per_query, lp_buf.get(), token_buf.get(), err.get(), mirror,
                              debug ? stamps.get() : nullptr, lists, jacobi, dense,
                              dense && cuda::beam_dense_pair_wanted(), 1};
    const unsigned grid = unsigned(a.batch);
    if (launch.threads == 1024) {
      static thread_local int arch_device = -1, arch = 0;  // the kernel's binary version on this device
      int dev = 0;
      SEMID_CUDA_CHECK(cudaGetDevice(&dev));
      if (dev != arch_device) { arch = cuda::beam_kernel_arch<1024, 1>(); arch_device = dev; }
      cuda::opt_in_smem<1024, 1>(smem);  // before the cluster occupancy query
      args.cluster = cuda::beam_cluster_size<1024, 1>(a, launch, jacobi, arch, smem);
      if (args.cluster == 1 || !cuda::launch_beam_cluster<1024, 1>(grid, smem, args)) {
        args.cluster = 1;
        cuda::launch_beam_kernel<1024, 1>(grid, smem, args);
      }
    }
    else if (launch.threads == 512 && launch.min_blocks == 2) cuda::launch_beam_kernel<512, 2>(grid, smem, args);
    else if (launch.threads == 512) cuda::launch_beam_kernel<512, 1>(grid, smem, args);
    else if (launch.min_blocks == 4) cuda::launch_beam_kernel<256, 4>(grid, smem, args);
    else if (launch.min_blocks == 3) cuda::launch_beam_kernel<256, 3>(grid, smem, args);
    else cuda::launch_beam_kernel<256, 1>(grid, smem, args);
    SEMID_CUDA_LAUNCH_CHECK();
    if (debug) {
      long long t[12];
      stamps.download(t, 12);
      std::fprintf(stderr,
                   "semid beam step (block 0, cycles; %d block(s) a query): normalisers %lld, candidates + lists %lld, groups %lld "
                   "(jacobi %d: %lld rounds, sequential from group %lld); group 0's list: pass 1 %lld, "
                   "threshold %lld, pass 2 %lld, ranking %lld (%lld survivors), started %lld after the normalisers\n",
                   args.cluster, t[1] - t[0], t[2] - t[1], t[3] - t[2], int(jacobi), t[4], t[5], t[7] - t[6], t[8] - t[7],
                   t[9] - t[8], t[10] - t[9], t[11], t[6] - t[1]);
    }
  }
  if (mirror) {  // every error the step raised is in the mirror: no copy back
    SEMID_CUDA_CHECK(cudaStreamSynchronize(0));
    err_mirror.take(host_err);
    host_err[3] = 0;
    err_dirty = host_err[0] != 0 || counted;
  } else {
    read_err(host_err);  // synchronises
  }
  cuda::throw_device_error(host_err, a.vocab);
}

}  // namespace semid
