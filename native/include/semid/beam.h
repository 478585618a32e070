// One step of trie-constrained diverse (group) beam search, batched over queries.
//
// Semantics follow Hugging Face transformers' group beam search with a prefix_allowed_tokens_fn
// that allows the trie's children (and the end token where an ID ends):
//   - beams are split into `groups` groups of group_size = beams / groups, processed in order;
//   - a candidate's score is  (log_softmax(row)[t] - penalty * freq[t]) + beam_score, rounded to
//     float32 after each operation (log_softmax(row)[t] = row[t] - float(logsumexp(row))), where freq[t] counts how often token t was chosen at this
//     step by the continuing beams of groups 0..g-1 of the same query (Hamming diversity);
//   - each group keeps its top 2 * group_size candidates, ordered by score descending and, on
//     ties, by the flat index (beam_in_group * vocab + token) ascending;
//   - walking that list: an end-token candidate finishes its ID when its rank is < group_size
//     (otherwise it is skipped), any other candidate becomes the next beam, until group_size
//     beams are filled.
// Explicit cases: a beam with node < 0 is inactive and proposes nothing; a candidate scoring -inf
// is never chosen; a group that cannot fill its beams leaves the rest inactive (node -1, score
// -inf); a trie node with no children that ends no ID is an error (ERR_SEMID_TRIE), and so is a
// beam at a finished ID when there is no end token (the driver stops at the leaves instead).
#pragma once
#include <cstdint>

#include "semid/common.h"

