// Test helpers every module's tests share: status assertions, unwrapping a
// StatusOr, and a temporary directory.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "vmstore/status.h"

namespace vmstore::testing {

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    ::vmstore::Status _s = (expr);                          \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    ::vmstore::Status _s = (expr);                          \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

// `lhs` = the value of StatusOr `expr`, or a fatal failure naming its status.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) ASSERT_OK_AND_ASSIGN_IMPL(VMS_CONCAT(_sor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                              \
  auto tmp = (expr);                                                           \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status().ToString();           \
  lhs = std::move(tmp).value()

template <typename T>
T Unwrap(StatusOr<T> v) {
  if (!v.ok()) {
    ADD_FAILURE() << v.status().ToString();
    return T{};
  }
  return std::move(v).value();
}

// A fresh directory under the test's temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    static int n = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("vmstore-cat-" + std::to_string(getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace vmstore::testing
