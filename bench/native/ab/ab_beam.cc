// A/B of the CPU beam step: an older commit's core against the work tree's, in one process, rep by
// rep in alternation, with the memory-read floor timed in the same loop. On a machine whose speed
// drifts by 1.5x between runs, separate runs cannot show a 5% change; alternating reps can (an A/A
// run here: the median per-rep ratio within +-3%). Build and run with bench/native/ab/run.sh.
//
// Usage: ab_beam [threads=0] [batch=1024] [reps=20] [logits=1] [levels=2] [mode=0]
// The case is bench_native's: 62,138 random IDs over 256 codes, beam 60, 30 groups, penalty 0.25,
// every beam at a depth-1 node; mode=1: a search's first step instead (one row per query, every
// beam at the root, each group's first beam at score 0 and the others at -1e9); mode=2: the
// bench case with close beam scores (-3.5 - U(0, 0.2)), where no beam can be ruled out.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../beam_case.h"

using namespace semid;
extern "C" void ab_old(const void* trie, const void* args, int threads);
extern "C" void ab_new(const void* trie, const void* args, int threads);

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  const i64 batch = argc > 2 ? std::atoll(argv[2]) : 1024;
  const int reps = argc > 3 ? std::max(1, std::atoi(argv[3])) : 20;
  const bool logits = argc > 4 ? std::atoi(argv[4]) != 0 : true;
  const int levels = argc > 5 ? std::atoi(argv[5]) : 2;
  const int mode = argc > 6 ? std::atoi(argv[6]) : 0;
  const bool first_step = mode == 1;
  std::mt19937 trie_rng(11 + levels);
  testing::OwnedTrie trie = testing::random_trie(62138, levels, 256, trie_rng);
  trie.build_dense_rows();
  const TrieView tv = trie.view();
  bench::BeamCase bc(bench::depth1_nodes(trie), batch);
  BeamStepArgs& a = bc.args;
  a.logits = logits;
  if (mode == 2) {  // close beams: a group's beams within 0.2 of each other, as after a search's first step
    std::mt19937 close_rng(5);
    std::uniform_real_distribution<float> gap(0.0f, 0.2f);
    for (auto& v : bc.beam_scores) v = -3.5f - gap(close_rng);
  }
  if (first_step) {
    a.input_beams = 1;  // the first batch x vocab logits serve as the rows
    const i64 gs = a.beams / a.groups;
    for (i64 i = 0; i < batch * a.beams; ++i) {
      bc.nodes[std::size_t(i)] = 0;  // the root
      bc.beam_scores[std::size_t(i)] = (i % a.beams) % gs == 0 ? 0.0f : -1e9f;
    }
  }
  std::vector<std::int32_t>& nt = bc.next_tokens;
  std::vector<std::int32_t>& nn = bc.next_nodes;
  std::vector<float>& nscore = bc.next_scores;

  // Both cores on the same input: their selections and scores must be equal bit for bit.
  ab_old(&tv, &a, threads);
  const std::vector<std::int32_t> nt_old = nt, nn_old = nn;
  const std::vector<float> ns_old = nscore;
  ab_new(&tv, &a, threads);
  const bool same = nt == nt_old && nn == nn_old && nscore == ns_old;

  std::vector<double> sink;
  auto read_floor = [&] { bench::read_floor(bc.scores, threads, sink); };
  auto ms = [&](auto fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> t_old, t_new, t_floor, ratio;
  for (int r = 0; r < reps; ++r) {
    double o, n;
    if (r % 2 == 0) {
      o = ms([&] { ab_old(&tv, &a, threads); });
      n = ms([&] { ab_new(&tv, &a, threads); });
    } else {
      n = ms([&] { ab_new(&tv, &a, threads); });
      o = ms([&] { ab_old(&tv, &a, threads); });
    }
    t_old.push_back(o); t_new.push_back(n); ratio.push_back(n / o);
    t_floor.push_back(ms(read_floor));
  }
  auto median = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
  std::printf("beam step%s L=%d batch=%lld %s, %d threads, %d reps: old %.3f ms, new %.3f ms (medians); new/old per rep %.3f; "
              "read floor %.3f ms (old %.2fx, new %.2fx); %s\n",
              mode == 1 ? " (first step)" : mode == 2 ? " (close beam scores)" : "", levels, (long long)batch, logits ? "logits" : "log-probs", threads > 0 ? threads : default_threads(), reps,
              median(t_old), median(t_new), median(ratio), median(t_floor), median(t_old) / median(t_floor),
              median(t_new) / median(t_floor), same ? "same outputs" : "OUTPUTS DIFFER");
  return same ? 0 : 1;
}
