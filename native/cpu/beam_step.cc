// Trie-constrained diverse beam search step on the CPU (semantics in semid/beam.h): one task
// per query; within a query, groups run in order, each gathering the candidates its beams' trie
// nodes allow into a sorted top-(2 * group_size) buffer, then walking it.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "beam_dense.h"
#include "gemm_kernel.h"
#include "logsumexp.h"
#include "semid/beam.h"
#include "semid/cpu_features.h"
#include "semid/parallel.h"

namespace semid {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

[[noreturn]] void invalid(const std::string& message) { throw Error("ERR_SEMID_INVALID_ARG", message); }

struct Candidate {
  float score;
  i64 flat;      // beam_in_group * vocab + token: the tie order
  int beam;      // beam index within the query
  int token;
  int edge;      // the trie edge to the next node, or -1 when the candidate is the end token
};

inline bool better(float s1, i64 f1, float s2, i64 f2) { return s1 > s2 || (s1 == s2 && f1 < f2); }

/** Keeps the best `cap` candidates, sorted best first (storage reserved once, no allocation). */
struct TopBuffer {
  std::vector<Candidate> storage;  // capacity cap; items [0, size)
  std::size_t cap = 0, size = 0;
  void reset(std::size_t c) {
    cap = c;
    if (storage.size() < c) storage.resize(c);
    size = 0;
  }
  const Candidate* begin() const { return storage.data(); }
  /** Scores below this cannot enter (ties still can, by the flat index). */
  float threshold() const { return size == cap ? storage[size - 1].score : kNegInf; }
  void offer(const Candidate& c) {
    Candidate* a = storage.data();
    std::size_t pos;
    if (size < cap) {
      pos = size++;
    } else {
      if (!better(c.score, c.flat, a[cap - 1].score, a[cap - 1].flat)) return;
      pos = cap - 1;  // the worst falls off
    }
    while (pos > 0 && better(c.score, c.flat, a[pos - 1].score, a[pos - 1].flat)) {
      a[pos] = a[pos - 1];
      --pos;
    }
    a[pos] = c;
  }
};

struct alignas(64) Scratch {  // one per worker, on its own cache lines (the top buffer changes per offer)
  std::vector<double> lse;        // [input_beams]
  std::vector<float> row_max;     // [input_beams] each logits row's maximum (with lse)
  std::vector<std::int32_t> freq; // [vocab], zero between queries
  std::vector<float> pen;         // [vocab] penalty * freq, zero between queries (dense rows only)
  std::vector<std::int32_t> chosen;
  std::vector<float> bound;       // [children of one node] candidate bounds
  std::vector<float> dense;       // [group_size, 256] pass-1 scores of a group's dense beams
  std::vector<const std::uint32_t*> dense_of;  // [group_size] each beam's dense row, or null
  std::vector<char> ruled_out;    // [group_size] 1: a dense beam none of whose children can rank
  int rule_out_tries = 0, rule_out_hits = 0;  // this query's attempts to rule a beam out, and successes
  TopBuffer top;
};

[[noreturn]] void dense_row_error(i64 node) {
  invalid("dense_rows disagree with the children of trie node " + std::to_string(node) +
          ": they are not the rows trie_dense_rows() makes for this trie");
}

[[noreturn]] void token_error(i64 token, i64 node, i64 vocab) {
  invalid("the trie holds token " + std::to_string(token) + " (a child of node " + std::to_string(node) +
          "), outside the vocabulary of " + std::to_string(vocab) + " scores per row");
}

[[noreturn]] void trie_error(i64 node) {
  throw Error("ERR_SEMID_TRIE", "Trie node " + std::to_string(node) +
                                    " has no children and ends no ID: the trie is malformed");
}

void step_query(const TrieView& trie, const BeamStepArgs& a, i64 b, bool next_is_mine, Scratch& s,
                cpu::LogSumExpFn lse_fn, cpu::BoundsFn bounds, bool dense_avx2, bool allow_rule_out) {
  const i64 B = a.beams, G = a.groups, gs = B / G, V = a.vocab;
  (void)dense_avx2;  // builds without the AVX2 path never read it
  (void)allow_rule_out;
  const float* rows = a.scores + b * a.input_beams * V;
  const std::int32_t* nodes = a.nodes + b * B;
  const float* bscore = a.beam_scores + b * B;
  // Log-normalisers of the rows some active beam reads, each computed by the group that reads it
  // (so that the row is still in L1 for that group's passes).
  if (a.logits)
    for (i64 r = 0; r < a.input_beams; ++r) s.lse[r] = std::numeric_limits<double>::quiet_NaN();
  auto normalise = [&](i64 j) {
    const i64 r = a.input_beams == 1 ? 0 : j;
    if (!std::isnan(s.lse[r])) return;
    // Rows stream in four ahead of their turn, into the next query's when this worker takes it.
    if (a.input_beams > 1 && V <= 4096 && (r + 4 < a.input_beams || next_is_mine))
      for (i64 off = 0; off < V; off += 16) __builtin_prefetch(rows + (r + 4) * V + off);
    s.lse[r] = lse_fn(rows + r * V, V, &s.row_max[r]);
    if (std::isnan(s.lse[r]))
      throw Error("ERR_SEMID_NOT_FINITE", "scores row " + std::to_string(b * a.input_beams + r) +
                                              " (query " + std::to_string(b) + ") holds NaN or +Infinity");
  };
  s.chosen.clear();
  s.rule_out_tries = s.rule_out_hits = 0;
  for (i64 g = 0; g < G; ++g) {
    const i64 first = g * gs;
    std::int32_t* fin_count = a.finished_count + b * G + g;
    *fin_count = 0;
    auto deactivate_from = [&](i64 slot) {
      for (i64 j = slot; j < gs; ++j) {
        const i64 o = b * B + first + j;
        a.next_nodes[o] = -1; a.next_scores[o] = kNegInf; a.next_parents[o] = -1; a.next_tokens[o] = -1;
      }
    };
    if (a.group_done && a.group_done[b * G + g]) { deactivate_from(0); continue; }
    // The group ranks 2 * group_size candidates so that finished ones (end tokens) can be set
    // aside; where no beam can end here, only the best group_size can continue, so the AVX2 step
    // keeps only them, and its dense floor below is the group_size-th largest: a tighter floor,
    // fewer offers. (The scalar step, the parity tests' oracle, keeps 2 * group_size.)
    bool may_finish = !dense_avx2;
    if (a.end_token >= 0)
      for (i64 j = first; j < first + gs && !may_finish; ++j)
        may_finish = nodes[j] >= 0 && nodes[j] < trie.nodes && trie.terminal[nodes[j]] >= 0;
    const i64 keep = may_finish ? 2 * gs : gs;
    s.top.reset(static_cast<std::size_t>(keep));
    if (a.logits)
      for (i64 j = first; j < first + gs; ++j)
        if (nodes[j] >= 0) normalise(j);
    // Dense nodes (beam_dense.h), pass 1: the scores of every beam's children and, for groups
    // of up to 32 beams, a floor under the group's final threshold from the two largest of
    // >= cap lanes. A beam whose best possible score (its row's maximum, log-normalised, plus
    // the beam's score: the penalty only lowers it) is below a floor of the beams scored before
    // it is ruled out: none of its children can rank. Beams go in their order, which in a search
    // is each group's rank order (the step writes it so); a search's first step rules out every
    // beam that starts at -1e9. The tests are ordered cheapest first, so that groups of close
    // beams, where nothing is ruled out, pay little for them.
    float floor = kNegInf;
#ifdef SEMID_BEAM_DENSE_AVX2
    if (dense_avx2) {
      const int cap = int(keep);
      int vectors = 1;
      while (vectors * 8 < cap) vectors *= 2;
      if (vectors > cpu::kDenseFloorVectors) vectors = 0;
      float lanes[2 * 8 * cpu::kDenseFloorVectors];  // [first, second] largest per lane
      std::fill(lanes, lanes + 2 * 8 * vectors, kNegInf);
      const cpu::DenseScoresFn dense_scores = cpu::dense_scores_fn(vectors);
      const bool rule_out = allow_rule_out && vectors > 0 && gs > 1;
      int scored = 0;          // beams through pass 1
      float early = kNegInf;   // a floor of the beams scored so far (dense_beam_ruled_out)
      bool early_stale = false;
      for (i64 jl = 0; jl < gs; ++jl) {
        const i64 j = first + jl;
        const std::int32_t node = nodes[j];
        s.dense_of[jl] = nullptr;
        s.ruled_out[jl] = 0;
        if (node < 0 || node >= trie.nodes) continue;  // pass 2 reports a bad node
        const std::uint32_t* dense = trie_dense_row(trie, trie.child_start[node], trie.child_start[node + 1]);
        if (dense == nullptr || !(std::fabs(bscore[j]) < std::numeric_limits<float>::infinity()))
          continue;  // a beam score of +-inf or NaN takes the gather path (the oracle's own handling)
        if (!cpu::dense_row_sound(dense)) dense_row_error(node);
        if (cpu::dense_row_last_token(dense) >= V) token_error(cpu::dense_row_last_token(dense), node, V);
        s.dense_of[jl] = dense;
        const i64 r = a.input_beams == 1 ? 0 : j;
        // Tried while it pays: the first 8 tries, then while at least one in 4 rules a beam out
        // (a first step: every group; mid-search groups of close beams: rarely).
        if (rule_out && scored > 0 && (s.rule_out_tries < 8 || 4 * s.rule_out_hits >= s.rule_out_tries)) {
          ++s.rule_out_tries;
          const float key = a.logits ? (s.row_max[r] - static_cast<float>(s.lse[r])) + bscore[j] : bscore[j];
          if (cpu::dense_beam_ruled_out(key, lanes, vectors, cap, scored, early, early_stale,
                                        a.logits ? nullptr : rows + r * V, V, dense, bscore[j])) {
            s.ruled_out[jl] = 1;
            ++s.rule_out_hits;
            continue;
          }
        }
        dense_scores(rows + r * V, s.pen.data(), V, dense, a.logits ? static_cast<float>(s.lse[r]) : 0.0f, bscore[j],
                     s.dense.data() + jl * kTrieDenseSpan, lanes);
        ++scored;
        early_stale = true;
      }
      if (scored > 0 && vectors > 0) floor = cpu::kth_largest_avx2(lanes, 2 * vectors, cap);
    }
#endif
    // Log-prob rows are gathered sparsely (only the allowed tokens): fetch the next group's rows
    // ahead so that their lines stream in while this group is scored.
    if (!a.logits && a.input_beams > 1 && g + 1 < G)
      for (i64 jl = 0; jl < gs; ++jl)
        if (nodes[first + gs + jl] >= 0)
          for (i64 off = 0; off < V; off += 16) __builtin_prefetch(rows + (first + gs + jl) * V + off);
    for (i64 jl = 0; jl < gs; ++jl) {
      const i64 j = first + jl;
      const std::int32_t node = nodes[j];
      if (node < 0) continue;
      if (node >= trie.nodes) invalid("nodes holds " + std::to_string(node) + ", the trie has " + std::to_string(trie.nodes) + " nodes");
      const i64 r = a.input_beams == 1 ? 0 : j;
      const float* row = rows + r * V;
      const double lse = a.logits ? s.lse[r] : 0.0;
      const float base = bscore[j];
      const float shift = a.logits ? static_cast<float>(lse) : 0.0f;  // x - 0 is exact
      // Exact score of token t: (lp - penalty * freq) + base, each rounded to float.
      auto score_of = [&](std::int32_t t) {
        float lp = row[t] - shift;
        if (std::isnan(lp))
          throw Error("ERR_SEMID_NOT_FINITE", "scores hold NaN for query " + std::to_string(b) + ", beam " + std::to_string(j) +
                                                  ", token " + std::to_string(t) +
                                                  " (a NaN log-probability, or logits that are -Infinity across the whole row)");
        const std::int32_t f = s.freq[t];
        if (f != 0) lp = lp - a.penalty * static_cast<float>(f);
        return lp + base;
      };
      const std::int32_t c0 = trie.child_start[node], c1 = trie.child_start[node + 1];
      const bool ends = trie.terminal[node] >= 0;
      if (c0 == c1 && !ends) trie_error(node);
      if (ends && a.end_token >= 0) {
        const float sc = score_of(a.end_token);
        if (sc > kNegInf) s.top.offer({sc, jl * V + a.end_token, int(j), a.end_token, -1});
      } else if (ends && c0 == c1) {
        throw Error("ERR_SEMID_TRIE", "Beam " + std::to_string(j) + " of query " + std::to_string(b) +
                                          " is at a finished ID and there is no end token");
      }
#ifdef SEMID_BEAM_DENSE_AVX2
      if (dense_avx2 && s.ruled_out[jl]) continue;  // no child can rank (above)
      if (const std::uint32_t* dense = dense_avx2 ? s.dense_of[jl] : nullptr) {  // pass 2
        const std::int32_t t0 = std::int32_t(dense[9]);
        cpu::dense_offer_avx2(s.dense.data() + jl * kTrieDenseSpan, dense, std::max(floor, s.top.threshold()),
                              [&](int p, int rank, float sc) {
                                const std::int32_t t = t0 + p;
                                if (t >= V) dense_row_error(node);  // a row that is not this trie's (t0 >= 0)
                                if (std::isnan(sc)) score_of(t);  // reports the NaN
                                if (sc > kNegInf) {
                                  __builtin_prefetch(trie.child_node + c0 + rank);  // read (and checked) if it wins
                                  __builtin_prefetch(trie.child_token + c0 + rank);
                                  s.top.offer({sc, jl * V + t, int(j), t, c0 + rank});
                                }
                                return std::max(floor, s.top.threshold());
                              });
        continue;
      }
#endif
      // Rounding is monotone and the penalty only lowers a score, so the unpenalised score
      // bounds the exact one: candidates whose bound is below the buffer's worst are skipped
      // (NaN fails the comparison and reaches score_of, which reports it). The beam's bounds
      // come in one pass (gathers), then one compare each against the rising threshold.
      if (s.bound.size() < std::size_t(c1 - c0)) s.bound.resize(std::size_t(c1 - c0));
      if (!bounds(row, V, trie.child_token + c0, c1 - c0, shift, base, s.bound.data()))
        for (std::int32_t e = c0; e < c1; ++e)
          if (trie.child_token[e] < 0 || trie.child_token[e] >= V) token_error(trie.child_token[e], node, V);
      const float* bound = s.bound.data();  // [c1 - c0]
      float thr = std::max(floor, s.top.threshold());
      for (std::int32_t e = c0; e < c1; ++e) {
        if (bound[e - c0] < thr) continue;
        const std::int32_t t = trie.child_token[e];
        const float sc = score_of(t);
        if (sc > kNegInf) {
          s.top.offer({sc, jl * V + t, int(j), t, e});
          thr = std::max(floor, s.top.threshold());
        }
      }
    }
    i64 filled = 0;
    const Candidate* top = s.top.begin();
    for (std::size_t rank = 0; rank < s.top.size && filled < gs; ++rank) {
      const Candidate& c = top[rank];
      if (c.edge < 0) {
        if (static_cast<i64>(rank) >= gs) continue;
        const i64 o = (b * G + g) * gs + *fin_count;
        a.finished_parent[o] = c.beam;
        a.finished_score[o] = c.score;
        a.finished_node[o] = nodes[c.beam];
        ++*fin_count;
        continue;
      }
      if (trie.child_token[c.edge] != c.token) dense_row_error(nodes[c.beam]);  // edges from dense rows
      const i64 o = b * B + first + filled;
      a.next_nodes[o] = trie.child_node[c.edge]; a.next_scores[o] = c.score; a.next_parents[o] = c.beam; a.next_tokens[o] = c.token;
      ++filled;
    }
    deactivate_from(filled);
    // The continuing beams' tokens penalise the later groups of this query.
    for (i64 jl = 0; jl < filled; ++jl) {
      const std::int32_t t = a.next_tokens[b * B + first + jl];
      if (s.freq[t]++ == 0) s.chosen.push_back(t);
      if (!s.pen.empty()) s.pen[t] = a.penalty * static_cast<float>(s.freq[t]);
    }
  }
  for (std::int32_t t : s.chosen) s.freq[t] = 0;
  if (!s.pen.empty())
    for (std::int32_t t : s.chosen) s.pen[t] = 0.0f;
}

}  // namespace

