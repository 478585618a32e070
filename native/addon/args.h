// Reading arguments from the options object the TypeScript layer passes. The TS layer validates
// with user-facing messages; these checks only guard the native boundary (TypeError on misuse).
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

namespace semid::addon {

inline Napi::Value field(const Napi::Object& o, const char* name) { return o.Get(name); }

// The *_value helpers read one argument (a positional one, or a field already read); `name`
// only labels errors.
inline std::int64_t int_value(const Napi::Value& v, const char* name, std::int64_t fallback) {
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string("Expected number for ") + name);
  return v.As<Napi::Number>().Int64Value();
}

inline double num_value(const Napi::Value& v, const char* name, double fallback) {
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string("Expected number for ") + name);
  return v.As<Napi::Number>().DoubleValue();
}

inline bool bool_value(const Napi::Value& v) { return v.IsBoolean() && v.As<Napi::Boolean>().Value(); }

inline std::string str_value(const Napi::Value& v, const std::string& fallback) {
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
}

inline std::int64_t int_field(const Napi::Object& o, const char* name, std::int64_t fallback) {
  return int_value(o.Get(name), name, fallback);
}

inline double num_field(const Napi::Object& o, const char* name, double fallback) {
  return num_value(o.Get(name), name, fallback);
}

inline bool bool_field(const Napi::Object& o, const char* name) { return bool_value(o.Get(name)); }

inline std::string str_field(const Napi::Object& o, const char* name, const std::string& fallback) {
  return str_value(o.Get(name), fallback);
}

template <typename T> struct ArrayKind;
template <> struct ArrayKind<float> { static constexpr napi_typedarray_type type = napi_float32_array; static constexpr const char* name = "Float32Array"; };
template <> struct ArrayKind<std::int32_t> { static constexpr napi_typedarray_type type = napi_int32_array; static constexpr const char* name = "Int32Array"; };
template <> struct ArrayKind<std::uint32_t> { static constexpr napi_typedarray_type type = napi_uint32_array; static constexpr const char* name = "Uint32Array"; };
template <> struct ArrayKind<std::uint8_t> { static constexpr napi_typedarray_type type = napi_uint8_array; static constexpr const char* name = "Uint8Array"; };
template <> struct ArrayKind<double> { static constexpr napi_typedarray_type type = napi_float64_array; static constexpr const char* name = "Float64Array"; };

/**
 * A typed array argument of element type T with at least `min_len` elements (its length into
 * *length_out when given).
 */
template <typename T>
T* array_value(const Napi::Value& v, const char* name, std::size_t min_len, std::size_t* length_out = nullptr) {
  // One napi_get_typedarray_info (type, length and data together; it fails on anything but a
  // typed array) where node-addon-api's wrappers make three calls: a step reads 16 arrays.
  napi_typedarray_type type;
  std::size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(v.Env(), v, &type, &length, &data, nullptr, nullptr) != napi_ok || type != ArrayKind<T>::type)
    throw Napi::TypeError::New(v.Env(), std::string("Expected ") + ArrayKind<T>::name + " for " + name);
  if (length < min_len)
    throw Napi::RangeError::New(v.Env(), std::string(name) + " has " + std::to_string(length) + " elements, needs " +
                                             std::to_string(min_len));
  if (length_out != nullptr) *length_out = length;
  return static_cast<T*>(data);
}

/** A typed array field of element type T with at least `min_len` elements. */
template <typename T>
T* array_field(const Napi::Object& o, const char* name, std::size_t min_len) {
  return array_value<T>(o.Get(name), name, min_len);
}

}  // namespace semid::addon
