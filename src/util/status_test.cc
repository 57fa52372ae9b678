#include "vmstore/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace vmstore {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  ASSIGN_OR_RETURN(*out, Half(x));
  return Status::OK();
}

TEST(StatusTest, CarriesCodeAndContext) {
  Status s = Corruption("block 0x10: checksum mismatch").WithContext("volume 3");
  EXPECT_EQ(s.ToString(), "Corruption: volume 3: block 0x10: checksum mismatch");
  EXPECT_EQ(s.ToErrno(), EIO);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "write x").code(), Code::kNoSpace);
  EXPECT_EQ(ErrnoStatus(ENOSPC, "write x").ToErrno(), ENOSPC);
  EXPECT_EQ(FailedPrecondition("ro").ToErrno(), EPERM);
}

TEST(StatusTest, AssignOrReturnPropagates) {
  int v = 0;
  EXPECT_TRUE(UseHalf(8, &v).ok());
  EXPECT_EQ(v, 4);
  Status s = UseHalf(7, &v);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "7 is odd");
}

}  // namespace
}  // namespace vmstore
