// SPDX-License-Identifier: Apache-2.0
#include "common/status.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace syspgo {
namespace {

Result<int> Half(int v) {
  if (v % 2) return InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  ASSIGN_OR_RETURN(int h, Half(v));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFound("x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "not found: x");
  EXPECT_EQ(s.WithContext("pull").message(), "pull: x");
  EXPECT_EQ(s.WithContext("pull").code(), StatusCode::kNotFound);
}

TEST(StatusTest, ErrnoNamesOperationAndObject) {
  Status s = ErrnoStatus(ENOENT, "open", "/no/such");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.errno_value(), ENOENT);
  EXPECT_EQ(s.message(), "open /no/such: No such file or directory");
  EXPECT_EQ(ErrnoStatus(EACCES, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EIO, "x").code(), StatusCode::kIo);
  EXPECT_EQ(ErrnoStatus(EIO, "x").WithContext("c").errno_value(), EIO);
}

TEST(StatusTest, ResultAndMacros) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_FALSE(Quarter(6).ok());
  EXPECT_EQ(Quarter(6).status().message(), "odd");
}

}  // namespace
}  // namespace syspgo
