// A search's store of finished IDs, native: add_complete_beams (semid/beam.h), the twin of
// addCompleteBeams and FinishedHypotheses.add in src/decoding, whose TypeScript is the oracle. A
// batch of 1,024 queries at beam 60 offers 61,440 complete beams after its last step, which took
// that TypeScript ~3.5 ms (~25 ns an offer even with its arrays hoisted).
#include <cmath>
#include <string>

#include "semid/beam.h"

namespace semid {

namespace {

[[noreturn]] void invalid(const std::string& message) { throw Error("ERR_SEMID_INVALID_ARG", message); }

/** JavaScript's Math.min of two numbers: NaN if either is, and -0 below +0. */
inline double js_min(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::nan("");
  if (a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

/** FinishedHypotheses.add with the score already normalised. */
void store_add(const FinishedStore& h, i64 group, double score, std::int32_t node, const std::int32_t* row, i64 width, double order) {
  const i64 n = h.count[group], first = group * h.size;
  if (n >= h.size && !(score > h.worst[group])) return;
  i64 slot;
  if (n < h.size) {
    slot = first + n;
    h.count[group] = std::int32_t(n + 1);
    h.worst[group] = js_min(score, h.worst[group]);
  } else {
    slot = first;  // the lowest score, the earliest of equals
    for (i64 s = first + 1; s < first + n; ++s)
      if (h.score[s] < h.score[slot] || (h.score[s] == h.score[slot] && h.order[s] < h.order[slot])) slot = s;
  }
  h.score[slot] = score;
  h.node[slot] = node;
  h.order[slot] = order;
  h.length[slot] = std::int32_t(width);
  for (i64 t = 0; t < width; ++t) h.tokens[slot * h.max_length + t] = row[t];
  if (n >= h.size) {
    double worst = INFINITY;
    for (i64 s = first; s < first + n; ++s) worst = js_min(worst, h.score[s]);
    h.worst[group] = worst;
  }
}

}  // namespace

i64 add_complete_beams(const TrieView& trie, const FinishedStore& h, const std::uint8_t* done, const std::int32_t* nodes,
                       const float* scores, const std::int32_t* tokens, i64 length, double norm, i64 batch, i64 groups,
                       i64 beams, i64 order) {
  if (batch < 0 || groups < 1 || beams < 1 || beams % groups != 0)
    invalid("add_complete_beams: batch >= 0 and groups dividing beams, got batch=" + std::to_string(batch) + ", groups=" +
            std::to_string(groups) + ", beams=" + std::to_string(beams));
  if (h.groups_total < batch * groups || h.size < 1) invalid("add_complete_beams: the store holds too few groups");
  if (length < 0 || length > h.max_length)
    invalid("add_complete_beams: length " + std::to_string(length) + " is outside [0, " + std::to_string(h.max_length) + "]");
  const i64 gs = beams / groups;
  for (i64 fg = 0; fg < batch * groups; ++fg) {
    if (done[fg]) continue;
    if (h.count[fg] < 0 || h.count[fg] > h.size)
      invalid("finished count of group " + std::to_string(fg) + " is " + std::to_string(h.count[fg]) + ", expected [0, " +
              std::to_string(h.size) + "]");
    const i64 q = fg / groups, g = fg - q * groups;
    for (i64 r = q * beams + g * gs; r < q * beams + (g + 1) * gs; ++r) {
      const std::int32_t node = nodes[r];
      if (node >= trie.nodes) invalid("nodes holds " + std::to_string(node) + ", the trie has " + std::to_string(trie.nodes) + " nodes");
      if (node < 0 || trie.terminal[node] < 0) continue;
      store_add(h, fg, double(scores[r]) / norm, node, tokens + r * length, length, double(order));
      ++order;
    }
  }
  return order;
}

}  // namespace semid
