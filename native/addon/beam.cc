// N-API entry point for the trie-constrained diverse beam search step.
#include "args.h"
#include "async_job.h"
#include "bindings.h"
#include "semid/beam.h"

namespace semid::addon {

// beamStep(trieNodes, trieEdges, trieKey?, childStart, childToken, childNode, terminal, denseRows?,
//          batch, beams, groups, vocab, inputBeams, logits, penalty, endToken,
//          scores, nodes, beamScores, groupDone?,
//          nextNodes, nextScores, nextParents, nextTokens, finishedCount, finishedParent,
//          finishedScore, finishedNode, device, threads, cancel?) -> Promise<void>
// Positional (src/native/types.ts, RawBeamStepArgs), not an options object: a search's small
// steps run in ~15 us, and reading ~30 named properties through N-API cost ~10 us a call.
enum BeamStepArg {
  kTrieNodes, kTrieEdges, kTrieKey, kChildStart, kChildToken, kChildNode, kTerminal, kDenseRows,
  kBatch, kBeams, kGroups, kVocab, kInputBeams, kLogits, kPenalty, kEndToken,
  kScores, kNodes, kBeamScores, kGroupDone,
  kNextNodes, kNextScores, kNextParents, kNextTokens, kFinishedCount, kFinishedParent, kFinishedScore, kFinishedNode,
  kDevice, kThreads, kCancel, kBeamStepArgs
};

Napi::Value BeamStep(const Napi::CallbackInfo& info) {
  if (info.Length() != kBeamStepArgs)
    throw Napi::TypeError::New(info.Env(), "beamStep takes " + std::to_string(int(kBeamStepArgs)) + " arguments, got " +
                                               std::to_string(info.Length()));
  TrieView t;
  BeamStepArgs a;
  t.nodes = int_value(info[kTrieNodes], "trieNodes", 0);
  t.edges = int_value(info[kTrieEdges], "trieEdges", 0);
  // trieKey: names an immutable trie (IdTrie), so the CUDA step keeps its device copy between steps.
  const std::int64_t key = int_value(info[kTrieKey], "trieKey", 0);
  t.cache_key = key > 0 ? std::uint64_t(key) : 0;
  a.batch = int_value(info[kBatch], "batch", 0);
  a.beams = int_value(info[kBeams], "beams", 0);
  a.groups = int_value(info[kGroups], "groups", 1);
  a.vocab = int_value(info[kVocab], "vocab", 0);
  a.input_beams = int_value(info[kInputBeams], "inputBeams", a.beams);
  a.logits = bool_value(info[kLogits]);
  a.penalty = static_cast<float>(num_value(info[kPenalty], "penalty", 0.0));
  a.end_token = static_cast<std::int32_t>(int_value(info[kEndToken], "endToken", -1));
  try {
    BeamStepArgs shape = a;
    shape.batch = 0;  // sizes here; the arrays are checked below
    validate_beam_step(t, shape);
  } catch (const Error& e) {
    throw Napi::RangeError::New(info.Env(), e.what());
  }
  const std::size_t B = a.batch * a.beams, G = a.batch * a.groups, F = G * (a.beams / a.groups);
  t.child_start = array_value<std::int32_t>(info[kChildStart], "childStart", t.nodes + 1);
  t.child_token = array_value<std::int32_t>(info[kChildToken], "childToken", t.edges);
  t.child_node = array_value<std::int32_t>(info[kChildNode], "childNode", t.edges);
  t.terminal = array_value<std::int32_t>(info[kTerminal], "terminal", t.nodes);
  if (info[kDenseRows].IsTypedArray())  // each row is checked by the step where it is used
    t.dense_rows = array_value<std::uint32_t>(info[kDenseRows], "denseRows", std::size_t(trie_dense_rows_words(t.edges)));
  a.scores = array_value<float>(info[kScores], "scores", a.batch * a.input_beams * a.vocab);
  a.nodes = array_value<std::int32_t>(info[kNodes], "nodes", B);
  a.beam_scores = array_value<float>(info[kBeamScores], "beamScores", B);
  Napi::Value done = info[kGroupDone];
  if (done.IsTypedArray()) {
    auto arr = done.As<Napi::TypedArray>();
    if (arr.TypedArrayType() != napi_uint8_array || arr.ElementLength() < G)
      throw Napi::TypeError::New(info.Env(), "Expected Uint8Array of batch * groups elements for groupDone");
    a.group_done = static_cast<const std::uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
  }
  a.next_nodes = array_value<std::int32_t>(info[kNextNodes], "nextNodes", B);
  a.next_scores = array_value<float>(info[kNextScores], "nextScores", B);
  a.next_parents = array_value<std::int32_t>(info[kNextParents], "nextParents", B);
  a.next_tokens = array_value<std::int32_t>(info[kNextTokens], "nextTokens", B);
  a.finished_count = array_value<std::int32_t>(info[kFinishedCount], "finishedCount", G);
  a.finished_parent = array_value<std::int32_t>(info[kFinishedParent], "finishedParent", F);
  a.finished_score = array_value<float>(info[kFinishedScore], "finishedScore", F);
  a.finished_node = array_value<std::int32_t>(info[kFinishedNode], "finishedNode", F);
  const int threads = static_cast<int>(int_value(info[kThreads], "threads", 0));
  const bool cuda = str_value(info[kDevice], "cpu") == "cuda";
  // A small step (up to 256 beams and 64 Ki scores: batch 4 x 60 beams x 256 tokens, ~0.1 ms)
  // runs here on the calling thread: a trip through the libuv pool and back costs ~60-70 us, more
  // than the step. The Promise is settled before returning; the results are the same at any
  // thread count.
  if (!cuda && a.batch * a.beams <= 256 && a.batch * a.input_beams * a.vocab <= (i64(1) << 16))
    return run_settled(info.Env(), info[kCancel], [&](const CancelFlag& cancel) { beam_step_cpu(t, a, 1, cancel); });
  // The arrays stay referenced while a worker thread reads and writes them.
  std::vector<Napi::Value> keep;
  for (int i : {kChildStart, kChildToken, kChildNode, kTerminal, kDenseRows, kScores, kNodes, kBeamScores, kGroupDone,
                kNextNodes, kNextScores, kNextParents, kNextTokens, kFinishedCount, kFinishedParent, kFinishedScore,
                kFinishedNode})
    if (info[i].IsObject()) keep.push_back(info[i]);
  return AsyncJob::Start(
      info.Env(),
      [t, a, threads, cuda](const CancelFlag& cancel) {
        if (cuda) beam_step_cuda(t, a, cancel);
        else beam_step_cpu(t, a, threads, cancel);
      },
      std::move(keep), info[kCancel]);
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

// rankFinished(terminal, trieNodes, idStart, ids, count, score, order, node, length, tokens,
//              groupsTotal, size, maxLength, batch, groups, limit,
//              counts, outIds, outScores, outLengths, outTokens, first, itemStart, threads)
//   -> Promise<void>: each query's finished hypotheses ranked into [batch, limit] rows
//   (semid/beam.h rank_finished; FinishedHypotheses.rankedArrays is the oracle).
// gatherRankedItems(idStart, ids, idItems, batch, limit, counts, outIds, outScores, first,
//                   itemStart, items, itemScores, threads) -> Promise<void>: their items.
// Positional, as beamStep; a batch of up to 64 queries runs here on the calling thread.
enum RankArg {
  kRankTerminal, kRankTrieNodes, kRankIdStart, kRankIds, kRankCount, kRankScore, kRankOrder, kRankNode, kRankLength,
  kRankTokens, kRankGroupsTotal, kRankSize, kRankMaxLength, kRankBatch, kRankGroups, kRankLimit,
  kRankCounts, kRankOutIds, kRankOutScores, kRankOutLengths, kRankOutTokens, kRankFirst, kRankItemStart, kRankThreads,
  kRankFinishedArgs
};

enum GatherArg {
  kGatherIdStart, kGatherIds, kGatherIdItems, kGatherBatch, kGatherLimit, kGatherCounts, kGatherOutIds,
  kGatherOutScores, kGatherFirst, kGatherItemStart, kGatherItems, kGatherItemScores, kGatherThreads,
  kGatherRankedItemsArgs
};

namespace {

void expect_args(const Napi::CallbackInfo& info, const char* name, int count) {
  if (int(info.Length()) != count)
    throw Napi::TypeError::New(info.Env(), std::string(name) + " takes " + std::to_string(count) + " arguments, got " +
                                               std::to_string(info.Length()));
}

/** Runs `work` here for small batches, else on a libuv thread with the arguments referenced. */
template <typename Work>
Napi::Value run_batch_job(const Napi::CallbackInfo& info, i64 batch, int last_array, Work work) {
  if (batch <= 64) return run_settled(info.Env(), Napi::Value(), [&](const CancelFlag& cancel) { work(cancel); });
  std::vector<Napi::Value> keep;
  for (int i = 0; i <= last_array; ++i)
    if (info[i].IsObject()) keep.push_back(info[i]);
  return AsyncJob::Start(info.Env(), work, std::move(keep), Napi::Value());
}

}  // namespace

Napi::Value RankFinished(const Napi::CallbackInfo& info) {
  expect_args(info, "rankFinished", kRankFinishedArgs);
  TrieView t;
  FinishedView h;
  RankedHypotheses out;
  t.nodes = int_value(info[kRankTrieNodes], "trieNodes", 0);
  const i64 ids = int_value(info[kRankIds], "ids", 0);
  h.groups_total = int_value(info[kRankGroupsTotal], "groupsTotal", 0);
  h.size = int_value(info[kRankSize], "size", 0);
  h.max_length = int_value(info[kRankMaxLength], "maxLength", 0);
  out.batch = int_value(info[kRankBatch], "batch", 0);
  out.groups = int_value(info[kRankGroups], "groups", 0);
  out.limit = int_value(info[kRankLimit], "limit", 0);
  if (t.nodes < 1 || ids < 0 || h.groups_total < 0 || h.size < 1 || h.max_length < 1 || out.batch < 0 ||
      out.groups < 1 || out.limit < 1 || out.batch * out.groups > h.groups_total || h.groups_total * h.size > (i64(1) << 31) ||
      out.batch * out.limit * h.max_length > (i64(1) << 31))
    throw Napi::RangeError::New(info.Env(), "rankFinished: sizes out of range");
  const std::size_t slots = std::size_t(h.groups_total * h.size), rows = std::size_t(out.batch * out.limit);
  t.terminal = array_value<std::int32_t>(info[kRankTerminal], "terminal", std::size_t(t.nodes));
  const std::int32_t* id_start = array_value<std::int32_t>(info[kRankIdStart], "idStart", std::size_t(ids + 1));
  h.count = array_value<std::int32_t>(info[kRankCount], "count", std::size_t(h.groups_total));
  h.score = array_value<double>(info[kRankScore], "score", slots);
  h.order = array_value<double>(info[kRankOrder], "order", slots);
  h.node = array_value<std::int32_t>(info[kRankNode], "node", slots);
  h.length = array_value<std::int32_t>(info[kRankLength], "length", slots);
  h.tokens = array_value<std::int32_t>(info[kRankTokens], "tokens", slots * std::size_t(h.max_length));
  out.counts = array_value<std::int32_t>(info[kRankCounts], "counts", std::size_t(out.batch));
  out.ids = array_value<std::int32_t>(info[kRankOutIds], "outIds", rows);
  out.scores = array_value<double>(info[kRankOutScores], "outScores", rows);
  out.lengths = array_value<std::int32_t>(info[kRankOutLengths], "outLengths", rows);
  out.tokens = array_value<std::int32_t>(info[kRankOutTokens], "outTokens", rows * std::size_t(h.max_length));
  out.first = array_value<std::uint8_t>(info[kRankFirst], "first", rows);
  out.item_start = array_value<std::int32_t>(info[kRankItemStart], "itemStart", std::size_t(out.batch + 1));
  const int threads = static_cast<int>(int_value(info[kRankThreads], "threads", 0));
  return run_batch_job(info, out.batch, kRankItemStart, [t, id_start, ids, h, out, threads](const CancelFlag& cancel) {
    rank_finished(t, id_start, ids, h, out, threads, cancel);
  });
}

Napi::Value GatherRankedItems(const Napi::CallbackInfo& info) {
  expect_args(info, "gatherRankedItems", kGatherRankedItemsArgs);
  RankedHypotheses r;
  const i64 ids = int_value(info[kGatherIds], "ids", 0);
  r.batch = int_value(info[kGatherBatch], "batch", 0);
  r.limit = int_value(info[kGatherLimit], "limit", 0);
  if (ids < 0 || r.batch < 0 || r.limit < 1 || r.batch * r.limit > (i64(1) << 31))
    throw Napi::RangeError::New(info.Env(), "gatherRankedItems: sizes out of range");
  const std::size_t rows = std::size_t(r.batch * r.limit);
  const std::int32_t* id_start = array_value<std::int32_t>(info[kGatherIdStart], "idStart", std::size_t(ids + 1));
  std::size_t id_items_len = 0, items_len = 0, item_scores_len = 0;
  const std::int32_t* id_items = array_value<std::int32_t>(info[kGatherIdItems], "idItems", 0, &id_items_len);
  r.counts = array_value<std::int32_t>(info[kGatherCounts], "counts", std::size_t(r.batch));
  r.ids = array_value<std::int32_t>(info[kGatherOutIds], "outIds", rows);
  r.scores = array_value<double>(info[kGatherOutScores], "outScores", rows);
  r.first = array_value<std::uint8_t>(info[kGatherFirst], "first", rows);
  r.item_start = array_value<std::int32_t>(info[kGatherItemStart], "itemStart", std::size_t(r.batch + 1));
  std::int32_t* items = array_value<std::int32_t>(info[kGatherItems], "items", 0, &items_len);
  float* item_scores = array_value<float>(info[kGatherItemScores], "itemScores", 0, &item_scores_len);
  // Every row's items stay inside items: item_start must rise from 0 to at most their length.
  i64 prev = 0;
  for (i64 q = 0; q <= r.batch; ++q) {
    const i64 at = r.item_start[q];
    if ((q == 0 && at != 0) || at < prev || at > i64(std::min(items_len, item_scores_len)))
      throw Napi::RangeError::New(info.Env(), "gatherRankedItems: itemStart does not fit items");
    prev = at;
  }
  for (i64 q = 0; q < r.batch; ++q)
    if (r.counts[q] < 0 || r.counts[q] > r.limit) throw Napi::RangeError::New(info.Env(), "gatherRankedItems: counts out of range");
  const int threads = static_cast<int>(int_value(info[kGatherThreads], "threads", 0));
  return run_batch_job(info, r.batch, kGatherItemScores,
                       [id_start, ids, id_items, id_items_len, r, items, item_scores, threads](const CancelFlag& cancel) {
                         gather_ranked_items(id_start, ids, id_items, i64(id_items_len), r, items, item_scores, threads, cancel);
                       });
}

// addCompleteBeams(terminal, trieNodes, count, worst, score, order, node, length, tokens,
//                  groupsTotal, size, maxLength, done, nodes, scores, beamTokens, tokenLength, norm,
//                  batch, groups, beams, orderStart, orderOut) -> Promise<void>: after a search's
//   last step, the store (FinishedHypotheses' arrays) takes each unfinished group's beams that
//   stand at complete IDs (semid/beam.h add_complete_beams); the next offer number goes to
//   orderOut[0]. Positional, as beamStep; a batch of up to 64 queries runs on the calling thread.
enum CompleteArg {
  kCompleteTerminal, kCompleteTrieNodes, kCompleteCount, kCompleteWorst, kCompleteScore, kCompleteOrder, kCompleteNode,
  kCompleteLength, kCompleteTokens, kCompleteGroupsTotal, kCompleteSize, kCompleteMaxLength, kCompleteDone, kCompleteNodes,
  kCompleteScores, kCompleteBeamTokens, kCompleteTokenLength, kCompleteNorm, kCompleteBatch, kCompleteGroups,
  kCompleteBeams, kCompleteOrderStart, kCompleteOrderOut, kAddCompleteBeamsArgs
};

Napi::Value AddCompleteBeams(const Napi::CallbackInfo& info) {
  expect_args(info, "addCompleteBeams", kAddCompleteBeamsArgs);
  TrieView t;
  FinishedStore h;
  t.nodes = int_value(info[kCompleteTrieNodes], "trieNodes", 0);
  h.groups_total = int_value(info[kCompleteGroupsTotal], "groupsTotal", 0);
  h.size = int_value(info[kCompleteSize], "size", 0);
  h.max_length = int_value(info[kCompleteMaxLength], "maxLength", 0);
  const i64 length = int_value(info[kCompleteTokenLength], "tokenLength", 0);
  const double norm = num_value(info[kCompleteNorm], "norm", 1.0);
  const i64 batch = int_value(info[kCompleteBatch], "batch", 0), groups = int_value(info[kCompleteGroups], "groups", 0);
  const i64 beams = int_value(info[kCompleteBeams], "beams", 0), order = int_value(info[kCompleteOrderStart], "orderStart", 0);
  if (t.nodes < 1 || h.groups_total < 0 || h.size < 1 || h.max_length < 1 || length < 0 || length > h.max_length ||
      batch < 0 || groups < 1 || beams < 1 || beams % groups != 0 || batch * groups > h.groups_total ||
      h.groups_total * h.size * h.max_length > (i64(1) << 31) || batch * beams * (length + 1) > (i64(1) << 31))
    throw Napi::RangeError::New(info.Env(), "addCompleteBeams: sizes out of range");
  const std::size_t slots = std::size_t(h.groups_total * h.size), rows = std::size_t(batch * beams);
  t.terminal = array_value<std::int32_t>(info[kCompleteTerminal], "terminal", std::size_t(t.nodes));
  h.count = array_value<std::int32_t>(info[kCompleteCount], "count", std::size_t(h.groups_total));
  h.worst = array_value<double>(info[kCompleteWorst], "worst", std::size_t(h.groups_total));
  h.score = array_value<double>(info[kCompleteScore], "score", slots);
  h.order = array_value<double>(info[kCompleteOrder], "order", slots);
  h.node = array_value<std::int32_t>(info[kCompleteNode], "node", slots);
  h.length = array_value<std::int32_t>(info[kCompleteLength], "length", slots);
  h.tokens = array_value<std::int32_t>(info[kCompleteTokens], "tokens", slots * std::size_t(h.max_length));
  const std::uint8_t* done = array_value<std::uint8_t>(info[kCompleteDone], "done", std::size_t(batch * groups));
  const std::int32_t* nodes = array_value<std::int32_t>(info[kCompleteNodes], "nodes", rows);
  const float* scores = array_value<float>(info[kCompleteScores], "scores", rows);
  const std::int32_t* beam_tokens = array_value<std::int32_t>(info[kCompleteBeamTokens], "beamTokens", rows * std::size_t(length));
  double* order_out = array_value<double>(info[kCompleteOrderOut], "orderOut", 1);
  return run_batch_job(info, batch, kCompleteOrderOut,
                       [t, h, done, nodes, scores, beam_tokens, length, norm, batch, groups, beams, order, order_out](const CancelFlag&) {
                         *order_out = double(add_complete_beams(t, h, done, nodes, scores, beam_tokens, length, norm, batch,
                                                                groups, beams, order));
                       });
}

}  // namespace semid::addon
