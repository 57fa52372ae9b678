// Status and StatusOr<T>: errors as values.
//
// Every fallible VMStore call returns a [[nodiscard]] Status or StatusOr<T>.
// A Status carries a code and a human-readable message with context, e.g.
//   "volume 3: offset 4096 + 512 beyond size 4096".
// Exceptions never cross a module boundary.
//
// Thread-safety: values; copy freely. Not synchronised.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace vmstore {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // bad input from the caller (user error)
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,  // e.g. writing a read-only snapshot, pool locked
  kOutOfRange,          // offset beyond the end
  kNoSpace,             // ENOSPC from the file system
  kIOError,             // EIO or any other OS failure
  kCorruption,          // checksum mismatch or malformed on-disk data
  kNotSupported,
  kInternal,
};

const char* CodeName(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}

  static Status OK() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  // "Corruption: block 0x... checksum mismatch"
  std::string ToString() const;
  // Returns a copy with "context: " prepended to the message.
  Status WithContext(const std::string& context) const;
  // Maps the code to the errno an NBD client should see (EIO, ENOSPC, EINVAL, EPERM).
  int ToErrno() const;

 private:
  Code code_ = Code::kOk;
  std::string msg_;
};

inline Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
inline Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
inline Status AlreadyExists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
inline Status FailedPrecondition(std::string m) { return Status(Code::kFailedPrecondition, std::move(m)); }
inline Status OutOfRange(std::string m) { return Status(Code::kOutOfRange, std::move(m)); }
inline Status NoSpace(std::string m) { return Status(Code::kNoSpace, std::move(m)); }
inline Status IOError(std::string m) { return Status(Code::kIOError, std::move(m)); }
inline Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
inline Status NotSupported(std::string m) { return Status(Code::kNotSupported, std::move(m)); }
inline Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
// Builds a Status from an errno value (ENOSPC -> kNoSpace, else kIOError).
Status ErrnoStatus(int err, const std::string& context);

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status s) : v_(std::move(s)) { assert(!std::get<Status>(v_).ok()); }
  StatusOr(T value) : v_(std::move(value)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace vmstore

#define VMS_CONCAT_INNER(a, b) a##b
#define VMS_CONCAT(a, b) VMS_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` yields a non-OK Status.
#define RETURN_IF_ERROR(expr)       \
  do {                              \
    ::vmstore::Status _st = (expr); \
    if (!_st.ok()) return _st;      \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Foo());` declares x from a StatusOr or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(VMS_CONCAT(_so_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
