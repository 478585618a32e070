// Four float64 lanes for plain C++ loops (GCC/Clang vector extension): one ymm register in an
// AVX2 clone (semid/clones.h), two xmm registers otherwise. Arithmetic on V4 is lane-wise IEEE
// (no contraction with -ffp-contract=off), so a clone and the default path give the same bits.
// The helpers are always inlined; GCC's note on passing 32-byte vectors to functions compiled
// without AVX (-Wpsabi) does not apply to them.
#pragma once
#include <cstring>

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

}  // namespace semid
