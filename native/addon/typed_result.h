// Handing native result buffers to JavaScript without a copy: the typed array views memory that
// the vector owned, and a finalizer frees it when the array is collected.
#pragma once
#include <napi.h>

#include <utility>
#include <vector>

namespace semid::addon {

/** A Float32Array / Float64Array over the contents of `v`, which is moved out (no copy). */
template <typename T, typename Alloc>
Napi::TypedArrayOf<T> adopt_vector(Napi::Env env, std::vector<T, Alloc>&& v) {
  using Vec = std::vector<T, Alloc>;
  const std::size_t count = v.size();
  if (count == 0) return Napi::TypedArrayOf<T>::New(env, 0);
  auto* owned = new Vec(std::move(v));
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, owned->data(), count * sizeof(T), [](Napi::Env, void*, Vec* hint) { delete hint; }, owned);
  return Napi::TypedArrayOf<T>::New(env, count, buffer, 0);
}

}  // namespace semid::addon
