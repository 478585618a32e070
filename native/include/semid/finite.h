// Input screening shared by the kernel entry points.
#pragma once
#include <vector>

#include "semid/common.h"

namespace semid {

/** Throws ERR_SEMID_INVALID_ARG naming `name`, row and column of the first NaN/Inf in a
 * row-major rows x cols buffer. */
void check_finite(const char* name, const float* data, i64 rows, i64 cols, int threads,
                  const CancelFlag& cancel);

}  // namespace semid
