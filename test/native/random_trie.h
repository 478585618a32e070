// Test and benchmark support (not part of the library): a CSR trie over random fixed-length codes,
// nodes numbered breadth first so that each node's children are contiguous and sorted by token.
#pragma once
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "semid/beam.h"

namespace semid::testing {

struct OwnedTrie {
  std::vector<std::int32_t> start, token, node, terminal;
  std::vector<int> depth;  // per node, 0 for the root
  std::vector<std::uint32_t> dense;  // the dense nodes' rows once build_dense_rows() ran
  TrieView view() const {
    TrieView t;
    t.nodes = i64(terminal.size()); t.edges = i64(token.size());
    t.child_start = start.data(); t.child_token = token.data(); t.child_node = node.data(); t.terminal = terminal.data();
    t.dense_rows = dense.empty() ? nullptr : dense.data();
    return t;
  }
  /** Rows for the dense nodes (the CPU step's contiguous scan); clear `dense` to go without. */
  void build_dense_rows() {
    dense.assign(std::size_t(trie_dense_rows_words(i64(token.size()))), 0u);
    TrieView t = view();
    trie_dense_rows(t, dense.data());
  }
};

/** `items` random codes of length `levels`, each in [0, k), drawn from `rng`. */
inline OwnedTrie random_trie(i64 items, int levels, int k, std::mt19937& rng) {
  std::uniform_int_distribution<int> code(0, k - 1);
  std::vector<std::map<int, int>> kids(1);
  std::vector<int> ends(1, -1), depth(1, 0);
  int ids = 0;
  for (i64 i = 0; i < items; ++i) {
    int u = 0;
    for (int l = 0; l < levels; ++l) {
      const int t = code(rng);
      auto it = kids[u].find(t);
      if (it == kids[u].end()) {
        kids.emplace_back(); ends.push_back(-1); depth.push_back(l + 1);
        it = kids[u].emplace(t, int(kids.size()) - 1).first;
      }
      u = it->second;
    }
    if (ends[u] < 0) ends[u] = ids++;
  }
  std::vector<int> order{0}, index(kids.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    for (auto& kv : kids[order[i]]) order.push_back(kv.second);
  for (std::size_t i = 0; i < order.size(); ++i) index[order[i]] = int(i);
  OwnedTrie t;
  for (int u : order) {
    t.depth.push_back(depth[u]);
    t.start.push_back(int(t.token.size()));
    t.terminal.push_back(ends[u]);
    for (auto& kv : kids[u]) { t.token.push_back(kv.first); t.node.push_back(index[kv.second]); }
  }
  t.start.push_back(int(t.token.size()));
  return t;
}

}  // namespace semid::testing
