// Declarations of the addon's exported functions (one .cc per family).
#pragma once
#include <napi.h>

namespace semid::addon {
Napi::Value Info(const Napi::CallbackInfo& info);
Napi::Value Gemm(const Napi::CallbackInfo& info);
Napi::Value Nearest(const Napi::CallbackInfo& info);
}  // namespace semid::addon
