// Trie-constrained diverse beam search step on the GPU (semantics in semid/beam.h), one block per
// query in three phases:
//   A. all warps: the log-normaliser of each row an active beam reads (a warp per row), and each
//      beam's candidate count (children, plus the end token where an ID ends);
//   B. all threads: every candidate's log-probability and token, written once to a scratch area
//      (candidates of one group are contiguous, since a group's beams are);
//   C. one warp, group by group: the group's top 2 * group_size candidates as successive maxima
//      in the (score desc, flat index asc) order, scoring from the scratch with the penalty of the
//      tokens earlier groups chose (a per-query count table in shared memory), then one lane walks
//      them exactly as the CPU does. No block-wide barrier inside the group loop.
// Scores use float32 operations without contraction (__fsub_rn, __fmul_rn, __fadd_rn), so CPU
// and GPU agree bit for bit on log-prob inputs.
#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cuda_check.cuh"
#include "semid/beam.h"
#include "semid/cuda.h"

namespace semid {
namespace cuda {

constexpr int kBeamThreads = 256;
constexpr int kWarps = kBeamThreads / 32;
constexpr int kCountTable = 4096;  // vocab up to this: chosen-token counts in a shared table
constexpr int kGroupCache = 1024;  // a group's scored candidates kept in shared memory up to this

// Device-side failures, reported back as semid::Error.
enum : int { kOk = 0, kErrNotFinite = 1, kErrTrie = 2, kErrFinishedNoEnd = 3, kErrNode = 4, kErrToken = 5 };

struct BeamKernelArgs {
  TrieView trie;
  BeamStepArgs a;
  long long per_query;  // scratch candidates per query
  float* cand_lp;       // [batch, per_query]
  int* cand_token;      // [batch, per_query]
  int* error;           // [3]: code, query, detail
  long long* timing;    // optional [4] clock64 stamps of block 0 (SEMID_DEBUG_BEAM)
};

__device__ __forceinline__ bool better(float s1, long long f1, float s2, long long f2) {
  return s1 > s2 || (s1 == s2 && f1 < f2);
}

__device__ void raise(int* error, int code, long long query, long long detail) {
  if (atomicCAS(error, 0, code) == 0) {
    error[1] = int(query);
    error[2] = int(detail);
  }
}

// Dynamic shared memory: lse[beams] floats, c0[beams], offs[beams + 1], chosen[beams], nc[beams],
// pick_score[2 gs], pick_slot[2 gs], counts[vocab] (16-bit, when vocab <= kCountTable).
__global__ void __launch_bounds__(kBeamThreads) beam_step_kernel(BeamKernelArgs k) {
  const TrieView& trie = k.trie;
  const BeamStepArgs& a = k.a;
  const long long b = blockIdx.x;
  const int B = int(a.beams), G = int(a.groups), gs = B / G;
  const long long V = a.vocab;
  const bool table = V <= kCountTable;
  extern __shared__ unsigned char smem[];
  float* lse = reinterpret_cast<float*>(smem);
  int* c0s = reinterpret_cast<int*>(lse + B);
  int* offs = c0s + B;
  int* chosen = offs + B + 1;
  int* ncs = chosen + B;  // children per beam
  float* bs = reinterpret_cast<float*>(ncs + B);  // running scores
  float* pick_score = bs + B;
  int* pick_slot = reinterpret_cast<int*>(pick_score + 2 * gs);
  int* pick_child = pick_slot + 2 * gs;
  int* pick_token = pick_child + 2 * gs;
  unsigned short* counts = reinterpret_cast<unsigned short*>(pick_token + 2 * gs);
  __shared__ int bad_query;
  __shared__ float cache_score[kGroupCache];
  __shared__ long long cache_flat[kGroupCache];

  const float* rows = a.scores + b * a.input_beams * V;
  const int* nodes = a.nodes + b * B;
  const float* bscore = a.beam_scores + b * B;
  float* cand_lp = k.cand_lp + b * k.per_query;
  int* cand_token = k.cand_token + b * k.per_query;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  // ---- A: normalisers and candidate counts.
  const bool stamp = k.timing != nullptr && b == 0 && threadIdx.x == 0;
  if (stamp) k.timing[0] = clock64();
  if (threadIdx.x == 0) bad_query = 0;
  if (table)
    for (int t = threadIdx.x; t < V; t += kBeamThreads) counts[t] = 0;
  if (a.logits) {
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
      for (int o = 16; o; o >>= 1) {
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        bad |= __shfl_xor_sync(0xffffffffu, int(bad), o) != 0;
      }
      if (bad) {
        if (lane == 0) { raise(k.error, kErrNotFinite, b, r); bad_query = 1; }
        continue;
      }
      float s = 0;
      if (m != -INFINITY)
        for (long long i = lane; i < V; i += 32) s += expf(row[i] - m);
      for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0) lse[r] = m == -INFINITY ? -INFINITY : float(double(m) + log(double(s)));
    }
  }
  for (int j = threadIdx.x; j < B; j += kBeamThreads) {
    const int node = nodes[j];
    int count = 0, c0 = 0;
    if (node >= trie.nodes) {
      raise(k.error, kErrNode, b, node);
      bad_query = 1;
    } else if (node >= 0 && !(a.group_done && a.group_done[b * G + j / gs])) {
      c0 = trie.child_start[node];
      const int nc = trie.child_start[node + 1] - c0;
      const bool ends = trie.terminal[node] >= 0;
      if (nc == 0 && !ends) { raise(k.error, kErrTrie, b, node); bad_query = 1; }
      else if (nc == 0 && a.end_token < 0) { raise(k.error, kErrFinishedNoEnd, b, j); bad_query = 1; }
      else count = nc + ((ends && a.end_token >= 0) ? 1 : 0);
    }
    c0s[j] = c0;
    bs[j] = bscore[j];
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

  // ---- B: every candidate's log-probability and token.
  if (stamp) k.timing[1] = clock64();
  const int total = offs[B];
  constexpr int kUnrollB = 4;  // loads of several candidates in flight per thread
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
      if (e < ncs[lo]) ts[u] = trie.child_token[c0s[lo] + e];
    }
#pragma unroll
    for (int u = 0; u < kUnrollB; ++u)
      if (js[u] >= 0) xs[u] = rows[(long long)(a.input_beams == 1 ? 0 : js[u]) * V + ts[u]];
#pragma unroll
    for (int u = 0; u < kUnrollB; ++u) {
      if (js[u] < 0) continue;
      const int slot = base + u * kBeamThreads, r = a.input_beams == 1 ? 0 : js[u];
      float lp = xs[u];
      if (a.logits) lp = __fsub_rn(lp, lse[r]);
      if (isnan(lp)) { raise(k.error, kErrNotFinite, b, r); bad_query = 1; }
      cand_lp[slot] = lp;
      cand_token[slot] = ts[u];
    }
  }
  __syncthreads();
  if (bad_query || warp != 0) return;
  if (stamp) k.timing[2] = clock64();

  // ---- C: groups in order, one warp. A group's candidates are scored once (penalty of the
  // tokens chosen so far included) into shared memory when they fit, then ranked from there.
  int n_chosen = 0;
  for (int g = 0; g < G; ++g) {
    const int first = g * gs, lo_slot = offs[first], hi_slot = offs[first + gs];
    const bool done = a.group_done && a.group_done[b * G + g];
    const int range = done ? 0 : hi_slot - lo_slot;
    const bool cached = range <= kGroupCache;
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
    int n_picks = 0;
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
    for (int p = lane; p < n_picks; p += 32) {  // each pick's child node and token, in parallel
      const int slot = pick_slot[p];
      int jl = 0;
      while (offs[first + jl + 1] <= slot) ++jl;
      const int j = first + jl, e = slot - offs[j];
      pick_child[p] = e < ncs[j] ? trie.child_node[c0s[j] + e] : -1;
      pick_token[p] = cand_token[slot];
    }
    __syncwarp();
    if (lane == 0) {
      int filled = 0, fin = 0;
      for (int rank = 0; rank < n_picks && filled < gs; ++rank) {
        const int slot = pick_slot[rank];
        int jl = 0;
        while (offs[first + jl + 1] <= slot) ++jl;
        const int j = first + jl;
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
    case kErrNode:
      throw Error("ERR_SEMID_INVALID_ARG", "nodes holds " + std::to_string(err[2]) + ", beyond the trie's nodes");
    default:
      throw Error("ERR_SEMID_INVALID_ARG", "the trie holds token " + std::to_string(err[2]) +
                                               ", outside the vocabulary of " + std::to_string(vocab) + " scores per row");
  }
}

static std::size_t beam_smem_bytes(const BeamStepArgs& a) {
  const std::size_t B = a.beams, gs = a.beams / a.groups;
  return 2 * B * sizeof(float) + (4 * B + 1) * sizeof(int) + 2 * gs * (sizeof(float) + 3 * sizeof(int)) +
         (a.vocab <= kCountTable ? std::size_t(a.vocab) * sizeof(unsigned short) : 0);
}

}  // namespace cuda

