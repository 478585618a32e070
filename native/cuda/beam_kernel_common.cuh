// Shared by the CUDA beam step's kernel and its parts: limits, error codes, the kernel's
// arguments, the per-group list layout, the (score, flat index) order, error reporting.
#pragma once
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <climits>

#include "semid/beam.h"

namespace semid {
namespace cuda {

constexpr int kCountTable = 4096;  // vocab up to this: chosen-token counts in a shared table
constexpr int kGroupCache = 1024;  // a group's scored candidates kept in shared memory up to this

// Device-side failures, reported back as semid::Error.
enum : int { kOk = 0, kErrNotFinite = 1, kErrTrie = 2, kErrFinishedNoEnd = 3, kErrNode = 4, kErrToken = 5,
              kErrMaxChildren = 6 };

struct BeamKernelArgs {
  TrieView trie;
  BeamStepArgs a;
  long long per_query;  // scratch candidates per query
  float* cand_lp;       // [batch, per_query]
  int* cand_token;      // [batch, per_query]
  int* error;           // [4]: code, query, detail, the most children of a node (check_tokens_kernel)
  int* error_mirror;    // optional [3]: code, query, detail in mapped host memory (written on an error only)
  long long* timing;    // optional [12] (SEMID_DEBUG_BEAM): block 0's phase stamps [4], Jacobi rounds, first
                        // sequential group, warp 1's first build: phase stamps [5] and survivors
  bool use_lists;       // C1 builds each group's top-kListLen list (see beam_lists_fit)
  bool use_jacobi;      // the Jacobi pass settles groups before C2 (see beam_jacobi_fits)
  bool use_dense;       // with lists: groups whose beams all sit at dense nodes (trie.dense_rows, a device
                        // copy) read their rows contiguously and keep no scratch (see beam_dense_wanted)
  bool use_dense_pair;  // with use_dense: groups of <= 2 beams ending no ID take build_dense_pair_list
  int cluster;          // blocks per query (a thread-block cluster, sm_90+; 1: none). With more, every
                        // block normalises and reads every beam, builds the groups g = rank (mod
                        // cluster) into the lists of the query's first block, which alone settles them
};

// A group's list: its top kListLen candidates by s0 = lp + beam score (finite only), sorted by
// (s0 desc, flat asc), with what C2 needs of each; n = -1 when it could not be built (more than
// kSurvivorCap candidates passed the threshold), full = 1 when it holds every finite candidate.
constexpr int kRowRegs = 8;  // a row's scores per lane held in registers (rows of up to 256)
constexpr int kListLen = 32;
constexpr int kUnrollC1 = 8;  // candidates loaded together per lane in C1's passes
constexpr int kSurvivorCap = 128;
constexpr int kSurvivorBytes = kSurvivorCap * 12;  // s0, slot, flat (32-bit) per survivor
/** Shared scratch of a kThreads block (the start of its dynamic shared memory): C1's survivor buffers or C2's cache, the larger. */
__host__ __device__ constexpr int scratch_bytes(int threads) {
  return threads / 32 * kSurvivorBytes > kGroupCache * 12 ? threads / 32 * kSurvivorBytes : kGroupCache * 12;
}
struct GroupLists {
  float* lp;
  float* s0;
  int* token;
  int* jl;
  int* child;
  int* n;
  int* full;
  int* state;  // C1/C2 hand-over: 2 once the group's list and candidates are written
  int* dense;  // 1: the group was built from dense rows and its candidates are not in the scratch
               // (C2 writes them there first where it must scan them: materialise_dense_group)
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
/**
 * Group g's list (its kListLen entries, n, full, dense, state) copied from this block's shared
 * memory into the same place in the first block of the cluster's, by one warp (after its build).
 */
__device__ __forceinline__ void copy_list_to_leader(const GroupLists& lists, int g, int lane) {
  cooperative_groups::cluster_group cl = cooperative_groups::this_cluster();
  const int e = g * kListLen + lane;
  *cl.map_shared_rank(lists.lp + e, 0) = lists.lp[e];
  *cl.map_shared_rank(lists.s0 + e, 0) = lists.s0[e];
  *cl.map_shared_rank(lists.token + e, 0) = lists.token[e];
  *cl.map_shared_rank(lists.jl + e, 0) = lists.jl[e];
  *cl.map_shared_rank(lists.child + e, 0) = lists.child[e];
  if (lane == 0) {
    *cl.map_shared_rank(lists.n + g, 0) = lists.n[g];
    *cl.map_shared_rank(lists.full + g, 0) = lists.full[g];
    *cl.map_shared_rank(lists.dense + g, 0) = lists.dense[g];
    *cl.map_shared_rank(lists.state + g, 0) = 2;
  }
}
#endif

__device__ __forceinline__ bool better(float s1, long long f1, float s2, long long f2) {
  return s1 > s2 || (s1 == s2 && f1 < f2);
}
__device__ __forceinline__ bool better32(float s1, int f1, float s2, int f2) {
  return s1 > s2 || (s1 == s2 && f1 < f2);
}

__device__ void raise(int* error, int code, long long query, long long detail, int* mirror = nullptr) {
  if (atomicCAS(error, 0, code) == 0) {
    error[1] = int(query);
    error[2] = int(detail);
    if (mirror) {  // the host reads the mirror after the step, with no copy back
      mirror[1] = int(query);
      mirror[2] = int(detail);
      __threadfence_system();
      mirror[0] = code;
    }
  }
}
__device__ void raise(const BeamKernelArgs& k, int code, long long query, long long detail) {
  raise(k.error, code, query, detail, k.error_mirror);
}

}  // namespace cuda
}  // namespace semid
