// SPDX-License-Identifier: Apache-2.0
#include "common/base64.h"

#include <gtest/gtest.h>

namespace syspgo {
namespace {

TEST(Base64Test, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 64; ++i) {
    data += static_cast<char>(i * 37);
    auto back = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, data);
  }
  EXPECT_EQ(Base64Encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(*Base64Decode("dXNlcjpwYXNz"), "user:pass");
}

TEST(Base64Test, RejectsBadInput) {
  EXPECT_FALSE(Base64Decode("a").has_value());
  EXPECT_FALSE(Base64Decode("ab$d").has_value());
}

}  // namespace
}  // namespace syspgo
