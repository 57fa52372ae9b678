#include "vmstore/status.h"

#include <cerrno>
#include <cstring>

namespace vmstore {

const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "Invalid argument";
    case Code::kNotFound:
      return "Not found";
    case Code::kAlreadyExists:
      return "Already exists";
    case Code::kFailedPrecondition:
      return "Failed precondition";
    case Code::kOutOfRange:
      return "Out of range";
    case Code::kNoSpace:
      return "No space";
    case Code::kIOError:
      return "I/O error";
    case Code::kCorruption:
      return "Corruption";
    case Code::kNotSupported:
      return "Not supported";
    case Code::kInternal:
      return "Internal error";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + msg_;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + msg_);
}

int Status::ToErrno() const {
  switch (code_) {
    case Code::kOk:
      return 0;
    case Code::kNoSpace:
      return ENOSPC;
    case Code::kInvalidArgument:
    case Code::kOutOfRange:
      return EINVAL;
    case Code::kFailedPrecondition:
      return EPERM;
    case Code::kNotSupported:
      return ENOTSUP;
    default:
      return EIO;
  }
}

Status ErrnoStatus(int err, const std::string& context) {
  std::string m = context + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return NoSpace(m);
  return IOError(m);
}

}  // namespace vmstore
