// Trie-constrained diverse beam search step on the GPU (semantics in semid/beam.h): one block per
// query. Rows' log-normalisers are computed a warp per row; then, group by group, the block finds
// the group's top 2 * group_size candidates as successive maxima in the (score desc, flat index
// asc) order, each a block-wide reduction over the candidates the beams' trie nodes allow, and one
// thread walks them exactly as the CPU does. Scores use float32 operations without contraction
// (__fsub_rn, __fmul_rn, __fadd_rn) so that CPU and GPU agree bit for bit on log-prob inputs.
#include <cfloat>
#include <climits>
#include <cmath>
#include <string>

#include "cuda_check.cuh"
#include "semid/beam.h"
#include "semid/cuda.h"

namespace semid {
namespace cuda {

constexpr int kBeamThreads = 256;
constexpr int kWarps = kBeamThreads / 32;

// Device-side failures, reported back as semid::Error.
enum : int { kOk = 0, kErrNotFinite = 1, kErrTrie = 2, kErrFinishedNoEnd = 3, kErrNode = 4 };

struct BeamKernelArgs {
  TrieView trie;
  BeamStepArgs a;
  int* error;  // [3]: code, query, node/beam
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

// Shared memory layout (dynamic): lse[beams] doubles, chosen[beams], offs[gs + 1],
// pick_score[2 gs], pick_slot[2 gs].
__global__ void __launch_bounds__(kBeamThreads) beam_step_kernel(BeamKernelArgs k) {
  const TrieView& trie = k.trie;
  const BeamStepArgs& a = k.a;
  const long long b = blockIdx.x;
  const int B = int(a.beams), G = int(a.groups), gs = B / G;
  const long long V = a.vocab;
  extern __shared__ unsigned char smem[];
  double* lse = reinterpret_cast<double*>(smem);
  int* chosen = reinterpret_cast<int*>(lse + B);
  int* offs = chosen + B;
  float* pick_score = reinterpret_cast<float*>(offs + gs + 1);
  int* pick_slot = reinterpret_cast<int*>(pick_score + 2 * gs);
  __shared__ int chosen_count, n_picks, total;
  __shared__ float red_s[kWarps];
  __shared__ long long red_f[kWarps];
  __shared__ int red_slot[kWarps];
  __shared__ float prev_s;
  __shared__ long long prev_f;

  const float* rows = a.scores + b * a.input_beams * V;
  const int* nodes = a.nodes + b * B;
  const float* bscore = a.beam_scores + b * B;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  if (a.logits) {
    for (int r = warp; r < a.input_beams; r += kWarps) {
      bool needed = a.input_beams == 1 ? true : nodes[r] >= 0;
      if (!needed) continue;
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
        if (lane == 0) raise(k.error, kErrNotFinite, b, r);
        continue;
      }
      float s = 0;
      if (m != -INFINITY)
        for (long long i = lane; i < V; i += 32) s += expf(row[i] - m);
      for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
      if (lane == 0) lse[r] = m == -INFINITY ? -INFINITY : double(m) + log(double(s));
    }
  }
  if (threadIdx.x == 0) chosen_count = 0;
  __syncthreads();

