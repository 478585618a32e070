// Shared types of the native core: errors, cancellation, index types.
// Every kernel reports failure by throwing semid::Error (never abort()); the N-API glue turns it
// into a JS Error whose `code` is the error's code string.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace semid {

using i64 = std::int64_t;

/** A failure the caller can act on: `code` is a stable machine-readable tag. */
class Error : public std::runtime_error {
 public:
  Error(const std::string& code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

/** Thrown when a CancelFlag was raised while a kernel ran. */
class Cancelled : public Error {
 public:
  Cancelled() : Error("ERR_SEMID_ABORTED", "The operation was aborted") {}
};

/**
 * Cancellation flag shared with JavaScript: points into an Int32Array that the JS side sets to 1
 * when its AbortSignal fires. A null flag never cancels. Kernels poll it between blocks of work.
 */
struct CancelFlag {
  const volatile std::int32_t* flag = nullptr;
  bool raised() const { return flag != nullptr && *flag != 0; }
  void check() const {
    if (raised()) throw Cancelled();
  }
};

}  // namespace semid
