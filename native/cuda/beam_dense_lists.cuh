// C1 of the CUDA beam step (beam_step.cu) for a group whose active beams all sit at dense nodes
// (trie_dense_rows: >= 32 children within 256 consecutive tokens, a 256-bit row per node): a
// beam's candidates are its row's scores at the set bits, read contiguously (lane l holds tokens
// first + l + 32 q, q < 8), instead of gathering child tokens and then scores one dependent load
// after the other. Nothing goes to the scratch: the list's entries recompute their
// log-probabilities from the row, and C2 writes a group's candidates to the scratch only where it
// must scan them (materialise_dense_group). Every value is computed with the same operations as
// the gather path (beam_lists.cuh), so both build the same lists.
#pragma once
#include "beam_kernel_common.cuh"

namespace semid {
namespace cuda {

/** A query's dense beams in shared memory: first[j] the first token of beam j's dense row (-1: none), bits[8 j + q] its 256 bits. */
struct DenseBeams {
  const int* first;
  const unsigned* bits;
};

/** Whether every active beam of group g (one with candidates) has a dense row; lanes < gs look. */
__device__ __forceinline__ bool group_is_dense(const DenseBeams& d, const int* offs, int g, int gs, int lane) {
  bool ok = true;
  for (int jl = lane; jl < gs; jl += 32) {
    const int j = g * gs + jl;
    ok &= offs[j + 1] == offs[j] || d.first[j] >= 0;
  }
  return __all_sync(0xffffffffu, ok);
}

/** Beam j's scores on this lane: x[q] at token first + lane + 32 q where the bit is set, x[8] at the end token (lane 0, where the beam ends an ID). */
__device__ __forceinline__ void dense_load(const BeamKernelArgs& k, const DenseBeams& d, const float* rows, int j,
                                           bool ends, int lane, float (&x)[9]) {
  const BeamStepArgs& a = k.a;
  const long long V = a.vocab;
  const float* row = rows + (long long)(a.input_beams == 1 ? 0 : j) * V;
  const int f = d.first[j];
#pragma unroll
  for (int q = 0; q < 8; ++q) {
    const unsigned w = d.bits[8 * j + q];
    const int tok = f + 32 * q + lane;
    x[q] = ((w >> lane) & 1u) && unsigned(tok) < unsigned(V) ? row[tok] : 0.0f;
  }
  x[8] = ends && lane == 0 ? row[a.end_token] : 0.0f;
}

/**
 * Beam j's candidates on every lane, in rank order (slot offsets e ascending): fn(present, tok,
 * e, x) nine times, the same on every lane (warp-wide calls may follow): q < 8 the row's bits,
 * then the end token (present on lane 0 where the beam ends an ID, at e = its child count).
 */
template <class Fn>
__device__ __forceinline__ void dense_each(const BeamKernelArgs& k, const DenseBeams& d, int j, int nc, bool ends,
                                           int lane, const float (&x)[9], Fn fn) {
  const int f = d.first[j];
  const unsigned below = (1u << lane) - 1u;
  int prefix = 0;
#pragma unroll
  for (int q = 0; q < 8; ++q) {
    const unsigned w = d.bits[8 * j + q];
    fn(((w >> lane) & 1u) != 0, f + 32 * q + lane, prefix + __popc(w & below), x[q]);
    prefix += __popc(w);
  }
  fn(ends && lane == 0, int(k.a.end_token), nc, x[8]);
}

/** A candidate's log-probability from its row's score, as the gather path computes it. */
__device__ __forceinline__ float dense_lp(const BeamKernelArgs& k, const float* lse, int j, float x) {
  return k.a.logits ? __fsub_rn(x, lse[k.a.input_beams == 1 ? 0 : j]) : x;
}

/**
 * Group g's candidates written to the scratch (cand_lp, cand_token at their slots), as the
 * gather path writes them, for C2's scan: one warp, then __syncwarp. Tokens beyond the
 * vocabulary (reported by the build) are written as token 0 at -inf.
 */
__device__ void materialise_dense_group(const BeamKernelArgs& k, const DenseBeams& d, int g, int gs, const float* rows,
                                        const float* lse, const int* offs, const int* ncs, float* cand_lp,
                                        int* cand_token, int lane) {
  const unsigned V = unsigned(k.a.vocab);
  for (int jl = 0; jl < gs; ++jl) {
    const int j = g * gs + jl;
    if (offs[j + 1] == offs[j]) continue;
    const bool ends = offs[j + 1] - offs[j] > ncs[j];
    float x[9];
    dense_load(k, d, rows, j, ends, lane, x);
    dense_each(k, d, j, ncs[j], ends, lane, x, [&](bool present, int tok, int e, float v) {
      if (!present) return;
      const bool bad = e < ncs[j] && unsigned(tok) >= V;
      cand_lp[offs[j] + e] = bad ? -INFINITY : dense_lp(k, lse, j, v);
      cand_token[offs[j] + e] = bad ? 0 : tok;
    });
  }
  __syncwarp();
}

}  // namespace cuda
}  // namespace semid
