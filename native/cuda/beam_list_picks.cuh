// C2 of the CUDA beam step for one group, from the group's list (beam_lists.cuh), by one warp:
// the group's picks under the penalty of the tokens earlier groups took, the walk over them,
// and the group's outputs. Used by the sequential group pass and by the Jacobi pass
// (beam_jacobi.cuh); they differ only in how a token's count is found.
#pragma once
#include "beam_kernel_common.cuh"

namespace semid {
namespace cuda {

/** One lane's share of a group's walk over its picks. */
struct ListPicks {
  bool walked;  // the walk ran (list_group_picks: false when the list could not decide; nothing written)
  bool take;    // this lane's pick filled a beam
  int tok;      // the token it took; -1 on lanes that take none
  int before;   // the beam it filled: its position in the group (take only)
  int filled;   // beams the group filled (every lane)
};

/**
 * The walk over group g's picks, on the lanes that hold them (pick: this lane holds one, of rank
 * `rank` < 32 among the group's picks; child: its child node, -1 for the end token; t, j, sc: its
 * token, beam and score). Rank r is reached while fewer than gs beams are filled, i.e. when fewer
 * than gs non-end picks rank above it; a reached non-end pick fills the next beam, a reached end
 * token ranked below gs finishes one. Lane order need not be rank order (masks by rank). Writes
 * the group's next beams (the unfilled ones empty), finished IDs and finished count.
 */
__device__ __forceinline__ ListPicks walk_group_picks(const BeamKernelArgs& k, long long b, int g, int gs,
                                                      const int* nodes, int lane, bool pick, int rank, int child, int t,
                                                      int j, float sc) {
  constexpr unsigned kAll = 0xffffffffu;
  const BeamStepArgs& a = k.a;
  const int G = int(a.groups), B = int(a.beams), first = g * gs;
  const unsigned above = pick ? (1u << rank) - 1u : 0u;
  const unsigned nonend = __reduce_or_sync(kAll, pick && child >= 0 ? 1u << rank : 0u);
  const int before = __popc(nonend & above);
  const bool take = pick && child >= 0 && before < gs;
  const bool fin = pick && child < 0 && rank < gs && before < gs;
  const unsigned fin_ranks = __reduce_or_sync(kAll, fin ? 1u << rank : 0u);
  const int filled = __popc(__ballot_sync(kAll, take));
  if (fin) {
    const long long o = (b * G + g) * gs + __popc(fin_ranks & above);
    a.finished_parent[o] = j;
    a.finished_score[o] = sc;
    a.finished_node[o] = nodes[j];
  }
  if (take) {
    const long long o = b * B + first + before;
    a.next_nodes[o] = child;
    a.next_scores[o] = sc;
    a.next_parents[o] = j;
    a.next_tokens[o] = t;
  }
  if (lane == 0) a.finished_count[b * G + g] = __popc(fin_ranks);
  if (lane >= filled && lane < gs) {
    const long long o = b * B + first + lane;
    a.next_nodes[o] = -1; a.next_scores[o] = -INFINITY; a.next_parents[o] = -1; a.next_tokens[o] = -1;
  }
  return ListPicks{true, take, take ? t : -1, before, filled};
}

/**
 * Group g's picks from its list, with `count_of(token)` the number of times earlier groups took
 * the token (called on the lanes holding a list entry). The penalty only lowers scores, so when
 * the list holds every finite candidate, or at least 2 * gs entries whose scores the penalty left
 * as they were, those rank above every candidate outside the list (s <= s0 there) and the group's
 * picks are the list's top 2 * gs with the penalty, and walk_group_picks runs on the lanes
 * holding them. Otherwise returns walked = false and writes nothing. gs <= 16 (2 * gs fits a warp).
 */
template <class CountOf>
__device__ __forceinline__ ListPicks list_group_picks(const BeamKernelArgs& k, long long b, int g, int gs, long long V,
                                                      const GroupLists& lists, const float* bs, const int* nodes,
                                                      CountOf count_of, int lane) {
  constexpr unsigned kAll = 0xffffffffu;
  const BeamStepArgs& a = k.a;
  const int first = g * gs;
  ListPicks r{false, false, -1, 0, 0};
  const int n_list = lists.n[g];
  if (n_list < 0) return r;  // more candidates passed the threshold than C1 keeps
  const int e = g * kListLen + lane;
  const bool in = lane < n_list;
  float sc = -INFINITY, s0 = -INFINITY;
  long long flat = LLONG_MAX;
  int jl = 0, t = 0;
  bool ok = in;  // a listed candidate whose penalised score is still above -inf
  if (in) {
    s0 = lists.s0[e];
    t = lists.token[e];
    jl = lists.jl[e];
    const int f = count_of(t);
    sc = f ? __fadd_rn(__fsub_rn(lists.lp[e], __fmul_rn(a.penalty, float(f))), bs[first + jl]) : s0;
    flat = (long long)jl * V + t;
    if (!(sc > -INFINITY)) { ok = false; sc = -INFINITY; flat = LLONG_MAX; }  // overflow: never ranked
  }
  const unsigned kept = __ballot_sync(kAll, in && sc == s0);
  if (!(lists.full[g] || __popc(kept) >= 2 * gs)) return r;
  // Only entries up to the 2 gs-th kept one can be picked, and their ranks among those entries
  // are their ranks overall (every later entry ranks below all 2 gs kept ones).
  int lim = n_list;
  if (__popc(kept) >= 2 * gs) {
    unsigned m = kept;
    for (int c = 1; c < 2 * gs; ++c) m &= m - 1u;  // drop the lowest 2 gs - 1 kept entries
    lim = __ffs(int(m));                           // the 2 gs-th kept entry's position + 1
  }
  // Lanes past the list and overflowed entries hold (-inf, LLONG_MAX): never better. flat fits
  // 32 bits here (beam_lists_fit), so two shuffles per entry.
  const int flat32 = flat == LLONG_MAX ? INT_MAX : int(flat);
  int rank = 0;
#pragma unroll 4
  for (int src = 0; src < lim; ++src) {
    const float os = __shfl_sync(kAll, sc, src);
    const int of = __shfl_sync(kAll, flat32, src);
    rank += int(os > sc || (os == sc && (of < flat32 || (of == flat32 && src < lane))));
  }
  if (lane >= lim) ok = false;
  const int n_picks = min(2 * gs, __popc(__ballot_sync(kAll, ok)));  // ok entries all lie before lim
  const bool pick = ok && rank < n_picks;
  return walk_group_picks(k, b, g, gs, nodes, lane, pick, rank, pick ? lists.child[e] : 0, t, first + jl, sc);
}

}  // namespace cuda
}  // namespace semid