void validate_beam_step(const TrieView& trie, const BeamStepArgs& a) {
  if (a.batch < 0) invalid("batch must be >= 0, got " + std::to_string(a.batch));
  if (a.beams < 1 || a.beams > 1024) invalid("beams must be in [1, 1024], got " + std::to_string(a.beams));
  if (a.groups < 1 || a.beams % a.groups != 0)
    invalid("groups must divide beams=" + std::to_string(a.beams) + ", got " + std::to_string(a.groups));
  if (a.vocab < 1 || a.vocab > (i64(1) << 30)) invalid("vocab must be in [1, 2^30], got " + std::to_string(a.vocab));
  if (a.input_beams != 1 && a.input_beams != a.beams)
    invalid("input_beams must be 1 or beams=" + std::to_string(a.beams) + ", got " + std::to_string(a.input_beams));
  if (!(a.penalty >= 0) || std::isinf(a.penalty)) invalid("penalty must be a finite number >= 0, got " + std::to_string(a.penalty));
  if (a.end_token < -1 || a.end_token >= a.vocab)
    invalid("end_token must be -1 or in [0, vocab=" + std::to_string(a.vocab) + "), got " + std::to_string(a.end_token));
  if (trie.nodes < 1) invalid("the trie has no nodes");
  if (a.batch > 0 && (!a.scores || !a.nodes || !a.beam_scores || !a.next_nodes || !a.next_scores ||
                      !a.next_parents || !a.next_tokens || !a.finished_count || !a.finished_parent ||
                      !a.finished_score || !a.finished_node))
    invalid("beam step: a required buffer is missing");
}

