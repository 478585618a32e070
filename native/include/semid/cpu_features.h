// Run-time CPU feature detection for SIMD dispatch.
#pragma once
#include <string>

namespace semid {

enum class SimdLevel { Scalar = 0, Avx2Fma = 1, Avx512 = 2 };

/** The best SIMD level this CPU supports among those this build compiled (cached). */
SimdLevel detected_simd();

/** The level in use: detected_simd(), lowered by the SEMID_SIMD environment variable
 * ("scalar" | "avx2" | "avx512") so tests and benchmarks can compare paths. */
SimdLevel active_simd();

const char* simd_name(SimdLevel level);

/** True when this build was linked against OpenBLAS (SEMID_WITH_OPENBLAS). */
bool openblas_linked();

}  // namespace semid
