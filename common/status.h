// Errors as values. Every fallible function in jobsync returns a Status or a StatusOr<T>;
// exceptions from third-party libraries stop in the one adapter file that uses the library.
#ifndef JOBSYNC_COMMON_STATUS_H_
#define JOBSYNC_COMMON_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace jobsync {

// What kind of failure a Status carries. Callers branch on the code, users read the message.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input from the user: a manifest, a flag, a config file
  kNotFound,            // a file, revision or object that does not exist
  kAlreadyExists,       // a create that found the object there
  kFailedPrecondition,  // the system is not in a state where the operation can run
  kPermissionDenied,    // authentication or authorization refused
  kUnavailable,         // transient: network down, server restarting; retrying may help
  kDeadlineExceeded,    // an operation ran past its time limit
  kResourceExhausted,   // a size, depth or count limit was hit
  kInternal,            // a bug or a broken invariant
};

// Returns the stable lower-case name of a code ("invalid argument", ...).
inline const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kAlreadyExists:
      return "already exists";
    case StatusCode::kFailedPrecondition:
      return "failed precondition";
    case StatusCode::kPermissionDenied:
      return "permission denied";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDeadlineExceeded:
      return "deadline exceeded";
    case StatusCode::kResourceExhausted:
      return "resource exhausted";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

// The outcome of an operation: ok, or a code and a message saying what failed, where, and what
// the user can do. A value type; cheap to copy when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid argument: <message>", or "ok".
  std::string ToString() const {
    if (ok()) return "ok";
    return std::string(StatusCodeName(code_)) + ": " + message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status FailedPreconditionError(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status PermissionDeniedError(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceededError(std::string m) {
  return {StatusCode::kDeadlineExceeded, std::move(m)};
}
inline Status ResourceExhaustedError(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or the Status explaining why there is none. Accessing the value of a non-ok StatusOr
// is a bug (asserted in debug builds).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok() && "StatusOr built from an ok Status carries no value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace jobsync

// Returns from the calling function when `expr` (a Status) is not ok.
#define JOBSYNC_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::jobsync::Status jobsync_status_ = (expr);        \
    if (!jobsync_status_.ok()) return jobsync_status_; \
  } while (false)

#endif  // JOBSYNC_COMMON_STATUS_H_
