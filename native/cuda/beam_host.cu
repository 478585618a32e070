// The CUDA beam step from host arrays (what the Node addon calls): the trie stays on the device
// between steps (a copy per cache key, TrieView::cache_key), the per-step inputs go up in one
// packed copy from pinned memory (the scores on their own once they are large: staged copies) and
// the outputs come back in one packed copy; device and pinned buffers are kept and grown, never
// allocated per step. Before, every step allocated and freed ~20 device buffers, uploaded the
// whole trie and made ~12 pageable copies: ~0.3-0.5 ms around a 0.06 ms kernel at batch 1.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "cuda_check.cuh"
#include "semid/beam.h"
#include "semid/cuda.h"

namespace semid {
namespace cuda {
namespace {

constexpr int kTrieSlots = 4;  // tries kept on the device, least recently used replaced

/**
 * A trie's four arrays in one device allocation: child_start [nodes + 1], child_token, child_node
 * [edges], terminal [nodes]; and its dense rows (trie_dense_rows, made here from those arrays so
 * that they are the trie's own), which let the step read dense nodes' rows contiguously.
 */
struct DeviceTrie {
  std::uint64_t key = 0;  // 0: the slot is free
  i64 nodes = 0, edges = 0, max_children = 0;
  const void* host[4] = {};  // the arrays it was copied from (a key names one trie: a check, not a hash)
  std::uint64_t last_use = 0;
  DeviceBuffer<std::int32_t> words;
  DeviceBuffer<std::uint32_t> dense;  // [trie_dense_rows_words(edges)]; empty: none (children out of order)
  bool has_dense = false;

  bool holds(const TrieView& t) const {
    return key != 0 && key == t.cache_key && nodes == t.nodes && edges == t.edges && host[0] == t.child_start &&
           host[1] == t.child_token && host[2] == t.child_node && host[3] == t.terminal;
  }
  void load(const TrieView& t) {
    key = 0;  // until the copy has succeeded
    const std::size_t n = std::size_t(t.nodes), e = std::size_t(t.edges);
    if (words.size() < 2 * n + 2 * e + 1) words.resize(2 * n + 2 * e + 1);
    std::int32_t* d = words.get();
    SEMID_CUDA_CHECK(cudaMemcpy(d, t.child_start, (n + 1) * 4, cudaMemcpyHostToDevice));
    if (e) {
      SEMID_CUDA_CHECK(cudaMemcpy(d + n + 1, t.child_token, e * 4, cudaMemcpyHostToDevice));
      SEMID_CUDA_CHECK(cudaMemcpy(d + n + 1 + e, t.child_node, e * 4, cudaMemcpyHostToDevice));
    }
    if (n) SEMID_CUDA_CHECK(cudaMemcpy(d + n + 1 + 2 * e, t.terminal, n * 4, cudaMemcpyHostToDevice));
    has_dense = false;
    if (e) {
      std::vector<std::uint32_t> rows(std::size_t(trie_dense_rows_words(t.edges)));
      try {
        trie_dense_rows(t, rows.data());
        has_dense = true;
      } catch (const Error&) {  // a node's children not in ascending token order: every node gathers
      }
      if (has_dense) {
        if (dense.size() < rows.size()) dense.resize(rows.size());
        SEMID_CUDA_CHECK(cudaMemcpy(dense.get(), rows.data(), rows.size() * 4, cudaMemcpyHostToDevice));
      }
    }
    max_children = 0;
    for (i64 u = 0; u < t.nodes; ++u)
      max_children = std::max<i64>(max_children, t.child_start[u + 1] - t.child_start[u]);
    nodes = t.nodes;
    edges = t.edges;
    host[0] = t.child_start; host[1] = t.child_token; host[2] = t.child_node; host[3] = t.terminal;
    key = t.cache_key;
  }
  void clear() {
    key = 0;
    nodes = edges = max_children = 0;
    words.resize(0);
    dense.resize(0);
    has_dense = false;
  }
  TrieView view() const {
    const std::int32_t* d = words.get();
    const std::size_t n = std::size_t(nodes), e = std::size_t(edges);
    TrieView v;
    v.nodes = nodes;
    v.edges = edges;
    v.child_start = d;
    v.child_token = d + n + 1;
    v.child_node = d + n + 1 + e;
    v.terminal = d + n + 1 + 2 * e;
    v.max_children = std::max<i64>(max_children, 1);
    v.dense_rows = has_dense ? dense.get() : nullptr;
    return v;
  }
};

/** Grow-only pinned host memory (pageable where pinned cannot be had). */
class HostStaging {
 public:
  ~HostStaging() { release(); }
  unsigned char* get(std::size_t bytes) {
    if (bytes <= size_) return data_;
    release();
    void* p = nullptr;
    if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) == cudaSuccess) {
      pinned_ = true;
      data_ = static_cast<unsigned char*>(p);
    } else {
      cudaGetLastError();
      pinned_ = false;
      fallback_.resize(bytes);
      data_ = fallback_.data();
    }
    size_ = bytes;
    return data_;
  }

 private:
  void release() {
    if (pinned_ && data_) cudaFreeHost(data_);
    cudaGetLastError();
    fallback_.clear();
    fallback_.shrink_to_fit();
    data_ = nullptr;
    size_ = 0;
    pinned_ = false;
  }
  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  bool pinned_ = false;
  std::vector<unsigned char> fallback_;
};

/** What the host-array step keeps between calls, for one device; steps take it in turn. */
struct HostStepState {
  std::mutex mu;
  int device = -1;
  std::uint64_t clock = 0;
  DeviceTrie tries[kTrieSlots];
  DeviceTrie uncached;  // a trie without a key: copied every step
  DeviceBuffer<float> scores;         // large scores (kStagedMinBytes and up)
  DeviceBuffer<std::int32_t> io;      // packed inputs, then packed outputs (4-byte words)
  HostStaging staging;

