// Rejects NaN and infinity in kernel inputs, naming the parameter and the first bad element.
#include "semid/finite.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "semid/parallel.h"

namespace semid {

void check_finite(const char* name, const float* data, i64 rows, i64 cols, int threads,
                  const CancelFlag& cancel) {
  if (rows <= 0 || cols <= 0) return;
  const i64 total = rows * cols, block = i64(1) << 20;
  const i64 blocks = (total + block - 1) / block;
  std::vector<i64> first_bad(blocks, -1);
  parallel_for(blocks, threads, cancel, [&](i64 b, int) {
    const i64 begin = b * block, end = std::min(total, (b + 1) * block);
    // Branch-free screen (vectorises): an exponent of all ones means NaN or infinity.
    const std::uint32_t* bits = reinterpret_cast<const std::uint32_t*>(data);
    std::uint32_t any = 0;
    for (i64 e = begin; e < end; ++e) any |= ((bits[e] & 0x7f800000u) == 0x7f800000u);
    if (!any) return;
    for (i64 e = begin; e < end; ++e)
      if (!std::isfinite(data[e])) { first_bad[b] = e; return; }
  });
  for (i64 b = 0; b < blocks; ++b) {
    if (first_bad[b] < 0) continue;
    const i64 e = first_bad[b];
    const float v = data[e];
    throw Error("ERR_SEMID_INVALID_ARG",
                std::string("Expected finite values for ") + name + " but received " +
                    (std::isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity") + " at row " +
                    std::to_string(e / cols) + ", column " + std::to_string(e % cols));
  }
}

}  // namespace semid
