// The Jacobi group pass of the CUDA beam step: every warp settles groups in parallel, where the
// sequential pass (beam_step.cu, C2) takes them one at a time on one warp.
//
// Group g's picks are a function of the tokens groups 0..g-1 took (the diversity penalty). Guess
// them all (first: nothing taken), then repeat: every unsettled group recomputes its picks from
// the guesses before it. After a round, let c be the first unsettled group whose takes changed
// (or whose list could not decide). Every group before c computed what it had before, from
// inputs that were settled or themselves unchanged, so groups up to c were computed from their
// true inputs: they are settled, with exactly the sequential pass's result. The settled prefix
// grows by at least one group a round, and by many where the groups' picks barely interact (a
// mid-search step over distinct rows: 3 or 4 rounds for 30 groups of random scores). A round
// skips the groups no earlier group's change reached. Where a settled group's list cannot decide,
// or progress is slow (a search's first step: every group competes for the same tokens), the
// sequential pass takes over from the first unsettled group.
#pragma once
#include "beam_list_picks.cuh"

namespace semid {
namespace cuda {

constexpr int kJacobiMaxGroups = 64;   // the changed-groups mask is one 64-bit word
constexpr int kJacobiMaxBeams = 256;   // a count scans the takes of every earlier group
constexpr int kJacobiMaxRounds = 8;
constexpr int kJacobiUndecided = -2;   // a take slot of a group whose list could not decide

/**
 * The Jacobi pass, by every thread of the block after all lists are built. takes0 and takes1:
 * [beams] shared ints, 16-byte aligned, the groups' takes (token per filled beam, -1 past the
 * filled ones) of alternate rounds: round r reads one and writes the other, so a round needs one
 * block barrier and no copy. changed: 3 shared words, the groups whose takes changed in a round
 * (every warp reads the last round's; the one after next is cleared meanwhile). Returns the first
 * group the sequential pass must still run (groups when every group is settled); takes0 then
 * holds the settled groups' takes.
 */
template <int kWarps>
__device__ int jacobi_group_pass(const BeamKernelArgs& k, long long b, int gs, long long V, const GroupLists& lists,
                                 const float* bs, const int* nodes, int* takes0, int* takes1,
                                 unsigned long long* changed_words, int warp, int lane, int* rounds_out) {
  constexpr unsigned kAll = 0xffffffffu;
  const int G = int(k.a.groups), B = int(k.a.beams);
  for (int i = threadIdx.x; i < B; i += kWarps * 32) { takes0[i] = -1; takes1[i] = -1; }
  if (threadIdx.x < 3) changed_words[threadIdx.x] = 0ull;
  __syncthreads();
  int front = 0, round = 0;
  unsigned long long changed = ~0ull;  // groups whose takes changed in the last round
  while (front < G && round < kJacobiMaxRounds) {
    const int* cur = (round & 1) ? takes1 : takes0;  // the last round's takes
    int* nxt = (round & 1) ? takes0 : takes1;        // this round's
    unsigned long long* mine = changed_words + round % 3;
    if (threadIdx.x == 0) changed_words[(round + 1) % 3] = 0ull;  // read last at the start of round - 1
    for (int g = warp; g < G; g += kWarps) {
      const int first = g * gs;
      if (g < front || (round > 0 && !(changed & ((1ull << g) - 1ull)))) {
        // Settled, or its inputs are as they were: its takes carry over.
        for (int s = lane; s < gs; s += 32) nxt[first + s] = cur[first + s];
        continue;
      }
      auto count_of = [&](int t) {  // takes of t by groups 0..g-1 (cur's other values are negative)
        int f = 0, h = 0;
        if (round == 0) return 0;  // nothing taken yet
        const int4* c4 = reinterpret_cast<const int4*>(cur);
#pragma unroll 4
        for (; h + 4 <= first; h += 4) {
          const int4 v = c4[h >> 2];
          f += int(v.x == t) + int(v.y == t) + int(v.z == t) + int(v.w == t);
        }
        for (; h < first; ++h) f += int(cur[h] == t);
        return f;
      };
      const ListPicks p = list_group_picks(k, b, g, gs, V, lists, bs, nodes, count_of, lane);
      if (lane < gs) nxt[first + lane] = p.walked ? -1 : kJacobiUndecided;
      __syncwarp();
      if (p.take) nxt[first + p.before] = p.tok;
      __syncwarp();
      bool c = false;
      for (int s = lane; s < gs; s += 32) c |= nxt[first + s] != cur[first + s] || nxt[first + s] == kJacobiUndecided;
      if (__any_sync(kAll, c) && lane == 0) atomicOr(mine, 1ull << g);
    }
    __syncthreads();
    const unsigned long long ch = *mine;  // groups (>= front) whose takes changed or could not be decided
    int next = G;
    bool stop = false;
    if (ch) {
      const int c = __ffsll((long long)ch) - 1;
      stop = nxt[c * gs] == kJacobiUndecided;  // settled inputs, yet its list cannot decide
      next = stop ? c : c + 1;
    }
    changed = ch;
    ++round;
    // Slow progress (a group a round): the sequential pass is cheaper from here.
    const bool slow = round >= 3 && next - front <= 1;
    front = next;
    if (stop || slow) break;
  }
  if (round & 1) {  // the settled takes are in takes1: into takes0 for the sequential pass
    for (int i = threadIdx.x; i < front * gs; i += kWarps * 32) takes0[i] = takes1[i];
    __syncthreads();
  }
  *rounds_out = round;
  return front;
}

}  // namespace cuda
}  // namespace semid
