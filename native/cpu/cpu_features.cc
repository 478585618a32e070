// Run-time SIMD detection (see semid/cpu_features.h).
#include "semid/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace semid {

SimdLevel detected_simd() {
  static const SimdLevel level = [] {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return SimdLevel::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::Avx2Fma;
#endif
    return SimdLevel::Scalar;
  }();
  return level;
}

SimdLevel active_simd() {
  SimdLevel level = detected_simd();
  if (const char* env = std::getenv("SEMID_SIMD")) {
    SimdLevel cap = level;
    if (std::strcmp(env, "scalar") == 0) cap = SimdLevel::Scalar;
    else if (std::strcmp(env, "avx2") == 0) cap = SimdLevel::Avx2Fma;
    else if (std::strcmp(env, "avx512") == 0) cap = SimdLevel::Avx512;
    if (static_cast<int>(cap) < static_cast<int>(level)) level = cap;
  }
  return level;
}

const char* simd_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512: return "avx512";
    case SimdLevel::Avx2Fma: return "avx2+fma";
    default: return "scalar";
  }
}

bool openblas_linked() {
#ifdef SEMID_WITH_OPENBLAS
  return true;
#else
  return false;
#endif
}

}  // namespace semid