  for (int g = 0; g < G; ++g) {
    const int first = g * gs;
    if (threadIdx.x == 0) {
      a.finished_count[b * G + g] = 0;
      total = 0;
      if (a.group_done && a.group_done[b * G + g]) {
        total = -1;
      } else {
        int acc = 0;
        for (int jl = 0; jl < gs; ++jl) {
          offs[jl] = acc;
          const int node = nodes[first + jl];
          if (node < 0) continue;
          if (node >= trie.nodes) { raise(k.error, kErrNode, b, node); continue; }
          const int nc = trie.child_start[node + 1] - trie.child_start[node];
          const bool ends = trie.terminal[node] >= 0;
          if (nc == 0 && !ends) { raise(k.error, kErrTrie, b, node); continue; }
          if (nc == 0 && ends && a.end_token < 0) { raise(k.error, kErrFinishedNoEnd, b, first + jl); continue; }
          acc += nc + ((ends && a.end_token >= 0) ? 1 : 0);
        }
        offs[gs] = acc;
        total = acc;
      }
      n_picks = 0;
      prev_s = INFINITY;
      prev_f = -1;
    }
    __syncthreads();
    const int C = total;
    if (C > 0) {
      for (int round = 0; round < 2 * gs; ++round) {
        float best_s = -INFINITY;
        long long best_f = LLONG_MAX;
        int best_slot = -1;
        const float ps = prev_s;
        const long long pf = prev_f;
        for (int slot = threadIdx.x; slot < C; slot += kBeamThreads) {
          int lo = 0, hi = gs - 1;  // the beam: last jl with offs[jl] <= slot
          while (lo < hi) {
            const int mid = (lo + hi + 1) >> 1;
            if (offs[mid] <= slot) lo = mid; else hi = mid - 1;
          }
          const int jl = lo, j = first + jl, node = nodes[j];
          const int e = slot - offs[jl];
          const int c0 = trie.child_start[node], nc = trie.child_start[node + 1] - c0;
          const int t = e < nc ? trie.child_token[c0 + e] : a.end_token;
          const int r = a.input_beams == 1 ? 0 : j;
          float lp = rows[(long long)r * V + t];
          if (a.logits) lp = __fsub_rn(lp, float(lse[r]));
          if (isnan(lp)) { raise(k.error, kErrNotFinite, b, r); continue; }
          int f = 0;
          for (int c = 0; c < chosen_count; ++c) f += chosen[c] == t;
          if (f) lp = __fsub_rn(lp, __fmul_rn(a.penalty, float(f)));
          const float s = __fadd_rn(lp, bscore[j]);
          const long long flat = (long long)jl * V + t;
          if (!(s > -INFINITY) || !better(ps, pf, s, flat)) continue;
          if (better(s, flat, best_s, best_f)) { best_s = s; best_f = flat; best_slot = slot; }
        }
        for (int o = 16; o; o >>= 1) {
          const float os = __shfl_down_sync(0xffffffffu, best_s, o);
          const long long of = __shfl_down_sync(0xffffffffu, best_f, o);
          const int oslot = __shfl_down_sync(0xffffffffu, best_slot, o);
          if (better(os, of, best_s, best_f)) { best_s = os; best_f = of; best_slot = oslot; }
        }
        if (lane == 0) { red_s[warp] = best_s; red_f[warp] = best_f; red_slot[warp] = best_slot; }
        __syncthreads();
        if (threadIdx.x == 0) {
          for (int w = 1; w < kWarps; ++w)
            if (better(red_s[w], red_f[w], best_s, best_f)) { best_s = red_s[w]; best_f = red_f[w]; best_slot = red_slot[w]; }
          if (best_slot >= 0) {
            pick_score[n_picks] = best_s;
            pick_slot[n_picks] = best_slot;
            ++n_picks;
            prev_s = best_s;
            prev_f = best_f;
          } else {
            prev_s = -INFINITY;  // nothing left: later rounds find nothing either
          }
        }
        __syncthreads();
        if (prev_s == -INFINITY) break;
      }
    }
    if (threadIdx.x == 0) {
      int filled = 0;
      if (C >= 0) {
        for (int rank = 0; rank < n_picks && filled < gs; ++rank) {
          const int slot = pick_slot[rank];
          int jl = 0;
          while (jl + 1 < gs && offs[jl + 1] <= slot) ++jl;
          const int j = first + jl, node = nodes[j];
          const int e = slot - offs[jl];
          const int c0 = trie.child_start[node], nc = trie.child_start[node + 1] - c0;
          if (e >= nc) {  // the end token
            if (rank >= gs) continue;
            const long long o = (b * G + g) * gs + a.finished_count[b * G + g];
            a.finished_parent[o] = j;
            a.finished_score[o] = pick_score[rank];
            a.finished_node[o] = node;
            a.finished_count[b * G + g] += 1;
            continue;
          }
          const long long o = b * B + first + filled;
          const int t = trie.child_token[c0 + e];
          a.next_nodes[o] = trie.child_node[c0 + e];
          a.next_scores[o] = pick_score[rank];
          a.next_parents[o] = j;
          a.next_tokens[o] = t;
          chosen[chosen_count++] = t;
          ++filled;
        }
      }
      for (int jl = filled; jl < gs; ++jl) {
        const long long o = b * B + first + jl;
        a.next_nodes[o] = -1; a.next_scores[o] = -INFINITY; a.next_parents[o] = -1; a.next_tokens[o] = -1;
      }
    }
    __syncthreads();
  }
}

__global__ void check_tokens_kernel(TrieView trie, long long vocab, int* error) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e < trie.edges) {
    const int t = trie.child_token[e];
    if (t < 0 || t >= vocab) raise(error, 5, -1, t);
  }
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
  return B * sizeof(double) + B * sizeof(int) + (gs + 1) * sizeof(int) + 2 * gs * (sizeof(float) + sizeof(int));
}

}  // namespace cuda

void beam_step_cuda_device(const TrieView& trie, const BeamStepArgs& a, const CancelFlag& cancel) {
  validate_beam_step(trie, a);
  cuda::use_device();
  cancel.check();
  cuda::DeviceBuffer<int> err(3);
  SEMID_CUDA_CHECK(cudaMemset(err.get(), 0, 3 * sizeof(int)));
  if (trie.edges > 0) {
    cuda::check_tokens_kernel<<<unsigned((trie.edges + 255) / 256), 256>>>(trie, a.vocab, err.get());
    SEMID_CUDA_LAUNCH_CHECK();
  }
  if (a.batch > 0) {
    const std::size_t smem = cuda::beam_smem_bytes(a);
    cuda::beam_step_kernel<<<unsigned(a.batch), cuda::kBeamThreads, smem>>>(cuda::BeamKernelArgs{trie, a, err.get()});
    SEMID_CUDA_LAUNCH_CHECK();
  }
  int host_err[3];
  err.download(host_err, 3);  // synchronises
  cuda::throw_device_error(host_err, a.vocab);
}

void beam_step_cuda(const TrieView& trie, const BeamStepArgs& a, const CancelFlag& cancel) {
  validate_beam_step(trie, a);
  cuda::use_device();
  using cuda::DeviceBuffer;
  const std::size_t B = a.batch * a.beams, G = a.batch * a.groups, gs = a.beams / a.groups;
  DeviceBuffer<std::int32_t> cs(trie.nodes + 1), ct(trie.edges), cn(trie.edges), term(trie.nodes);
  cs.upload(trie.child_start, trie.nodes + 1);
  ct.upload(trie.child_token, trie.edges);
  cn.upload(trie.child_node, trie.edges);
  term.upload(trie.terminal, trie.nodes);
  TrieView dt{trie.nodes, trie.edges, cs.get(), ct.get(), cn.get(), term.get()};
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