void beam_step_cpu(const TrieView& trie, const BeamStepArgs& a, int threads, const CancelFlag& cancel) {
  validate_beam_step(trie, a);
  // Tokens index the rows: each node's are checked where it is read (the gather path before its
  // gathers, the dense path by its rows' soundness and on every offer), not per call over the
  // whole trie, which would cost a batch of one more than its step.
  if (a.batch == 0) return;
  const int t = resolve_threads(threads, a.batch);
  std::vector<Scratch> scratch(t);
  for (auto& s : scratch) {
    s.lse.resize(a.input_beams);
    s.row_max.resize(a.input_beams);
    if (trie.dense_rows) {
      s.dense.resize(std::size_t(a.beams / a.groups * kTrieDenseSpan));
      s.dense_of.assign(std::size_t(a.beams / a.groups), nullptr);
      s.ruled_out.assign(std::size_t(a.beams / a.groups), 0);
      s.pen.assign(std::size_t(a.vocab), 0.0f);
    }
    s.freq.assign(a.vocab, 0);
  }
  const cpu::LogSumExpFn lse_fn = cpu::logsumexp_fn();
  const cpu::BoundsFn bounds = cpu::bounds_fn();
  // Dense nodes read their rows contiguously where the trie has dense rows and AVX2 runs; the
  // gather path (every node, scalar builds) is the oracle the parity tests hold it to.
  bool dense_avx2 = false;
#ifdef SEMID_BEAM_DENSE_AVX2
  dense_avx2 = trie.dense_rows != nullptr && active_simd() != SimdLevel::Scalar && cpu::avx2_compiled();
#endif
  // SEMID_BEAM_RULE_OUT=0 scores every dense beam (the step before beams were ruled out), for A/B runs.
  const char* rule_out_env = std::getenv("SEMID_BEAM_RULE_OUT");
  const bool rule_out = rule_out_env == nullptr || std::string(rule_out_env) != "0";
  // Each task is a block of consecutive queries (about eight a thread), so that a worker knows its
  // next query and can fetch its first rows while finishing the current one.
  const i64 per_task = std::max<i64>(1, a.batch / (8 * i64(t)));
  parallel_for((a.batch + per_task - 1) / per_task, t, cancel, [&](i64 task, int w) {
    const i64 end = std::min(a.batch, (task + 1) * per_task);
    for (i64 b = task * per_task; b < end; ++b)
      step_query(trie, a, b, b + 1 < end, scratch[w], lse_fn, bounds, dense_avx2, rule_out);
  });
}

}  // namespace semid