void beam_step_cuda_device(const TrieView& trie, const BeamStepArgs& a, const CancelFlag& cancel) {
  validate_beam_step(trie, a);
  cuda::use_device();
  cancel.check();
  thread_local cuda::DeviceBuffer<int> err;
  thread_local cuda::DeviceBuffer<float> lp_buf;
  thread_local cuda::DeviceBuffer<int> token_buf;
  if (err.size() < 4) err.resize(4);
  SEMID_CUDA_CHECK(cudaMemset(err.get(), 0, 4 * sizeof(int)));
  i64 max_children = trie.max_children;
  if (trie.nodes > 0) {
    const i64 n = max_children > 0 ? trie.edges : std::max(trie.edges, trie.nodes);
    if (n > 0) {
      cuda::check_tokens_kernel<<<unsigned((n + 255) / 256), 256>>>(trie, a.vocab, err.get(),
                                                                   max_children > 0 ? nullptr : err.get() + 3);
      SEMID_CUDA_LAUNCH_CHECK();
    }
  }
  int host_err[4];
  if (max_children <= 0) {
    err.download(host_err, 4);
    cuda::throw_device_error(host_err, a.vocab);
    max_children = host_err[3];
  }
  if (a.batch > 0) {
    const i64 per_query = a.beams * (std::min<i64>(max_children, a.vocab) + 1);
    const std::size_t need = static_cast<std::size_t>(a.batch * per_query);
    if (lp_buf.size() < need) { lp_buf.resize(need); token_buf.resize(need); }
    const std::size_t smem = cuda::beam_smem_bytes(a);
    static const bool debug = std::getenv("SEMID_DEBUG_BEAM") != nullptr;
    thread_local cuda::DeviceBuffer<long long> stamps;
    if (debug && stamps.size() < 4) stamps.resize(4);
    cuda::beam_step_kernel<<<unsigned(a.batch), cuda::kBeamThreads, smem>>>(
        cuda::BeamKernelArgs{trie, a, per_query, lp_buf.get(), token_buf.get(), err.get(), debug ? stamps.get() : nullptr});
    SEMID_CUDA_LAUNCH_CHECK();
    if (debug) {
      long long t[4];
      stamps.download(t, 4);
      std::fprintf(stderr, "semid beam step (block 0, cycles): normalisers %lld, candidates %lld, groups %lld\n",
                   t[1] - t[0], t[2] - t[1], t[3] - t[2]);
    }
  }
  err.download(host_err, 4);  // synchronises
  cuda::throw_device_error(host_err, a.vocab);
}

