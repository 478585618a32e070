// N-API entry point for the trie-constrained diverse beam search step.
#include "args.h"
#include "async_job.h"
#include "bindings.h"
#include "semid/beam.h"

namespace semid::addon {

// beamStep({childStart, childToken, childNode, terminal, trieKey?, scores, logits, inputBeams, nodes,
//           beamScores, groupDone?, batch, beams, groups, vocab, penalty, endToken,
//           nextNodes, nextScores, nextParents, nextTokens, finishedCount, finishedParent,
//           finishedScore, finishedNode, device, threads, cancel}) -> Promise<void>
Napi::Value BeamStep(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  TrieView t;
  BeamStepArgs a;
  t.nodes = int_field(o, "trieNodes", 0);
  t.edges = int_field(o, "trieEdges", 0);
  // trieKey: names an immutable trie (IdTrie), so the CUDA step keeps its device copy between steps.
  const std::int64_t key = int_field(o, "trieKey", 0);
  t.cache_key = key > 0 ? std::uint64_t(key) : 0;
  a.batch = int_field(o, "batch", 0);
  a.beams = int_field(o, "beams", 0);
  a.groups = int_field(o, "groups", 1);
  a.vocab = int_field(o, "vocab", 0);
  a.input_beams = int_field(o, "inputBeams", a.beams);
  a.logits = bool_field(o, "logits");
  a.penalty = static_cast<float>(num_field(o, "penalty", 0.0));
  a.end_token = static_cast<std::int32_t>(int_field(o, "endToken", -1));
  try {
    BeamStepArgs shape = a;
    shape.batch = 0;  // sizes here; the arrays are checked below
    validate_beam_step(t, shape);
  } catch (const Error& e) {
    throw Napi::RangeError::New(info.Env(), e.what());
  }
  const std::size_t B = a.batch * a.beams, G = a.batch * a.groups, F = G * (a.beams / a.groups);
  t.child_start = array_field<std::int32_t>(o, "childStart", t.nodes + 1);
  t.child_token = array_field<std::int32_t>(o, "childToken", t.edges);
  t.child_node = array_field<std::int32_t>(o, "childNode", t.edges);
  t.terminal = array_field<std::int32_t>(o, "terminal", t.nodes);
  if (o.Get("denseRows").IsTypedArray())  // each row is checked by the step where it is used
    t.dense_rows = array_field<std::uint32_t>(o, "denseRows", std::size_t(trie_dense_rows_words(t.edges)));
  a.scores = array_field<float>(o, "scores", a.batch * a.input_beams * a.vocab);
  a.nodes = array_field<std::int32_t>(o, "nodes", B);
  a.beam_scores = array_field<float>(o, "beamScores", B);
  Napi::Value done = o.Get("groupDone");
  if (done.IsTypedArray()) {
    auto arr = done.As<Napi::TypedArray>();
    if (arr.TypedArrayType() != napi_uint8_array || arr.ElementLength() < G)
      throw Napi::TypeError::New(info.Env(), "Expected Uint8Array of batch * groups elements for groupDone");
    a.group_done = static_cast<const std::uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
  }
  a.next_nodes = array_field<std::int32_t>(o, "nextNodes", B);
  a.next_scores = array_field<float>(o, "nextScores", B);
  a.next_parents = array_field<std::int32_t>(o, "nextParents", B);
  a.next_tokens = array_field<std::int32_t>(o, "nextTokens", B);
  a.finished_count = array_field<std::int32_t>(o, "finishedCount", G);
  a.finished_parent = array_field<std::int32_t>(o, "finishedParent", F);
  a.finished_score = array_field<float>(o, "finishedScore", F);
  a.finished_node = array_field<std::int32_t>(o, "finishedNode", F);
  const int threads = static_cast<int>(int_field(o, "threads", 0));
  const bool cuda = str_field(o, "device", "cpu") == "cuda";
  // A small step (up to 256 beams and 64 Ki scores: batch 4 x 60 beams x 256 tokens, ~0.1 ms)
  // runs here on the calling thread: a trip through the libuv pool and back costs ~60-70 us, more
  // than the step. The Promise is settled before returning; the results are the same at any
  // thread count.
  if (!cuda && a.batch * a.beams <= 256 && a.batch * a.input_beams * a.vocab <= (i64(1) << 16))
    return run_settled(info.Env(), o.Get("cancel"), [&](const CancelFlag& cancel) { beam_step_cpu(t, a, 1, cancel); });
  // The arrays stay referenced while a worker thread reads and writes them (a step on the calling
  // thread needs no references: ~35 property reads saved, a third of a small step's glue).
  std::vector<Napi::Value> keep;
  for (const char* name : {"childStart", "childToken", "childNode", "terminal", "denseRows", "scores", "nodes", "beamScores",
                           "groupDone", "nextNodes", "nextScores", "nextParents", "nextTokens", "finishedCount",
                           "finishedParent", "finishedScore", "finishedNode"}) {
    Napi::Value v = o.Get(name);
    if (v.IsObject()) keep.push_back(v);
  }
  return AsyncJob::Start(
      info.Env(),
      [t, a, threads, cuda](const CancelFlag& cancel) {
        if (cuda) beam_step_cuda(t, a, cancel);
        else beam_step_cpu(t, a, threads, cancel);
      },
      std::move(keep), o.Get("cancel"));
}

// trieDenseRows({trieNodes, trieEdges, childStart, childToken}) -> Uint32Array: the rows that
// let the CPU step read a dense node's scores contiguously (semid/beam.h). Synchronous, O(edges).
Napi::Value TrieDenseRows(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  TrieView t;
  t.nodes = int_field(o, "trieNodes", 0);
  t.edges = int_field(o, "trieEdges", 0);
  if (t.nodes < 1 || t.edges < 0) throw Napi::RangeError::New(info.Env(), "trieDenseRows: the trie has no nodes");
  t.child_start = array_field<std::int32_t>(o, "childStart", t.nodes + 1);
  t.child_token = array_field<std::int32_t>(o, "childToken", t.edges);
  for (i64 u = 0; u < t.nodes; ++u)
    if (t.child_start[u] < 0 || t.child_start[u] > t.child_start[u + 1] || t.child_start[u + 1] > t.edges)
      throw Napi::RangeError::New(info.Env(), "trieDenseRows: childStart is not a CSR offset array of " + std::to_string(t.edges) + " edges");
  Napi::Uint32Array rows = Napi::Uint32Array::New(info.Env(), std::size_t(trie_dense_rows_words(t.edges)));
  try {
    trie_dense_rows(t, rows.Data());
  } catch (const Error& e) {
    throw Napi::RangeError::New(info.Env(), e.what());
  }
  return rows;
}

}  // namespace semid::addon
