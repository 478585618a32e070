// info(): what this addon is and what it can use (for `semid doctor` and the loader).
#include "bindings.h"
#include "semid/cpu_features.h"
#include "semid/cuda.h"
#include "semid/parallel.h"

namespace semid::addon {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("simd", simd_name(active_simd()));
  out.Set("simdDetected", simd_name(detected_simd()));
  out.Set("threads", default_threads());
  out.Set("spinUs", static_cast<double>(spin_us()));
  out.Set("openblas", openblas_linked());
  CudaStatus s = cuda_status();
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", s.compiled);
  cuda.Set("deviceCount", s.device_count);
  cuda.Set("runtimeVersion", s.runtime_version);
  cuda.Set("driverVersion", s.driver_version);
  cuda.Set("reason", s.reason);
  if (s.device_count > 0) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", s.device.index);
    d.Set("name", s.device.name);
    d.Set("totalMemory", static_cast<double>(s.device.total_memory));
    d.Set("freeMemory", static_cast<double>(s.device.free_memory));
    d.Set("computeCapability", std::to_string(s.device.sm_major) + "." + std::to_string(s.device.sm_minor));
    d.Set("multiprocessors", s.device.multiprocessors);
    cuda.Set("device", d);
  }
  out.Set("cuda", cuda);
  return out;
}

}  // namespace semid::addon
