// The beam-step benchmark case shared by bench_native.cc and ab/ab_beam.cc: a mid-search step at
// beam 60, 30 groups, penalty 0.25, vocabulary 256, every beam at a depth-1 node of a random trie,
// logits U(-4, 4); and the memory-read floor it is compared with.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "semid/beam.h"
#include "semid/parallel.h"
#include "../../test/native/random_trie.h"

namespace semid::bench {

constexpr i64 kBeamCaseBeams = 60, kBeamCaseGroups = 30, kBeamCaseVocab = 256;

/** The depth-1 nodes of a trie (where a mid-search step stands). */
inline std::vector<int> depth1_nodes(const testing::OwnedTrie& trie) {
  std::vector<int> out;
  for (std::size_t u = 0; u < trie.depth.size(); ++u)
    if (trie.depth[u] == 1) out.push_back(int(u));
  return out;
}

/** One step's inputs and outputs for `batch` queries, seeded by the batch size; `args` points into them. */
struct BeamCase {
  std::vector<float> scores;        // [batch, beams, vocab] logits
  std::vector<float> beam_scores;   // [batch, beams]
  std::vector<std::int32_t> nodes;  // [batch, beams] depth-1 nodes
  std::vector<float> next_scores, finished_score;  // [batch, beams]
  std::vector<std::int32_t> next_nodes, next_parents, next_tokens, finished_parent, finished_node;  // [batch, beams]
  std::vector<std::int32_t> finished_count;  // [batch, groups]
  BeamStepArgs args;

  BeamCase(const std::vector<int>& depth1, i64 batch) {
    const std::size_t B = std::size_t(batch * kBeamCaseBeams);
    std::mt19937 rng{static_cast<unsigned>(batch)};
    std::uniform_real_distribution<float> u(-4, 4);
    std::uniform_int_distribution<int> pick(0, int(depth1.size()) - 1);
    scores.resize(B * kBeamCaseVocab);
    beam_scores.resize(B);
    nodes.resize(B);
    for (auto& v : scores) v = u(rng);
    for (auto& v : beam_scores) v = -std::fabs(u(rng));
    for (auto& v : nodes) v = depth1[std::size_t(pick(rng))];
    next_scores.resize(B); finished_score.resize(B);
    next_nodes.resize(B); next_parents.resize(B); next_tokens.resize(B); finished_parent.resize(B); finished_node.resize(B);
    finished_count.resize(std::size_t(batch * kBeamCaseGroups));
    BeamStepArgs& a = args;
    a.batch = batch; a.beams = kBeamCaseBeams; a.groups = kBeamCaseGroups; a.vocab = kBeamCaseVocab;
    a.input_beams = kBeamCaseBeams; a.logits = true; a.penalty = 0.25f;
    a.scores = scores.data(); a.nodes = nodes.data(); a.beam_scores = beam_scores.data();
    a.next_nodes = next_nodes.data(); a.next_scores = next_scores.data(); a.next_parents = next_parents.data();
    a.next_tokens = next_tokens.data(); a.finished_count = finished_count.data(); a.finished_parent = finished_parent.data();
    a.finished_score = finished_score.data(); a.finished_node = finished_node.data();
  }
  BeamCase(const BeamCase&) = delete;
  BeamCase& operator=(const BeamCase&) = delete;
};

/**
 * One pass summing x on `threads` threads (0: all), 16 independent float sums a thread
 * (vectorised, no dependent chain): memory, not add latency, sets the pace. A single double sum
 * ran at one add per ~4 cycles, 3x slower than the memory on this machine, and made the floor
 * look slower than it is. The sums go to `sink` [64] so that the reads stay.
 */
inline void read_floor(const std::vector<float>& x, int threads, std::vector<double>& sink) {
  const i64 chunks = 64, per = (i64(x.size()) + chunks - 1) / chunks;
  sink.resize(64);
  parallel_for(chunks, threads, CancelFlag{}, [&](i64 c, int w) {
    float lanes[16] = {};
    const i64 lo = c * per, hi = std::min<i64>((c + 1) * per, i64(x.size()));
    i64 i = lo;
    for (; i + 16 <= hi; i += 16)
      for (int l = 0; l < 16; ++l) lanes[l] += x[std::size_t(i + l)];
    double s = 0;
    for (float v : lanes) s += v;
    for (; i < hi; ++i) s += x[std::size_t(i)];
    sink[std::size_t(w)] += s;
  });
}

}  // namespace semid::bench