  /** The trie on the device: its cached copy, copying it first where it has none. */
  TrieView trie(const TrieView& t) {
    ++clock;
    if (t.cache_key == 0) {
      uncached.load(t);
      return uncached.view();
    }
    DeviceTrie* slot = nullptr;
    for (DeviceTrie& d : tries)
      if (d.holds(t)) slot = &d;
    if (!slot) {
      slot = &tries[0];
      for (DeviceTrie& d : tries)
        if (d.key == 0 || d.last_use < slot->last_use) slot = &d;
      slot->load(t);
    }
    slot->last_use = clock;
    return slot->view();
  }
};

HostStepState& host_state() {
  static HostStepState* s = new HostStepState;  // never destroyed: no CUDA calls after the runtime unloads
  return *s;
}

}  // namespace
}  // namespace cuda

void beam_step_cuda(const TrieView& trie, const BeamStepArgs& a, const CancelFlag& cancel) {
  validate_beam_step(trie, a);
  cuda::use_device();
  cancel.check();
  cuda::HostStepState& st = cuda::host_state();
  std::lock_guard<std::mutex> lock(st.mu);
  int dev = 0;
  SEMID_CUDA_CHECK(cudaGetDevice(&dev));
  if (st.device != dev) {  // another device: nothing kept is valid there
    for (cuda::DeviceTrie& d : st.tries) d.clear();
    st.uncached.clear();
    st.scores.resize(0);
    st.io.resize(0);
    st.device = dev;
  }
  const TrieView dt = st.trie(trie);
  if (a.batch == 0) {  // nothing to copy: the trie's checks only
    beam_step_cuda_device(dt, a, cancel);
    return;
  }
  // Packed words. In: [scores, when small] [nodes B] [beam scores B] [group_done G bytes, padded].
  // Out: next nodes, scores, parents, tokens [B each], finished count [G], parent, score, node [F each].
  const std::size_t B = a.batch * a.beams, G = a.batch * a.groups, F = G * (a.beams / a.groups);
  const std::size_t S = std::size_t(a.batch * a.input_beams * a.vocab);
  const bool big_scores = S * 4 >= cuda::kStagedMinBytes;
  const std::size_t s_words = big_scores ? 0 : S, done_words = a.group_done ? (G + 3) / 4 : 0;
  const std::size_t in_words = s_words + 2 * B + done_words, out_words = 4 * B + G + 3 * F;
  // The inputs and the outputs side by side: a query's outputs are written while others still
  // read their inputs. The pinned staging carries the inputs up, then the outputs back.
  if (st.io.size() < in_words + out_words) st.io.resize(in_words + out_words);
  unsigned char* host = st.staging.get(std::max(in_words, out_words) * 4);
  std::memcpy(host, a.scores, s_words * 4);
  std::memcpy(host + s_words * 4, a.nodes, B * 4);
  std::memcpy(host + (s_words + B) * 4, a.beam_scores, B * 4);
  if (a.group_done) std::memcpy(host + (s_words + 2 * B) * 4, a.group_done, G);
  std::int32_t* in = st.io.get();
  SEMID_CUDA_CHECK(cudaMemcpyAsync(in, host, in_words * 4, cudaMemcpyHostToDevice, 0));
  BeamStepArgs d = a;
  if (big_scores) {
    if (st.scores.size() < S) st.scores.resize(S);
    st.scores.upload(a.scores, S);  // staged chunks, ordered after the packed copy (default stream)
    d.scores = st.scores.get();
  } else {
    d.scores = reinterpret_cast<const float*>(in);
  }
  d.nodes = in + s_words;
  d.beam_scores = reinterpret_cast<const float*>(in + s_words + B);
  d.group_done = a.group_done ? reinterpret_cast<const std::uint8_t*>(in + s_words + 2 * B) : nullptr;
  std::int32_t* out = in + in_words;
  d.next_nodes = out;
  d.next_scores = reinterpret_cast<float*>(out + B);
  d.next_parents = out + 2 * B;
  d.next_tokens = out + 3 * B;
  d.finished_count = out + 4 * B;
  d.finished_parent = out + 4 * B + G;
  d.finished_score = reinterpret_cast<float*>(out + 4 * B + G + F);
  d.finished_node = out + 4 * B + G + 2 * F;
  beam_step_cuda_device(dt, d, cancel);  // synchronises: the staging is free again
  SEMID_CUDA_CHECK(cudaMemcpyAsync(host, out, out_words * 4, cudaMemcpyDeviceToHost, 0));
  SEMID_CUDA_CHECK(cudaStreamSynchronize(0));
  const unsigned char* o = host;
  std::memcpy(a.next_nodes, o, B * 4);
  std::memcpy(a.next_scores, o + B * 4, B * 4);
  std::memcpy(a.next_parents, o + 2 * B * 4, B * 4);
  std::memcpy(a.next_tokens, o + 3 * B * 4, B * 4);
  std::memcpy(a.finished_count, o + 4 * B * 4, G * 4);
  std::memcpy(a.finished_parent, o + (4 * B + G) * 4, F * 4);
  std::memcpy(a.finished_score, o + (4 * B + G + F) * 4, F * 4);
  std::memcpy(a.finished_node, o + (4 * B + G + 2 * F) * 4, F * 4);
}

}  // namespace semid
