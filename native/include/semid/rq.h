// Residual quantization with k-means codebooks (RQ-KMeans): level l clusters the residuals left by
// levels 0..l-1. Encoding is greedy or a beam search of width B over partial codes (as FAISS's
// ResidualQuantizer with max_beam_size = B). Codes are [n x levels] int32 in [0, k).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "semid/common.h"
#include "semid/kmeans.h"

namespace semid {

enum class Backend { Cpu = 0, Cuda = 1 };

struct RqParams {
  int levels = 2;
  KMeansParams kmeans;  // k = codebook size per level; seed of level l is seed + l
  int beam = 1;         // beam width used to encode the training rows between levels
  /** Train on a seeded sample of at most this many rows (0 = all). */
  i64 max_train_points = 0;
  Backend backend = Backend::Cpu;
};

struct RqCodebooks {
  int levels = 0;
  i64 k = 0, d = 0;
  std::vector<float> data;  // levels x k x d
  const float* level(int l) const { return data.data() + std::size_t(l) * k * d; }
};

struct RqTrainResult {
  RqCodebooks codebooks;
  std::vector<std::vector<KMeansIteration>> iterations;  // per level
  i64 train_rows = 0;
  /** When every row was used for training: the codes of the rows (n x levels), as rq_encode with
   * the training beam would give them, and per level the sum of squared residual norms. */
  std::vector<std::int32_t> codes;
  std::vector<double> level_sq_error;
};

using RqProgress = std::function<void(int level, int iteration, const KMeansIteration& record)>;

RqTrainResult rq_train(const float* x, i64 n, i64 d, const RqParams& params,
                       const CancelFlag& cancel, const RqProgress& progress = nullptr);

struct RqEncodeArgs {
  const float* x = nullptr;  // n x d
  i64 n = 0;
  int beam = 1;
  Backend backend = Backend::Cpu;
  int threads = 0;
  std::int32_t* codes = nullptr;  // out: n x levels
  /** Optional out: per level, the sum over rows of |x - reconstruction with levels 0..l|^2. */
  double* level_sq_error = nullptr;
};

void rq_encode(const RqCodebooks& codebooks, const RqEncodeArgs& args, const CancelFlag& cancel);

/** out (n x d) = sum over levels of codebook[l][codes[i][l]]. Throws on a code out of range. */
void rq_decode(const RqCodebooks& codebooks, const std::int32_t* codes, i64 n, float* out,
               int threads, const CancelFlag& cancel);

}  // namespace semid
