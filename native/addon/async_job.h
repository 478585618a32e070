// Runs one native call on a libuv worker thread and settles a Promise: the glue's only way of
// doing work, so the event loop stays free. Inputs stay referenced until the job ends, the JS
// AbortSignal reaches the kernel through a shared Int32Array, and a semid::Error becomes a JS
// Error with its `code` (CUDA errors included); nothing here can abort the process.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "semid/common.h"

namespace semid::addon {

/** Run fn, turning any C++ exception into (code, message); nothing escapes. */
template <typename Fn>
void capture_native_error(Fn&& fn, std::string& code, std::string& message) {
  try {
    fn();
  } catch (const Error& e) {
    code = e.code();
    message = e.what();
  } catch (const std::bad_alloc&) {
    code = "ERR_SEMID_OUT_OF_MEMORY";
    message = "Out of memory in a native kernel";
  } catch (const std::exception& e) {
    code = "ERR_SEMID_NATIVE";
    message = e.what();
  } catch (...) {
    code = "ERR_SEMID_NATIVE";
    message = "Unknown native error";
  }
}

/** A JS Error carrying a native error's `code`. */
inline Napi::Error native_error(const Napi::Env& env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

/** Run fn on the calling thread; a C++ exception becomes a thrown JS Error with its `code`. */
template <typename Fn>
void run_sync(const Napi::Env& env, Fn&& fn) {
  std::string code, message;
  capture_native_error(std::forward<Fn>(fn), code, message);
  if (!code.empty()) throw native_error(env, code, message);
}

/**
 * Run fn(cancel) on the calling thread for work too small to be worth a trip through the libuv
 * pool, and return a Promise already settled with its outcome (as AsyncJob would settle it).
 */
template <typename Fn>
Napi::Promise run_settled(const Napi::Env& env, Napi::Value cancel, Fn&& fn) {
  CancelFlag flag;
  if (cancel.IsTypedArray()) flag.flag = cancel.As<Napi::Int32Array>().Data();
  std::string code, message;
  capture_native_error([&] { flag.check(); fn(flag); }, code, message);
  Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
  if (code.empty()) done.Resolve(env.Undefined());
  else done.Reject(native_error(env, code, message).Value());
  return done.Promise();
}

class AsyncJob : public Napi::AsyncWorker {
 public:
  using Work = std::function<void(const CancelFlag&)>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  /** Queue `work`; `keep` holds the JS values whose memory the work reads or writes. */
  static Napi::Promise Start(Napi::Env env, Work work, std::vector<Napi::Value> keep,
                             Napi::Value cancel, Result result = nullptr) {
    auto* job = new AsyncJob(env, std::move(work), std::move(result));
    for (auto& v : keep) job->keep_.emplace_back(Napi::Persistent(v));
    if (cancel.IsTypedArray()) {
      auto arr = cancel.As<Napi::Int32Array>();
      job->cancel_.flag = arr.Data();
      job->keep_.emplace_back(Napi::Persistent(cancel));
    }
    auto promise = job->deferred_.Promise();
    job->Queue();
    return promise;
  }

 protected:
  void Execute() override { capture_native_error([&] { work_(cancel_); }, code_, message_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (!code_.empty()) {
      deferred_.Reject(native_error(env, code_, message_).Value());
      return;
    }
    try {
      deferred_.Resolve(result_ ? result_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  AsyncJob(Napi::Env env, Work work, Result result)
      : Napi::AsyncWorker(env, "semid:native"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        result_(std::move(result)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Result result_;
  std::vector<Napi::Reference<Napi::Value>> keep_;
  CancelFlag cancel_;
  std::string code_, message_;
};

}  // namespace semid::addon
