// Four float64 lanes for plain C++ loops (GCC/Clang vector extension): one ymm register in an
// AVX2 clone (semid/clones.h), two xmm registers otherwise. Arithmetic on V4 is lane-wise IEEE
// (no contraction with -ffp-contract=off), so a clone and the default path give the same bits.
// The helpers are always inlined; GCC's note on passing 32-byte vectors to functions compiled
// without AVX (-Wpsabi) does not apply to them.
#pragma once
#include <cstring>

#include "semid/common.h"

#pragma GCC diagnostic ignored "-Wpsabi"

namespace semid {

typedef double V4 __attribute__((vector_size(32)));

__attribute__((always_inline)) inline V4 load4(const double* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
__attribute__((always_inline)) inline void store4(double* p, const V4& v) { std::memcpy(p, &v, sizeof v); }
__attribute__((always_inline)) inline V4 splat4(double f) { return V4{f, f, f, f}; }
__attribute__((always_inline)) inline double sum4(const V4& v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/** a . b over [0, len): four lanes, then the tail (a fixed order). */
__attribute__((always_inline)) inline double dot4(const double* a, const double* b, i64 len) {
  V4 acc0 = {0, 0, 0, 0}, acc1 = {0, 0, 0, 0};  // two chains: the adds' latency, not their count, bounds the loop
  i64 t = 0;
  for (; t + 8 <= len; t += 8) {
    acc0 += load4(a + t) * load4(b + t);
    acc1 += load4(a + t + 4) * load4(b + t + 4);
  }
  if (t + 4 <= len) { acc0 += load4(a + t) * load4(b + t); t += 4; }
  double s = sum4(acc0 + acc1);
  for (; t < len; ++t) s += a[t] * b[t];
  return s;
}

/** y[0, len) -= f x[0, len) (lane-wise: the same bits as the scalar loop). */
__attribute__((always_inline)) inline void sub_scaled4(double* y, const double* x, double f, i64 len) {
  const V4 f4 = splat4(f);
  i64 t = 0;
  for (; t + 4 <= len; t += 4) store4(y + t, load4(y + t) - f4 * load4(x + t));
  for (; t < len; ++t) y[t] -= f * x[t];
}

/** y[0, len) += f x[0, len). */
__attribute__((always_inline)) inline void add_scaled4(double* y, const double* x, double f, i64 len) {
  const V4 f4 = splat4(f);
  i64 t = 0;
  for (; t + 4 <= len; t += 4) store4(y + t, load4(y + t) + f4 * load4(x + t));
  for (; t < len; ++t) y[t] += f * x[t];
}

}  // namespace semid
