// Dense rows of a trie (semid/beam.h): for each node with many children in a narrow token
// range, which tokens of a 256-token window are children, so that a beam step can read that
// node's scores contiguously.
#include <algorithm>
#include <string>

#include "semid/beam.h"

namespace semid {

void trie_dense_rows(const TrieView& trie, std::uint32_t* rows) {
  std::fill(rows, rows + trie_dense_rows_words(trie.edges), 0u);
  for (i64 u = 0; u < trie.nodes; ++u) {
    const i64 c0 = trie.child_start[u], c1 = trie.child_start[u + 1];
    for (i64 e = c0 + 1; e < c1; ++e)  // a bit's rank is its edge only when tokens ascend
      if (trie.child_token[e] <= trie.child_token[e - 1])
        throw Error("ERR_SEMID_TRIE", "the children of trie node " + std::to_string(u) + " are not in ascending token order");
    if (c1 - c0 < kTrieDenseMinChildren) continue;
    const std::int32_t first = trie.child_token[c0];
    const i64 span = i64(trie.child_token[c1 - 1]) - first + 1;
    if (span > kTrieDenseSpan) continue;
    std::uint32_t* row = rows + (c0 / kTrieDenseMinChildren) * kTrieDenseRowWords;
    for (i64 e = c0; e < c1; ++e) {
      const std::int32_t p = trie.child_token[e] - first;
      row[p >> 5] |= std::uint32_t(1) << (p & 31);
    }
    row[8] = std::uint32_t(c0 + 1);
    row[9] = std::uint32_t(first);
    row[10] = std::uint32_t((span + 7) / 8);
    row[11] = std::uint32_t(c1 - c0);
  }
}

}  // namespace semid