void beam_step_cuda(const TrieView& trie, const BeamStepArgs& a, const CancelFlag& cancel) {
  validate_beam_step(trie, a);
  cuda::use_device();
  using cuda::DeviceBuffer;
  const std::size_t B = a.batch * a.beams, G = a.batch * a.groups, gs = a.beams / a.groups;
  i64 max_children = 0;
  for (i64 u = 0; u < trie.nodes; ++u) max_children = std::max<i64>(max_children, trie.child_start[u + 1] - trie.child_start[u]);
  DeviceBuffer<std::int32_t> cs(trie.nodes + 1), ct(trie.edges), cn(trie.edges), term(trie.nodes);
  cs.upload(trie.child_start, trie.nodes + 1);
  ct.upload(trie.child_token, trie.edges);
  cn.upload(trie.child_node, trie.edges);
  term.upload(trie.terminal, trie.nodes);
  TrieView dt{trie.nodes, trie.edges, cs.get(), ct.get(), cn.get(), term.get(), std::max<i64>(max_children, 1)};
  DeviceBuffer<float> scores(a.batch * a.input_beams * a.vocab), bscore(B), nscore(B), fscore(G * gs);
  DeviceBuffer<std::int32_t> nodes(B), nnodes(B), npar(B), ntok(B), fcount(G), fpar(G * gs), fnode(G * gs);
  DeviceBuffer<std::uint8_t> done(a.group_done ? G : 0);
  scores.upload(a.scores, a.batch * a.input_beams * a.vocab);
  bscore.upload(a.beam_scores, B);
  nodes.upload(a.nodes, B);
  if (a.group_done) done.upload(a.group_done, G);
  BeamStepArgs d = a;
  d.scores = scores.get(); d.nodes = nodes.get(); d.beam_scores = bscore.get();
  d.group_done = a.group_done ? done.get() : nullptr;
  d.next_nodes = nnodes.get(); d.next_scores = nscore.get(); d.next_parents = npar.get(); d.next_tokens = ntok.get();
  d.finished_count = fcount.get(); d.finished_parent = fpar.get(); d.finished_score = fscore.get(); d.finished_node = fnode.get();
  beam_step_cuda_device(dt, d, cancel);
  nnodes.download(a.next_nodes, B);
  nscore.download(a.next_scores, B);
  npar.download(a.next_parents, B);
  ntok.download(a.next_tokens, B);
  fcount.download(a.finished_count, G);
  fpar.download(a.finished_parent, G * gs);
  fscore.download(a.finished_score, G * gs);
  fnode.download(a.finished_node, G * gs);
}

}  // namespace semid