namespace semid {

/** A trie in CSR layout: the children of node u are entries child_start[u] .. child_start[u+1]. */
struct TrieView {
  i64 nodes = 0;
  i64 edges = 0;
  const std::int32_t* child_start = nullptr;  // [nodes + 1]
  const std::int32_t* child_token = nullptr;  // [edges], ascending within each node
  const std::int32_t* child_node = nullptr;   // [edges]
  const std::int32_t* terminal = nullptr;     // [nodes] index of the ID that ends here, or -1
  /** Most children of any node, when known (sizes the CUDA scratch; <= 0: computed on the device). */
  i64 max_children = 0;
  /**
   * Optional [trie_dense_rows_words(edges)] from trie_dense_rows(): a 64-byte row for each dense
   * node (>= 32 children within 256 consecutive tokens). With it the CPU step reads such a
   * node's scores contiguously instead of gathering its children; the results are identical.
   * Null: every node takes the gather path. For beam_step_cuda_device, a device copy of those
   * rows (the CUDA list builds read dense nodes' rows contiguously; they must be this trie's
   * rows, which the kernel does not check bit by bit); beam_step_cuda makes its own from the
   * trie's arrays and ignores this field.
   */
  const std::uint32_t* dense_rows = nullptr;
  /**
   * Nonzero: these arrays never change, and the key names them for the life of the process. The
   * CUDA step from host arrays then keeps a device copy per key (a few tries, least recently used
   * replaced) instead of copying the trie every step. 0: copied every step.
   */
  std::uint64_t cache_key = 0;
};

/** Children a node needs (at least) for a dense row; distinct dense nodes thus differ in c0 / 32. */
constexpr i64 kTrieDenseMinChildren = 32;
/** Tokens a dense row covers, from the node's first child token. */
constexpr i64 kTrieDenseSpan = 256;
/**
 * uint32 words per dense row: 0-7 the 256 bits (bit p, bit p % 32 of word p / 32, is set when
 * token first + p is a child), 8 the owner's first edge c0 + 1 (0: no row), 9 the first child
 * token, 10 the number of 8-token chunks the children span (<= 32), 11 the number of children
 * (the set bits), 12-15 zero.
 */
constexpr i64 kTrieDenseRowWords = 16;

/** uint32 words of the dense_rows array of a trie with `edges` edges (a row per 32 edges). */
inline i64 trie_dense_rows_words(i64 edges) {
  return (edges + kTrieDenseMinChildren - 1) / kTrieDenseMinChildren * kTrieDenseRowWords;
}

/** The dense row of the node whose children are edges c0 .. c1 - 1, or null when it has none. */
inline const std::uint32_t* trie_dense_row(const TrieView& trie, i64 c0, i64 c1) {
  if (trie.dense_rows == nullptr || c1 - c0 < kTrieDenseMinChildren) return nullptr;
  const std::uint32_t* row = trie.dense_rows + (c0 / kTrieDenseMinChildren) * kTrieDenseRowWords;
  return row[8] == std::uint32_t(c0 + 1) && row[11] == std::uint32_t(c1 - c0) ? row : nullptr;
}

/**
 * Fills rows [trie_dense_rows_words(trie.edges)] (layout at kTrieDenseRowWords) for the nodes
 * with >= 32 children whose tokens span < 256; other words are zero. O(edges). Needs child_start
 * and child_token; throws ERR_SEMID_TRIE when a node's child tokens are not strictly ascending.
 */
void trie_dense_rows(const TrieView& trie, std::uint32_t* rows);

struct BeamStepArgs {
  i64 batch = 0, beams = 0, groups = 1, vocab = 0;
  /** Rows of `scores` per query: 1 (every beam reads the same row, the first step) or beams. */
  i64 input_beams = 0;
  const float* scores = nullptr;           // [batch, input_beams, vocab]
  bool logits = false;                     // scores are logits: log-softmax each row first
  const std::int32_t* nodes = nullptr;     // [batch, beams] current trie node, -1 = inactive
  const float* beam_scores = nullptr;      // [batch, beams] running log-probabilities
  const std::uint8_t* group_done = nullptr;  // optional [batch, groups]: 1 = group finished
  float penalty = 0;                       // Hamming diversity penalty (>= 0)
  std::int32_t end_token = -1;             // token that ends an ID (-1: none)
  // Outputs, [batch, beams]: the next beams. parent is the beam (0..beams-1) they extend.
  std::int32_t* next_nodes = nullptr;
  float* next_scores = nullptr;
  std::int32_t* next_parents = nullptr;
  std::int32_t* next_tokens = nullptr;
  // Outputs, IDs finished by the end token at this step: finished_count [batch, groups], and
  // [batch, groups, group_size] entries of parent beam, score and the terminal node.
  std::int32_t* finished_count = nullptr;
  std::int32_t* finished_parent = nullptr;
  float* finished_score = nullptr;
  std::int32_t* finished_node = nullptr;
};

/** Sizes and pointers; throws semid::Error (ERR_SEMID_INVALID_ARG) when they do not fit. */
void validate_beam_step(const TrieView& trie, const BeamStepArgs& args);

/** CPU backend: threads over the queries. */
void beam_step_cpu(const TrieView& trie, const BeamStepArgs& args, int threads, const CancelFlag& cancel);

/**
 * CUDA backend with host pointers: copies the inputs up and the outputs back (one packed copy
 * each, through pinned memory; large scores in staged chunks), and the trie unless a copy of it
 * is kept (trie.cache_key). Steps from several threads take their turn.
 */
void beam_step_cuda(const TrieView& trie, const BeamStepArgs& args, const CancelFlag& cancel);

/** CUDA backend with every pointer (trie and args) in device memory; nothing is copied. */
void beam_step_cuda_device(const TrieView& trie, const BeamStepArgs& args, const CancelFlag& cancel);

/**
 * The finished IDs of every (query, group) of a search: groups_total groups of up to `size`
 * slots each (slot s belongs to group s / size), as FinishedHypotheses in
 * src/decoding/finished-hypotheses.ts keeps them.
 */
struct FinishedView {
  i64 groups_total = 0, size = 0, max_length = 0;
  const std::int32_t* count = nullptr;   // [groups_total] slots in use, each in [0, size]
  const double* score = nullptr;         // [groups_total * size] length-normalised score
  const double* order = nullptr;         // [groups_total * size] when the slot was added (ties)
  const std::int32_t* node = nullptr;    // [groups_total * size] trie node where the ID ends
  const std::int32_t* length = nullptr;  // [groups_total * size] tokens held, <= max_length
  const std::int32_t* tokens = nullptr;  // [groups_total * size * max_length]
};

/**
 * rank_finished's outputs, [batch, limit] rows (row q: query q, whose groups are
 * q * groups .. q * groups + groups - 1): each query's hypotheses best first, then padding.
 */
struct RankedHypotheses {
  i64 batch = 0, groups = 1, limit = 1;
  std::int32_t* counts = nullptr;      // [batch] hypotheses in each row, min(limit, slots in use)
  std::int32_t* ids = nullptr;         // [batch, limit] ID index (terminal[node]), -1 as padding
  double* scores = nullptr;            // [batch, limit] score, NaN as padding
  std::int32_t* lengths = nullptr;     // [batch, limit] tokens, 0 as padding
  std::int32_t* tokens = nullptr;      // [batch, limit, max_length] tokens, -1 past the length
  std::uint8_t* first = nullptr;       // [batch, limit] 1 where the ID is new in its row
  std::int32_t* item_start = nullptr;  // [batch + 1] prefix sums of the items the first IDs name
};

/**
 * Ranks each query's finished hypotheses as transformers' group beam search returns them: by
 * score, best first; equal scores (or NaN-distanced ones) put the later group first, then the
 * later added (a bottom-up merge sort of the query's slots in group order, the same comparisons
 * as the TypeScript oracle, so that every order, NaN included, is the same). `id_start` [ids + 1]
 * gives the items each ID names (item_start counts those of each row's first IDs). Threads over
 * the queries. Throws ERR_SEMID_INVALID_ARG when a count, length, node or ID is out of range.
 */
void rank_finished(const TrieView& trie, const std::int32_t* id_start, i64 ids, const FinishedView& hyps,
                   const RankedHypotheses& out, int threads, const CancelFlag& cancel);

/**
 * The items of rank_finished's rows into items [item_start[batch]] in rank order, each first
 * ID's items (id_items [id_items_len], from id_start[id] to id_start[id + 1], id_start [ids + 1]) with its
 * hypothesis' score as float. `ranked` is rank_finished's output for the same trie; a row whose
 * IDs disagree with item_start or id_start is an error (ERR_SEMID_INVALID_ARG), never a stray write.
 */
void gather_ranked_items(const std::int32_t* id_start, i64 ids, const std::int32_t* id_items, i64 id_items_len,
                         const RankedHypotheses& ranked, std::int32_t* items, float* item_scores, int threads,
                         const CancelFlag& cancel);

/** FinishedView's arrays, writable, and `worst` [groups_total] (each group's lowest score, 1e9 while empty). */
struct FinishedStore {
  i64 groups_total = 0, size = 0, max_length = 0;
  std::int32_t* count = nullptr;
  double* worst = nullptr;
  double* score = nullptr;
  double* order = nullptr;
  std::int32_t* node = nullptr;
  std::int32_t* length = nullptr;
  std::int32_t* tokens = nullptr;
};

/**
 * After a search's last step, each group not done (done [batch * groups], 0) offers the store its
 * beams that stand at a complete ID (nodes [batch, beams] with terminal >= 0), in beam order: the
 * running score (scores [batch, beams]) over `norm` (length ** lengthPenalty, as the caller
 * computes it), `length` tokens from row r of tokens [batch * beams, length]. A group keeps its
 * best `size` (of equal worsts the earliest added leaves), as FinishedHypotheses.add, whose
 * TypeScript is the oracle (JavaScript's Math.min included: NaN and -0). Offers are numbered from
 * `order`; returns the next number. Throws ERR_SEMID_INVALID_ARG on a node or count out of range.
 */
i64 add_complete_beams(const TrieView& trie, const FinishedStore& store, const std::uint8_t* done, const std::int32_t* nodes,
                       const float* scores, const std::int32_t* tokens, i64 length, double norm, i64 batch, i64 groups,
                       i64 beams, i64 order);

}  // namespace semid
